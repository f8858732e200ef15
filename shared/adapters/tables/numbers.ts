/**
 * Number inventory on Table Storage.
 *
 * - Numbers: PartitionKey = the scope (`<customer>~customer` or `<customer>~site~<site>`), RowKey = the
 *   number. A site's allocation reads its own partition and the customer's: two small partition queries.
 * - No number is ever assigned twice: assignment is a conditional replace (If-Match) of the number entity;
 *   the writer that loses gets 412 and moves on to the next candidate.
 * - Prevent duplicate numbers: a claim entity per number (PartitionKey = customer, RowKey = number) is
 *   created before the number enters any scope. Creation is atomic, so two scopes cannot both hold it.
 * - Ranges: one document per range (PartitionKey = customer).
 */
import { odata, type TableClient } from '@azure/data-tables';
import {
  allocationOrder,
  assignNumber,
  canAssignTo,
  entriesForRange,
  expandRange,
  numberRangeSchema,
  releaseNumber,
  type AssignOptions,
  type NumberEntry,
  type NumberRange,
  type NumberStatus,
  type NumberType,
} from '../../domain';
import {
  ConcurrencyError,
  ConflictError,
  DuplicateNumberError,
  NotFoundError,
  type AddRangeResult,
  type AllocationRequest,
  type AllocationResult,
  type NumberInventoryRepository,
  type NumberPeekRequest,
  type NumberScope,
  type Versioned,
} from '../../ports/storage';
import { submitBatch, type TableProvider } from './client';
import { DocumentTable } from './documents';
import { statusOf, toStorageError, translate } from './errors';
import { decodeKey, encodeKey, joinKey, KEY_SEPARATOR } from './keys';
import { planBatches, type BatchAction, type TableEntityShape } from './limits';

export const NUMBERS_TABLE = 'Numbers';
export const NUMBER_CLAIMS_TABLE = 'NumberClaims';
export const NUMBER_RANGES_TABLE = 'NumberRanges';

/** Rounds of re-reading candidates after every one of them was taken by someone else. */
const MAX_ALLOCATION_ROUNDS = 50;
const MAX_UPDATE_ATTEMPTS = 10;
/** How many of the best candidates a writer that lost a race chooses among. */
const CONTENTION_WINDOW = 16;
/** Creation batches in flight at once. */
const CREATE_WRITERS = 4;
/** Never-used candidates read per allocation: enough for concurrent allocators to spread over. */
const CANDIDATE_PAGE = 64;

type Row = Record<string, unknown> & { etag?: string };

export function scopeKey(scope: NumberScope): string {
  const customer = encodeKey(scope.customerId);
  return scope.siteId === undefined ? joinKey(customer, 'customer') : joinKey(customer, 'site', encodeKey(scope.siteId));
}

/** The row of one inventory entry, as the adapter writes it. */
export function numberEntity(entry: NumberEntry): TableEntityShape {
  return {
    partitionKey: scopeKey(entry),
    rowKey: encodeKey(entry.number),
    Number: entry.number,
    CustomerId: entry.customerId,
    SiteId: entry.siteId,
    RangeId: entry.rangeId,
    Status: entry.status,
    Vendor: entry.vendor,
    LineType: entry.lineType,
    UserId: entry.userId,
    EverUsed: entry.everUsed,
    ReleasedAt: entry.releasedAt,
    CoolingUntil: entry.coolingUntil,
    UsedSince: entry.usedSince,
    HeldBy: entry.heldBy ? JSON.stringify(entry.heldBy) : undefined,
    AlsoIn: entry.alsoIn ? JSON.stringify(entry.alsoIn) : undefined,
    Duplicate: entry.duplicate === true,
    Reason: entry.reason,
    ReasonAt: entry.reasonAt,
  };
}

