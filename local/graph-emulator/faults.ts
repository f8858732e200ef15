/** Fault injection (seeded) and the counters tests assert on. */
import { graphError, type EmuResponse } from './http';
import { seededRandom } from '../demo/tenant';

export interface FaultRule {
  /**
   * Which requests: `"/users*"`, `"POST /users/*\/assignLicense"`, `"/teamsbridge/*"`, … matched against the
   * method and the path without the `/v1.0` or `/beta` prefix; `*` matches any run of characters. A RegExp
   * is tested against `"METHOD /path"`.
   */
  route: string | RegExp;
  /** Status to answer instead of the real response. Omit for latency only. */
  status?: 429 | 500 | 502 | 503 | 504;
  /** Share of matching requests that fail, 0..1 (default 1). */
  rate?: number;
  /** Retry-After in seconds (fractions allowed) for 429 (default 1) and 503 (default none). */
  retryAfterSeconds?: number;
  /** Added delay before answering. */
  latencyMs?: number;
  /** Share of matching requests delayed (default 1). */
  latencyRate?: number;
  /** Stop failing after this many injected failures. */
  times?: number;
}

export interface FaultSettings { rules: FaultRule[]; seed?: number | string }

interface CompiledRule { rule: FaultRule; test: (key: string) => boolean; fired: number }

