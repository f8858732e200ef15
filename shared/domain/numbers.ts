/**
 * Number inventory rules: statuses, cooling on release, the order of next-available allocation and the
 * expansion of a range. Storage makes allocation safe under concurrency; these rules make it fair.
 */
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
}

/** Cooling numbers whose period is over count as Available; nothing needs to sweep them. */
export function effectiveStatus(entry: NumberEntry, now: Date): NumberStatus {
  if (entry.status === 'Cooling' && entry.coolingUntil !== undefined && Date.parse(entry.coolingUntil) <= now.getTime()) return 'Available';
  return entry.status;
}

export function isAssignable(entry: NumberEntry, now: Date, lineType?: NumberType): boolean {
  return (
    effectiveStatus(entry, now) === 'Available' &&
    entry.vendor === MICROSOFT_VENDOR &&
    (lineType === undefined || entry.lineType === lineType)
  );
}

/**
 * Candidates in allocation order: numbers never used first (lowest number first), then released numbers,
 * the longest released first. Site numbers come before customer numbers, which every site can see.
 */
export function allocationOrder(entries: readonly NumberEntry[], now: Date, lineType?: NumberType): NumberEntry[] {
  return entries
    .filter((e) => isAssignable(e, now, lineType))
    .sort(
      (a, b) =>
        Number(a.siteId === undefined) - Number(b.siteId === undefined) ||
        Number(a.everUsed) - Number(b.everUsed) ||
        (a.releasedAt ?? '').localeCompare(b.releasedAt ?? '') ||
        compare(a.number, b.number),
    );
}

export function nextAvailable(entries: readonly NumberEntry[], now: Date, lineType?: NumberType): NumberEntry | undefined {
  return allocationOrder(entries, now, lineType)[0];
}

/** The entry after assignment to a user. Throws if the number cannot be assigned (caller checked). */
export function assignNumber(entry: NumberEntry, userId: string, now: Date): NumberEntry {
  if (effectiveStatus(entry, now) !== 'Available') throw new Error(`number ${entry.number} is ${entry.status}, not Available`);
  const { coolingUntil: _c, ...rest } = entry;
  return { ...rest, status: 'Used', userId, everUsed: true };
}

/** The entry after its user lets it go: it cools for the period, then becomes available again. */
export function releaseNumber(entry: NumberEntry, now: Date, coolingDays: number = DEFAULT_COOLING_DAYS): NumberEntry {
  const until = new Date(now.getTime() + coolingDays * 86_400_000);
  return {
    ...entry,
    status: coolingDays > 0 ? 'Cooling' : 'Available',
    releasedAt: now.toISOString(),
    ...(coolingDays > 0 ? { coolingUntil: until.toISOString() } : { coolingUntil: undefined }),
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