function fromRow(row: Row): Versioned<NumberEntry> {
  const opt = (name: string) => (typeof row[name] === 'string' ? (row[name] as string) : undefined);
  const value: NumberEntry = {
    number: String(row.Number),
    customerId: String(row.CustomerId),
    status: row.Status as NumberStatus,
    vendor: String(row.Vendor),
    lineType: row.LineType as NumberType,
    everUsed: row.EverUsed === true,
  };
  const siteId = opt('SiteId');
  if (siteId !== undefined) value.siteId = siteId;
  const fields = [['RangeId', 'rangeId'], ['UserId', 'userId'], ['ReleasedAt', 'releasedAt'], ['CoolingUntil', 'coolingUntil'], ['UsedSince', 'usedSince'], ['Reason', 'reason'], ['ReasonAt', 'reasonAt']] as const;
  for (const [prop, key] of fields) {
    const v = opt(prop);
    if (v !== undefined) value[key] = v;
  }
  const heldBy = opt('HeldBy');
  if (heldBy) value.heldBy = JSON.parse(heldBy) as string[];
  const alsoIn = opt('AlsoIn');
  if (alsoIn) value.alsoIn = JSON.parse(alsoIn) as string[];
  if (row.Duplicate === true) value.duplicate = true;
  return { value, etag: String(row.etag) };
}

export class TableNumberInventory implements NumberInventoryRepository {
  private readonly ranges: DocumentTable<NumberRange>;

  constructor(private readonly tables: TableProvider) {
    this.ranges = new DocumentTable(tables, NUMBER_RANGES_TABLE, numberRangeSchema, 'number range');
  }

  private numbers(): Promise<TableClient> {
    return this.tables.table(NUMBERS_TABLE);
  }

  private claims(): Promise<TableClient> {
    return this.tables.table(NUMBER_CLAIMS_TABLE);
  }

  async addRange(range: NumberRange, options: { preventDuplicateNumbers: boolean }): Promise<AddRangeResult> {
    const parsed = numberRangeSchema.parse(range);
    await this.ranges.upsert(encodeKey(parsed.customerId), encodeKey(parsed.id), parsed);
    const scope: NumberScope = { customerId: parsed.customerId, siteId: parsed.siteId };
    const existing = new Set((await this.list(scope)).map((e) => e.value.number));
    let entries = entriesForRange(parsed, existing);
    const alreadyPresent = expandRange(parsed).length - entries.length;
    const duplicates: string[] = [];
    if (options.preventDuplicateNumbers) {
      const refused = await this.claimAll(scope, entries.map((e) => e.number));
      duplicates.push(...refused);
      const refusedSet = new Set(refused);
      entries = entries.filter((e) => !refusedSet.has(e.number));
    }
    const created = await createAll(await this.numbers(), entries.map(numberEntity), 'number');
    return { created, existing: alreadyPresent + (entries.length - created), duplicates };
  }

  async getRange(customerId: string, rangeId: string): Promise<NumberRange | undefined> {
    return (await this.ranges.get(encodeKey(customerId), encodeKey(rangeId)))?.value;
  }

  async removeRange(customerId: string, rangeId: string): Promise<void> {
    await this.ranges.delete(encodeKey(customerId), encodeKey(rangeId));
  }

  async listRanges(customerId: string): Promise<NumberRange[]> {
    return (await this.ranges.list(encodeKey(customerId))).map((r) => r.value);
  }