function compile(rule: FaultRule): CompiledRule {
  let test: (key: string) => boolean;
  if (rule.route instanceof RegExp) {
    const re = rule.route;
    test = (key) => re.test(key);
  } else {
    const text = rule.route.trim();
    const m = /^([A-Z]+)\s+(.*)$/.exec(text);
    const method = m ? m[1] : null;
    const glob = m ? m[2] : text;
    const re = new RegExp('^' + glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    test = (key) => {
      const space = key.indexOf(' ');
      return (!method || key.slice(0, space) === method) && re.test(key.slice(space + 1));
    };
  }
  return { rule, test, fired: 0 };
}

export class Faults {
  private rules: CompiledRule[] = [];
  private rnd: () => number = seededRandom(0);
  private seed: number | string = 0;

  set(settings: FaultSettings): void {
    this.rules = settings.rules.map(compile);
    this.seed = settings.seed ?? 0;
    this.rnd = seededRandom(`faults|${this.seed}`);
  }

  add(rule: FaultRule): void {
    this.rules.push(compile(rule));
  }

  clear(): void {
    this.rules = [];
  }

  list(): { rules: Array<FaultRule & { fired: number }>; seed: number | string } {
    return { rules: this.rules.map((r) => ({ ...r.rule, route: r.rule.route instanceof RegExp ? r.rule.route.toString() : r.rule.route, fired: r.fired })), seed: this.seed };
  }

  /** What to do with a request: a delay and possibly an injected response. */
  decide(method: string, path: string): { latencyMs: number; response?: EmuResponse } {
    const key = `${method} ${path.replace(/^\/(v1\.0|beta)(?=\/|$)/, '') || '/'}`;
    let latencyMs = 0;
    for (const c of this.rules) {
      if (!c.test(key)) continue;
      const { rule } = c;
      if (rule.latencyMs && this.rnd() < (rule.latencyRate ?? 1)) latencyMs = Math.max(latencyMs, rule.latencyMs);
      if (rule.status && (rule.times === undefined || c.fired < rule.times) && this.rnd() < (rule.rate ?? 1)) {
        c.fired++;
        return { latencyMs, response: faultResponse(rule) };
      }
    }
    return { latencyMs };
  }
}

function faultResponse(rule: FaultRule): EmuResponse {
  const status = rule.status!;
  const headers: Record<string, string> = {};
  const retryAfter = rule.retryAfterSeconds ?? (status === 429 ? 1 : undefined);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (status === 429) return tooManyRequests(headers);
  if (status === 503) return graphError(503, 'serviceNotAvailable', 'The service is temporarily unavailable. Please retry later.', headers);
  if (status === 504) return graphError(504, 'UnknownError', 'The gateway timed out.', headers);
  return graphError(status, 'generalException', 'An unexpected error occurred.', headers);
}

export function tooManyRequests(headers: Record<string, string>): EmuResponse {
  const r = graphError(429, 'TooManyRequests', 'Please retry again later.', headers);
  const err = (r.json as { error: { innerError: Record<string, string> } }).error;
  err.innerError = { code: '429', date: err.innerError.date, message: 'Please retry after', 'request-id': err.innerError['request-id'], status: '429' };
  return r;
}

// ---------------------------------------------------------------------------------------------
// Counters

export interface CountersSnapshot {
  /** Requests that reached a handler, by route kind (e.g. "users.list", "users.assignLicense"). */
  requests: Record<string, number>;
  /** Write requests that reached a handler (whatever their outcome), by route kind. */
  writes: Record<string, number>;
  /** The same writes by target user id, then route kind. */
  writesByUser: Record<string, Record<string, number>>;
  /** Answers 429 from quota enforcement. */
  throttled: number;
  /** The same answers by the quota that refused: identity, teamsAdmin, bridge. */
  throttledBy: Record<string, number>;
  /** Answers from fault rules. */
  faultsInjected: number;
  tokensIssued: number;
  notifications: { delivered: number; failed: number; lifecycle: number; validations: number };
}

export class Counters {
  private s: CountersSnapshot = Counters.empty();

  private static empty(): CountersSnapshot {
    return { requests: {}, writes: {}, writesByUser: {}, throttled: 0, throttledBy: {}, faultsInjected: 0, tokensIssued: 0, notifications: { delivered: 0, failed: 0, lifecycle: 0, validations: 0 } };
  }

  request(kind: string): void {
    this.s.requests[kind] = (this.s.requests[kind] ?? 0) + 1;
  }

  write(kind: string): void {
    this.s.writes[kind] = (this.s.writes[kind] ?? 0) + 1;
  }

  /** Attributes a write (already counted by route) to its target user. */
  writeFor(kind: string, userId: string | undefined): void {
    if (!userId) return;
    const per = (this.s.writesByUser[userId] ??= {});
    per[kind] = (per[kind] ?? 0) + 1;
  }

  throttled(quota: string): void {
    this.s.throttled++;
    this.s.throttledBy[quota] = (this.s.throttledBy[quota] ?? 0) + 1;
  }
  faultInjected(): void { this.s.faultsInjected++; }
  tokenIssued(): void { this.s.tokensIssued++; }
  notification(kind: keyof CountersSnapshot['notifications']): void { this.s.notifications[kind]++; }

  /** A deep copy: later requests do not change it. */
  snapshot(): CountersSnapshot {
    return structuredClone(this.s);
  }

  /** Total writes, optionally of one kind or to one user. */
  totalWrites(filter?: { kind?: string; userId?: string }): number {
    const src = filter?.userId ? this.s.writesByUser[filter.userId] ?? {} : this.s.writes;
    return Object.entries(src).filter(([k]) => !filter?.kind || k === filter.kind).reduce((n, [, v]) => n + v, 0);
  }

  reset(): void {
    this.s = Counters.empty();
    if (this.arrivals) this.arrivals = [];
  }

  private arrivals: Arrival[] | undefined;

  /** Starts (or stops) keeping the time of every request a quota class admitted or refused. */
  recordArrivals(on: boolean): void {
    this.arrivals = on ? [] : undefined;
  }

  arrival(entry: Arrival): void {
    this.arrivals?.push(entry);
  }

  /** Requests seen since recording started, oldest first. */
  arrivalLog(): Arrival[] {
    return [...(this.arrivals ?? [])];
  }
}

/** One request as a quota class saw it. */
export interface Arrival {
  at: number;
  quota: string;
  admitted: boolean;
}
