/**
 * Request bodies: JSON only, bounded in size, validated with a zod schema that also refuses fields it
 * does not know (a typo in a field name must not be silently dropped).
 */
import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import { zodFieldErrors, pointer } from './errors';
import { badRequest, HttpProblem, invalidInput, type FieldError } from './problem';

/** Default body limit; the configuration document raises it. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export interface ReadJsonOptions {
  maxBytes?: number;
}

/**
 * Reads and parses a JSON body: 415 unless `application/json` (or `+json`), 413 above the limit
 * (checked on Content-Length and while reading), 400 when empty, not UTF-8 or not JSON.
 */
export async function readJson(request: HttpRequest, options: ReadJsonOptions = {}): Promise<unknown> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_BYTES;
  const type = (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (!/^application\/([a-z0-9.+-]+\+)?json$/.test(type)) {
    throw new HttpProblem(415, 'The body must be JSON, sent with Content-Type: application/json.');
  }
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const bytes = await readBytes(request, maxBytes);
  if (bytes.length === 0) throw badRequest('A JSON body is required.');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('The body is not valid UTF-8.');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    // JSON.parse names the position, never more than a few characters of the input.
    throw badRequest(`The body is not valid JSON: ${e instanceof Error ? e.message.slice(0, 200) : 'parse error'}`);
  }
}

async function readBytes(request: HttpRequest, maxBytes: number): Promise<Uint8Array> {
  const stream = request.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function tooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(413, `The body is larger than ${maxBytes} bytes.`);
}

export interface ValidateOptions {
  /** Where the input came from, for the field errors. */
  in?: FieldError['in'];
  /** Refuse fields the schema does not know (default true). */
  strict?: boolean;
  /** Prefix of every reported path (validating a part of a larger document). */
  prefix?: ReadonlyArray<PropertyKey>;
}

/**
 * Parses `input` with `schema`; 400 naming every invalid field. With `strict` (the default), fields that
 * the schema dropped are refused too: works for any object schema, nested or refined, without rebuilding it.
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, options: ValidateOptions = {}): z.output<S> {
  const location = options.in ?? 'body';
  const prefix = options.prefix ?? [];
  const result = schema.safeParse(input);
  if (!result.success) throw invalidInput(zodFieldErrors(result.error, location, prefix));
  if (options.strict !== false) {
    const unknown = unknownFields(input, result.data, [...prefix]);
    if (unknown.length > 0) {
      throw invalidInput(unknown.map((path) => ({ in: location, path: location === 'body' ? pointer(path) : String(path[path.length - 1]), message: 'unknown field' })));
    }
  }
  return result.data;
}

/** Paths of object keys present in the input but absent from the parsed output (zod strips unknown keys). */
export function unknownFields(input: unknown, output: unknown, path: PropertyKey[] = []): PropertyKey[][] {
  const out: PropertyKey[][] = [];
  if (Array.isArray(input) && Array.isArray(output)) {
    input.forEach((item, i) => out.push(...unknownFields(item, output[i], [...path, i])));
  } else if (isPlainObject(input) && isPlainObject(output)) {
    for (const key of Object.keys(input)) {
      if (!Object.prototype.hasOwnProperty.call(output, key)) out.push([...path, key]);
      else out.push(...unknownFields(input[key], output[key], [...path, key]));
    }
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Merges fields that come from the path (customer id, item id) into a body. A body that names one of them
 * with another value is refused, so a document cannot be written under a different key than its URL.
 */
export function withPathFields(body: unknown, fields: Record<string, string>): Record<string, unknown> {
  if (!isPlainObject(body)) throw invalidInput([{ in: 'body', path: '', message: 'the body must be a JSON object' }]);
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (name in body && body[name] !== value) errors.push({ in: 'body', path: pointer([name]), message: `must be absent or equal to the ${name} in the URL` });
  }
  if (errors.length > 0) throw invalidInput(errors);
  return { ...body, ...fields };
}

/** readJson, then withPathFields (when given), then validate. */
export async function readBody<S extends z.ZodType>(
  request: HttpRequest,
  schema: S,
  options: ReadJsonOptions & { pathFields?: Record<string, string> } = {},
): Promise<z.output<S>> {
  const json = await readJson(request, options);
  return validate(schema, options.pathFields ? withPathFields(json, options.pathFields) : json);
}
