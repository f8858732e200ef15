/**
 * Wiring: one Graph client, one pacer and one credential per app + customer tenant, cached for the life of
 * the process so that every caller in this instance shares the tenant's quota.
 */
import { readFileSync } from 'node:fs';
import type { TokenCredential } from '@azure/identity';
import type { MicrosoftTenant, TeamsAdminBridge } from '../../ports/microsoft';
import type { Settings } from '../../config/settings';
import { TeamsBridgeClient, type TeamsBridgeOptions } from '../teams-bridge/bridge';
import { createSecretSource, createTenantCredential, type SecretSource } from './credentials';
import { TenantTurns } from './turns';
import { DEFAULT_RETRY, Pacer, microsoftQuotas, systemClock, type Clock, type PacerQuotas, type RetryPolicy, type TenantSize } from './pacer';
import { InMemoryQuotaLedger, type QuotaLedger } from './ledger';
import { TableProvider, connectionFromSettings } from '../tables/client';
import { TableQuotaLedger } from '../tables/quotaLedger';
import { GraphMicrosoftTenant, type GraphTenantOptions } from './tenant';
import { createTransport, type Transport } from './transport';
import { createAppCheck } from './appCheck';
import type { TenantAppVerifier } from '../../onboarding/deps';

export * from './pacer';
export { InMemoryQuotaLedger, settle, type QuotaLedger, type LeaseRequest, type LeaseGrant, type BudgetRate } from './ledger';
export { GraphMicrosoftTenant, type GraphTenantOptions } from './tenant';
export { CallOptions, PacedGraphMiddleware } from './pipeline';
export { createTransport, TransportError, type Transport, type TransportRequest } from './transport';
export { createSecretSource, createTenantCredential, parseCredentialReference, SecretNotFoundError, type CredentialReference, type SecretSource } from './credentials';
export { toMicrosoftError, namedPermissions } from './errors';
export { USER_SELECT } from './mapping';

/** What the product stores about a customer's tenant: ids and a reference to the secret, never the secret. */
export interface CustomerTenantConfig {
  tenantId: string;
  /** The multi-tenant app's client id, consented in the customer's tenant. */
  clientId: string;
  /** `kv:<secret-name>` or `env:<SETTING_NAME>`; the value is a client secret or a PEM certificate with its key. */
  credentialRef: string;
  /** Picks Microsoft's resource-unit quota (S < 50 users, M ≤ 500, L above); S when unknown. */
  tenantSize?: TenantSize;
}

export type GraphSettings = Pick<Settings, 'SITESYNC_GRAPH_BASE_URL' | 'SITESYNC_AUTHORITY_HOST'> &
  Partial<Pick<Settings, 'SITESYNC_KEY_VAULT_URL' | 'SITESYNC_GRAPH_CA_FILE' | 'SITESYNC_TEAMS_BRIDGE_URL' | 'SITESYNC_TABLES_CONNECTION_STRING' | 'SITESYNC_TABLES_ENDPOINT' | 'SITESYNC_LOCAL_QUOTA_SCALE' | 'SITESYNC_LOCAL_IDENTITY' | 'SITESYNC_LOCAL_IDENTITY_SECRET'>>;

/** Microsoft's quotas for the tenant, multiplied for a local emulator whose quotas were raised (tests). */
function quotasFor(config: CustomerTenantConfig, settings: GraphSettings): PacerQuotas {
  const quotas = microsoftQuotas(config.tenantSize);
  const scale = settings.SITESYNC_LOCAL_QUOTA_SCALE ?? 1;
  if (scale === 1) return quotas;
  const times = (w: PacerQuotas['teamsAdmin']) => ({ ...w, units: w.units * scale });
  return { ...quotas, resourceUnits: times(quotas.resourceUnits), writes: times(quotas.writes), teamsAdmin: times(quotas.teamsAdmin), maxConcurrent: quotas.maxConcurrent * scale };
}

