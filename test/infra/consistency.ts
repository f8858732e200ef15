/**
 * Checks that the places which name app settings and queues agree: SETTINGS and ALL_QUEUES (the
 * code's declarations), the Bicep (what Azure gets), local.settings.sample.json (what a developer
 * gets), the local broker and host.json. Every check is a pure function over parsed inputs and
 * returns the disagreements as sentences; an empty list means consistent.
 */
import type { QueueSpec } from '../../shared/config/queues';
import type { SettingSpec } from '../../shared/config/settings';
import { type BicepValue, isExpression, readBicepVar } from './bicep';

/** A queue as some side declares it. Durations in milliseconds; null = duplicate detection off. */
export interface DeclaredQueue {
  name: string;
  maxDeliveryCount?: number;
  lockDurationMs?: number;
  duplicateDetectionWindowMs?: number | null;
}

/** Service Bus refuses a lock longer than five minutes. */
export const MAX_LOCK_DURATION_MS = 5 * 60_000;

/** Settings the Functions platform or host reads, which the code need not declare. */
const HOST_SETTINGS = new Set([
  'FUNCTIONS_WORKER_RUNTIME',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AzureWebJobsFeatureFlags',
  // Arguments the host passes to the Node.js worker process (Node's own options, e.g. --enable-source-maps).
  'languageWorkers__node__arguments',
]);

/** Suffixes that qualify an identity-based connection (`<Connection>__credential` ...). */
const IDENTITY_QUALIFIERS = ['credential', 'clientId', 'tenantId'];

const SECRET_PATTERN = /(AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret|Password)\s*=/i;

// ---------------------------------------------------------------------------------------------
// Durations

/** ISO 8601 duration (PnDTnHnMnS, as Service Bus takes them) to milliseconds. */
export function isoDurationMs(text: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) throw new Error(`not an ISO 8601 duration: '${text}'`);
  const [, d = '0', h = '0', min = '0', s = '0'] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000;
}

/** .NET TimeSpan text ([d.]hh:mm:ss[.fff], as host.json takes them) to milliseconds. */
export function timeSpanMs(text: string): number {
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(text);
  if (!m) throw new Error(`not a TimeSpan: '${text}'`);
  const [, d = '0', h, min, s] = m;
  return ((Number(d) * 24 + Number(h)) * 60 + Number(min)) * 60_000 + Number(s) * 1000;
}

// ---------------------------------------------------------------------------------------------
// Reading the sides into DeclaredQueue lists

export function queueFromSpec(spec: QueueSpec): DeclaredQueue {
  return {
    name: spec.name,
    maxDeliveryCount: spec.maxDeliveryCount,
    lockDurationMs: isoDurationMs(spec.lockDuration),
    duplicateDetectionWindowMs: spec.duplicateDetectionWindow ? isoDurationMs(spec.duplicateDetectionWindow) : null,
  };
}

/** Reads the Bicep `queues` var: a literal list of { name, maxDeliveryCount, lockDuration, duplicateDetectionWindow? }. */
export function queuesFromBicep(value: BicepValue | undefined): { queues: DeclaredQueue[]; issues: string[] } {
  const issues: string[] = [];
  if (!Array.isArray(value)) return { queues: [], issues: ['the Bicep declares no literal `var queues = [...]` list'] };
  const queues: DeclaredQueue[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item) || isExpression(item)) {
      issues.push('a Bicep queue entry is not a literal object');
      continue;
    }
    const { name, maxDeliveryCount, lockDuration, duplicateDetectionWindow } = item as Record<string, BicepValue | undefined>;
    if (typeof name !== 'string') {
      issues.push('a Bicep queue entry has no literal name');
      continue;
    }
    if (typeof maxDeliveryCount !== 'number') issues.push(`Bicep queue '${name}' has no literal maxDeliveryCount`);
    if (typeof lockDuration !== 'string') issues.push(`Bicep queue '${name}' has no literal lockDuration`);
    if (duplicateDetectionWindow !== undefined && duplicateDetectionWindow !== null && typeof duplicateDetectionWindow !== 'string') {
      issues.push(`Bicep queue '${name}' has a duplicateDetectionWindow that is not a literal`);
    }
    queues.push({
      name,
      maxDeliveryCount: typeof maxDeliveryCount === 'number' ? maxDeliveryCount : undefined,
      lockDurationMs: typeof lockDuration === 'string' ? isoDurationMs(lockDuration) : undefined,
      duplicateDetectionWindowMs: typeof duplicateDetectionWindow === 'string' ? isoDurationMs(duplicateDetectionWindow) : null,
    });
  }
  return { queues, issues };
}

