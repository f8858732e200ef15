/**
 * Maps what a handler throws to a problem. Invalid input, missing or conflicting entities and lost races
 * are the caller's business (4xx); a store or Microsoft briefly out of reach is a 503 with Retry-After (a
 * matter of time, not of the request); only what is left is a 500, and that one says nothing about why.
 */
import { ZodError } from 'zod';
import { GraphThrottledError, GraphTransientError } from '../ports/microsoft';
import { ConcurrencyError, ConflictError, DuplicateNumberError, NotFoundError, StorageUnavailableError, StorageValidationError } from '../ports/storage';
import { PreconditionRequiredError } from './etag';
import { HttpProblem, PROBLEM_TYPES, type FieldError, type Problem } from './problem';

/**
 * Use cases report invalid input without knowing HTTP: any error with a `fieldErrors` array (and a
 * message) is a 400 naming those fields.
 */
export interface HasFieldErrors {
  fieldErrors: FieldError[];
}

export function hasFieldErrors(e: unknown): e is Error & HasFieldErrors {
  return e instanceof Error && Array.isArray((e as Partial<HasFieldErrors>).fieldErrors);
}

/** A zod path as a JSON Pointer (`/sites/0/name`). */
export function pointer(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export function zodFieldErrors(error: ZodError, location: FieldError['in'] = 'body', prefix: ReadonlyArray<PropertyKey> = []): FieldError[] {
  return error.issues.map((issue) => ({
    in: location,
    path: location === 'body' ? pointer([...prefix, ...issue.path]) : String(issue.path[0] ?? prefix[0] ?? ''),
    message: issue.message,
  }));
}

/** The problem for an error, or undefined when it is not one the caller caused (a 500). */
export function problemFor(e: unknown, instance?: string): Problem | undefined {
  const make = (status: number, detail: string, extras: ConstructorParameters<typeof HttpProblem>[2] = {}) => new HttpProblem(status, detail, extras).toProblem(instance);
  if (e instanceof HttpProblem) return e.toProblem(instance);
  if (hasFieldErrors(e)) return make(400, e.message || 'The request is not valid; see errors.', { title: 'Validation Failed', errors: e.fieldErrors });
  if (e instanceof ZodError) return make(400, 'The request is not valid; see errors.', { title: 'Validation Failed', errors: zodFieldErrors(e) });
  if (e instanceof NotFoundError) return make(404, e.message);
  if (e instanceof DuplicateNumberError) return make(409, e.message, { number: e.number, ...(e.heldBySiteId !== undefined ? { heldBySiteId: e.heldBySiteId } : {}) });
  if (e instanceof ConflictError) return make(409, e.message, e.name === 'InUseError' ? { type: PROBLEM_TYPES.inUse } : {});
  if (e instanceof ConcurrencyError) {
    return make(412, 'The resource changed since it was read (ETag mismatch); read it again and retry.', { type: PROBLEM_TYPES.precondition });
  }
  if (e instanceof StorageValidationError) return make(400, e.message);
  if (e instanceof PreconditionRequiredError) return make(428, e.message, { type: PROBLEM_TYPES.precondition });
  if (e instanceof StorageUnavailableError) return make(503, 'Storage is briefly unavailable; retry shortly.');
  if (e instanceof GraphThrottledError) return make(503, "Microsoft is throttling this customer's tenant; retry after the time given.");
  if (e instanceof GraphTransientError && !e.mayHaveApplied) return make(503, 'Microsoft did not answer; retry shortly.');
  return undefined;
}

/** Seconds a caller should wait before retrying, for the failures that are only a matter of time. */
export function retryAfterFor(e: unknown): number | undefined {
  if (e instanceof GraphThrottledError) return Math.max(1, Math.ceil((e.retryAfterMs ?? 1_000) / 1_000));
  if (e instanceof StorageUnavailableError || (e instanceof GraphTransientError && !e.mayHaveApplied)) return 1;
  return undefined;
}
