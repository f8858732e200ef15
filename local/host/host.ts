/**
 * The local Functions host: serves the captured HTTP triggers, fires timer triggers, and hosts the
 * extensions (Durable, Service Bus) that run the other trigger kinds. It builds `HttpRequest`,
 * `InvocationContext` and the timer object as the Azure host does, so function code runs unchanged.
 */
import { HttpRequest, HttpResponse, InvocationContext, type HttpResponseInit } from '@azure/functions';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from './clock';
import { SystemClock } from './clock';
import type { HostJson } from './hostJson';
import { routePrefix } from './hostJson';
import type { ExecutionLog } from './executionLog';
import { NcrontabSchedule, resolveAppSettingExpression } from './ncrontab';
import { MemorySingletonLocks, MemoryTimerStatusStore, TimerListener, timerLockSettings, type SingletonLocks, type TimerLockSettings, type TimerStatusStore } from './timers';
import type { BindingMetadata, FunctionRegistry, RegisteredFunction } from './registry';
import { RouteTemplate, splitPath } from './routes';

export type LogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical';
export type HostLogger = (level: LogLevel, source: string, message: string) => void;

export interface HostKeys {
  /** Accepted for authLevel "function". */
  functionKey: string;
  /** Accepted for every auth level; the only key for "admin". */
  masterKey: string;
  /** Keys of the extensions' own webhooks (`/runtime/webhooks/<extension>`), by name; the master key opens them too. */
  systemKeys?: Record<string, string>;
}

/** A part of the runtime that serves a trigger kind or a binding the HTTP/timer host does not. */
export interface HostExtension {
  readonly name: string;
  start(host: LocalHost): Promise<void>;
  stop(): Promise<void>;
  /** Value of an input binding (for example `durableClient`) for one invocation. */
  inputFor?(binding: BindingMetadata, fn: RegisteredFunction): unknown;
  /** Takes over requests it recognises (for example Durable's webhook routes); returns true when handled. */
  handleHttp?(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /** Called after a successful invocation with its output bindings' values. */
  deliverOutputs?(fn: RegisteredFunction, context: InvocationContext): Promise<void>;
  /** Named endpoints this extension serves, for .local/endpoints.json. */
  endpoints?(): Record<string, string>;
}

export { MemoryTimerStatusStore, type TimerStatus, type TimerStatusStore } from './timers';

export interface LocalHostOptions {
  registry: FunctionRegistry;
  hostJson: HostJson;
  /**
   * App settings, applied to process.env as the host does for its worker (already resolved: flag >
   * environment > local.settings.json > default, see local/settings.ts). stop() puts back what was there.
   */
  settings?: Record<string, string>;
  keys: HostKeys;
  port?: number;
  hostname?: string;
  clock?: Clock;
  logger?: HostLogger;
  extensions?: HostExtension[];
  timerStatusStore?: TimerStatusStore;
  /** The listener locks that make each timer run on one instance of the app (default: this host alone). */
  singletonLocks?: SingletonLocks;
  /** Lock periods over host.json's `singleton` section (tests shorten them). */
  timerLocks?: Partial<TimerLockSettings>;
  /** This instance's name (on the locks it holds, in its execution log). */
  instanceId?: string;
  /** Records each timer run (`executionLog.ts`). */
  executionLog?: ExecutionLog;
  /** Start timers; tests of HTTP alone may leave them off. Default true. */
  enableTimers?: boolean;
  /**
   * Which of the app's functions this host runs, as Flex Consumption's scale groups divide them: `http`
   * (HTTP triggers), `durable` (orchestrations and activities) and `function:<name>` for each other
   * function. Default: all of them.
   */
  scaleGroups?: string[];
  /** Largest request body accepted, in bytes (Azure's limit is 100 MB). */
  maxRequestBodyBytes?: number;
  /**
   * The app's public address when it is not this host's own: the front door that spreads requests over
   * several instances (links handed out, such as Durable's check-status URLs, point there).
   */
  publicUrl?: string;
}

interface HttpRoute {
  fn: RegisteredFunction;
  template: RouteTemplate;
  methods: Set<string>;
  authLevel: 'anonymous' | 'function' | 'admin';
}

export interface InvocationOptions {
  triggerMetadata?: Record<string, unknown>;
  invocationId?: string;
}

export class LocalHost {
  readonly registry: FunctionRegistry;
  readonly hostJson: HostJson;
  readonly clock: Clock;
  readonly keys: HostKeys;
  readonly log: HostLogger;
  private readonly extensions: HostExtension[];
  private readonly routes: HttpRoute[] = [];
  private readonly prefix: string;
  private readonly timerStore: TimerStatusStore;
  private readonly timerListeners = new Map<string, TimerListener>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private server?: http.Server;
  private stopped = false;
  private baseUrl = '';
  /** What process.env held before this host applied its settings, for stop() to put back. */
  private readonly environmentBefore = new Map<string, string | undefined>();

