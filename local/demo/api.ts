/** The demo job talks to the running stack as an operator would: over HTTP, with the function key. */
import type { Endpoints } from '../stack';

const READ_ATTEMPTS = 4;
const RETRIED_READS = new Set([502, 503, 504]);

export class ApiClient {
  constructor(private readonly endpoints: Endpoints) {}

  /**
   * A read answered 503 (storage or Microsoft briefly out of reach) is asked again after its Retry-After, and
   * so is one answered 502 or 504 (the instance serving it went away, as when the app scales in or one dies).
   */
  async request(method: string, path: string, body?: unknown, key: 'function' | 'master' = 'function'): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.send(method, path, body, key);
      if (!RETRIED_READS.has(res.status) || method !== 'GET' || attempt === READ_ATTEMPTS) return res;
      await res.arrayBuffer();
      await sleep(Math.min(10, Number(res.headers.get('retry-after')) || 1) * 1_000);
    }
  }

  private send(method: string, path: string, body: unknown, key: 'function' | 'master'): Promise<Response> {
    const url = path.startsWith('/admin/') ? `${this.endpoints.hostUrl}${path}` : `${this.endpoints.apiUrl}${path}`;
    return fetch(url, {
      method,
      headers: {
        'x-functions-key': key === 'master' ? this.endpoints.masterKey : this.endpoints.functionKey,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async json<T>(method: string, path: string, body?: unknown, key: 'function' | 'master' = 'function'): Promise<T> {
    const res = await this.request(method, path, body, key);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Every item of a paged list (`items` and `continuation`). */
  async all<T>(path: string, max = 10_000): Promise<T[]> {
    const items: T[] = [];
    let continuation: string | undefined;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await this.json<{ items: T[]; continuation?: string }>('GET', `${path}${continuation ? `${sep}continuation=${encodeURIComponent(continuation)}` : ''}`);
      items.push(...page.items);
      continuation = page.continuation;
    } while (continuation && items.length < max);
    return items;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
