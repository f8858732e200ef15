/**
 * The console's only way to the API: openapi-fetch, typed by the paths generated from the API's own
 * OpenAPI document (schema.gen.ts). The function key is held in this tab's sessionStorage, never in a URL,
 * and travels in the x-functions-key header; a 401 signs the operator out.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.gen';

export type { components, paths };

const KEY = 'sitesync.functionKey';

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  signIn(key: string): void {
    sessionStorage.setItem(KEY, key);
  },
  signOut(): void {
    sessionStorage.removeItem(KEY);
    window.dispatchEvent(new Event('sitesync:signed-out'));
  },
};

const auth: Middleware = {
  onRequest({ request }) {
    const key = session.key();
    if (key) request.headers.set('x-functions-key', key);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401 && session.key()) session.signOut();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(auth);

export interface FieldError {
  in: string;
  path: string;
  message: string;
}

/** A problem+json answer, or a network failure, as the screens show it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined,
    readonly errors: FieldError[] = [],
  ) {
    super(detail ?? title);
  }
  /** The message for one field (body path such as `criteria.0.value`). */
  field(path: string): string | undefined {
    return this.errors.find((e) => e.path === path)?.message;
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiError with the problem's details. */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (e) {
    throw new ApiError(0, 'The API cannot be reached', e instanceof Error ? e.message : String(e));
  }
  const { data, error, response } = result;
  if (response.ok) return data as T;
  const problem = (error ?? {}) as { title?: string; detail?: string; errors?: FieldError[] };
  throw new ApiError(response.status, problem.title ?? response.statusText, problem.detail, problem.errors ?? []);
}

export type Schemas = components['schemas'];

/** As `call`, with the ETag a later If-Match needs. */
export async function callTagged<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<{ data: T; etag?: string }> {
  let etag: string | undefined;
  const data = await call(
    request.then((r) => {
      etag = r.response.headers.get('etag') ?? undefined;
      return r;
    }),
  );
  return { data, ...(etag ? { etag } : {}) };
}