  constructor(private readonly options: LocalHostOptions) {
    this.registry = options.registry;
    this.hostJson = options.hostJson;
    this.clock = options.clock ?? new SystemClock();
    this.keys = options.keys;
    this.log = options.logger ?? defaultLogger;
    this.extensions = options.extensions ?? [];
    this.timerStore = options.timerStatusStore ?? new MemoryTimerStatusStore();
    this.prefix = routePrefix(options.hostJson);
    for (const fn of this.registry.byTrigger('httpTrigger').filter((f) => this.runs(f))) {
      const trigger = fn.trigger;
      const route = typeof trigger.route === 'string' && trigger.route.length > 0 ? trigger.route : fn.name;
      const methods = Array.isArray(trigger.methods) ? (trigger.methods as string[]) : ['GET', 'POST'];
      const authLevel = (trigger.authLevel as HttpRoute['authLevel'] | undefined) ?? 'anonymous';
      this.routes.push({ fn, template: new RouteTemplate(route), methods: new Set(methods.map((m) => m.toUpperCase())), authLevel });
    }
    this.routes.sort((a, b) => b.template.specificity - a.template.specificity);
  }

  /** Whether this host runs the function (its scale group is one of this host's). */
  runs(fn: RegisteredFunction): boolean {
    const groups = this.options.scaleGroups;
    return groups === undefined || groups.includes(scaleGroupOf(fn));
  }

  /** This instance's name. */
  get instanceId(): string {
    return this.options.instanceId ?? 'local';
  }

  static async start(options: LocalHostOptions): Promise<LocalHost> {
    const host = new LocalHost(options);
    await host.start();
    return host;
  }

  /** Base URL of the HTTP server, without the route prefix. */
  get url(): string {
    return this.baseUrl;
  }

  /** Where clients reach the app: the front door when several instances serve it, else this host. */
  get publicUrl(): string {
    return this.options.publicUrl ?? this.baseUrl;
  }

  /** Base URL including the route prefix (`/api`). */
  get apiUrl(): string {
    return this.prefix ? `${this.baseUrl}/${this.prefix}` : this.baseUrl;
  }

  endpoints(): Record<string, string> {
    return Object.assign({}, ...this.extensions.map((e) => e.endpoints?.() ?? {}));
  }

