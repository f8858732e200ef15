/**
 * Number inventory rules: statuses, cooling on release, the order of next-available allocation and the
 * expansion of a range. Storage makes allocation safe under concurrency; these rules make it fair.
 */
import { canonicalJson } from './canonicalJson';
import type { NumberRange, NumberStatus, NumberType } from './schemas';

/** Largest range expanded at once; a typo in a range must not create millions of numbers. */
export const MAX_RANGE_SIZE = 10_000;
export const DEFAULT_COOLING_DAYS = 30;
/** Only Microsoft numbers are handed out to Teams users. */
export const MICROSOFT_VENDOR = 'Microsoft';

/** One number in the inventory of a customer (siteId absent) or of a site. */
export interface NumberEntry {
  number: string;
  customerId: string;
  siteId?: string;
  rangeId?: string;
  status: NumberStatus;
  vendor: string;
  lineType: NumberType;
  /** The user holding it (Used) or last holding it (Cooling). */
  userId?: string;
  /** True once the number has ever been assigned. */
  everUsed: boolean;
  /** ISO instant of the last release. */
  releasedAt?: string;
  /** ISO instant when a Cooling number becomes Available again. */
  coolingUntil?: string;
  /** ISO instant it became Used (or Reserved for a user): a read of Microsoft begun before it cannot release it. */
  usedSince?: string;
  /** Every user Microsoft shows holding the number, when there is more than one. */
  heldBy?: string[];
  /** The other inventories holding the same number: site ids, or `customer`. */
  alsoIn?: string[];
  /** Held by several users in Microsoft, or in several inventories: flagged for an operator. */
  duplicate?: boolean;
  /** Why an operator set it Reserved or Used-Utility (or what reserves it for a user), and when. */
  reason?: string;
  reasonAt?: string;
}

/** The name an inventory goes by in `alsoIn` and in messages: the site id, or `customer`. */
export const CUSTOMER_INVENTORY = 'customer';
export function inventoryName(entry: Pick<NumberEntry, 'siteId'>): string {
  return entry.siteId ?? CUSTOMER_INVENTORY;
}

/** Cooling numbers whose period is over count as Available; nothing needs to sweep them. */
export function effectiveStatus(entry: NumberEntry, now: Date): NumberStatus {
  if (entry.status === 'Cooling' && entry.coolingUntil !== undefined && Date.parse(entry.coolingUntil) <= now.getTime()) return 'Available';
  return entry.status;
}

export interface AssignOptions {
  /** Prevent duplicate numbers is on: a number flagged duplicate is not handed out again. */
  refuseDuplicates?: boolean;
}

export function isAssignable(entry: NumberEntry, now: Date, lineType?: NumberType, options: AssignOptions = {}): boolean {
  return (
    effectiveStatus(entry, now) === 'Available' &&
    entry.vendor === MICROSOFT_VENDOR &&
    (lineType === undefined || entry.lineType === lineType) &&
    !(options.refuseDuplicates && entry.duplicate)
  );
}

/** Whether the number may go to this user: available, or already the user's (held, or reserved for it). */
export function canAssignTo(entry: NumberEntry, userId: string, now: Date, options: AssignOptions = {}): boolean {
  if ((entry.status === 'Used' || entry.status === 'Reserved') && entry.userId === userId) return !(options.refuseDuplicates && entry.duplicate && (entry.heldBy ?? []).some((u) => u !== userId));
  return effectiveStatus(entry, now) === 'Available' && !(options.refuseDuplicates && entry.duplicate);
}

/**
 * Candidates in allocation order: numbers never used first (lowest number first), then released numbers,
 * the longest released first. Site numbers come before customer numbers, which every site can see.
 */
export function allocationOrder(entries: readonly NumberEntry[], now: Date, lineType?: NumberType, options: AssignOptions = {}): NumberEntry[] {
  return entries
    .filter((e) => isAssignable(e, now, lineType, options))
    .sort(
      (a, b) =>
        Number(a.siteId === undefined) - Number(b.siteId === undefined) ||
        Number(a.everUsed) - Number(b.everUsed) ||
        (a.releasedAt ?? '').localeCompare(b.releasedAt ?? '') ||
        compare(a.number, b.number),
    );
}

export function nextAvailable(entries: readonly NumberEntry[], now: Date, lineType?: NumberType, options: AssignOptions = {}): NumberEntry | undefined {
  return allocationOrder(entries, now, lineType, options)[0];
}

/** The entry after assignment to a user. Throws if the number cannot be assigned (caller checked). */
export function assignNumber(entry: NumberEntry, userId: string, now: Date): NumberEntry {
  const reservedForUser = entry.status === 'Reserved' && entry.userId === userId;
  if (effectiveStatus(entry, now) !== 'Available' && !reservedForUser) throw new Error(`number ${entry.number} is ${entry.status}, not Available`);
  const { coolingUntil: _c, reason: _r, reasonAt: _a, ...rest } = entry;
  return { ...rest, status: 'Used', userId, everUsed: true, usedSince: now.toISOString() };
}

