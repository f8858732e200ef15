/**
 * Optimistic concurrency over HTTP. Every read returns the stored ETag; every PUT or DELETE of an existing
 * resource must send it back in If-Match (or `*` for "whatever version is there"):
 *  - missing If-Match on such a write: 428 Precondition Required;
 *  - a stale ETag: 412 Precondition Failed (the storage write is conditional, so a race is caught too).
 * A PUT that creates a resource (site defaults, flow-through criteria, global settings) needs none, and
 * the whole-configuration PUT is exempt: it is idempotent and compares before writing.
 */
import type { HttpRequest } from '@azure/functions';
import { HttpProblem, PROBLEM_TYPES } from './problem';

export const ANY_ETAG = '*';

/** The If-Match value, or undefined. A value that cannot be an ETag of ours matches nothing (412). */
export function ifMatch(request: HttpRequest): string | undefined {
  const value = request.headers.get('if-match')?.trim();
  if (value === undefined || value === '') return undefined;
  if (value === ANY_ETAG) return ANY_ETAG;
  if (value.length > 256 || !/^[\x21-\x7e]+$/.test(value)) throw preconditionFailed();
  return value;
}

export function requireIfMatch(request: HttpRequest): string {
  const value = ifMatch(request);
  if (value === undefined) {
    throw new HttpProblem(428, 'This write needs an If-Match header with the ETag from a read (or * for any version).', { type: PROBLEM_TYPES.precondition });
  }
  return value;
}

export function preconditionFailed(): HttpProblem {
  return new HttpProblem(412, 'The resource changed since it was read (ETag mismatch); read it again and retry.', { type: PROBLEM_TYPES.precondition });
}

/**
 * The ETag to write with: the stored one for `*`, else the one given. A given ETag that already differs
 * from the stored one fails here; one that changes between this read and the write fails in storage.
 */
export function etagForWrite(given: string, current: { etag: string }): string {
  if (given === ANY_ETAG) return current.etag;
  if (given !== current.etag) throw preconditionFailed();
  return given;
}

/** A use case's way to say "this write needs If-Match" without knowing HTTP (428). */
export class PreconditionRequiredError extends Error {
  override name = 'PreconditionRequiredError';
  constructor(message = 'This write needs an If-Match header with the ETag from a read (or * for any version).') {
    super(message);
  }
}
