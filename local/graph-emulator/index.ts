/**
 * An in-process HTTPS emulator of Microsoft Graph, the Microsoft identity token endpoint and the Teams
 * admin bridge. Start as many as needed in one process, each on its own port (0 = free port).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { generateDemoTenant, type DemoTenant, type DemoTenantSpec } from '../demo/tenant';
import { handleIdentity, TokenIssuer } from './auth';
import { BRIDGE_PREFIX, handleBridge } from './bridge';
import { EmulatorControl, handleControl } from './control';
import { Counters, Faults, type FaultSettings } from './faults';
import { DEFAULT_LATENCY_MS, NUMBER_OPERATION_MS } from './limits';
import { Quotas, requestCost, type QuotaSettings } from './quotas';
import { requireRole, route, runRoute, type GraphConfig, type GraphEnv } from './graph';
import { graphError, isRecord, JSON_TYPE, parseJsonBody, sleep, type EmuRequest, type EmuResponse } from './http';
import { TenantState, type TelephoneOperation } from './state';
import { SubscriptionHub, type NotificationOptions } from './subscriptions';
import { EmulatorSaver, loadSavedEmulator } from './persistence';
import { LocalKeyVault } from './keyVault';

export type { DemoTenant, DemoTenantSpec } from '../demo/tenant';
export type { FaultRule, FaultSettings, CountersSnapshot, Arrival } from './faults';
export type { QuotaSettings } from './quotas';
export type { Subscription, LifecycleEvent, DeliveryRecord, NotificationOptions } from './subscriptions';
export type { EmulatorControl, TenantSummary, ControlUser } from './control';
export type { Counters, Faults } from './faults';
export type { AccessTokenClaims } from './auth';

export interface GraphEmulatorOptions {
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Tenants to serve: specs are generated, ready tenants are used as they are (and mutated). Default: one 100-user demo tenant. */
  tenants?: Array<DemoTenantSpec | DemoTenant>;
  /** Age after which a delta token is refused (Graph: 7 days for directory objects). */
  deltaTokenMaxAgeMs?: number;
  /** Status for an expired delta token: 410 Gone (default, with Location) or 400 Bad Request; code syncStateNotFound either way. */
  expiredDeltaStatus?: 400 | 410;
  /**
   * Enforce the quotas per app + tenant: Microsoft's identity quotas (resource units per 10 s, writes per
   * 150 s) and the request rates of the Teams administration routes and the bridge (docs/limits.md).
   */
  enforceQuotas?: boolean;
  quotas?: QuotaSettings;
  /** Time source for token expiry, delta token age, operations, subscriptions and quotas. */
  clock?: () => number;
  faults?: FaultSettings;
  /** Time a Teams number operation takes to finish (default 5 s, assumed: docs/limits.md). */
  operationDelayMs?: number;
  /** Added to every call before it is answered (default 0; the benchmarks use 150 ms). */
  latencyMs?: number;
  /** Users per delta page (the server decides on Graph; default 500). */
  deltaPageSize?: number;
  /** Default /users page size (Graph: 100). */
  usersDefaultPageSize?: number;
  notifications?: Partial<NotificationOptions>;
  /** A certificate to serve instead of a freshly generated self-signed one. */
  certificate?: { key: string; cert: string };
  /** The key the `/_control` API requires in the `x-emulator-key` header; default: a random one. */
  controlKey?: string;
  /**
   * Keep the emulator's world in this folder (`persistence.ts`): a start finds its address, certificate,
   * token key, tenants and subscriptions as they were, and `tenants` is used only the first time.
   */
  persistDir?: string;
}