/** A number kept for a user until it can be assigned in Teams (a staged user's chosen line). */
export function reserveForUser(entry: NumberEntry, userId: string, reason: string, now: Date): NumberEntry {
  if (!canAssignTo(entry, userId, now)) throw new Error(`number ${entry.number} is ${entry.status}, not Available`);
  if (entry.status === 'Used') return entry;
  const { coolingUntil: _c, ...rest } = entry;
  return { ...rest, status: 'Reserved', userId, reason, reasonAt: now.toISOString(), usedSince: now.toISOString() };
}

/**
 * The entry after its user lets it go: it cools for the period, then becomes available again. A number
 * only reserved for the user was never held: it is available at once.
 */
export function releaseNumber(entry: NumberEntry, now: Date, coolingDays: number = DEFAULT_COOLING_DAYS): NumberEntry {
  const { usedSince: _u, heldBy: _h, reason: _r, reasonAt: _a, ...rest } = entry;
  if (entry.status === 'Reserved') {
    const { userId: _id, ...free } = rest;
    return { ...free, status: 'Available', coolingUntil: undefined, duplicate: rest.alsoIn ? true : undefined };
  }
  const until = new Date(now.getTime() + coolingDays * 86_400_000);
  return {
    ...rest,
    status: coolingDays > 0 ? 'Cooling' : 'Available',
    releasedAt: now.toISOString(),
    ...(coolingDays > 0 ? { coolingUntil: until.toISOString() } : { coolingUntil: undefined }),
    duplicate: rest.alsoIn ? true : undefined,
  };
}

/** A cooling number whose period is over, made Available in storage (the cooling timer's sweep). */
export function endCooling(entry: NumberEntry, now: Date): NumberEntry | undefined {
  if (entry.status !== 'Cooling' || effectiveStatus(entry, now) !== 'Available') return undefined;
  const { coolingUntil: _c, ...rest } = entry;
  return { ...rest, status: 'Available' };
}

// ── The inventory as a view of Microsoft ─────────────────────────────────────────────────────────────

export interface HeldNumbersRead {
  now: Date;
  coolingDays: number;
  /**
   * The read saw every user's Teams side: a number Used by a user who no longer holds it is released.
   * A partial read (new users only) only marks what it saw.
   */
  complete: boolean;
  /** When the read began: a number taken after it (by provisioning) is not released for want of a holder. */
  readStartedAt?: string;
}

/**
 * One inventory entry brought in line with what Microsoft shows. `holders` are the users holding its number
 * in Teams, `otherInventories` the other inventories holding the same number. A held number is `Used` by its
 * holder (the one already recorded, when it still holds it): no held number is ever Available or Reserved;
 * a `Used-Utility` number stays so (a utility holds it). Held by several users, or in several inventories,
 * it is flagged duplicate. `assignee`, when the caller knows it, is the holder Microsoft assigns the number to:
 * the owner, whoever was recorded. Returns the same object when nothing changes.
 */
export function reconcileEntry(entry: NumberEntry, holders: readonly string[], otherInventories: readonly string[], read: HeldNumbersRead, assignee?: string): NumberEntry {
  const held = [...new Set(holders)].sort();
  let next: NumberEntry = { ...entry };
  if (held.length > 0 && entry.status !== 'Used-Utility') {
    const recorded = entry.status === 'Used' && entry.userId !== undefined && held.includes(entry.userId) ? entry.userId : undefined;
    const owner = assignee !== undefined && held.includes(assignee) ? assignee : (recorded ?? held[0]);
    if (entry.status !== 'Used' || entry.userId !== owner) {
      const { coolingUntil: _c, reason: _r, reasonAt: _a, ...rest } = entry;
      next = { ...rest, status: 'Used', userId: owner, everUsed: true, usedSince: read.now.toISOString() };
    }
  } else if (held.length === 0 && read.complete && entry.status === 'Used' && !(entry.usedSince && read.readStartedAt && entry.usedSince >= read.readStartedAt)) {
    next = releaseNumber(entry, read.now, read.coolingDays);
  }
  const others = [...new Set(otherInventories)].filter((o) => o !== inventoryName(entry)).sort();
  next.heldBy = held.length > 1 ? held : undefined;
  next.alsoIn = others.length > 0 ? others : undefined;
  next.duplicate = next.heldBy || next.alsoIn ? true : undefined;
  return canonicalJson(next) === canonicalJson(entry) ? entry : next;
}

