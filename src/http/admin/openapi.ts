// The OpenAPI 3.1 document of the admin API, generated from the route definitions (JSON
// Schema 2020-12, which OpenAPI 3.1 uses as is, from the zod schemas).
import { z } from 'zod';
import type { AdminRoute, DocumentedError } from './route.js';
import { errorBody } from './schemas.js';

const ERROR_DESCRIPTIONS: Record<DocumentedError | 401 | 403, string> = {
  400: 'invalid input; `field` names it',
  401: 'no token, or not a valid one',
  403: 'a metrics-only token: this needs an admin token',
  404: 'no such account, room (or item); `field` names the address',
  409: 'exists already',
  413: 'the request body is larger than the API accepts',
  503: 'not ready',
};

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const generated = z.toJSONSchema(schema, { io, unrepresentable: 'throw' }) as JsonSchema;
  delete generated.$schema;
  return generated;
}

function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined): JsonSchema[] {
  if (!schema) return [];
  const objectSchema = jsonSchema(schema, 'input');
  const properties = (objectSchema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((objectSchema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

export function buildOpenApiDocument(routes: readonly AdminRoute[], version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, success] of Object.entries(route.responses)) {
      if (status === '204') {
        // No content at all (RFC 9110 §15.3.5).
        responses[status] = { description: success!.description };
        continue;
      }
      responses[status] = {
        description: success!.description,
        content: success!.schema
          ? { 'application/json': { schema: jsonSchema(success!.schema, 'output') } }
          : { [success!.contentType ?? 'text/plain']: { schema: { type: 'string' } } },
      };
    }
    const errors = new Set<DocumentedError | 401 | 403>(route.errors ?? []);
    if (route.params || route.query || route.body) errors.add(400);
    if (route.body) errors.add(413);
    const access = route.access ?? 'admin';
    if (access !== 'public') errors.add(401);
    // Only admin endpoints refuse a valid token (a metrics-only one).
    if (access === 'admin') errors.add(403);
    for (const status of [...errors].sort((a, b) => a - b)) {
      responses[String(status)] = { description: ERROR_DESCRIPTIONS[status], content: { 'application/json': { schema: errorRef } } };
    }
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      security: route.access === 'public' ? [] : [{ bearer: [] }],
      parameters: [...parameters('path', route.params), ...parameters('query', route.query)],
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body, 'input') } } } }
        : {}),
      responses,
    };
    (paths[route.path] ??= {})[route.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hearth admin API',
      version,
      description: 'Administration of a Hearth XMPP server. Tokens: `hearth token create --name NAME`.',
    },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
  };
}
