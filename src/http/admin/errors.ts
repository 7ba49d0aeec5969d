// JSON errors of the admin API (contract.md): {"error": code, "message", "field"?}.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { ServiceError, type ServiceErrorCode } from '../../services/errors.js';

const STATUS_OF: Record<ServiceErrorCode, number> = {
  invalid: 400,
  'not-found': 404,
  exists: 409,
  unavailable: 503,
};

export function sendError(res: Response, status: number, error: string, message: string, field?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(status).json(field === undefined ? { error, message } : { error, message, field });
}

/** Answers every request no route took (after authentication: strangers learn nothing). */
export function notFound(req: Request, res: Response): void {
  sendError(res, 404, 'not-found', `no such endpoint: ${req.method} ${req.path}`);
}

/** body-parser's errors carry a status and a type. */
interface HttpParserError {
  status?: number;
  type?: string;
}

export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (err instanceof ServiceError) {
      sendError(res, STATUS_OF[err.code], err.code, err.message, err.field);
      return;
    }
    const { status, type } = (err ?? {}) as HttpParserError;
    if (type === 'entity.too.large') {
      sendError(res, 413, 'too-large', 'the request body is larger than the API accepts');
      return;
    }
    if (type === 'entity.parse.failed') {
      sendError(res, 400, 'invalid', 'the request body is not valid JSON', 'body');
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendError(res, status, 'invalid', (err as Error).message || 'bad request');
      return;
    }
    log.error({ err, method: req.method, path: req.path }, 'admin request failed');
    sendError(res, 500, 'internal', 'internal error, see the server log');
  };
}