function durationField(record: Record<string, unknown>, field: string): number | null | undefined {
  const iso = record[field];
  if (typeof iso === 'string') return isoDurationMs(iso);
  const ms = record[`${field}Ms`];
  if (typeof ms === 'number') return ms;
  if (field in record && (iso === undefined || iso === null)) return null;
  return undefined;
}

function queueLike(value: unknown): DeclaredQueue | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.name !== 'string') return undefined;
  const queue: DeclaredQueue = { name: record.name };
  if (typeof record.maxDeliveryCount === 'number') queue.maxDeliveryCount = record.maxDeliveryCount;
  const lock = durationField(record, 'lockDuration');
  if (typeof lock === 'number') queue.lockDurationMs = lock;
  const dup = durationField(record, 'duplicateDetectionWindow');
  if (dup !== undefined) queue.duplicateDetectionWindowMs = dup;
  return queue;
}

/**
 * Finds the queue list among a module's exports: an array of queue-like objects, a record of them,
 * or a no-argument function named for queues that returns one; exports whose name mentions queues
 * first. Undefined when nothing looks like one.
 */
export function queuesFromModuleExports(exports: Record<string, unknown>): DeclaredQueue[] | undefined {
  const names = Object.keys(exports).sort((a, b) => Number(/queue/i.test(b)) - Number(/queue/i.test(a)));
  for (const name of names) {
    const exported = exports[name];
    const value = typeof exported === 'function' && exported.length === 0 && /queue/i.test(name) ? (exported as () => unknown)() : exported;
    const items = Array.isArray(value)
      ? value
      : value instanceof Map
        ? [...value.values()]
        : typeof value === 'object' && value !== null
          ? Object.values(value)
          : [];
    const queues = items.map(queueLike);
    if (queues.length > 0 && queues.every((q) => q !== undefined)) return queues as DeclaredQueue[];
  }
  return undefined;
}

/**
 * The Function App's settings as the Bicep sets them: `var appSettings` plus `var optionalAppSettings`
 * (set only when non-empty). Undefined when `appSettings` is not a literal object.
 */
export function appSettingsFromBicep(bicep: string): Record<string, BicepValue> | undefined {
  const asObject = (value: BicepValue | undefined): Record<string, BicepValue> | undefined =>
    typeof value === 'object' && value !== null && !Array.isArray(value) && !isExpression(value)
      ? (value as Record<string, BicepValue>)
      : undefined;
  const required = asObject(readBicepVar(bicep, 'appSettings'));
  if (!required) return undefined;
  return { ...asObject(readBicepVar(bicep, 'optionalAppSettings')), ...required };
}

// ---------------------------------------------------------------------------------------------
// Checks

function isHostOwned(name: string, settings: readonly SettingSpec[]): boolean {
  if (HOST_SETTINGS.has(name) || name.startsWith('AzureFunctionsJobHost__')) return true;
  const cut = name.lastIndexOf('__');
  if (cut > 0 && IDENTITY_QUALIFIERS.includes(name.slice(cut + 2))) {
    const connection = name.slice(0, cut);
    return settings.some((s) => s.name.startsWith(`${connection}__`));
  }
  return false;
}

/** Every setting that is not local-only is set in Azure; nothing local-only or undeclared is. */
export function checkAppSettings(settings: readonly SettingSpec[], appSettings: Record<string, BicepValue>): string[] {
  const issues: string[] = [];
  for (const s of settings) {
    const set = Object.hasOwn(appSettings, s.name);
    if (!s.localOnly && !set) issues.push(`setting '${s.name}' is not set by the Bicep app settings`);
    if (s.localOnly && set) issues.push(`local-only setting '${s.name}' is set by the Bicep app settings`);
  }
  for (const [name, value] of Object.entries(appSettings)) {
    if (!settings.some((s) => s.name === name) && !isHostOwned(name, settings)) {
      issues.push(`Bicep app setting '${name}' is not declared in SETTINGS`);
    }
    const text = typeof value === 'string' ? value : isExpression(value) ? value.expression : '';
    if (SECRET_PATTERN.test(text) && !text.includes('@Microsoft.KeyVault(')) {
      issues.push(`Bicep app setting '${name}' carries a secret; use a Key Vault reference or an identity`);
    }
  }
  return issues;
}

