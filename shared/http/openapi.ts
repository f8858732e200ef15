/**
 * The OpenAPI 3.1 description, generated from the same zod schemas the routes validate with. Each route
 * registers itself (see `apiRoute`); `openApiDocument()` is built on first request, when every function
 * file has been loaded.
 */
import { z } from 'zod';
import type { FieldError } from './problem';

/**
 * Every API route sits under `/api`. host.json's routePrefix is empty so that the console can be served at
 * `/console` by the same app; the API keeps its prefix here, where every route is registered.
 */
export const API_ROUTE_PREFIX = 'api';

export type HttpMethodName = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type AuthLevel = 'anonymous' | 'function' | 'admin';

export interface ResponseSpec {
  description: string;
  /** Body schema (output form); absent for an empty body. */
  schema?: z.ZodType;
  /**
   * Document the body in the schema's input form, without the fields a request takes from its path: for an
   * answer meant to be sent back as a request body (an exported document).
   */
  asRequestBody?: { without: string[] };
  /** Response headers worth documenting. */
  headers?: Array<'ETag' | 'Location'>;
}

export interface RouteSpec {
  /** Function name: unique in the app, `[A-Za-z][A-Za-z0-9_-]*`. */
  name: string;
  method: HttpMethodName;
  /** Route template without the `api/` prefix, e.g. `customers/{customerId}/sites`. */
  path: string;
  summary: string;
  description?: string;
  tags?: string[];
  authLevel: AuthLevel;
  /** Strict zod object of the query parameters (input form is documented). */
  query?: z.ZodType;
  /** Request body (input form is documented). */
  body?: z.ZodType;
  /** Body fields filled from the path, left out of the documented body. */
  bodyFromPath?: string[];
  /** Whether If-Match is required (PUT/DELETE of existing resources) or optional. */
  ifMatch?: 'required' | 'optional';
  responses: Record<number, ResponseSpec>;
}

const routes: RouteSpec[] = [];

/** Records a route for the document. A second registration of the same name replaces the first. */
export function registerRoute(spec: RouteSpec): void {
  const i = routes.findIndex((r) => r.name === spec.name);
  if (i >= 0) routes[i] = spec;
  else routes.push(spec);
  cached = undefined;
}

export function registeredRoutes(): readonly RouteSpec[] {
  return routes;
}

const fieldErrorSchema: z.ZodType<FieldError> = z.object({
  in: z.enum(['body', 'query', 'path', 'header']),
  path: z.string(),
  message: z.string(),
});

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(fieldErrorSchema).optional(),
  })
  .loose();

type JsonSchema = Record<string, unknown>;

/** JSON Schema of a zod schema, without `$schema`; request schemas are closed (unknown fields refused). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output', omit: readonly string[] = []): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  if (io === 'input') shapeObjects(out, omit);
  return out;
}

/** Closes every object schema and drops the fields the path fills in (at any depth: nested items too). */
function shapeObjects(node: unknown, omit: readonly string[]): void {
  if (Array.isArray(node)) return node.forEach((n) => shapeObjects(n, omit));
  if (typeof node !== 'object' || node === null) return;
  const o = node as JsonSchema;
  if (o.type === 'object' && typeof o.properties === 'object' && o.properties !== null) {
    if (o.additionalProperties === undefined) o.additionalProperties = false;
    const props = o.properties as Record<string, unknown>;
    for (const name of omit) delete props[name];
    if (Array.isArray(o.required)) o.required = (o.required as string[]).filter((n) => !omit.includes(n));
  }
  for (const v of Object.values(o)) shapeObjects(v, omit);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid input; `errors` names each invalid field',
  401: 'A valid function key is required',
  404: 'Not found',
  409: 'Conflict: already exists, or still referenced',
  412: 'The ETag in If-Match is stale',
  413: 'The body is too large',
  415: 'The body must be application/json',
  428: 'If-Match is required',
  500: 'Unexpected error (no details)',
  503: 'Storage or Microsoft briefly out of reach: retry after Retry-After seconds',
};

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

let cached: { info: OpenApiInfo; doc: JsonSchema } | undefined;

export function openApiDocument(info: OpenApiInfo, routePrefix = API_ROUTE_PREFIX): JsonSchema {
  if (cached && cached.info.version === info.version && cached.info.title === info.title) return cached.doc;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of [...routes].sort((a, b) => a.path.localeCompare(b.path))) {
    const path = `/${routePrefix}/${route.path}`.replace(/\{(\w+)(:[A-Za-z]+)?\??\}/g, '{$1}');
    const pathParams = [...route.path.matchAll(/\{(\w+)/g)].map((m) => m[1]);
    const parameters: unknown[] = pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' } }));
    if (route.query) {
      const q = jsonSchemaOf(route.query, 'input');
      const required = new Set((q.required as string[] | undefined) ?? []);
      for (const [name, schema] of Object.entries((q.properties as Record<string, unknown> | undefined) ?? {})) {
        parameters.push({ name, in: 'query', required: required.has(name), schema });
      }
    }
    if (route.ifMatch) parameters.push({ name: 'If-Match', in: 'header', required: route.ifMatch === 'required', schema: { type: 'string' } });

    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.headers ? { headers: Object.fromEntries(r.headers.map((h) => [h, { schema: { type: 'string' } }])) } : {}),
        ...(r.schema
          ? { content: { 'application/json': { schema: (r.asRequestBody ? jsonSchemaOf(r.schema, 'input', r.asRequestBody.without) : jsonSchemaOf(r.schema, 'output')) } } }
          : Number(status) >= 400
            ? { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } }
            : {}),
      };
    }
    const problems = [400, 500, 503];
    if (route.authLevel !== 'anonymous') problems.push(401);
    if (pathParams.length > 0) problems.push(404);
    if (route.body) problems.push(413, 415);
    if (route.ifMatch) problems.push(412);
    if (route.ifMatch === 'required') problems.push(428);
    if (route.method === 'DELETE' || route.method === 'POST' || route.method === 'PUT') problems.push(409);
    for (const status of problems) {
      responses[String(status)] ??= {
        description: STATUS_TEXT[status],
        ...(status === 503 ? { headers: { 'Retry-After': { schema: { type: 'string' } } } } : {}),
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    }

    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: route.name,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.tags ? { tags: route.tags } : {}),
      ...(route.authLevel === 'anonymous' ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchemaOf(route.body, 'input', route.bodyFromPath) } } } }
        : {}),
      responses,
    };
  }
  const doc: JsonSchema = {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Problem: jsonSchemaOf(problemSchema, 'output') },
      securitySchemes: {
        functionKey: { type: 'apiKey', in: 'header', name: 'x-functions-key' },
        functionKeyQuery: { type: 'apiKey', in: 'query', name: 'code' },
      },
    },
    security: [{ functionKey: [] }, { functionKeyQuery: [] }],
  };
  cached = { info, doc };
  return doc;
}
