// Bearer-token authentication of the admin API (RFC 6750 §2.1: the Authorization header
// only; no cookies, no tokens in URLs, which end up in logs).
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { AuthenticatedToken, TokenService } from '../../services/tokens.js';
import type { TokenScope } from '../../storage/index.js';
import { sendError } from './errors.js';

/** Where the authenticated token sits on `res.locals`. */
export interface AuthenticatedLocals {
  token: AuthenticatedToken;
}

export function tokenOf(res: Response): AuthenticatedToken {
  return (res.locals as AuthenticatedLocals).token;
}

export function authenticate(tokens: TokenService, log: Logger) {
  // Named: tests find this layer in the router's stack to check what is mounted after it.
  return async function requireToken(req: Request, res: Response, next: NextFunction): Promise<void> {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
    if (!match) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="hearth"');
      sendError(res, 401, 'unauthorized', header === undefined ? 'a bearer token is required (hearth token create)' : 'expected "Authorization: Bearer <token>"');
      return;
    }
    let token: AuthenticatedToken | null;
    try {
      token = await tokens.authenticate(match[1]!);
    } catch (err) {
      next(err);
      return;
    }
    if (!token) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="hearth", error="invalid_token"');
      log.warn({ ip: req.socket.remoteAddress, method: req.method, path: req.path }, 'admin request with an unknown token');
      sendError(res, 401, 'unauthorized', 'the token is not valid (revoked, or never issued)');
      return;
    }
    (res.locals as AuthenticatedLocals).token = token;
    next();
  };
}

/** Lets only tokens of these scopes through. */
export function requireScope(...scopes: TokenScope[]) {
  const guard = (_req: Request, res: Response, next: NextFunction): void => {
    const token = tokenOf(res);
    if (!scopes.includes(token.scope)) {
      sendError(res, 403, 'forbidden', `a ${token.scope} token cannot do this; it needs a ${scopes.join(' or ')} token`);
      return;
    }
    next();
  };
  // e.g. requireAdminScope: a name to find the layer by in the router's stack.
  const name = `require${scopes.map((s) => s[0]!.toUpperCase() + s.slice(1)).join('Or')}Scope`;
  return Object.defineProperty(guard, 'name', { value: name });
}

/**
 * Logs every authenticated request once answered, with the token's name (never the token,
 * a password or a message body). Scrapes of /metrics at debug: they come every few seconds.
 */
export function auditLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const entry = {
        tokenName: tokenOf(res).name,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
      };
      if (req.path === '/metrics' && req.method === 'GET') log.debug(entry, 'admin request');
      else log.info(entry, 'admin request');
    });
    next();
  };
}