export interface GraphEmulator {
  /** https://127.0.0.1:PORT */
  url: string;
  /** url + '/v1.0' */
  graphBaseUrl: string;
  /** Pass as `authorityHost` to @azure/identity (with disableInstanceDiscovery: true). */
  authorityHost: string;
  /** url + '/teamsbridge' */
  teamsBridgeUrl: string;
  /** A Key Vault's secrets API on a port of its own, for `kv:` credential references. */
  vaultUrl: string;
  vault: LocalKeyVault;
  /** The self-signed certificate (its own CA) to trust. */
  caPem: string;
  /** What `/_control` over HTTP requires in the `x-emulator-key` header. */
  controlKey: string;
  /** Writes the CA PEM into dir and returns the file's path. */
  caFile(dir: string): string;
  /** True when the world was loaded from `persistDir` rather than generated. */
  restored: boolean;
  /** With `persistDir`: saves the world now (after changes made in process through `control`). */
  save(): void;
  port: number;
  tenants: DemoTenantSummaryList;
  control: EmulatorControl;
  counters: Counters;
  faults: Faults;
  stop(): Promise<void>;
}

type DemoTenantSummaryList = ReturnType<EmulatorControl['tenants']>;

let sharedCert: Promise<{ key: string; cert: string }> | null = null;

/** One certificate per process is enough: every emulator listens on the loopback with the same names. */
function certificate(): Promise<{ key: string; cert: string }> {
  sharedCert ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 86_400_000), notAfterDate: new Date(Date.now() + 365 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }, { type: 7, ip: '::1' }] },
    ],
  }).then((p) => ({ key: p.private, cert: p.cert }));
  return sharedCert;
}

const SEVEN_DAYS = 7 * 24 * 3600 * 1000;

