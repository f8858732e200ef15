/**
 * A local stack with a small demo tenant and a configured customer, for the provisioning tests and the
 * bench: sites per office (placed by city), site defaults with policies and dial plans, two profiles chosen
 * by flow-through criteria (Sales get a voice line, everyone else a standard profile), number ranges over
 * the free numbers of each office, and the tenant's users synced to customer level.
 */
import { createMicrosoftTenant } from '../../shared/adapters/graph';
import { createTableStorage, connectionFromSettings } from '../../shared/adapters/tables';
import { ServiceBusProvisioningScheduler } from '../../shared/adapters/servicebus/provisioningScheduler';
import { readSettings } from '../../shared/config/settings';
import { PROVISIONING_QUEUES } from '../../shared/config/queues';
import { DEMO_OFFICES, DEMO_SKUS, RESOURCE_ACCOUNT_DEPARTMENT } from '../../local/demo/tenant';
import type { HostLogger, LogLevel } from '../../local/host/host';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack';
import { globalSettingsSchema, type GlobalSettingsInput, type MicrosoftUser as DomainUser, type NumberRange } from '../../shared/domain';
import type { MicrosoftUser } from '../../shared/ports/microsoft';
import type { Storage } from '../../shared/ports/storage';
import { forgetCustomerContexts, provisionMessageId, type ProvisionUserMessage } from '../../shared/provisioning';

export interface LogEntry {
  level: LogLevel;
  source: string;
  message: string;
}

/**
 * The host's log, kept in memory so that a passing run prints nothing. Errors a test provokes on purpose
 * are declared with `expectErrors`; any other error is printed (first line) as it happens.
 */
export interface HostLog {
  readonly entries: readonly LogEntry[];
  errors(): LogEntry[];
  expectErrors(pattern: RegExp): void;
}

function memoryLog(forward?: HostLogger): { log: HostLog; logger: HostLogger } {
  const entries: LogEntry[] = [];
  const expected: RegExp[] = [];
  const isError = (e: LogEntry) => e.level === 'error' || e.level === 'critical';
  const logger: HostLogger = (level, source, message) => {
    const entry = { level, source, message };
    entries.push(entry);
    if (forward) forward(level, source, message);
    else if (isError(entry) && !expected.some((p) => p.test(message))) console.error(`[${source}] ${message.split('\n')[0]}`);
  };
  return {
    logger,
    log: {
      entries,
      errors: () => entries.filter(isError),
      expectErrors: (pattern) => void expected.push(pattern),
    },
  };
}