  async start(): Promise<void> {
    for (const [key, value] of Object.entries(this.options.settings ?? {})) this.setSetting(key, value);
    this.server = http.createServer((req, res) => {
      const work = this.handle(req, res).catch((err: unknown) => {
        this.log('error', 'host', `Unhandled error serving ${req.method} ${req.url}: ${describe(err)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
      this.track(work);
    });
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 0, this.options.hostname ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.baseUrl = `http://${this.options.hostname ?? '127.0.0.1'}:${address.port}`;
    for (const extension of this.extensions) await extension.start(this);
    if (this.options.enableTimers !== false) await this.startTimers();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.timerListeners.values()].map((l) => l.stop()));
    for (const extension of [...this.extensions].reverse()) await extension.stop();
    await Promise.allSettled([...this.inFlight]);
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    // A later host in this process must see the environment, not this host's settings posing as it.
    for (const [key, value] of this.environmentBefore) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    this.environmentBefore.clear();
  }

  /** Sets one app setting for the worker (process.env), as the host does; undone by stop(). */
  setSetting(key: string, value: string): void {
    if (!this.environmentBefore.has(key)) this.environmentBefore.set(key, process.env[key]);
    process.env[key] = value;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Keeps track of background work so stop() can wait for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => undefined);
    return work;
  }

  /** Builds the InvocationContext the host would pass, with extension-provided inputs. */
  createContext(fn: RegisteredFunction, options: InvocationOptions = {}): InvocationContext {
    const invocationId = options.invocationId ?? randomUUID();
    const bindings = Object.values(fn.metadata.bindings);
    const extraInputs = bindings.filter((b) => b.direction === 'in' && b !== fn.trigger);
    const extraOutputs = bindings.filter((b) => b.direction === 'out' && b.name !== '$return');
    const context = new InvocationContext({
      invocationId,
      functionName: fn.name,
      triggerMetadata: options.triggerMetadata,
      logHandler: (level, ...args) => this.log(level as LogLevel, fn.name, args.map(String).join(' ')),
      options: {
        // The library's binding types are unions per kind; the captured metadata is the same object.
        trigger: fn.trigger as unknown as InvocationContext['options']['trigger'],
        extraInputs: extraInputs as unknown as InvocationContext['options']['extraInputs'],
        extraOutputs: extraOutputs as unknown as InvocationContext['options']['extraOutputs'],
      },
    });
    for (const binding of extraInputs) {
      const value = this.extensions.map((e) => e.inputFor?.(binding, fn)).find((v) => v !== undefined);
      if (value !== undefined) context.extraInputs.set(binding.name, value);
    }
    return context;
  }

  /**
   * Runs a function as the host would: calls its callback with the trigger input and a fresh context,
   * then hands output bindings to the extensions. Errors propagate to the caller (the trigger kind
   * decides what a failure means).
   */
  async invoke(fn: RegisteredFunction, input: unknown, options: InvocationOptions = {}): Promise<{ result: unknown; context: InvocationContext }> {
    const context = this.createContext(fn, options);
    const result = await fn.callback(input, context);
    for (const extension of this.extensions) await extension.deliverOutputs?.(fn, context);
    return { result, context };
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    // A path that does not decode (a stray `%`, `%zz`) is the client's fault, whichever route it aims at.
    if (!decodablePath(url.pathname)) return sendProblem(res, 400, 'Bad Request', 'The request path is not valid percent-encoding.');
    for (const extension of this.extensions) {
      if (extension.handleHttp && (await extension.handleHttp(req, res, url))) return;
    }
    const segments = splitPath(url.pathname);
    if (segments[0]?.toLowerCase() === 'admin' && segments[1]?.toLowerCase() === 'functions' && segments.length === 3) {
      return this.serveAdminInvoke(segments[2], req, res, url);
    }
    const prefixSegments = splitPath(this.prefix);
    const underPrefix = prefixSegments.every((p, i) => segments[i]?.toLowerCase() === p.toLowerCase());
    if (!underPrefix) return sendProblem(res, 404, 'Not Found', `No function serves ${url.pathname}`);
    const rest = segments.slice(prefixSegments.length);

    let methodMismatch = false;
    for (const route of this.routes) {
      const params = route.template.match(rest);
      if (!params) continue;
      if (!route.methods.has((req.method ?? 'GET').toUpperCase())) {
        methodMismatch = true;
        continue;
      }
      if (!this.authorized(route.authLevel, req, url)) {
        return sendProblem(res, 401, 'Unauthorized', 'A valid function key is required (x-functions-key header or code query parameter).');
      }
      return this.serveHttp(route, params, req, res, url);
    }
    if (methodMismatch) return sendProblem(res, 405, 'Method Not Allowed', `${req.method} is not allowed on ${url.pathname}`);
    return sendProblem(res, 404, 'Not Found', `No function serves ${url.pathname}`);
  }

  /**
   * `POST /admin/functions/{name}` with the master key runs a non-HTTP function now, as the Azure host's
   * admin API does (body `{"input": "..."}`); for a timer the input is ignored and a timer object is passed.
   */
  private async serveAdminInvoke(name: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if ((req.method ?? 'GET').toUpperCase() !== 'POST') return sendProblem(res, 405, 'Method Not Allowed', 'Use POST to run a function.');
    if (!this.authorized('admin', req, url)) return sendProblem(res, 401, 'Unauthorized', 'The master key is required.');
    const fn = this.registry.get(name) ?? this.registry.all().find((f) => f.name.toLowerCase() === name.toLowerCase());
    if (!fn || fn.trigger.type === 'httpTrigger') return sendProblem(res, 404, 'Not Found', `No non-HTTP function named "${name}".`);
    const body = await readBody(req, 1024 * 1024);
    let input: unknown;
    if (body !== 'too-large' && body.length > 0) {
      try {
        input = (JSON.parse(body.toString('utf8')) as { input?: unknown }).input;
      } catch {
        return sendProblem(res, 400, 'Bad Request', 'The body must be JSON: {"input": ...}.');
      }
    }
    const run = fn.trigger.type === 'timerTrigger' ? this.runTimerNow(fn.name) : this.invoke(fn, input).then(() => undefined);
    this.track(run.catch((err: unknown) => this.log('error', fn.name, `Executed '${fn.name}' (Failed): ${describe(err)}`)));
    res.writeHead(202, { 'content-length': '0' });
    res.end();
  }

  /** Runs a timer function now, with the schedule status it would see. */
  async runTimerNow(name: string): Promise<void> {
    const fn = this.registry.require(name);
    if (fn.trigger.type !== 'timerTrigger') throw new Error(`"${name}" is not a timer function`);
    await (this.timerListeners.get(name) ?? this.timerListener(fn)).runNow();
  }

  private authorized(level: HttpRoute['authLevel'], req: IncomingMessage, url: URL): boolean {
    if (level === 'anonymous') return true;
    const presented = presentedKey(req, url);
    if (keyEquals(presented, this.keys.masterKey)) return true;
    return level === 'function' && keyEquals(presented, this.keys.functionKey);
  }

  /** An extension webhook's check, as the host's System auth level: that extension's system key or the master key. */
  authorizedSystem(extension: string, req: IncomingMessage, url: URL): boolean {
    const presented = presentedKey(req, url);
    const systemKey = this.keys.systemKeys?.[extension];
    return keyEquals(presented, this.keys.masterKey) || (systemKey !== undefined && keyEquals(presented, systemKey));
  }

  private async serveHttp(route: HttpRoute, params: Record<string, string>, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const limit = this.options.maxRequestBodyBytes ?? 100 * 1024 * 1024;
    const body = await readBody(req, limit);
    if (body === 'too-large') return sendProblem(res, 413, 'Payload Too Large', `Request bodies are limited to ${limit} bytes.`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const request = new HttpRequest({
      method,
      url: url.toString(),
      headers,
      params,
      body: body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { bytes: body } : undefined,
    });
    const started = Date.now();
    let response: HttpResponse;
    try {
      const { result } = await this.invoke(route.fn, request);
      response = result instanceof HttpResponse ? result : new HttpResponse((result ?? {}) as HttpResponseInit);
    } catch (err) {
      this.log('error', route.fn.name, `Executed '${route.fn.name}' (Failed, Duration=${Date.now() - started}ms): ${describe(err)}`);
      // The host answers a failed invocation with a bare 500: no exception details reach the caller.
      res.writeHead(500, { 'content-length': '0' });
      res.end();
      return;
    }
    const payload = Buffer.from(await response.arrayBuffer());
    const outHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      outHeaders[name] = value;
    });
    outHeaders['content-length'] = String(payload.length);
    res.writeHead(response.status ?? 200, outHeaders);
    res.end(method === 'HEAD' ? undefined : payload);
  }

  // ---- Timers ----

  /** Whether this instance holds the timer's listener lock (the timer runs here). */
  listensToTimer(name: string): boolean {
    return this.timerListeners.get(name)?.listening ?? false;
  }

  private timerListener(fn: RegisteredFunction): TimerListener {
    return new TimerListener({
      fn,
      schedule: new NcrontabSchedule(resolveAppSettingExpression(String(fn.trigger.schedule), process.env)),
      clock: this.clock,
      store: this.timerStore,
      locks: this.options.singletonLocks ?? new MemorySingletonLocks(),
      settings: timerLockSettings(this.hostJson, this.options.timerLocks),
      owner: this.instanceId,
      invoke: async (f, timer) => {
        await this.invoke(f, timer);
      },
      log: (level, message) => this.log(level, fn.name, message),
      executionLog: this.options.executionLog,
      track: (work) => this.track(work),
    });
  }

  private async startTimers(): Promise<void> {
    for (const fn of this.registry.byTrigger('timerTrigger').filter((f) => this.runs(f))) {
      const listener = this.timerListener(fn);
      this.timerListeners.set(fn.name, listener);
      await listener.start();
    }
  }
}

/** Flex Consumption's scale group of a function: `http`, `durable`, or `function:<name>` (every other function). */
export function scaleGroupOf(fn: RegisteredFunction): string {
  const type = fn.trigger.type;
  if (type === 'httpTrigger') return 'http';
  if (type === 'orchestrationTrigger' || type === 'activityTrigger' || type === 'entityTrigger') return 'durable';
  return `function:${fn.name}`;
}

function presentedKey(req: IncomingMessage, url: URL): string {
  const header = req.headers['x-functions-key'];
  return (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? '';
}

function decodablePath(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}

function keyEquals(presented: string, expected: string): boolean {
  if (!expected) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      return 'too-large';
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export function sendProblem(res: ServerResponse, status: number, title: string, detail: string): void {
  const body = JSON.stringify({ type: 'about:blank', title, status, detail });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

export function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

const defaultLogger: HostLogger = (level, source, message) => {
  if (level === 'trace' || level === 'debug') return;
  const line = `[${new Date().toISOString()}] ${level.padEnd(11)} ${source}: ${message}`;
  if (level === 'error' || level === 'critical') console.error(line);
  else console.log(line);
};
