/** A tiny HTTPS server for adapter unit tests: a handler per test, every request recorded. */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import type { AccessToken, TokenCredential } from '@azure/identity';

export interface StubRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface StubReply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  /** Never answer (the client times out). */
  hang?: boolean;
}

export type StubHandler = (request: StubRequest, origin: string) => StubReply | Promise<StubReply>;

export interface StubServer {
  origin: string;
  ca: string;
  requests: StubRequest[];
  handle(handler: StubHandler): void;
  close(): Promise<void>;
}

export async function startStubServer(): Promise<StubServer> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const requests: StubRequest[] = [];
  let handler: StubHandler = () => ({ status: 404, json: { error: { code: 'NotFound', message: 'no handler' } } });
  const hanging = new Set<import('node:http').ServerResponse>();
  const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const request: StubRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      try {
        const reply = await handler(request, origin);
        if (reply.hang) {
          hanging.add(res);
          return;
        }
        const body = reply.json === undefined ? '' : JSON.stringify(reply.json);
        res.writeHead(reply.status, { ...(body ? { 'content-type': 'application/json' } : {}), ...reply.headers });
        res.end(body);
      } catch (error) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'StubFailure', message: String(error) } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    ca: pems.cert,
    requests,
    handle(next) {
      handler = next;
      requests.length = 0;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A credential that hands out a fixed token; the adapter under test never talks to an identity provider. */
export const staticCredential: TokenCredential = {
  async getToken(): Promise<AccessToken> {
    return { token: 'test-token', expiresOnTimestamp: Date.now() + 3_600_000 };
  },
};

export function graphErrorReply(status: number, code: string, message: string, headers?: Record<string, string>): StubReply {
  return { status, headers, json: { error: { code, message, innerError: { 'request-id': 'req-1', date: '2026-01-01T00:00:00' } } } };
}
