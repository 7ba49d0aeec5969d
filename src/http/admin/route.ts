// One definition per endpoint of the admin API: its method, path, inputs, responses and
// handler. Express routes, request validation and the OpenAPI document are all built from
// these definitions, so what is served and what is documented cannot drift apart.
import type { z } from 'zod';
import type { AuthenticatedToken } from '../../services/tokens.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'delete';

/**
 * Who may call an endpoint. Anything not marked otherwise needs an admin token: public
 * endpoints are the exception that must be spelt out.
 */
export type Access = 'public' | 'metrics' | 'admin';

/** Errors an endpoint may answer besides the ones every protected endpoint may (401, 403). */
export type DocumentedError = 400 | 404 | 409 | 413 | 503;

export interface SuccessResponse {
  description: string;
  /** JSON body schema; absent for text bodies and for 204 (no body at all). */
  schema?: z.ZodType;
  /** A non-JSON body (e.g. the Prometheus text format). */
  contentType?: string;
}

export interface Reply {
  status: number;
  body: unknown;
  /** Set for non-JSON bodies; the body is then a string. */
  contentType?: string;
}

export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** null on public endpoints. */
  token: AuthenticatedToken | null;
}

type AnyObjectSchema = z.ZodObject;

export interface AdminRoute<P extends AnyObjectSchema | undefined = AnyObjectSchema | undefined, Q extends AnyObjectSchema | undefined = AnyObjectSchema | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> {
  method: HttpMethod;
  /** OpenAPI template, e.g. /api/v1/accounts/{jid}. */
  path: `/${string}`;
  access?: Access;
  operationId: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Success statuses and what they carry. */
  responses: Partial<Record<200 | 201 | 204, SuccessResponse>>;
  errors?: DocumentedError[];
  handle(input: RouteInput<Out<P>, Out<Q>, Out<B>>): Promise<Reply> | Reply;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/** Keeps the handler's input typed from the schemas. */
export function defineRoute<P extends AnyObjectSchema | undefined = undefined, Q extends AnyObjectSchema | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  route: AdminRoute<P, Q, B>,
): AdminRoute {
  return route as unknown as AdminRoute;
}

export const ok = (body: unknown): Reply => ({ status: 200, body });
export const created = (body: unknown): Reply => ({ status: 201, body });
/** Done, nothing to say: 204 without a body. */
export const noContent = (): Reply => ({ status: 204, body: undefined });

/** Express's form of an OpenAPI path template: {jid} → :jid. */
export function expressPath(template: string): string {
  return template.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, ':$1');
}