/** The entry for a number a user holds in Teams that no inventory has: recorded as held outside any range. */
export function heldOutsideRanges(number: string, scope: { customerId: string; siteId?: string }, holders: readonly string[], lineType: NumberType, now: Date): NumberEntry {
  const held = [...new Set(holders)].sort();
  return {
    number,
    customerId: scope.customerId,
    ...(scope.siteId !== undefined ? { siteId: scope.siteId } : {}),
    status: 'Used',
    vendor: MICROSOFT_VENDOR,
    lineType,
    userId: held[0],
    everUsed: true,
    usedSince: now.toISOString(),
    ...(held.length > 1 ? { heldBy: held, duplicate: true } : {}),
  };
}

/** The numbers of a range, first to last. Refuses ranges above MAX_RANGE_SIZE. */
export function expandRange(range: Pick<NumberRange, 'first' | 'last'>): string[] {
  const first = BigInt(range.first.slice(1));
  const last = BigInt(range.last.slice(1));
  if (range.first.length !== range.last.length || last < first) throw new RangeError(`invalid range ${range.first}..${range.last}`);
  const size = last - first + 1n;
  if (size > BigInt(MAX_RANGE_SIZE)) throw new RangeError(`range ${range.first}..${range.last} has ${size} numbers, more than ${MAX_RANGE_SIZE}`);
  const width = range.first.length - 1;
  const out: string[] = [];
  for (let n = first; n <= last; n++) out.push(`+${n.toString().padStart(width, '0')}`);
  return out;
}

/** New inventory entries for a range, skipping numbers already present in the same scope. */
export function entriesForRange(range: NumberRange, existing: ReadonlySet<string>): NumberEntry[] {
  return expandRange(range)
    .filter((n) => !existing.has(n))
    .map((number) => ({
      number,
      customerId: range.customerId,
      ...(range.siteId !== undefined ? { siteId: range.siteId } : {}),
      rangeId: range.id,
      status: 'Available' as const,
      vendor: range.vendor,
      lineType: range.lineType,
      everUsed: false,
    }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ── The operator's intent ────────────────────────────────────────────────────────────────────────────

export type OperatorNumberAction = 'reserve' | 'utility' | 'release';

/** An operator's status change that the number's state refuses, with the reason. */
export class NumberStatusRefused extends Error {
  override name = 'NumberStatusRefused';
}

/**
 * `reserve` keeps a number from being assigned, `utility` marks it used by something that is not a user
 * (a fax, a lift phone), `release` undoes either: a reserved number is Available at once, a utility's number
 * cools like any released number. A number a user holds is never reserved, marked or released here: it
 * goes when the user gives it up in Teams. Returns the entry unchanged (same object) when nothing changes.
 * @throws NumberStatusRefused
 */
export function operatorStatus(entry: NumberEntry, action: OperatorNumberAction, reason: string | undefined, now: Date, coolingDays: number): NumberEntry {
  const at = now.toISOString();
  if (entry.status === 'Used') throw new NumberStatusRefused(`${entry.number} is held by user ${entry.userId ?? '(unknown)'}: it is released when the user gives it up in Teams`);
  switch (action) {
    case 'reserve': {
      if (entry.status === 'Used-Utility') throw new NumberStatusRefused(`${entry.number} is used by a utility (${entry.reason ?? 'no reason given'}): release it first`);
      if (entry.status === 'Reserved' && entry.userId !== undefined) throw new NumberStatusRefused(`${entry.number} is reserved for user ${entry.userId} (${entry.reason ?? ''})`);
      if (entry.status === 'Reserved' && entry.reason === reason) return entry;
      const { coolingUntil: _c, ...rest } = entry;
      return { ...rest, status: 'Reserved', reason, reasonAt: at };
    }
    case 'utility': {
      if (entry.status === 'Reserved' && entry.userId !== undefined) throw new NumberStatusRefused(`${entry.number} is reserved for user ${entry.userId} (${entry.reason ?? ''})`);
      if (entry.status === 'Used-Utility' && entry.reason === reason) return entry;
      const { coolingUntil: _c, userId: _u, ...rest } = entry;
      return { ...rest, status: 'Used-Utility', everUsed: true, usedSince: entry.status === 'Used-Utility' ? entry.usedSince : at, reason, reasonAt: at };
    }
    case 'release': {
      if (entry.status === 'Reserved') {
        const { reason: _r, reasonAt: _a, userId: _u, usedSince: _s, ...rest } = entry;
        return { ...rest, status: 'Available' };
      }
      if (entry.status === 'Used-Utility') {
        const { reason: _r, reasonAt: _a, ...rest } = releaseNumber({ ...entry, status: 'Used' }, now, coolingDays);
        return rest;
      }
      return entry;
    }
  }
}
