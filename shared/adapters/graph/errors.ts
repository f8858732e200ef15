/** Maps what Graph (or the network) answered to the port's typed errors. Keys off Graph's `code`, not its prose. */
import {
  DeltaTokenExpiredError,
  GraphInvalidRequestError,
  GraphNotFoundError,
  GraphPermissionError,
  GraphThrottledError,
  GraphTransientError,
  MicrosoftError,
  type InvalidRequestReason,
} from '../../ports/microsoft';
import { parseRetryAfter } from './pacer';

export interface HttpFailure {
  status: number;
  code?: string;
  message?: string;
  requestId?: string;
  headers?: Headers;
}

export interface FailureContext {
  /** What we were doing, for the message (never a secret, never a token). */
  operation: string;
  /** The request was a delta link: any 400/410 means the round must start over. */
  deltaLink?: boolean;
  /** A write whose effect is unknown after a 5xx. */
  write?: boolean;
}

const DELTA_RESET_CODES = new Set(['syncstatenotfound', 'resyncrequired', 'syncstateinvalid']);

export function toMicrosoftError(failure: HttpFailure, context: FailureContext): MicrosoftError {
  const { status, code, requestId } = failure;
  const message = failure.message ?? '';
  const text = `${context.operation}: ${status}${code ? ` ${code}` : ''}${message ? ` — ${message}` : ''}${requestId ? ` (request-id ${requestId})` : ''}`;
  const lowerCode = (code ?? '').toLowerCase();

  if (DELTA_RESET_CODES.has(lowerCode) || (context.deltaLink && (status === 400 || status === 410))) {
    return new DeltaTokenExpiredError(text, status, code, requestId);
  }
  if (status === 429) {
    return new GraphThrottledError(text, status, code, requestId, parseRetryAfter(failure.headers?.get('retry-after'), Date.now()));
  }
  if (status >= 500 && status !== 501) {
    // A 503 is refused before processing; a 500/502/504 on a write leaves its effect unknown.
    return new GraphTransientError(text, status, code, requestId, Boolean(context.write) && status !== 503);
  }
  if (status === 404) return new GraphNotFoundError(text, status, code, requestId);
  if (status === 401 || status === 403) {
    const reason = invalidRequestReason(status, code, message);
    if (reason) return new GraphInvalidRequestError(text, status, code, requestId, reason);
    return new GraphPermissionError(text, status, code, requestId, namedPermissions(message));
  }
  return new GraphInvalidRequestError(text, status, code, requestId, invalidRequestReason(status, code, message));
}

/** Permission names Graph quotes in a refusal, e.g. "requires one of 'User.Read.All, Directory.Read.All'". */
export function namedPermissions(message: string): string[] {
  const found = message.match(/\b[A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)+\b/g) ?? [];
  return [...new Set(found)];
}

function invalidRequestReason(status: number, code: string | undefined, message: string): InvalidRequestReason | undefined {
  const text = message.toLowerCase();
  if (text.includes('usage location')) return 'invalidUsageLocation';
  if (text.includes('does not have any available licenses')) return 'noAvailableLicenses';
  if (text.includes('already been assigned') || text.includes('already exist')) return 'alreadyAssigned';
  if (status === 403 && (text.includes('quota') || text.includes('limit'))) return 'quotaExceeded';
  if (code === 'quotaLimitReached') return 'quotaExceeded';
  return undefined;
}

/** Reads Graph's standard error body `{error:{code,message,innerError:{request-id}}}`, tolerating anything else. */
export function readErrorBody(body: unknown): { code?: string; message?: string; requestId?: string } {
  if (typeof body !== 'object' || body === null || !('error' in body)) return {};
  const error = (body as { error: unknown }).error;
  if (typeof error !== 'object' || error === null) return {};
  const e = error as { code?: unknown; message?: unknown; innerError?: unknown; innererror?: unknown };
  const inner = (e.innerError ?? e.innererror) as Record<string, unknown> | undefined;
  return {
    code: typeof e.code === 'string' ? e.code : undefined,
    message: typeof e.message === 'string' ? e.message : undefined,
    requestId: inner && typeof inner['request-id'] === 'string' ? inner['request-id'] : undefined,
  };
}
