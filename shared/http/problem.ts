/**
 * Problem details (RFC 9457) for every API error. A problem names what went wrong for the caller and,
 * for invalid input, each offending field in `errors`; it never carries internals or the rejected value.
 */
import type { HttpResponseInit } from '@azure/functions';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem types this API uses; `about:blank` means "the status says it all". */
export const PROBLEM_TYPES = {
  blank: 'about:blank',
  validation: 'urn:sitesync:problem:validation',
  inUse: 'urn:sitesync:problem:in-use',
  precondition: 'urn:sitesync:problem:precondition',
} as const;

/** One invalid input: where it was (`in`) and which field (a JSON Pointer for bodies, the name otherwise). */
export interface FieldError {
  in: 'body' | 'query' | 'path' | 'header';
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Thrown anywhere below a route handler; the route wrapper turns it into the response. */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(
    readonly status: number,
    detail: string,
    readonly extras: { type?: string; title?: string; errors?: FieldError[]; [extension: string]: unknown } = {},
  ) {
    super(detail);
  }

  toProblem(instance?: string): Problem {
    const { type, title, errors, ...rest } = this.extras;
    return {
      ...rest,
      type: type ?? (errors ? PROBLEM_TYPES.validation : PROBLEM_TYPES.blank),
      title: title ?? TITLES[this.status] ?? 'Error',
      status: this.status,
      detail: this.message,
      ...(instance !== undefined ? { instance } : {}),
      ...(errors ? { errors } : {}),
    };
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) => new HttpProblem(400, detail, errors ? { errors } : {});
export const invalidInput = (errors: FieldError[], detail = 'The request is not valid; see errors.') => new HttpProblem(400, detail, { errors, title: 'Validation Failed' });
export const notFound = (detail: string) => new HttpProblem(404, detail);
export const conflict = (detail: string, extras: Record<string, unknown> = {}) => new HttpProblem(409, detail, extras);

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status: problem.status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(problem),
  };
}
