/** A minimal HTTPS client that trusts the emulator's CA (Node's global fetch takes no CA option). */
import { Agent, request } from 'node:https';

// Bodies default to `any`: tests read Graph's JSON structurally and assert on it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface HttpResult<T = any> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  text: string;
}

export class EmulatorClient {
  private readonly agent: Agent;

  constructor(ca: string, private readonly token?: string, private readonly defaults: Record<string, string> = {}) {
    this.agent = new Agent({ ca, keepAlive: true });
  }

  withToken(token: string): EmulatorClient {
    const c = new EmulatorClient('', token, this.defaults);
    (c as unknown as { agent: Agent }).agent = this.agent;
    return c;
  }

  /** The same client, sending these headers on every request (the control API's key). */
  withHeaders(headers: Record<string, string>): EmulatorClient {
    const c = new EmulatorClient('', this.token, { ...this.defaults, ...headers });
    (c as unknown as { agent: Agent }).agent = this.agent;
    return c;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see HttpResult
  send<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const h: Record<string, string> = { ...this.defaults, ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (payload !== undefined) h['content-type'] ??= 'application/json';
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers: h }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) parsed = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed as T, text });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see HttpResult
  get<T = any>(url: string, headers?: Record<string, string>): Promise<HttpResult<T>> {
    return this.send<T>('GET', url, undefined, headers);
  }

  close(): void {
    this.agent.destroy();
  }
}
