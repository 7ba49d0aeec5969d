// An admin API client for tests: real HTTP requests (global fetch), each response checked
// against the OpenAPI document the server itself serves (its path, method, status and body
// schema must be documented), and every documented operation that answered with success
// recorded, so a test can require that all of them were exercised.
import { check, type Schema } from './json-schema.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface RequestOptions {
  /** JSON body. */
  body?: unknown;
  /** The bearer token; null sends none. Default: the client's token. */
  token?: string | null;
  headers?: Record<string, string>;
}

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: unknown;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

export class AdminApi {
  /** "get /api/v1/accounts/{jid}" for every documented operation that answered 2xx. */
  readonly succeeded = new Set<string>();

  private constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly document: OpenApiDocument,
  ) {}

  /** Fetches the document (with the token), then checks that answer against the document too. */
  static async open(baseUrl: string, token: string): Promise<AdminApi> {
    const response = await fetch(`${baseUrl}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`GET /api/v1/openapi.json: ${response.status} ${await response.text()}`);
    const api = new AdminApi(baseUrl, token, (await response.json()) as OpenApiDocument);
    await api.get('/api/v1/openapi.json');
    return api;
  }

  /** Every documented operation. */
  operations(): Array<{ method: string; template: string; operation: Operation }> {
    return Object.entries(this.document.paths).flatMap(([template, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ method, template, operation })),
    );
  }

  get<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, options);
  }
  post<T = any>(path: string, body: unknown, options?: RequestOptions) {
    return this.request<T>('POST', path, { ...options, body });
  }
  put<T = any>(path: string, body: unknown, options?: RequestOptions) {
    return this.request<T>('PUT', path, { ...options, body });
  }
  delete<T = any>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, options);
  }

  async request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? this.token : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(this.baseUrl + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      redirect: 'manual',
    });
    const text = await response.text();
    const contentType = response.headers.get('content-type') ?? '';
    const body = contentType.startsWith('application/json') ? JSON.parse(text) : text;
    this.verify(method, path, response.status, contentType, body, text);
    return { status: response.status, body: body as T, text, headers: response.headers };
  }

  /** Throws unless the answer is documented: path, method, status, media type and schema. */
  private verify(method: string, path: string, status: number, contentType: string, body: unknown, text: string): void {
    const what = `${method} ${path} → ${status} ${text.slice(0, 300)}`;
    const template = this.templateOf(path.split('?')[0]!);
    if (!template) throw new Error(`undocumented path: ${what}`);
    const operation = this.document.paths[template]![method.toLowerCase()];
    if (!operation) throw new Error(`undocumented method: ${what}`);
    const documented = operation.responses[String(status)];
    if (!documented) throw new Error(`undocumented status: ${what}`);
    if (status === 204) {
      // No Content: nothing documented, nothing served.
      if (documented.content !== undefined) throw new Error(`204 documented with content: ${what}`);
      if (text !== '' || contentType !== '') throw new Error(`204 served with content: ${what}`);
      this.succeeded.add(`${method.toLowerCase()} ${template}`);
      return;
    }
    const [mediaType, media] = Object.entries(documented.content ?? {})[0] ?? [];
    if (!mediaType || !media) throw new Error(`no documented content: ${what}`);
    if (!contentType.startsWith(mediaType)) throw new Error(`documented ${mediaType}, served ${contentType}: ${what}`);
    const problems = check(media.schema, body, (ref) => this.resolve(ref));
    if (problems.length) throw new Error(`response does not match its documented schema: ${what}\n${problems.join('\n')}`);
    if (status >= 200 && status < 300) this.succeeded.add(`${method.toLowerCase()} ${template}`);
  }

  private templateOf(path: string): string | null {
    const candidates = Object.keys(this.document.paths)
      .filter((template) => {
        const pattern = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
        return new RegExp(`^${pattern}$`).test(path);
      })
      // Literal segments win over parameters (/api/v1/openapi.json is not an account).
      .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
    return candidates[0] ?? null;
  }

  private resolve(ref: string): Schema {
    const match = /^#\/components\/schemas\/(.+)$/.exec(ref);
    const schema = match ? this.document.components.schemas[match[1]!] : undefined;
    if (!schema) throw new Error(`unresolvable $ref ${ref}`);
    return schema;
  }
}

/** A path segment for a JID or resource. */
export const seg = encodeURIComponent;
