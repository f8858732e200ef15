/**
 * Ids in URLs and in the bodies that create them. One conservative alphabet (letters, digits, `.`, `_`,
 * `-`; starting with a letter or digit; at most 128 characters) so that any id can travel in a path
 * segment unescaped and no quote, slash, space or control character reaches a storage query.
 */
import type { HttpRequest } from '@azure/functions';
import { z } from 'zod';
import { invalidInput } from './problem';

export const API_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const API_ID_RULE = 'must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit';

export const apiIdSchema = z.string().regex(API_ID_PATTERN, API_ID_RULE);

export function isApiId(value: unknown): value is string {
  return typeof value === 'string' && API_ID_PATTERN.test(value);
}

/** A validated path parameter; 400 naming the parameter (never echoing it) when it breaks the rule. */
export function pathId(request: HttpRequest, name: string): string {
  const value = request.params[name];
  if (!isApiId(value)) throw invalidInput([{ in: 'path', path: name, message: API_ID_RULE }], `The ${name} in the URL is not a valid id.`);
  return value;
}

/** Several path ids at once, in the order asked. */
export function pathIds<const N extends readonly string[]>(request: HttpRequest, ...names: N): { [K in N[number]]: string } {
  const out: Record<string, string> = {};
  const errors = names.filter((n) => !isApiId(request.params[n])).map((n) => ({ in: 'path' as const, path: n, message: API_ID_RULE }));
  if (errors.length > 0) throw invalidInput(errors, 'An id in the URL is not valid.');
  for (const n of names) out[n] = request.params[n];
  return out as { [K in N[number]]: string };
}

/** A telephone number in the URL: E.164, its `+` given or left out (clients encode it as %2B or not at all). */
export function pathNumber(request: HttpRequest, name = 'number'): string {
  const raw = (request.params[name] ?? '').trim();
  const number = raw.startsWith('+') ? raw : `+${raw}`;
  if (!/^\+[1-9]\d{1,14}$/.test(number)) throw invalidInput([{ in: 'path', path: name, message: 'must be an E.164 number such as +14255550100' }], `The ${name} in the URL is not a telephone number.`);
  return number;
}
