/**
 * The resource accounts family of the pull sync: the tenant's auto attendants' and call queues' accounts,
 * read from Teams (Graph v1.0 userConfigurations with `accountType: resourceAccount`), with what each serves
 * from Get-CsOnlineApplicationInstance when the Teams admin bridge is there. They are kept as a catalog of
 * their own, never as users, and the service numbers they hold are `Used-Utility` in the inventory (recorded
 * at customer level when no inventory has them); a number a resource account gave up is released to cooling.
 */
import {
  CUSTOMER_INVENTORY,
  heldForResourceAccount,
  inventoryName,
  markUsedByResourceAccount,
  releaseNumber,
  resourceAccountKind,
  resourceAccountReason,
  type NumberEntry,
  type ResourceAccount,
} from '../domain';
import { DuplicateNumberError, NotFoundError, type NumberScope, type Storage } from '../ports/storage';
import type { CustomerMicrosoft } from './ports';

/** Where each number the sync marked for a resource account lives, so the next run finds it in one read. */
export const RESOURCE_ACCOUNT_NUMBERS_KEY = 'resourceAccountNumbers';

type Marked = Record<string, { inventory: string; reason: string }>;

export async function readResourceAccounts(microsoft: CustomerMicrosoft): Promise<ResourceAccount[]> {
  // What each serves is PowerShell's to tell, asked beside Graph; without the bridge, or when it fails, the
  // kind stays unknown and everything else (the accounts, their numbers) is still Graph's whole answer.
  const [configs, instances] = await Promise.all([
    microsoft.tenant.listResourceAccounts(),
    microsoft.bridge ? microsoft.bridge.listApplicationInstances().catch(() => []) : [],
  ]);
  const appOf = new Map(instances.map((i) => [i.objectId.toLowerCase(), i.applicationId]));
  return configs
    .map((c) => {
      const applicationId = appOf.get(c.id.toLowerCase()) ?? null;
      return {
        id: c.id,
        userPrincipalName: c.userPrincipalName,
        displayName: instances.find((i) => i.objectId.toLowerCase() === c.id.toLowerCase())?.displayName ?? null,
        kind: resourceAccountKind(applicationId),
        applicationId,
        numbers: c.telephoneNumbers.map((t) => t.telephoneNumber).sort(),
      };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface UtilityNumbersReport {
  /** Numbers resource accounts hold. */
  held: number;
  /** Entries made Used-Utility (they read otherwise). */
  marked: number;
  /** Held numbers no inventory had, recorded at customer level. */
  recorded: number;
  /** Entries released: no resource account holds them any more. */
  released: number;
}

/**
 * Brings the inventory in line with the resource accounts: each of their numbers Used-Utility, with the
 * account as the reason. `complete`: the read saw every account, so numbers marked earlier that no account
 * holds now are released (a held deletion makes the read not complete).
 */
export async function recordResourceAccountNumbers(
  storage: Storage,
  args: { customerId: string; accounts: readonly ResourceAccount[]; complete: boolean; coolingDays: number; preventDuplicateNumbers: boolean; now?: Date },
): Promise<UtilityNumbersReport> {
  const { customerId } = args;
  const now = args.now ?? new Date();
  const report: UtilityNumbersReport = { held: 0, marked: 0, recorded: 0, released: 0 };
  const stored = await storage.syncState.get<Marked>(customerId, RESOURCE_ACCOUNT_NUMBERS_KEY);
  const before: Marked = stored?.value ?? {};
  const after: Marked = {};
  const wanted = new Map<string, string>();
  for (const account of args.accounts) for (const n of account.numbers) wanted.set(n, resourceAccountReason(account));
  report.held = wanted.size;
  let sites: string[] | undefined;
  const allScopes = async (): Promise<NumberScope[]> => {
    sites ??= (await storage.sites.list(customerId)).map((s) => s.value.id);
    return [{ customerId }, ...sites.map((siteId) => ({ customerId, siteId }))];
  };
  const scopeNamed = (name: string): NumberScope => (name === CUSTOMER_INVENTORY ? { customerId } : { customerId, siteId: name });

  for (const [number, reason] of wanted) {
    const known = before[number];
    let scopes = known ? [scopeNamed(known.inventory)] : await allScopes();
    let found = await findEntries(storage, scopes, number);
    if (found.length === 0 && known) {
      scopes = await allScopes();
      found = await findEntries(storage, scopes, number);
    }
    if (found.length === 0) {
      // Held outside any range: recorded at customer level, where every site sees it is taken.
      const scope = { customerId };
      try {
        await storage.numbers.recordInUse(scope, { number, userId: 'resource-account', vendor: 'Microsoft', lineType: 'DirectRouting' }, { preventDuplicateNumbers: args.preventDuplicateNumbers });
      } catch (error) {
        if (!(error instanceof DuplicateNumberError)) throw error;
        continue; // another inventory claimed it meanwhile: the next run finds it there
      }
      await storage.numbers.update(scope, number, (e) => markUsedByResourceAccount(e, reason, now));
      report.recorded++;
      after[number] = { inventory: CUSTOMER_INVENTORY, reason };
      continue;
    }
    for (const entry of found) {
      const next = markUsedByResourceAccount(entry, reason, now);
      if (next !== entry) {
        await update(storage, entry, (e) => markUsedByResourceAccount(e, reason, now));
        report.marked++;
      }
    }
    after[number] = { inventory: inventoryName(found[0]), reason };
  }

  if (args.complete) {
    for (const [number, { inventory }] of Object.entries(before)) {
      if (wanted.has(number)) continue;
      const scope = scopeNamed(inventory);
      const released = await update(storage, { ...scope, number }, (e) => (heldForResourceAccount(e) ? releaseNumber({ ...e, status: 'Used' }, now, args.coolingDays) : undefined));
      if (released) report.released++;
    }
  } else {
    for (const [number, mark] of Object.entries(before)) if (!wanted.has(number)) after[number] = mark;
  }
  await storage.syncState.put(customerId, RESOURCE_ACCOUNT_NUMBERS_KEY, after);
  return report;
}

async function findEntries(storage: Storage, scopes: readonly NumberScope[], number: string): Promise<NumberEntry[]> {
  const found = await Promise.all(scopes.map((s) => storage.numbers.get(s, number)));
  return found.filter((f) => f !== undefined).map((f) => f.value);
}

/** One entry changed in place; false when it is gone or unchanged. */
async function update(storage: Storage, entry: Pick<NumberEntry, 'customerId' | 'siteId' | 'number'>, change: (e: NumberEntry) => NumberEntry | undefined): Promise<boolean> {
  const scope: NumberScope = { customerId: entry.customerId, ...(entry.siteId !== undefined ? { siteId: entry.siteId } : {}) };
  let changed = false;
  try {
    await storage.numbers.update(scope, entry.number, (e) => {
      const next = change(e);
      changed = next !== undefined && next !== e;
      return changed ? next : undefined;
    });
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
  return changed;
}