export interface MicrosoftAdapterOptions {
  /** Overrides Microsoft's quotas (benches, tests). */
  quotas?: Partial<PacerQuotas>;
  retry?: Partial<RetryPolicy>;
  /** Where env: references are read; process.env by default. */
  env?: Record<string, string | undefined>;
  secrets?: SecretSource;
  /** Replaces the per-tenant credential (tests with a static token). */
  credential?: (config: CustomerTenantConfig) => TokenCredential;
  clock?: Clock;
  tenant?: Partial<Pick<GraphTenantOptions, 'pageSize' | 'numberPageSize' | 'operationPollMs' | 'operationDeadlineMs' | 'usageLocationRetry' | 'teamsPolicyVersion'>>;
  bridge?: Partial<Pick<TeamsBridgeOptions, 'scope' | 'timeoutMs'>>;
  /**
   * Where the quota budgets live. By default in Table Storage when the settings name it, so that every
   * instance of the app spends one budget per app + tenant; else in this process.
   */
  ledger?: QuotaLedger;
}

interface TenantEntry {
  tenant: GraphMicrosoftTenant;
  bridge?: TeamsBridgeClient;
  credential: TokenCredential;
  pacer: Pacer;
  bridgePacer?: Pacer;
  turns: TenantTurns;
}

const cache = new Map<string, TenantEntry>();
const ledgers = new Map<string, QuotaLedger>();

/** One ledger per storage account (or one in memory), shared by every tenant's pacers in this process. */
function ledgerFor(settings: GraphSettings): QuotaLedger {
  const key = settings.SITESYNC_TABLES_CONNECTION_STRING ?? settings.SITESYNC_TABLES_ENDPOINT ?? '';
  let ledger = ledgers.get(key);
  if (!ledger) {
    ledger = key ? new TableQuotaLedger(new TableProvider(connectionFromSettings(settings as Settings))) : new InMemoryQuotaLedger();
    ledgers.set(key, ledger);
  }
  return ledger;
}

function reportLedgerError(error: unknown): void {
  // Once per pacer: the process goes on pacing with its own buckets and tries the ledger again later.
  console.warn(`quota ledger unavailable, pacing this instance on its own for now: ${error instanceof Error ? error.message : String(error)}`);
}
const transports = new Map<string, { send: Transport; agent: import('node:https').Agent; close(): void }>();

function transportFor(caFile: string | undefined) {
  const key = caFile ?? '';
  let transport = transports.get(key);
  if (!transport) {
    transport = createTransport({ ca: caFile ? readFileSync(caFile, 'utf8') : undefined });
    transports.set(key, transport);
  }
  return transport;
}

/**
 * Where credential references are resolved: `env:` in the settings, `kv:` in the configured Key Vault,
 * reached with the managed identity in Azure, or locally with the app standing in for it.
 */
export function secretSourceFor(settings: GraphSettings, options: Pick<MicrosoftAdapterOptions, 'env'> = {}): SecretSource {
  const agent = settings.SITESYNC_GRAPH_CA_FILE ? transportFor(settings.SITESYNC_GRAPH_CA_FILE).agent : undefined;
  const identity = settings.SITESYNC_LOCAL_IDENTITY?.split('/');
  const vaultCredential = identity && identity.length === 2 && settings.SITESYNC_LOCAL_IDENTITY_SECRET
    ? createTenantCredential(
      { tenantId: identity[0], clientId: identity[1], credentialRef: 'env:SITESYNC_LOCAL_IDENTITY_SECRET' },
      { resolve: async () => settings.SITESYNC_LOCAL_IDENTITY_SECRET as string },
      { authorityHost: settings.SITESYNC_AUTHORITY_HOST, agent },
    )
    : undefined;
  return createSecretSource({ keyVaultUrl: settings.SITESYNC_KEY_VAULT_URL, env: options.env, vaultCredential, agent });
}

/** Proves a customer's app registration on onboarding (credential, token, permissions). */
export function createTenantAppVerifier(settings: GraphSettings, options: Pick<MicrosoftAdapterOptions, 'env'> = {}): TenantAppVerifier {
  const agent = settings.SITESYNC_GRAPH_CA_FILE ? transportFor(settings.SITESYNC_GRAPH_CA_FILE).agent : undefined;
  return createAppCheck({ secrets: secretSourceFor(settings, options), authorityHost: settings.SITESYNC_AUTHORITY_HOST, agent });
}

