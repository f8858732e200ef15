/**
 * HTTP transport for Graph and the Teams bridge on Node's own http/https, so that an extra CA (the local
 * emulator's self-signed certificate) can be trusted without touching process-wide TLS settings.
 */
import http from 'node:http';
import https from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';

export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export type Transport = (request: TransportRequest) => Promise<Response>;

/** A network failure; `connected` tells whether the request may have reached the server. */
export class TransportError extends Error {
  override name = 'TransportError';
  constructor(message: string, readonly connected: boolean, readonly timedOut: boolean) {
    super(message);
  }
}

export interface TransportOptions {
  /** Extra PEM certificate(s) to trust besides the system's. */
  ca?: string;
  /** Socket idle time before a request is abandoned. */
  timeoutMs?: number;
  maxSockets?: number;
}

/** Each response's body as it came off the socket, for `bodyText`. */
const BODIES = new WeakMap<Response, Buffer>();

/**
 * A response's body as text: from the bytes this transport buffered when it sent the request (a fetch
 * Response's own `json()` and `text()` take them again through a web stream and a TextDecoder, several
 * times the cost of the parse for a page of 999 users), else read as any Response is.
 */
export async function bodyText(response: Response): Promise<string> {
  const buffered = BODIES.get(response);
  return buffered ? buffered.toString('utf8') : response.text();
}

export function createTransport(options: TransportOptions = {}): { send: Transport; agent: https.Agent; close(): void } {
  const timeoutMs = options.timeoutMs ?? 100_000;
  const maxSockets = options.maxSockets ?? 32;
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets,
    // Adding to the defaults, not replacing them: real Graph keeps working when a CA file is set. One
    // secure context for every connection: a `ca` list would be parsed again for each new connection and
    // joined into the pool key on every request.
    ...(options.ca ? { secureContext: createSecureContext({ ca: [...rootCertificates, options.ca] }) } : {}),
  });
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets });

  const send: Transport = (request) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(request.url);
      const secure = url.protocol === 'https:';
      const lib = secure ? https : http;
      let connected = false;
      const req = lib.request(
        url,
        { method: request.method, headers: request.headers, agent: secure ? httpsAgent : httpAgent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(new TransportError(`response aborted: ${error.message}`, true, false)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (Array.isArray(value)) value.forEach((v) => headers.append(name, v));
              else if (value !== undefined) headers.set(name, value);
            }
            const noBody = status === 204 || status === 304 || request.method === 'HEAD';
            const body = Buffer.concat(chunks);
            const response = new Response(noBody ? null : body, { status, statusText: res.statusMessage ?? '', headers });
            if (!noBody) BODIES.set(response, body);
            resolve(response);
          });
        },
      );
      req.on('socket', (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new TransportError(`no response within ${timeoutMs} ms`, true, true)));
      req.on('error', (error) => {
        if (error instanceof TransportError) reject(error);
        else reject(new TransportError(`${request.method} ${url.host}: ${error.message}`, connected, false));
      });
      if (request.body !== undefined) req.write(request.body);
      req.end();
    });

  return {
    send,
    agent: httpsAgent,
    close() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}