export interface World {
  stack: LocalStack;
  /** Everything the host logged. */
  log: HostLog;
  storage: Storage;
  tenantId: string;
  queue: ServiceBusProvisioningScheduler;
  users: MicrosoftUser[];
  /** Entra group the voice Quick Add Group adds its users to. */
  voiceGroupId: string;
  /** A string body is sent as it is (malformed JSON included). */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; contentType: string; headers: Headers; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test responses of many shapes
  /** Waits until the provisioning queue holds nothing (available, locked or scheduled). */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export const OFFICE_SITES = DEMO_OFFICES.map((o) => ({ id: o.key.toLowerCase(), name: o.city, city: o.city, country: o.country, countryCode: o.countryCode }));

export async function startWorld(options: { users: number; seed?: string; stack?: Partial<LocalStackOptions> }): Promise<World> {
  const { log, logger } = memoryLog(options.stack?.logger);
  // Number operations take a second here, not Teams' seconds: these tests are about provisioning's rules;
  // the benchmark runs at Teams' pace.
  const stack = await startLocalStack({ graph: { emulator: { users: options.users, seed: options.seed ?? 'provisioning', operationDelayMs: 1_000 } }, enableTimers: false, ...options.stack, logger });
  const settings = readSettings(stack.settings);
  const storage = createTableStorage(connectionFromSettings(settings));
  const demo = stack.demo!;
  const tenant = createMicrosoftTenant({ tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` }, settings);
  const users: MicrosoftUser[] = [];
  // The tenant's people: its resource accounts (auto attendants, call queues) are never provisioned.
  for await (const page of tenant.listUsers()) users.push(...page.filter((u) => u.department !== RESOURCE_ACCOUNT_DEPARTMENT));
  const groups = stack.graph!.control.state(demo.tenantId).groups;
  const voiceGroupId = [...groups.values()].find((g) => g.g.displayName === 'Teams Phone Users')!.g.id;
  const queue = new ServiceBusProvisioningScheduler(provisionMessageId, stack.settings);
  return {
    stack,
    log,
    storage,
    tenantId: demo.tenantId,
    queue,
    users,
    voiceGroupId,
    async api(method, path, body) {
      const res = await fetch(`${stack.endpoints.apiUrl}${path}`, {
        method,
        headers: { 'x-functions-key': stack.endpoints.functionKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, contentType: res.headers.get('content-type') ?? '', headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    async idle(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let quiet = 0;
      while (quiet < 3) {
        if (Date.now() > deadline) throw new Error(`the provisioning queues are still busy: ${JSON.stringify(PROVISIONING_QUEUES.map((q) => ({ [q.name]: stack.broker.stats(q.name) })))}`);
        quiet = stack.broker.activeIn(PROVISIONING_QUEUES) === 0 ? quiet + 1 : 0;
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      await stack.stop();
    },
  };
}

export function toDomainUser(u: MicrosoftUser): DomainUser {
  return {
    id: u.id, userPrincipalName: u.userPrincipalName, displayName: u.displayName, givenName: u.givenName, surname: u.surname,
    mail: u.mail, department: u.department, jobTitle: u.jobTitle, officeLocation: u.officeLocation, city: u.city, country: u.country,
    usageLocation: u.usageLocation, businessPhones: u.businessPhones, mobilePhone: u.mobilePhone,
    assignedLicenses: u.assignedLicenses.map((l) => l.skuId), accountEnabled: u.accountEnabled, onPremisesSyncEnabled: u.onPremisesSyncEnabled,
    employeeId: u.employeeId, employeeType: u.employeeType, companyName: u.companyName, userType: u.userType,
  };
}

export interface CustomerSetup {
  customerId: string;
  settings: GlobalSettingsInput;
  /** Numbers per site range, taken from the office's free numbers (default: all of them). */
  numbersPerSite?: number;
  /** Extra Quick Add Groups. */
  extraGroups?: Array<{ id: string; name: string; licenses?: string[]; usageLocation?: string }>;
}

/** Writes the customer, its configuration, number ranges and its users (at customer level). */
export async function seedCustomer(world: World, setup: CustomerSetup): Promise<void> {
  const { storage } = world;
  const customerId = setup.customerId;
  const demo = world.stack.demo!;
  await storage.customers.create({ id: customerId, name: `Contoso ${customerId}`, tenantId: demo.tenantId, clientId: demo.clientId, credentialRef: `env:${demo.secretSetting}` });
  await storage.globalSettings.put(customerId, globalSettingsSchema.parse(setup.settings));
  await storage.modelFilterCriteria.create({ id: 'site-city', customerId, name: 'City of the site', usage: 'Move User', criteria: [{ not: false, attribute: 'city', condition: 'Equals', value: '{{site.city}}', join: 'AND' }] });
  await storage.modelFilterCriteria.create({ id: 'sales', customerId, name: 'Sales', usage: 'Flow Through Provisioning', criteria: [{ not: false, attribute: 'department', condition: 'Equals', value: 'Sales', join: 'AND' }] });
  await storage.modelFilterCriteria.create({ id: 'members', customerId, name: 'Members', usage: 'Flow Through Provisioning', criteria: [{ not: false, attribute: 'userType', condition: 'Equals', value: 'Member', join: 'AND' }] });
  for (const site of OFFICE_SITES) {
    await storage.sites.create({ id: site.id, customerId, name: site.name, city: site.city, country: site.country, macros: {} });
    await storage.siteDefaults.create({
      siteId: site.id, customerId, includeForOverbuild: true, microsoftUsers: true, moveUserCriteriaId: 'site-city',
      createNumberInventoryAtCustomer: false, manageLicensesAndAllowStaging: true,
      teamsPolicies: { TeamsCallingPolicy: 'AllowCalling' }, dialPlan: `DP-${site.countryCode}`, usageLocation: site.countryCode, placementPriority: 0,
    });
  }
  await storage.quickAddGroups.create({
    id: 'voice', customerId, name: 'Voice', licenses: [], removeLicenses: [], teamsPolicies: { OnlineVoiceRoutingPolicy: 'Tag:VRP-US' },
    groups: { add: [world.voiceGroupId], remove: [] }, line: { assignment: 'nextAvailable', numberType: 'DirectRouting' },
  });
  await storage.quickAddGroups.create({ id: 'standard', customerId, name: 'Standard', licenses: [], removeLicenses: [], teamsPolicies: {}, groups: { add: [], remove: [] }, line: { assignment: 'none' } });
  for (const g of setup.extraGroups ?? []) {
    await storage.quickAddGroups.create({
      id: g.id, customerId, name: g.name, licenses: (g.licenses ?? []).map((skuId) => ({ skuId, disabledPlans: [] })), removeLicenses: [],
      ...(g.usageLocation ? { usageLocation: g.usageLocation } : {}), teamsPolicies: {}, groups: { add: [], remove: [] }, line: { assignment: 'none' },
    });
  }
  await storage.userProfiles.create({ id: 'voice', customerId, name: 'Voice', quickAddGroupId: 'voice', services: { teams: true, voice: true } });
  await storage.userProfiles.create({ id: 'standard', customerId, name: 'Standard', quickAddGroupId: 'standard', services: { teams: true, voice: false } });
  await storage.flowThroughCriteria.create({ id: 'ft', customerId, name: 'Personas', entries: [{ criteriaId: 'sales', profileId: 'voice' }, { criteriaId: 'members', profileId: 'standard' }] });
  for (const range of freeRanges(world, customerId, setup.numbersPerSite)) {
    await storage.numbers.addRange(range, { preventDuplicateNumbers: setup.settings.preventDuplicateNumbers === 'yes' });
  }
  await storage.users.upsertMany(customerId, world.users.map(toDomainUser), new Date());
  forgetCustomerContexts(customerId);
}

/** One range per office over numbers nobody holds in Teams. */
export function freeRanges(world: World, customerId: string, perSite?: number): NumberRange[] {
  const numbers = world.stack.graph!.control.numbers(world.tenantId);
  return OFFICE_SITES.flatMap((site) => {
    const free = numbers.filter((n) => n.city === site.city && n.numberType === 'directRouting' && !n.assignmentTargetId).map((n) => n.telephoneNumber).sort();
    const chosen = perSite === undefined ? free : free.slice(0, perSite);
    if (chosen.length === 0) return [];
    return [{ id: `range-${site.id}`, customerId, siteId: site.id, first: chosen[0], last: chosen[chosen.length - 1], vendor: 'Microsoft', lineType: 'DirectRouting' as const }];
  });
}

export function syncAdd(customerId: string, userIds: readonly string[], at = new Date().toISOString()): ProvisionUserMessage[] {
  return userIds.map((userId) => ({ customerId, userId, reason: 'sync-add' as const, observedAt: at, requestedAt: at }));
}

export const SKUS = DEMO_SKUS;