function entryFor(config: CustomerTenantConfig, settings: GraphSettings, options: MicrosoftAdapterOptions): TenantEntry {
  const key = [config.clientId, config.tenantId, config.credentialRef, settings.SITESYNC_GRAPH_BASE_URL].join('|');
  const cached = cache.get(key);
  if (cached) return cached;
  const transport = transportFor(settings.SITESYNC_GRAPH_CA_FILE);
  const secrets = options.secrets ?? secretSourceFor(settings, options);
  const credential =
    options.credential?.(config) ??
    createTenantCredential(config, secrets, { authorityHost: settings.SITESYNC_AUTHORITY_HOST, agent: settings.SITESYNC_GRAPH_CA_FILE ? transport.agent : undefined });
  const ledger = options.ledger ?? ledgerFor(settings);
  const scope = (service: string) => [service, new URL(settings.SITESYNC_GRAPH_BASE_URL).host, config.clientId, config.tenantId].join('|');
  const pacer = new Pacer({ ...quotasFor(config, settings), ...options.quotas }, options.clock, { ledger, scope: scope('graph'), onLedgerError: reportLedgerError });
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  const tenant = new GraphMicrosoftTenant({
    tenantId: config.tenantId,
    graphBaseUrl: settings.SITESYNC_GRAPH_BASE_URL,
    credential,
    pacer,
    transport: transport.send,
    retry,
    clock: options.clock,
    ...options.tenant,
  });
  // The bridge runs Teams PowerShell, a service apart from Graph's Teams endpoints: its calls are paced
  // at the (assumed) Teams rate on a budget of their own, not Graph's.
  const bridgePacer = settings.SITESYNC_TEAMS_BRIDGE_URL
    ? new Pacer({ ...quotasFor(config, settings), ...options.quotas }, options.clock, { ledger, scope: scope('bridge'), onLedgerError: reportLedgerError })
    : undefined;
  const bridge = settings.SITESYNC_TEAMS_BRIDGE_URL && bridgePacer
    ? new TeamsBridgeClient({
        tenantId: config.tenantId,
        baseUrl: settings.SITESYNC_TEAMS_BRIDGE_URL,
        credential,
        pacer: bridgePacer,
        transport: transport.send,
        retry,
        clock: options.clock,
        ...options.bridge,
      })
    : undefined;
  const turns = new TenantTurns(bridgePacer ? [pacer, bridgePacer] : [pacer], options.clock ?? systemClock);
  const entry = { tenant, bridge, credential, pacer, bridgePacer, turns };
  cache.set(key, entry);
  return entry;
}

/**
 * The customer's tenant over Graph; the same instance (and pacer) for the same app + tenant, so options
 * apply when a tenant is first asked for (resetMicrosoftTenants() forgets them).
 */
export function createMicrosoftTenant(config: CustomerTenantConfig, settings: GraphSettings, options: MicrosoftAdapterOptions = {}): GraphMicrosoftTenant {
  return entryFor(config, settings, options).tenant;
}

/** The customer's Teams admin bridge, sharing the tenant's credential and pacer. Needs SITESYNC_TEAMS_BRIDGE_URL. */
export function createTeamsAdminBridge(config: CustomerTenantConfig, settings: GraphSettings, options: MicrosoftAdapterOptions = {}): TeamsAdminBridge {
  const bridge = entryFor(config, settings, options).bridge;
  if (!bridge) throw new Error('SITESYNC_TEAMS_BRIDGE_URL is not set: the Teams admin bridge is unavailable');
  return bridge;
}

/** Both faces of the tenant, as the use cases' ports, and the turns its users' provisioning takes here. */
export function microsoftPorts(
  config: CustomerTenantConfig,
  settings: GraphSettings,
  options: MicrosoftAdapterOptions = {},
): { tenant: MicrosoftTenant; bridge?: TeamsAdminBridge; turnAt(turnsTaken: number): Date | undefined } {
  const entry = entryFor(config, settings, options);
  return {
    tenant: entry.tenant,
    bridge: entry.bridge,
    turnAt: (turnsTaken) => {
      const at = entry.turns.turnAt(turnsTaken);
      return at === undefined ? undefined : new Date(at);
    },
  };
}

/** Gives back every pacer's unspent slices (an instance shutting down), then forgets the tenants. */
export async function closeMicrosoftTenants(): Promise<void> {
  const entries = [...cache.values()];
  await Promise.all(entries.flatMap((e) => [e.pacer.close(), e.bridgePacer?.close()]).map((p) => p?.catch(() => undefined)));
  resetMicrosoftTenants();
}

/** Forgets every cached tenant and closes idle sockets (tests, shutdown). */
export function resetMicrosoftTenants(): void {
  cache.clear();
  ledgers.clear();
  for (const transport of transports.values()) transport.close();
  transports.clear();
}
