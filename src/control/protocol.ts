// The control socket protocol: one JSON object per line each way.
// Request {id, method, params}; response {id, result} or {id, error: {code, message, field?}}.
import type { ServiceErrorCode } from '../services/errors.js';

export interface ControlRequest {
  id: number;
  method: string;
  params: Record<string, unknown>;
}

export interface ControlError {
  code: ServiceErrorCode | 'bad-request' | 'internal';
  message: string;
  field?: string;
}

export type ControlResponse = { id: number; result: unknown } | { id: number; error: ControlError };

/** Largest request line the server reads (an import batch fits easily). */
export const MAX_CONTROL_LINE_BYTES = 16 * 1024 * 1024;
