/**
 * The number inventory as a view of Microsoft plus the operator's intent. After a complete read of the
 * tenant's Teams side, every number a user holds is `Used` by that user in whichever inventory has it (or
 * recorded outside any range, at the user's site or its customer); a number Used by someone who no longer
 * holds it cools; numbers held by several users, or kept in several inventories, are flagged duplicate.
 * A partial read (users new to a delta round or a change notification) only marks what it saw.
 */
import {
  heldOutsideRanges,
  inventoryName,
  reconcileEntry,
  resolveGlobalSettings,
  type HeldNumbersRead,
  type NumberEntry,
} from '../domain';
import { NotFoundError, PROVIDER_SCOPE, type NumberScope, type Storage } from '../ports/storage';

/** What a reconciliation found and did, for the run report. */
export interface NumberReport {
  /** Numbers users hold in Teams. */
  held: number;
  /** Entries made Used by their holder (they read Available, Cooling, Reserved or another user's). */
  marked: number;
  /** Entries released to cooling: their user no longer holds them. */
  released: number;
  /** Held numbers no inventory had, now recorded outside any range. */
  recordedOutsideRanges: number;
  /** Numbers flagged duplicate (held by several users, or in several inventories). */
  duplicates: number;
  /** The first of them, for the operator. */
  duplicateNumbers: string[];
}

const REPORTED_DUPLICATES = 50;
const WRITERS = 8;

export const emptyNumberReport = (): NumberReport => ({ held: 0, marked: 0, released: 0, recordedOutsideRanges: 0, duplicates: 0, duplicateNumbers: [] });

function scopeOf(entry: Pick<NumberEntry, 'customerId' | 'siteId'>): NumberScope {
  return { customerId: entry.customerId, ...(entry.siteId !== undefined ? { siteId: entry.siteId } : {}) };
}

/**
 * @param args.holdings for a partial read: the numbers of the users just read (user id → numbers). A
 *   complete read takes every user's stored Teams side; rows stored before `readStartedAt` belong to users
 *   the read no longer found in Teams, who hold nothing.
 */
export async function reconcileNumbers(
  storage: Storage,
  args: { customerId: string; complete: boolean; readStartedAt?: string; holdings?: ReadonlyMap<string, readonly string[]>; now?: Date },
): Promise<NumberReport> {
  const { customerId, complete } = args;
  const now = args.now ?? new Date();
  const holders = new Map<string, Set<string>>();
  const hold = (number: string, userId: string) => {
    const set = holders.get(number) ?? new Set<string>();
    set.add(userId);
    holders.set(number, set);
  };
  if (!complete) for (const [userId, numbers] of args.holdings ?? []) for (const n of numbers) hold(n, userId);
  const scanHolders = async () => {
    // Rows stored before the read began belong to users Teams no longer lists: the store leaves them out.
    for await (const row of storage.users.teamsNumbers(customerId, { readSince: args.readStartedAt })) {
      for (const n of row.numbers) hold(n, row.userId);
    }
  };
  // The settings, what the inventory keeps and, after a complete read, who holds what (a scan of every
  // user's Teams row): independent reads, side by side.
  const [provider, own, inventory] = await Promise.all([storage.globalSettings.get(PROVIDER_SCOPE), storage.globalSettings.get(customerId), storage.numbers.listAll(customerId), complete ? scanHolders() : undefined]);
  const settings = resolveGlobalSettings([provider?.value, own?.value]);
  const read: HeldNumbersRead = { now, coolingDays: settings.numberCoolingDays, complete, ...(args.readStartedAt ? { readStartedAt: args.readStartedAt } : {}) };

  const entries = new Map<string, NumberEntry[]>();
  for (const { value } of inventory) entries.set(value.number, [...(entries.get(value.number) ?? []), value]);

  const report = emptyNumberReport();
  report.held = holders.size;
  const numbers = complete ? new Set([...holders.keys(), ...entries.keys()]) : new Set(holders.keys());
  const outside: Array<{ number: string; holders: string[] }> = [];
  const work: Array<() => Promise<void>> = [];
  for (const number of numbers) {
    const held = [...(holders.get(number) ?? [])].sort();
    const kept = entries.get(number) ?? [];
    if (kept.length === 0) {
      if (held.length > 0) outside.push({ number, holders: held });
      continue;
    }
    const names = kept.map(inventoryName);
    const flagged = kept.some((e) => reconcileEntry(e, held, names, read).duplicate);
    if (flagged) {
      report.duplicates++;
      if (report.duplicateNumbers.length < REPORTED_DUPLICATES) report.duplicateNumbers.push(number);
    }
    for (const entry of kept) {
      const next = reconcileEntry(entry, held, names, read);
      if (next === entry) continue;
      work.push(async () => {
        try {
          let before: NumberEntry | undefined;
          const written = await storage.numbers.update(scopeOf(entry), number, (current) => {
            before = current;
            const fresh = reconcileEntry(current, held, names, read);
            return fresh === current ? undefined : fresh;
          });
          if (before && before.status !== 'Used' && written.value.status === 'Used') report.marked++;
          else if (before?.status === 'Used' && written.value.userId !== before.userId && written.value.status === 'Used') report.marked++;
          if (before?.status === 'Used' && written.value.status !== 'Used') report.released++;
        } catch (error) {
          // Removed meanwhile (a range deleted): nothing left to bring in line.
          if (!(error instanceof NotFoundError)) throw error;
        }
      });
    }
  }
  if (outside.length > 0) {
    // A customer without sites has nobody placed at one (a site with users cannot be deleted): its first
    // sync, as a rule, asks for no placements.
    const [siteList, defaultList] = await Promise.all([storage.sites.list(customerId), storage.siteDefaults.list(customerId)]);
    const sites = siteList.length > 0 ? await storage.users.sitesOf(customerId, [...new Set(outside.map((o) => o.holders[0]))]) : new Map<string, string>();
    const defaults = new Map(defaultList.map((d) => [d.value.siteId, d.value]));
    // Held numbers no inventory has (every number of a first sync): recorded scope by scope in batches.
    const byScope = new Map<string, { scope: NumberScope; entries: NumberEntry[] }>();
    for (const { number, holders: held } of outside) {
      const siteId = sites.get(held[0]);
      // At the holder's site, unless its defaults keep numbers at the customer; a holder at customer level keeps it there.
      const scope: NumberScope = siteId && !defaults.get(siteId)?.createNumberInventoryAtCustomer ? { customerId, siteId } : { customerId };
      if (held.length > 1) {
        report.duplicates++;
        if (report.duplicateNumbers.length < REPORTED_DUPLICATES) report.duplicateNumbers.push(number);
      }
      const key = scope.siteId ?? '';
      const group = byScope.get(key) ?? { scope, entries: [] };
      group.entries.push(heldOutsideRanges(number, scope, held, 'DirectRouting', now));
      byScope.set(key, group);
    }
    // Another inventory holding a number (prevent duplicate numbers on) keeps it: the next read sees it there.
    for (const { scope, entries: group } of byScope.values()) {
      report.recordedOutsideRanges += (await storage.numbers.recordManyInUse(scope, group, { preventDuplicateNumbers: settings.preventDuplicateNumbers })).recorded;
    }
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(WRITERS, work.length) }, async () => {
      while (next < work.length) await work[next++]();
    }),
  );
  report.duplicateNumbers.sort();
  return report;
}
