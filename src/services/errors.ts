// Errors of the service layer shared by the command line, the control socket and (later)
// the admin HTTP API: each maps to one exit code and one HTTP status.

export type ServiceErrorCode = 'invalid' | 'not-found' | 'exists' | 'unavailable';

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
