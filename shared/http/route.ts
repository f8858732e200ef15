/**
 * One call per route: `app.http(name, apiRoute({...spec, handler}))` registers the route for the OpenAPI
 * document and wraps the handler so that whatever it throws becomes problem+json. Caller mistakes and
 * storage outcomes are 4xx, a dependency briefly out of reach a 503 with Retry-After (see errors.ts);
 * anything else is a bare 500, logged, with no internals.
 */
import type { HttpFunctionOptions, HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { problemFor, retryAfterFor } from './errors';
import { HttpProblem, problemResponse } from './problem';
import { API_ROUTE_PREFIX, registerRoute, type RouteSpec } from './openapi';

export type ApiHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

export function apiRoute(spec: RouteSpec & { handler: ApiHandler }): HttpFunctionOptions {
  const { handler, ...route } = spec;
  registerRoute(route);
  return { route: `${API_ROUTE_PREFIX}/${route.path}`, methods: [route.method], authLevel: route.authLevel, handler: problemHandler(handler) };
}

/** Wraps a handler: thrown problems and known errors become problem+json responses. */
export function problemHandler(handler: ApiHandler): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (e) {
      return errorResponse(e, request, context);
    }
  };
}

export function errorResponse(e: unknown, request: HttpRequest, context: InvocationContext): HttpResponseInit {
  // The path only: the query may hold the function key.
  const instance = safePath(request.url);
  const problem = problemFor(e, instance);
  const retryAfter = retryAfterFor(e);
  if (problem) return problemResponse(problem, retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {});
  context.error(`${request.method} ${instance} failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  return problemResponse(new HttpProblem(500, 'An unexpected error occurred.').toProblem(instance));
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

export interface ResponseOptions {
  etag?: string;
  location?: string;
}

export function json(status: number, body: unknown, options: ResponseOptions = {}): HttpResponseInit {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (options.etag) headers.etag = options.etag;
  if (options.location) headers.location = options.location;
  return { status, headers, body: JSON.stringify(body) };
}

export const ok = (body: unknown, options?: ResponseOptions) => json(200, body, options);
export const created = (body: unknown, options?: ResponseOptions) => json(201, body, options);
export const noContent = (): HttpResponseInit => ({ status: 204 });