export async function startGraphEmulator(opts: GraphEmulatorOptions = {}): Promise<GraphEmulator> {
  const clock = opts.clock ?? Date.now;
  const saved = opts.persistDir ? loadSavedEmulator(opts.persistDir) : undefined;
  const tls = saved?.certificate ?? opts.certificate ?? (await certificate());
  const counters = new Counters();
  const faults = new Faults();
  if (opts.faults) faults.set(opts.faults);
  const quotas = new Quotas(clock, opts.quotas);
  const quotaSwitch = { enabled: opts.enforceQuotas ?? false };
  const latency = { ms: opts.latencyMs ?? DEFAULT_LATENCY_MS };
  const issuer = new TokenIssuer(clock, saved?.tokenKey);
  const hub = new SubscriptionHub(clock, counters, {
    validationTimeoutMs: 10_000, deliveryTimeoutMs: 3_000, deliveryAttempts: 3, retryDelayMs: 1_000, maxBatch: 100, ...opts.notifications,
  });
  const config: GraphConfig = {
    usersDefaultPageSize: opts.usersDefaultPageSize ?? 100,
    usersMaxPageSize: 999,
    deltaPageSize: opts.deltaPageSize ?? 500,
    deltaTokenMaxAgeMs: opts.deltaTokenMaxAgeMs ?? SEVEN_DAYS,
    expiredDeltaStatus: opts.expiredDeltaStatus ?? 410,
    operationDelayMs: opts.operationDelayMs ?? NUMBER_OPERATION_MS,
    maxScanPerPage: 20_000,
  };
  const timers = new Set<NodeJS.Timeout>();
  const env: GraphEnv = {
    config, counters, hub, clock,
    scheduleOperation(tenant: TenantState, op: TelephoneOperation) {
      const t = setTimeout(() => {
        timers.delete(t);
        tenant.completeOperation(op);
        saver?.changed();
      }, Math.max(0, op.createdAt + config.operationDelayMs - clock()));
      t.unref();
      timers.add(t);
    },
  };

  const tenants = new Map<string, TenantState>();
  let saver: EmulatorSaver | undefined;
  const serve = (state: TenantState): TenantState => {
    if (tenants.has(state.tenantId)) throw new Error(`Tenant ${state.tenantId} is already served.`);
    state.onUserChange((tid, uid, kind) => {
      hub.notifyUserChange(tid, uid, kind);
      saver?.changed();
    });
    tenants.set(state.tenantId, state);
    tenants.set(state.domain.toLowerCase(), state);
    saver?.changed();
    return state;
  };
  const register = (data: DemoTenant): TenantState => serve(new TenantState(data, clock));
  if (saved) {
    for (const data of saved.tenants) {
      const state = serve(TenantState.restore(data, clock));
      // Number operations that were running when the emulator stopped finish as they would have.
      for (const op of state.operations.values()) if (!op.final) env.scheduleOperation(state, op);
    }
    for (const subscription of saved.subscriptions) hub.subscriptions.set(subscription.id, subscription);
  } else {
    for (const t of opts.tenants ?? [{ seed: 'demo', users: 100 }]) {
      register('users' in t && Array.isArray(t.users) ? (t as DemoTenant) : generateDemoTenant(t as DemoTenantSpec));
    }
  }
  const findTenant = (ref: string): TenantState | undefined => tenants.get(ref) ?? tenants.get(ref.toLowerCase());
  const vault = new LocalKeyVault(saved?.vault);
  const control = new EmulatorControl(tenants, register, faults, quotas, quotaSwitch, counters, hub, latency, vault);
  const controlKey = opts.controlKey ?? randomBytes(32).toString('base64url');

  async function graph(req: EmuRequest, version: string, rest: string): Promise<EmuResponse> {
    const auth = issuer.verify(req.headers.authorization);
    if (!auth.ok) return graphError(401, 'InvalidAuthenticationToken', auth.message);
    const claims = auth.claims;
    if (claims.aud !== 'https://graph.microsoft.com' && claims.aud !== '00000003-0000-0000-c000-000000000000') {
      return graphError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Invalid audience.');
    }
    const tenant = tenants.get(claims.tid);
    if (!tenant) return graphError(401, 'InvalidAuthenticationToken', 'Access token validation failure. Unknown tenant.');
    if (rest === '/$batch' && req.method === 'POST') return batch(req, version);
    const seg = rest.split('/').filter(Boolean).map(decodeURIComponent);
    const match = route({ req, seg, version, tenant, claims }, env);
    if (!match) {
      return graphError(400, 'BadRequest', `Resource not found for the segment '${seg[seg.length - 1] ?? ''}'.`);
    }
    if (match.roles) {
      const denied = requireRole(claims, match.roles);
      if (denied) return denied;
    }
    let ru: number | null = null;
    if (quotaSwitch.enabled && match.quota) {
      const charge = quotas.charge(claims.appid, tenant.tenantId, tenant.activeCount, requestCost(req.method, match.quota, req.query));
      counters.arrival({ at: clock(), quota: 'identity', admitted: charge.ok });
      if (!charge.ok) {
        counters.throttled('identity');
        return charge.response;
      }
      ru = charge.ru;
    } else if (quotaSwitch.enabled && match.kind.startsWith('teams.')) {
      const charge = quotas.chargeTeamsAdmin(claims.appid, tenant.tenantId);
      counters.arrival({ at: clock(), quota: 'teamsAdmin', admitted: charge.ok });
      if (!charge.ok) {
        counters.throttled('teamsAdmin');
        return charge.response;
      }
    }
    counters.request(match.kind);
    if (match.write) counters.write(match.kind);
    const res = await runRoute(match);
    if (ru !== null) res.headers = { ...res.headers, 'x-ms-resource-unit': String(ru) };
    return res;
  }

  async function batch(req: EmuRequest, version: string): Promise<EmuResponse> {
    counters.request('batch');
    const body = parseJsonBody(req);
    if (!body.ok) return body.response;
    const requests = isRecord(body.value) ? body.value.requests : undefined;
    if (!Array.isArray(requests) || requests.length === 0) return graphError(400, 'BadRequest', 'Invalid batch payload: requests is required.');
    if (requests.length > 20) return graphError(400, 'BadRequest', 'Invalid batch payload format: the number of requests exceeds the limit of 20.');
    const ids = new Set<string>();
    for (const r of requests) {
      if (!isRecord(r) || typeof r.id !== 'string' || typeof r.method !== 'string' || typeof r.url !== 'string') {
        return graphError(400, 'BadRequest', 'Invalid batch payload format: each request needs id, method and url.');
      }
      if (ids.has(r.id)) return graphError(400, 'BadRequest', `Invalid batch payload format: duplicate request id '${r.id}'.`);
      ids.add(r.id);
    }
    const statusById = new Map<string, number>();
    const responses: unknown[] = [];
    // Items are counted under their own route kinds; this says how many of those came in batches.
    for (let i = 0; i < requests.length; i++) counters.request('batch.items');
    for (const r of requests as Array<Record<string, unknown>>) {
      const id = String(r.id);
      const deps = Array.isArray(r.dependsOn) ? r.dependsOn.map(String) : [];
      if (deps.some((d) => (statusById.get(d) ?? 424) >= 400)) {
        statusById.set(id, 424);
        responses.push({ id, status: 424, body: { error: { code: 'FailedDependency', message: 'The request depends on a request that failed.' } } });
        continue;
      }
      const url = new URL(String(r.url).replace(/^\/?/, '/'), 'https://batch.invalid');
      const headers: Record<string, string | undefined> = { authorization: req.headers.authorization, consistencylevel: undefined };
      if (isRecord(r.headers)) for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = String(v);
      const sub: EmuRequest = {
        method: String(r.method).toUpperCase(), path: `/${version}${url.pathname}`, query: url.searchParams, headers,
        body: r.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof r.body === 'string' ? r.body : JSON.stringify(r.body)),
        origin: req.origin,
      };
      const fault = faults.decide(sub.method, sub.path);
      if (fault.latencyMs) await sleep(fault.latencyMs);
      let res: EmuResponse;
      if (fault.response) {
        counters.faultInjected();
        res = fault.response;
      } else {
        res = await graph(sub, version, url.pathname);
      }
      statusById.set(id, res.status);
      const outHeaders: Record<string, string> = { ...res.headers };
      if (res.json !== undefined) outHeaders['content-type'] = JSON_TYPE;
      responses.push({ id, status: res.status, headers: outHeaders, body: res.json ?? res.text ?? null });
    }
    return { status: 200, json: { responses } };
  }

  async function dispatch(req: EmuRequest): Promise<EmuResponse> {
    // Any request but a read may change the world: save it soon.
    if (req.method !== 'GET' && req.method !== 'HEAD') saver?.changed();
    try {
      decodeURIComponent(req.path);
    } catch {
      return graphError(400, 'BadRequest', 'The request URI is not valid percent-encoding.');
    }
    if (req.path === '/_control' || req.path.startsWith('/_control/')) return handleControl(req, control, controlKey);
    // Microsoft's round trip: every call (a $batch once, not per item) takes this long to be answered.
    if (latency.ms > 0) await sleep(latency.ms);
    const fault = faults.decide(req.method, req.path);
    if (fault.latencyMs) await sleep(fault.latencyMs);
    if (fault.response) {
      counters.faultInjected();
      return fault.response;
    }
    const identity = handleIdentity(req, { findTenant, issuer, onToken: () => counters.tokenIssued() });
    if (identity) return identity;
    if (req.path === BRIDGE_PREFIX || req.path.startsWith(`${BRIDGE_PREFIX}/`)) {
      return handleBridge(req, {
        findTenant, issuer, counters,
        admit(appId, tenantId) {
          if (!quotaSwitch.enabled) return undefined;
          const charge = quotas.chargeBridge(appId, tenantId);
          counters.arrival({ at: clock(), quota: 'bridge', admitted: charge.ok });
          if (charge.ok) return undefined;
          counters.throttled('bridge');
          return charge.response;
        },
      });
    }
    const m = /^\/(v1\.0|beta)(\/.*)?$/.exec(req.path);
    if (m) return graph(req, m[1], m[2] ?? '/');
    return graphError(404, 'NotFound', `No route for ${req.method} ${req.path}.`);
  }

  async function onRequest(inc: IncomingMessage, out: ServerResponse, handler: (req: EmuRequest) => Promise<EmuResponse> = dispatch): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of inc) chunks.push(c as Buffer);
    const host = inc.headers.host ?? `127.0.0.1:${port}`;
    const url = new URL(inc.url ?? '/', `https://${host}`);
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(inc.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const req: EmuRequest = { method: (inc.method ?? 'GET').toUpperCase(), path: url.pathname, query: url.searchParams, headers, body: Buffer.concat(chunks), origin: `https://${host}` };
    let res: EmuResponse;
    try {
      res = await handler(req);
    } catch (e) {
      res = graphError(500, 'generalException', `Emulator error: ${(e as Error).message}`);
    }
    const outHeaders: Record<string, string> = { ...res.headers };
    const clientRequestId = headers['client-request-id'];
    if (clientRequestId) outHeaders['client-request-id'] = clientRequestId;
    outHeaders['request-id'] ??= clientRequestId ?? '00000000-0000-0000-0000-000000000000';
    let payload: string | undefined;
    if (res.json !== undefined) {
      payload = JSON.stringify(res.json);
      outHeaders['content-type'] = res.contentType ?? JSON_TYPE;
    } else if (res.text !== undefined) {
      payload = res.text;
      outHeaders['content-type'] = res.contentType ?? 'text/plain';
    }
    out.writeHead(res.status, outHeaders);
    out.end(payload);
  }

  const server: Server = createServer({ key: tls.key, cert: tls.cert, keepAlive: true }, (inc, out) => {
    onRequest(inc, out).catch((e: unknown) => {
      if (!out.headersSent) out.writeHead(500);
      out.end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(saved?.port ?? opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  }).catch((err: unknown) => {
    if (saved && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new Error(`the Graph emulator's saved address (port ${saved.port}) is taken by another process: links saved in storage name it, so it must be free`);
    }
    throw err;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const hostName = opts.host ?? '127.0.0.1';
  const url = `https://${hostName.includes(':') ? `[${hostName}]` : hostName}:${port}`;
  const vaultServer: Server = createServer({ key: tls.key, cert: tls.cert, keepAlive: true }, (inc, out) => {
    onRequest(inc, out, async (req) => vault.handle(req, issuer, url)).catch((e: unknown) => {
      if (!out.headersSent) out.writeHead(500);
      out.end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    vaultServer.once('error', reject);
    vaultServer.listen(0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const vaultAddress = vaultServer.address();
  const vaultUrl = `https://${hostName.includes(':') ? `[${hostName}]` : hostName}:${typeof vaultAddress === 'object' && vaultAddress ? vaultAddress.port : 0}`;
  if (opts.persistDir) {
    saver = new EmulatorSaver(opts.persistDir, {
      port,
      certificate: tls,
      tokenKey: issuer.key,
      tenants: () => [...new Set(tenants.values())],
      subscriptions: () => [...hub.subscriptions.values()],
      vault: () => vault.snapshot(),
    });
    saver.save();
  }

  return {
    url,
    graphBaseUrl: `${url}/v1.0`,
    authorityHost: url,
    teamsBridgeUrl: `${url}${BRIDGE_PREFIX}`,
    vaultUrl,
    vault,
    caPem: tls.cert,
    controlKey,
    caFile(dir: string): string {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'graph-emulator-ca.pem');
      writeFileSync(file, tls.cert);
      return file;
    },
    port,
    restored: saved !== undefined,
    save() {
      saver?.save();
    },
    get tenants() {
      return control.tenants();
    },
    control,
    counters,
    faults,
    async stop() {
      hub.stop();
      saver?.close();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([server, vaultServer].map((s) => new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })));
    },
  };
}
