/**
 * The demo job run by `npm start -- --once`: drives the running stack the way an operator would,
 * over HTTP, and reports each step. It grows as the product does.
 */
import type { Endpoints } from '../stack';

export interface ScenarioStep {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface ScenarioReport {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  steps: ScenarioStep[];
  [section: string]: unknown;
}

export class ScenarioRecorder {
  readonly steps: ScenarioStep[] = [];
  private readonly startedAt = new Date();
  readonly extra: Record<string, unknown> = {};

  constructor(private readonly onStep: (step: ScenarioStep) => void = () => {}) {}

  /** Runs one step; a failure is recorded with its reason and the scenario goes on where it can. */
  async step<T>(name: string, work: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> {
    const started = Date.now();
    try {
      const { value, detail } = await work();
      this.push({ name, ok: true, detail, ms: Date.now() - started });
      return value;
    } catch (err) {
      this.push({ name, ok: false, detail: err instanceof Error ? err.message : String(err), ms: Date.now() - started });
      return undefined;
    }
  }

  private push(step: ScenarioStep): void {
    this.steps.push(step);
    this.onStep(step);
  }

  report(): ScenarioReport {
    return {
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ok: this.steps.every((s) => s.ok),
      steps: this.steps,
      ...this.extra,
    };
  }
}

export class ApiClient {
  constructor(private readonly endpoints: Endpoints) {}

  async request(method: string, path: string, body?: unknown, key: 'function' | 'master' = 'function'): Promise<Response> {
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

interface HealthBody {
  status: string;
  heartbeat?: { count: number; at: string };
}

export async function runDemoScenario(endpoints: Endpoints, recorder: ScenarioRecorder): Promise<ScenarioReport> {
  const api = new ApiClient(endpoints);
  await recorder.step('health endpoint answers', async () => {
    const body = await api.json<HealthBody>('GET', '/health');
    return { value: body, detail: `status ${body.status}` };
  });
  const before = (await api.json<HealthBody>('GET', '/health').catch(() => undefined))?.heartbeat?.count ?? 0;
  await recorder.step('heartbeat timer writes to Table Storage', async () => {
    const res = await api.request('POST', '/admin/functions/heartbeat', {}, 'master');
    if (res.status !== 202) throw new Error(`admin run answered ${res.status}`);
    const beat = await waitFor('the heartbeat to be recorded', async () => {
      const body = await api.json<HealthBody>('GET', '/health');
      return body.heartbeat && body.heartbeat.count > before ? body.heartbeat : undefined;
    });
    return { value: beat, detail: `heartbeat ${beat.count} recorded at ${beat.at}` };
  });
  return recorder.report();
}
