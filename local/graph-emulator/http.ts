/** The emulator's request and response, independent of the socket so `$batch` can dispatch in-process. */
import { randomUUID } from 'node:crypto';

export interface EmuRequest {
  method: string;
  /** Path without the query, percent-decoded per segment by the router. */
  path: string;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  body: Buffer;
  /** `https://host:port` as the client addressed us; links are absolute on this origin. */
  origin: string;
}

export interface EmuResponse {
  status: number;
  headers?: Record<string, string>;
  /** A value to serialize as JSON, a ready string (sent as-is), or nothing. */
  json?: unknown;
  text?: string;
  contentType?: string;
}

export const JSON_TYPE = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export function ok(json: unknown, status = 200, headers?: Record<string, string>): EmuResponse {
  return { status, json, headers };
}

export function noContent(status = 204, headers?: Record<string, string>): EmuResponse {
  return { status, headers };
}

/** Graph's error envelope: `{ error: { code, message, innerError: { date, request-id, client-request-id } } }`. */
export function graphError(status: number, code: string, message: string, headers?: Record<string, string>): EmuResponse {
  const requestId = randomUUID();
  return {
    status,
    headers: { 'request-id': requestId, ...headers },
    json: { error: { code, message, innerError: { date: new Date().toISOString().replace(/\.\d{3}Z$/, ''), 'request-id': requestId, 'client-request-id': requestId } } },
  };
}

/** The Teams bridge's simpler error shape. */
export function bridgeError(status: number, code: string, message: string): EmuResponse {
  return { status, json: { error: { code, message } } };
}

export function parseJsonBody(req: EmuRequest): { ok: true; value: unknown } | { ok: false; response: EmuResponse } {
  if (req.body.length === 0) return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(req.body.toString('utf8')) };
  } catch {
    return { ok: false, response: graphError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.') };
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Opaque paging and delta tokens: base64url JSON. Clients must treat them as opaque, as Graph asks. */
export function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeToken<T>(token: string): T | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return isRecord(v) ? (v as T) : null;
  } catch {
    return null;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