/** Every setting that is not Azure-only has a local value; no Azure-only or undeclared one does. */
export function checkLocalSettings(settings: readonly SettingSpec[], values: Record<string, unknown>): string[] {
  const issues: string[] = [];
  for (const s of settings) {
    const set = Object.hasOwn(values, s.name);
    if (!s.azureOnly && !set) issues.push(`setting '${s.name}' is missing from local.settings.sample.json Values`);
    if (s.azureOnly && set) issues.push(`Azure-only setting '${s.name}' is in local.settings.sample.json Values`);
  }
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string') issues.push(`local setting '${name}' is not a string`);
    if (!settings.some((s) => s.name === name) && !isHostOwned(name, settings)) {
      issues.push(`local setting '${name}' is not declared in SETTINGS`);
    }
  }
  return issues;
}

/**
 * Every expected queue is declared on `side` with the same settings, and nothing else is. With
 * `partial`, a field the side does not state is not compared (the broker may not state all).
 */
export function checkQueues(expected: readonly DeclaredQueue[], declared: readonly DeclaredQueue[], side: string, partial = false): string[] {
  const issues: string[] = [];
  const seen = new Set<string>();
  for (const q of declared) {
    if (seen.has(q.name)) issues.push(`${side} declares queue '${q.name}' twice`);
    seen.add(q.name);
  }
  for (const want of expected) {
    const got = declared.find((q) => q.name === want.name);
    if (!got) {
      issues.push(`queue '${want.name}' is not declared in ${side}`);
      continue;
    }
    for (const field of ['maxDeliveryCount', 'lockDurationMs', 'duplicateDetectionWindowMs'] as const) {
      if (partial && got[field] === undefined) continue;
      if ((got[field] ?? null) !== (want[field] ?? null)) {
        issues.push(`queue '${want.name}': ${field} is ${String(got[field] ?? null)} in ${side}, ${String(want[field] ?? null)} in queues.ts`);
      }
    }
  }
  for (const q of declared) {
    if (!expected.some((e) => e.name === q.name)) issues.push(`${side} declares queue '${q.name}', which queues.ts does not`);
  }
  return issues;
}

/** Service Bus limits on the code's own queue declarations. */
export function checkQueueLimits(queues: readonly DeclaredQueue[]): string[] {
  const issues: string[] = [];
  for (const q of queues) {
    if (q.lockDurationMs !== undefined && (q.lockDurationMs < 5_000 || q.lockDurationMs > MAX_LOCK_DURATION_MS)) {
      issues.push(`queue '${q.name}': lock duration must be between 5 seconds and 5 minutes`);
    }
    if (q.maxDeliveryCount !== undefined && q.maxDeliveryCount < 1) issues.push(`queue '${q.name}': maxDeliveryCount must be at least 1`);
  }
  return issues;
}

export interface HostContext {
  appSettings: Record<string, BicepValue>;
  localValues: Record<string, unknown>;
  queues: readonly DeclaredQueue[];
  serviceBusConnection: string;
}

