/**
 * The app's one public address in front of several instances, as Azure's front end is: each request goes
 * to the next instance that serves HTTP (round robin); an instance that cannot be reached (killed, not yet
 * started again) is skipped and the request goes to another, so a client sees no gap while at least one
 * instance is up. Bodies are read whole first (Azure's limit is 100 MB) so that a request can be sent again.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FrontDoor {
  readonly url: string;
  /** Sets the instances' addresses (replacing the previous set). */
  setBackends(urls: string[]): void;
  readonly backends: readonly string[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 100 * 1024 * 1024;
/** How long to wait for an instance to be back when none answers (one is being restarted). */
const NO_BACKEND_WAIT_MS = 10_000;

export async function startFrontDoor(options: { port?: number; host?: string } = {}): Promise<FrontDoor> {
  let backends: string[] = [];
  let next = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const host = options.host ?? '127.0.0.1';

  const forward = (target: string, req: IncomingMessage, body: Buffer): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const url = new URL(req.url ?? '/', target);
      const headers = { ...req.headers, host: url.host, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      const outgoing = http.request(url, { method: req.method, headers, agent }, resolve);
      outgoing.on('error', (err) => reject(Object.assign(err, { reusedSocket: outgoing.reusedSocket })));
      outgoing.end(body);
    });

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks);
    const deadline = Date.now() + NO_BACKEND_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const pool = backends;
      if (pool.length > 0) {
        const target = pool[next++ % pool.length];
        try {
          const answer = await forward(target, req, body);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        } catch (err) {
          // Refused (or a kept-alive connection found closed): the instance is gone and never saw the
          // request; another one gets it. A connection cut while the request was being served is a 502.
          if (!neverArrived(err)) throw err;
        }
      }
      if (Date.now() > deadline) break;
      if (attempt >= pool.length) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    res.writeHead(503, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'No instance of the app is answering.' }));
  };

  const server = http.createServer((req, res) => {
    serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get backends() {
      return backends;
    },
    setBackends(urls) {
      backends = [...urls];
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

function neverArrived(err: unknown): boolean {
  const { code, reusedSocket } = err as { code?: string; reusedSocket?: boolean };
  return code === 'ECONNREFUSED' || (reusedSocket === true && (code === 'ECONNRESET' || code === 'EPIPE'));
}
