// Refuses request targets that different parsers could read differently, before any
// routing: a path that means one thing here and another to a proxy (or to a later version
// of the router) must never reach a handler. Encoded slashes, backslashes and dots, empty
// segments, dot segments, control characters and absolute-form targets are all refused.
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './errors.js';

/** Why the request target is ambiguous, or null when it is plain. */
export function ambiguityOf(target: string): string | null {
  if (!target.startsWith('/')) return 'the request target must be a path';
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  if (path.includes('#')) return 'a fragment has no place in a request';
  if (path.includes('\\')) return 'backslashes are not allowed in the path';
  if (/%(2f|5c|2e)/i.test(path)) return 'encoded slashes, backslashes and dots are not allowed in the path';
  if (path.includes('//')) return 'empty path segments are not allowed';
  for (const segment of path.split('/').slice(1)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return 'the path is not valid percent-encoded UTF-8';
    }
    if (decoded === '.' || decoded === '..') return 'dot segments are not allowed in the path';
    if (/[\u0000-\u001f\u007f]/.test(decoded)) return 'control characters are not allowed in the path';
  }
  return null;
}

export function pathGuard(req: Request, res: Response, next: NextFunction): void {
  const problem = ambiguityOf(req.url);
  if (problem) {
    sendError(res, 400, 'invalid', problem);
    return;
  }
  next();
}