function literal(value: BicepValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An identity-based connection in Azure: the endpoint, `managedidentity` and the identity's client id. */
function checkIdentityConnection(connection: string, endpointSuffixes: string[], appSettings: Record<string, BicepValue>): string[] {
  const issues: string[] = [];
  if (!endpointSuffixes.some((suffix) => Object.hasOwn(appSettings, `${connection}__${suffix}`))) {
    issues.push(`the Bicep sets no '${connection}__${endpointSuffixes[0]}' for the identity-based connection '${connection}'`);
    return issues;
  }
  if (literal(appSettings[`${connection}__credential`]) !== 'managedidentity') {
    issues.push(`the Bicep must set '${connection}__credential' to 'managedidentity'`);
  }
  if (!Object.hasOwn(appSettings, `${connection}__clientId`)) {
    issues.push(`the Bicep must set '${connection}__clientId' (the app runs as a user-assigned identity)`);
  }
  return issues;
}

/** host.json agrees with the Bicep, the local settings and the queues. */
export function checkHostJson(host: unknown, ctx: HostContext): string[] {
  const issues: string[] = [];
  const extensions = (host as { extensions?: Record<string, Record<string, unknown> | undefined> } | null)?.extensions ?? {};

  // Durable: one explicit task hub name, the same in Azure and locally.
  const durable = extensions.durableTask;
  if (durable) {
    const hubName = durable.hubName;
    const hubOverride = ctx.appSettings.AzureFunctionsJobHost__extensions__durableTask__hubName;
    if (typeof hubName !== 'string') {
      issues.push('host.json durableTask.hubName is not set (Azure would default it to the site name, locally it differs)');
    } else {
      const fromSetting = /^%(.+)%$/.exec(hubName)?.[1];
      if (fromSetting) {
        if (!Object.hasOwn(ctx.appSettings, fromSetting)) issues.push(`the hub name setting '${fromSetting}' is not set by the Bicep`);
        if (!Object.hasOwn(ctx.localValues, fromSetting)) issues.push(`the hub name setting '${fromSetting}' is not in local.settings.sample.json`);
      } else if (!/^[A-Za-z][A-Za-z0-9]{2,44}$/.test(hubName)) {
        issues.push(`host.json durableTask.hubName '${hubName}' must be 3-45 letters and digits, starting with a letter`);
      }
      if (hubOverride !== undefined && literal(hubOverride) !== hubName) {
        issues.push('the Bicep overrides the durable hub name with a different value than host.json');
      }
    }
    const provider = (durable.storageProvider ?? {}) as Record<string, unknown>;
    const type = typeof provider.type === 'string' ? provider.type : 'AzureStorage';
    if (type.toLowerCase() !== 'azurestorage') {
      issues.push(`host.json durableTask uses storage provider '${type}', but the Bicep provisions only Azure Storage`);
    }
    const connection = (provider.connectionName ?? provider.connectionStringName ?? 'AzureWebJobsStorage') as string;
    issues.push(...checkIdentityConnection(connection, ['accountName', 'blobServiceUri'], ctx.appSettings));
    if (!Object.hasOwn(ctx.localValues, connection)) issues.push(`the durable storage connection '${connection}' is not in local.settings.sample.json`);
  }

  // Service Bus: the connection the triggers name, and lock renewal that outlasts a lock.
  issues.push(...checkIdentityConnection(ctx.serviceBusConnection, ['fullyQualifiedNamespace'], ctx.appSettings));
  if (!Object.hasOwn(ctx.localValues, ctx.serviceBusConnection)) {
    issues.push(`the Service Bus connection '${ctx.serviceBusConnection}' is not in local.settings.sample.json`);
  }
  const serviceBus = extensions.serviceBus;
  const renewal = serviceBus?.maxAutoLockRenewalDuration;
  if (typeof renewal === 'string') {
    const renewalMs = timeSpanMs(renewal);
    for (const q of ctx.queues) {
      if (q.lockDurationMs !== undefined && renewalMs > 0 && renewalMs < q.lockDurationMs) {
        issues.push(`host.json serviceBus.maxAutoLockRenewalDuration ${renewal} is shorter than the lock of queue '${q.name}'`);
      }
    }
  }
  return issues;
}

export interface InfraInputs {
  settings: readonly SettingSpec[];
  queues: readonly QueueSpec[];
  serviceBusConnection: string;
  /** The Bicep `var appSettings` object. */
  appSettings: BicepValue | undefined;
  /** The Bicep `var queues` list. */
  bicepQueues: BicepValue | undefined;
  /** local.settings.sample.json, parsed. */
  localSettings: unknown;
  /** host.json, parsed. */
  hostJson: unknown;
  /** The local broker's queue list, when the broker exists. */
  brokerQueues?: readonly DeclaredQueue[];
}

/** Every check over every side; an empty list means all sides agree. */
export function checkInfra(inputs: InfraInputs): string[] {
  const issues: string[] = [];
  const appSettings = inputs.appSettings;
  const appSettingsObject =
    typeof appSettings === 'object' && appSettings !== null && !Array.isArray(appSettings) && !isExpression(appSettings)
      ? (appSettings as Record<string, BicepValue>)
      : undefined;
  if (!appSettingsObject) issues.push('the Bicep declares no literal `var appSettings = {...}` object');

  const local = inputs.localSettings as { IsEncrypted?: unknown; Values?: unknown } | null;
  const localValues =
    typeof local?.Values === 'object' && local.Values !== null ? (local.Values as Record<string, unknown>) : undefined;
  if (!localValues) issues.push('local.settings.sample.json has no Values object');
  if (local?.IsEncrypted !== false) issues.push('local.settings.sample.json must have IsEncrypted: false');

  const expected = inputs.queues.map(queueFromSpec);
  const bicep = queuesFromBicep(inputs.bicepQueues);
  issues.push(...checkQueueLimits(expected), ...bicep.issues, ...checkQueues(expected, bicep.queues, 'the Bicep'));
  if (inputs.brokerQueues) issues.push(...checkQueues(expected, inputs.brokerQueues, 'the local broker', true));

  if (appSettingsObject) issues.push(...checkAppSettings(inputs.settings, appSettingsObject));
  if (localValues) issues.push(...checkLocalSettings(inputs.settings, localValues));
  issues.push(
    ...checkHostJson(inputs.hostJson, {
      appSettings: appSettingsObject ?? {},
      localValues: localValues ?? {},
      queues: expected,
      serviceBusConnection: inputs.serviceBusConnection,
    }),
  );
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Bicep module wiring: with no compiler at hand, catch a module called with a parameter it does
// not declare, a required parameter left out, or an output that does not exist.

export interface BicepParam {
  name: string;
  hasDefault: boolean;
}

export function bicepParams(bicep: string): BicepParam[] {
  const params: BicepParam[] = [];
  for (const m of bicep.matchAll(/^param[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+[A-Za-z_][A-Za-z0-9_.]*\??[ \t]*(=)?/gm)) {
    params.push({ name: m[1], hasDefault: m[2] === '=' });
  }
  return params;
}

export function bicepOutputs(bicep: string): string[] {
  return [...bicep.matchAll(/^output[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]/gm)].map((m) => m[1]);
}

export interface ModuleUse {
  symbol: string;
  path: string;
  params: string[];
}

/** The `module <symbol> '<path>' = { ... params: { ... } }` declarations of a Bicep file. */
export function bicepModules(bicep: string, parse: (text: string) => BicepValue): ModuleUse[] {
  const uses: ModuleUse[] = [];
  for (const m of bicep.matchAll(/^module[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+'([^']+)'[ \t]*=[ \t]*(?:if[ \t]*\([^\n]*\)[ \t]*)?/gm)) {
    const body = parse(bicep.slice(m.index + m[0].length));
    const params =
      typeof body === 'object' && body !== null && !Array.isArray(body) && !isExpression(body)
        ? (body as Record<string, BicepValue>).params
        : undefined;
    const names =
      typeof params === 'object' && params !== null && !Array.isArray(params) && !isExpression(params) ? Object.keys(params) : [];
    uses.push({ symbol: m[1], path: m[2], params: names });
  }
  return uses;
}

/** Checks each module use against the module's declared params and outputs. */
export function checkModuleWiring(main: string, modules: Record<string, string | undefined>, parse: (text: string) => BicepValue): string[] {
  const issues: string[] = [];
  for (const use of bicepModules(main, parse)) {
    if (use.path.startsWith('br/') || use.path.startsWith('ts/')) continue;
    const text = modules[use.path];
    if (text === undefined) {
      issues.push(`module '${use.symbol}': file '${use.path}' does not exist`);
      continue;
    }
    const declared = bicepParams(text);
    for (const p of use.params) {
      if (!declared.some((d) => d.name === p)) issues.push(`module '${use.symbol}' passes '${p}', which ${use.path} does not declare`);
    }
    for (const d of declared) {
      if (!d.hasDefault && !use.params.includes(d.name)) issues.push(`module '${use.symbol}' does not pass required '${d.name}' to ${use.path}`);
    }
    const outputs = bicepOutputs(text);
    for (const m of main.matchAll(new RegExp(`\\b${use.symbol}\\.outputs\\.([A-Za-z_][A-Za-z0-9_]*)`, 'g'))) {
      if (!outputs.includes(m[1])) issues.push(`'${use.symbol}.outputs.${m[1]}' is not an output of ${use.path}`);
    }
  }
  return issues;
}

/**
 * A light syntax check of one Bicep file: every resource and module body parses (balanced brackets,
 * terminated strings, `key: value` entries), every resource type names an API version, and every
 * parameter is used.
 */
export function checkBicepSyntax(file: string, bicep: string, parse: (text: string) => BicepValue): string[] {
  const issues: string[] = [];
  const declaration =
    /^(resource|module)[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+'([^']+)'[ \t]+(?:existing[ \t]+)?=[ \t]*(?:if[ \t]*\([^\n]*\)[ \t]*)?/gm;
  for (const m of bicep.matchAll(declaration)) {
    const [, kind, symbol, type] = m;
    if (kind === 'resource' && !/^[A-Za-z.]+\/[A-Za-z/]+@\d{4}-\d{2}-\d{2}(-preview)?$/.test(type)) {
      issues.push(`${file}: resource '${symbol}' has no valid 'type@api-version' ('${type}')`);
    }
    try {
      const body = parse(bicep.slice(m.index + m[0].length));
      if (typeof body !== 'object' || body === null) issues.push(`${file}: ${kind} '${symbol}' has no object body`);
    } catch (error) {
      issues.push(`${file}: ${kind} '${symbol}': ${(error as Error).message}`);
    }
  }
  for (const p of bicepParams(bicep)) {
    const uses = bicep.match(new RegExp(`\\b${p.name}\\b`, 'g'))?.length ?? 0;
    if (uses < 2) issues.push(`${file}: parameter '${p.name}' is never used`);
  }
  return issues;
}