  async get(scope: NumberScope, number: string): Promise<Versioned<NumberEntry> | undefined> {
    const client = await this.numbers();
    try {
      return fromRow(await client.getEntity<Row>(scopeKey(scope), encodeKey(number)));
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  async list(scope: NumberScope): Promise<Versioned<NumberEntry>[]> {
    return this.query(scopeKey(scope));
  }

  private async query(partitionKey: string, extra?: { userId: string }): Promise<Versioned<NumberEntry>[]> {
    const client = await this.numbers();
    const filter = extra
      ? odata`PartitionKey eq ${partitionKey} and (Status eq 'Available' or Status eq 'Cooling' or UserId eq ${extra.userId})`
      : odata`PartitionKey eq ${partitionKey}`;
    const out: Versioned<NumberEntry>[] = [];
    for await (const row of client.listEntities<Row>({ queryOptions: { filter } })) out.push(fromRow(row));
    return out;
  }

  async allocateNext(request: AllocationRequest): Promise<AllocationResult> {
    const { customerId, siteId, userId, lineType, now } = request;
    const options = { refuseDuplicates: request.refuseDuplicates === true };
    const client = await this.numbers();
    const scopes = [scopeKey({ customerId, siteId }), scopeKey({ customerId })];
    for (let round = 0; round < MAX_ALLOCATION_ROUNDS; round++) {
      const held = await this.heldBy(scopes, userId, lineType, request.skip);
      if (held) return { ok: true, entry: held };
      const rows = (await this.candidates(scopes, now, lineType, options)).filter((r) => !request.skip?.includes(r.value.number));
      const byKey = new Map(rows.map((r) => [`${r.value.siteId ?? ''}|${r.value.number}`, r]));
      const ordered = allocationOrder(rows.map((r) => r.value), now, lineType, options);
      if (ordered.length === 0) {
        const kind = lineType ? `${lineType} number` : 'number';
        return { ok: false, reason: 'no-number-available', message: `no ${kind} is available for site ${siteId} or its customer` };
      }
      // The first try takes the best candidate. After losing a race, the next try is drawn from the
      // best few of the same preference class, so concurrent allocators stop queueing on one number.
      const untried = [...ordered];
      for (let attempt = 0; untried.length > 0; attempt++) {
        const pick = attempt === 0 ? 0 : randomIndex(untried, CONTENTION_WINDOW);
        const [candidate] = untried.splice(pick, 1);
        const current = byKey.get(`${candidate.siteId ?? ''}|${candidate.number}`);
        if (!current) continue;
        const assigned = assignNumber(candidate, userId, now);
        try {
          const r = await client.updateEntity(numberEntity(assigned), 'Replace', { etag: current.etag });
          return { ok: true, entry: { value: assigned, etag: r.etag ?? '' } };
        } catch (e) {
          if (statusOf(e) !== 412 && statusOf(e) !== 404) throw e;
        }
      }
    }
    throw new ConcurrencyError(`could not allocate a number for user ${userId} after ${MAX_ALLOCATION_ROUNDS} rounds of contention`);
  }

  async peekNext(request: NumberPeekRequest): Promise<NumberEntry[]> {
    const { customerId, siteId, lineType, now, count } = request;
    const options = { refuseDuplicates: request.refuseDuplicates === true };
    const client = await this.numbers();
    const out: NumberEntry[] = [];
    const skip = new Set(request.skip ?? []);
    const offer = (entries: NumberEntry[]) => {
      for (const e of allocationOrder(entries, now, lineType, options)) {
        if (skip.has(e.number)) continue;
        skip.add(e.number);
        out.push(e);
      }
    };
    if (count <= 0) return out;
    // allocateNext's order: the site before the customer; in each, never-used numbers in number order, then
    // released ones, longest released first.
    for (const pk of [scopeKey({ customerId, siteId }), scopeKey({ customerId })]) {
      const fresh = lineType
        ? odata`PartitionKey eq ${pk} and Status eq 'Available' and EverUsed eq false and LineType eq ${lineType}`
        : odata`PartitionKey eq ${pk} and Status eq 'Available' and EverUsed eq false`;
      for await (const page of client.listEntities<Row>({ queryOptions: { filter: fresh } }).byPage({ maxPageSize: CANDIDATE_PAGE })) {
        offer(page.map((row) => fromRow(row).value));
        if (out.length >= count) return out.slice(0, count);
      }
      const released: NumberEntry[] = [];
      const reused = odata`PartitionKey eq ${pk} and EverUsed eq true and (Status eq 'Available' or Status eq 'Cooling')`;
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: reused } })) released.push(fromRow(row).value);
      offer(released);
      if (out.length >= count) return out.slice(0, count);
    }
    return out;
  }

  /** A number the user already holds (or has reserved) in these scopes: a repeat gets it back. */
  private async heldBy(scopes: readonly string[], userId: string, lineType: NumberType | undefined, skip: readonly string[] = []): Promise<Versioned<NumberEntry> | undefined> {
    const client = await this.numbers();
    for (const pk of scopes) {
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey eq ${pk} and UserId eq ${userId} and Status eq 'Used'` } })) {
        const entry = fromRow(row);
        if ((lineType === undefined || entry.value.lineType === lineType) && !skip.includes(entry.value.number)) return entry;
      }
    }
    return undefined;
  }

  /**
   * The best candidates in preference order without reading whole inventories: the first never-used
   * numbers of a scope (rows come in number order, which is the tie-break) suffice; only when a scope has
   * none are its released numbers read. Site before customer, as allocationOrder ranks them.
   */
  private async candidates(scopes: readonly string[], now: Date, lineType: NumberType | undefined, options: AssignOptions): Promise<Versioned<NumberEntry>[]> {
    const client = await this.numbers();
    for (const pk of scopes) {
      const fresh = lineType
        ? odata`PartitionKey eq ${pk} and Status eq 'Available' and EverUsed eq false and LineType eq ${lineType}`
        : odata`PartitionKey eq ${pk} and Status eq 'Available' and EverUsed eq false`;
      // Page by page until one is assignable (a page of numbers flagged duplicate is passed over).
      for await (const page of client.listEntities<Row>({ queryOptions: { filter: fresh } }).byPage({ maxPageSize: CANDIDATE_PAGE })) {
        const never = page.map((row) => fromRow(row));
        if (allocationOrder(never.map((r) => r.value), now, lineType, options).length > 0) return never;
      }
      const released: Versioned<NumberEntry>[] = [];
      const used = odata`PartitionKey eq ${pk} and (Status eq 'Available' or Status eq 'Cooling')`;
      for await (const row of client.listEntities<Row>({ queryOptions: { filter: used } })) released.push(fromRow(row));
      if (allocationOrder(released.map((r) => r.value), now, lineType, options).length > 0) return released;
    }
    return [];
  }

  async assign(scope: NumberScope, number: string, userId: string, now: Date, options: AssignOptions = {}): Promise<Versioned<NumberEntry>> {
    return this.update(scope, number, (entry) => {
      if (entry.status === 'Used' && entry.userId === userId) return undefined;
      if (!canAssignTo(entry, userId, now, options)) {
        throw new ConflictError(entry.duplicate && options.refuseDuplicates ? `number ${number} is flagged duplicate and cannot be assigned (prevent duplicate numbers is on)` : `number ${number} is ${entry.status} and cannot be assigned`);
      }
      return assignNumber(entry, userId, now);
    });
  }

  async release(scope: NumberScope, number: string, userId: string, now: Date, coolingDays: number): Promise<void> {
    try {
      await this.update(scope, number, (entry) => ((entry.status === 'Used' || entry.status === 'Reserved') && entry.userId === userId ? releaseNumber(entry, now, coolingDays) : undefined));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  async recordInUse(
    scope: NumberScope,
    entry: { number: string; userId: string; vendor: string; lineType: NumberType },
    options: { preventDuplicateNumbers: boolean },
  ): Promise<Versioned<NumberEntry>> {
    if (options.preventDuplicateNumbers) {
      const refused = await this.claimAll(scope, [entry.number]);
      if (refused.length > 0) throw new DuplicateNumberError(entry.number, await this.claimHolder(scope.customerId, entry.number));
    }
    const client = await this.numbers();
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.get(scope, entry.number);
      const base = current?.value ?? { number: entry.number, customerId: scope.customerId, ...(scope.siteId !== undefined ? { siteId: scope.siteId } : {}) };
      const sameHolder = current?.value.status === 'Used' && current.value.userId === entry.userId;
      const used: NumberEntry = {
        ...base,
        status: 'Used',
        vendor: entry.vendor,
        lineType: entry.lineType,
        userId: entry.userId,
        everUsed: true,
        coolingUntil: undefined,
        reason: undefined,
        reasonAt: undefined,
        usedSince: sameHolder ? current.value.usedSince : new Date().toISOString(),
      };
      try {
        const r = current
          ? await client.updateEntity(numberEntity(used), 'Replace', { etag: current.etag })
          : await client.createEntity(numberEntity(used));
        return { value: used, etag: r.etag ?? '' };
      } catch (e) {
        if (statusOf(e) !== 412 && statusOf(e) !== 409) throw e;
      }
    }
    throw new ConcurrencyError(`number ${entry.number} kept changing while it was being recorded`);
  }

  async recordManyInUse(scope: NumberScope, entries: readonly NumberEntry[], options: { preventDuplicateNumbers: boolean }): Promise<{ recorded: number; refused: string[] }> {
    let fresh = [...entries];
    let refused: string[] = [];
    if (options.preventDuplicateNumbers && fresh.length > 0) {
      refused = await this.claimAll(scope, fresh.map((e) => e.number));
      const taken = new Set(refused);
      fresh = fresh.filter((e) => !taken.has(e.number));
    }
    const conflicts = new Set(await createAllReportingConflicts(await this.numbers(), fresh.map(numberEntity), 'number'));
    // Entered the scope since it was read (a range added, a provisioning): recorded over, one by one.
    for (const entry of fresh.filter((e) => conflicts.has(encodeKey(e.number)))) {
      await this.recordInUse(scope, { number: entry.number, userId: entry.userId ?? '', vendor: entry.vendor, lineType: entry.lineType }, { preventDuplicateNumbers: false });
      if (entry.heldBy) await this.update(scope, entry.number, (e) => ({ ...e, heldBy: entry.heldBy, duplicate: entry.duplicate }));
    }
    return { recorded: fresh.length, refused };
  }

  async claimExisting(customerId: string): Promise<{ claimed: number; duplicates: Array<{ number: string; siteIds: Array<string | undefined> }> }> {
    const client = await this.numbers();
    const customer = encodeKey(customerId);
    // Every scope key of the customer starts with `<customer>~` followed by a letter, so all sort below `<customer>~~`.
    const from = joinKey(customer, '');
    const to = joinKey(customer, KEY_SEPARATOR);
    const holders = new Map<string, NumberScope[]>();
    for await (const row of client.listEntities<Row>({ queryOptions: { filter: odata`PartitionKey ge ${from} and PartitionKey lt ${to}`, select: ['Number', 'SiteId'] } })) {
      const number = String(row.Number);
      const siteId = typeof row.SiteId === 'string' ? row.SiteId : undefined;
      holders.set(number, [...(holders.get(number) ?? []), { customerId, ...(siteId !== undefined ? { siteId } : {}) }]);
    }
    const byScope = new Map<string, { scope: NumberScope; numbers: string[] }>();
    for (const [number, scopes] of holders) {
      const key = scopeKey(scopes[0]);
      const entry = byScope.get(key) ?? { scope: scopes[0], numbers: [] };
      entry.numbers.push(number);
      byScope.set(key, entry);
    }
    let refused = 0;
    for (const { scope, numbers } of byScope.values()) refused += (await this.claimAll(scope, numbers)).length;
    const duplicates = [...holders]
      .filter(([, scopes]) => scopes.length > 1)
      .map(([number, scopes]) => ({ number, siteIds: scopes.map((s) => s.siteId) }));
    return { claimed: holders.size - refused, duplicates };
  }

  async remove(scope: NumberScope, number: string): Promise<void> {
    const current = await this.get(scope, number);
    if (!current) return;
    if (current.value.status === 'Used' || current.value.status === 'Used-Utility') throw new ConflictError(`number ${number} is in use and cannot be removed`);
    const client = await this.numbers();
    await translate(`number ${number}`, () => client.deleteEntity(scopeKey(scope), encodeKey(number), { etag: current.etag }));
    const claims = await this.claims();
    try {
      const claim = await claims.getEntity<Row>(encodeKey(scope.customerId), encodeKey(number));
      if (claim.ScopeKey === scopeKey(scope)) await claims.deleteEntity(encodeKey(scope.customerId), encodeKey(number), { etag: String(claim.etag) });
    } catch (e) {
      if (statusOf(e) !== 404 && statusOf(e) !== 412) throw e;
    }
  }

  async listAll(customerId: string): Promise<Versioned<NumberEntry>[]> {
    const client = await this.numbers();
    const customer = encodeKey(customerId);
    const out: Versioned<NumberEntry>[] = [];
    const filter = odata`PartitionKey ge ${joinKey(customer, '')} and PartitionKey lt ${joinKey(customer, KEY_SEPARATOR)}`;
    for await (const row of client.listEntities<Row>({ queryOptions: { filter } })) out.push(fromRow(row));
    return out;
  }

  /** Read-modify-write of one number with If-Match, re-reading on 412. `change` returns undefined for "no change". */
  async update(scope: NumberScope, number: string, change: (entry: NumberEntry) => NumberEntry | undefined): Promise<Versioned<NumberEntry>> {
    const client = await this.numbers();
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const current = await this.get(scope, number);
      if (!current) throw new NotFoundError(`number ${number} is not in the inventory of ${scope.siteId === undefined ? 'the customer' : `site ${scope.siteId}`}`);
      const next = change(current.value);
      if (!next) return current;
      try {
        const r = await client.updateEntity(numberEntity(next), 'Replace', { etag: current.etag });
        return { value: next, etag: r.etag ?? '' };
      } catch (e) {
        if (statusOf(e) !== 412) throw toStorageError(e, `number ${number}`);
      }
    }
    throw new ConcurrencyError(`number ${number} kept changing; try again`);
  }

  /** Claims numbers customer-wide for a scope. Returns the numbers another scope already holds. */
  private async claimAll(scope: NumberScope, numbers: readonly string[]): Promise<string[]> {
    const claims = await this.claims();
    const mine = scopeKey(scope);
    const entities = numbers.map((n) => ({ partitionKey: encodeKey(scope.customerId), rowKey: encodeKey(n), ScopeKey: mine, SiteId: scope.siteId }));
    const conflicts = await createAllReportingConflicts(claims, entities, 'number claim');
    const refused: string[] = [];
    for (const rowKey of conflicts) {
      const claim = await claims.getEntity<Row>(encodeKey(scope.customerId), rowKey);
      if (claim.ScopeKey !== mine) refused.push(decodeKey(rowKey));
    }
    return refused;
  }

  private async claimHolder(customerId: string, number: string): Promise<string | undefined> {
    const claims = await this.claims();
    const claim = await claims.getEntity<Row>(encodeKey(customerId), encodeKey(number));
    return typeof claim.SiteId === 'string' ? claim.SiteId : undefined;
  }
}

/** A random index among the first `window` entries that share the first entry's preference class. */
function randomIndex(ordered: readonly NumberEntry[], window: number): number {
  let size = 1;
  while (size < Math.min(window, ordered.length) && ordered[size].everUsed === ordered[0].everUsed && ordered[size].siteId === ordered[0].siteId) size++;
  return Math.floor(Math.random() * size);
}

/** Creates entities in batches; where a batch meets an existing entity, creates one by one. Returns how many were created. */
async function createAll(client: TableClient, entities: TableEntityShape[], what: string): Promise<number> {
  const conflicts = await createAllReportingConflicts(client, entities, what);
  return entities.length - conflicts.length;
}

/** Row keys that already existed. */
async function createAllReportingConflicts(client: TableClient, entities: TableEntityShape[], what: string): Promise<string[]> {
  const conflicts: string[] = [];
  const actions: BatchAction[] = entities.map((entity) => ({ kind: 'create', entity }));
  const batches = planBatches(actions);
  let next = 0;
  // A few batches in flight, as the sync's other bulk writes send them.
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++];
      try {
        await submitBatch(client, batch, what);
      } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
        for (const { entity } of batch) {
          try {
            await client.createEntity(entity);
          } catch (x) {
            if (statusOf(x) !== 409) throw x;
            conflicts.push(entity.rowKey);
          }
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_WRITERS, batches.length) }, worker));
  return conflicts;
}
