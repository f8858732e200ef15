/**
 * Query parameters: validated with a strict zod object (unknown or repeated parameters are refused), and
 * paging with `top` and an opaque `continuation` token. A token only carries the key of the last item
 * returned; it is compared in memory, never placed in a storage query.
 */
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { validate } from './body';
import { invalidInput } from './problem';

export const DEFAULT_TOP = 100;
export const MAX_TOP = 1000;
const MAX_TOKEN_CHARS = 2048;

export const topSchema = z
  .string()
  .regex(/^\d{1,5}$/, `must be a whole number from 1 to ${MAX_TOP}`)
  .transform(Number)
  .pipe(z.number().int().min(1, `must be a whole number from 1 to ${MAX_TOP}`).max(MAX_TOP, `must be a whole number from 1 to ${MAX_TOP}`));

export const continuationSchema = z
  .string()
  .max(MAX_TOKEN_CHARS, 'is not a continuation token from this API')
  .regex(/^[A-Za-z0-9_-]+$/, 'is not a continuation token from this API')
  .transform((token, ctx) => {
    const key = decodeContinuation(token);
    if (key === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is not a continuation token from this API' });
      return z.NEVER;
    }
    return key;
  });

/** `top` and `continuation` (decoded to the last key seen); extend with a list's filters. */
export const pagingQuerySchema = z.object({
  top: topSchema.optional(),
  continuation: continuationSchema.optional(),
});
export type PagingQuery = z.output<typeof pagingQuerySchema>;

/** A text filter parameter: bounded, printable. */
export const textFilterSchema = z
  .string()
  .min(1)
  .max(128)
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters');

/** The query as an object, validated; 400 naming each bad parameter. */
export function parseQuery<S extends z.ZodType>(request: HttpRequest, schema: S): z.output<S> {
  const raw: Record<string, string> = {};
  const repeated: string[] = [];
  for (const [name, value] of request.query.entries()) {
    if (name in raw) repeated.push(name);
    raw[name] = value;
  }
  // The function key may travel as ?code=; it is the host's, not the route's.
  delete raw.code;
  if (repeated.length > 0) throw invalidInput([...new Set(repeated)].map((n) => ({ in: 'query', path: n, message: 'given more than once' })));
  return validate(schema, raw, { in: 'query' });
}

export function encodeContinuation(lastKey: string): string {
  return Buffer.from(JSON.stringify({ k: lastKey }), 'utf8').toString('base64url');
}

export function decodeContinuation(token: string): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { k?: unknown }).k === 'string') return (parsed as { k: string }).k;
  } catch {
    // not ours
  }
  return undefined;
}

export interface Page<T> {
  items: T[];
  /** Present when more items follow; pass it back as `continuation`. */
  continuation?: string;
}

/**
 * Keeps the `top` smallest keys above `after` from a stream of any size, in memory bounded by `top`:
 * stable paging over unordered storage listings, robust to items added or removed between pages.
 */
export class PageCollector<T> {
  private readonly kept: Array<{ key: string; item: T }> = [];
  private more = false;

  constructor(
    private readonly top: number,
    private readonly after: string | undefined,
  ) {}

  add(key: string, item: T): void {
    if (this.after !== undefined && key <= this.after) return;
    const kept = this.kept;
    let lo = 0;
    let hi = kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (kept[mid].key < key) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= this.top) {
      this.more = true;
      return;
    }
    kept.splice(lo, 0, { key, item });
    if (kept.length > this.top) {
      kept.pop();
      this.more = true;
    }
  }

  page(): Page<T> {
    const items = this.kept.map((k) => k.item);
    const last = this.kept[this.kept.length - 1];
    return this.more && last ? { items, continuation: encodeContinuation(last.key) } : { items };
  }
}

/** One page of an in-memory list. */
export function pageOf<T>(items: Iterable<T>, keyOf: (item: T) => string, query: PagingQuery): Page<T> {
  const collector = new PageCollector<T>(query.top ?? DEFAULT_TOP, query.continuation);
  for (const item of items) collector.add(keyOf(item), item);
  return collector.page();
}
