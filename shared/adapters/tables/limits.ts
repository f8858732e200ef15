/**
 * Table Storage's size rules, enforced here because Azurite does not enforce them all:
 * 100 operations and 4 MiB per batch, one partition per batch, 1 MiB per entity, 64 KiB per string
 * property, 252 custom properties. Large JSON is split across properties, or refused with a clear error.
 */
import { StorageValidationError } from '../../ports/storage';

export const TABLE_LIMITS = {
  maxBatchOperations: 100,
  maxBatchBytes: 4 * 1024 * 1024,
  maxEntityBytes: 1024 * 1024,
  /** 64 KiB of UTF-16. */
  maxStringChars: 32 * 1024,
  maxCustomProperties: 252,
} as const;

/** Multipart headers and framing per operation in a batch body (generous estimate). */
const BATCH_OVERHEAD_PER_OPERATION = 1024;
const BATCH_OVERHEAD = 2048;
/** Bytes a batch body may hold for its operations. */
export const BATCH_BYTE_BUDGET = TABLE_LIMITS.maxBatchBytes - BATCH_OVERHEAD;

export type EntityValue = string | number | boolean | Date | null | undefined;
export interface TableEntityShape {
  partitionKey: string;
  rowKey: string;
  [property: string]: EntityValue;
}

/** The stored size by Azure's published formula (strings counted as UTF-16). */
export function entitySize(entity: TableEntityShape): number {
  let size = 4 + (entity.partitionKey.length + entity.rowKey.length) * 2 + 4;
  for (const [name, value] of Object.entries(entity)) {
    if (name === 'partitionKey' || name === 'rowKey' || value === undefined || value === null) continue;
    size += 8 + name.length * 2 + valueSize(value);
  }
  return size;
}

function valueSize(value: Exclude<EntityValue, null | undefined>): number {
  if (typeof value === 'string') return 4 + value.length * 2;
  if (typeof value === 'boolean') return 1;
  return 8;
}

/**
 * Bytes the entity adds to a batch body (its JSON, UTF-8, plus framing), or a bound above them. A small
 * entity is counted by a bound that needs no serialising (a character takes at most 6 bytes of JSON,
 * `\u0000`): 100 of them stay far below a batch's 4 MiB, so the bound never ends a batch early; a larger one
 * is serialised and counted exactly.
 */
export function batchBytes(entity: TableEntityShape): number {
  let bound = 2;
  for (const name in entity) bound += jsonBound(name, entity[name]);
  return bytesWithin(entity, bound);
}

/** At most the bytes a property adds to an entity's JSON. */
const jsonBound = (name: string, value: EntityValue): number => name.length * 6 + 4 + (typeof value === 'string' ? value.length * 6 + 2 : 32);

/** The batch bytes of an entity whose JSON is at most `bound` bytes: the bound itself when small, else measured. */
function bytesWithin(entity: TableEntityShape, bound: number): number {
  if (bound <= SMALL_ENTITY_JSON_BOUND) return bound + BATCH_OVERHEAD_PER_OPERATION;
  return Buffer.byteLength(JSON.stringify(entity), 'utf8') + BATCH_OVERHEAD_PER_OPERATION;
}

/** 100 operations of this bound and their framing take 1.7 MiB of a batch's 4 MiB. */
const SMALL_ENTITY_JSON_BOUND = 16 * 1024;

/** Refuses an entity that the service would refuse, with the reason. */
export function assertEntityFits(entity: TableEntityShape, what: string): void {
  fittingBatchBytes(entity, what);
}

/**
 * Refuses an entity that the service would refuse, with the reason, and answers the bytes it adds to a batch
 * body (as `batchBytes`): one walk over its properties for both, as every entity written in a batch takes it.
 */
export function fittingBatchBytes(entity: TableEntityShape, what: string | (() => string)): number {
  const named = () => (typeof what === 'string' ? what : what());
  let props = 0;
  let size = 4 + (entity.partitionKey.length + entity.rowKey.length) * 2 + 4;
  let bound = 2;
  for (const name in entity) {
    const value = entity[name];
    bound += jsonBound(name, value);
    if (name === 'partitionKey' || name === 'rowKey' || value === undefined) continue;
    props++;
    if (typeof value === 'string' && value.length > TABLE_LIMITS.maxStringChars) {
      throw new StorageValidationError(`${named()}: property ${name} holds ${value.length} characters, more than ${TABLE_LIMITS.maxStringChars}`);
    }
    if (value !== null) size += 8 + name.length * 2 + valueSize(value);
  }
  if (props > TABLE_LIMITS.maxCustomProperties) throw new StorageValidationError(`${named()} has ${props} properties, more than ${TABLE_LIMITS.maxCustomProperties}`);
  if (size > TABLE_LIMITS.maxEntityBytes) throw new StorageValidationError(`${named()} is ${size} bytes, more than the 1 MiB an entity may hold`);
  return bytesWithin(entity, bound);
}

/**
 * Writes a JSON value into `<prefix>`, `<prefix>_1`, … with `<prefix>Parts` saying how many, so a merge
 * that writes fewer parts never reads stale ones. Splits never cut a surrogate pair.
 */
export function packJson(prefix: string, value: unknown): Record<string, string | number> {
  const json = JSON.stringify(value);
  const parts: string[] = [];
  let i = 0;
  while (i < json.length) {
    let end = Math.min(i + TABLE_LIMITS.maxStringChars, json.length);
    const last = json.charCodeAt(end - 1);
    if (end < json.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(json.slice(i, end));
    i = end;
  }
  if (parts.length === 0) parts.push(json);
  const out: Record<string, string | number> = { [`${prefix}Parts`]: parts.length };
  parts.forEach((p, n) => (out[n === 0 ? prefix : `${prefix}_${n}`] = p));
  return out;
}

export function unpackJson<T>(prefix: string, entity: Record<string, unknown>): T | undefined {
  const count = typeof entity[`${prefix}Parts`] === 'number' ? (entity[`${prefix}Parts`] as number) : 1;
  const first = entity[prefix];
  if (typeof first !== 'string') return undefined;
  let json = first;
  for (let n = 1; n < count; n++) json += String(entity[`${prefix}_${n}`] ?? '');
  return JSON.parse(json) as T;
}

export interface BatchAction<E extends TableEntityShape = TableEntityShape> {
  kind: 'create' | 'upsert' | 'delete' | 'update';
  entity: E;
  mode?: 'Merge' | 'Replace';
}

/**
 * Splits actions into valid batches: one partition each, at most 100 operations and 4 MiB. An entity may
 * appear only once in a batch, so a later action on the same entity starts a new batch (order kept).
 * @throws StorageValidationError for an entity that can never be stored.
 */
export function planBatches<A extends BatchAction>(actions: Iterable<A>): A[][] {
  const open = new Map<string, { actions: A[]; bytes: number; keys: Set<string> }>();
  const out: A[][] = [];
  for (const action of actions) {
    const { partitionKey, rowKey } = action.entity;
    if (action.kind !== 'delete') assertEntityFits(action.entity, `entity ${partitionKey}/${rowKey}`);
    const bytes = batchBytes(action.entity);
    let batch = open.get(partitionKey);
    if (
      batch &&
      (batch.actions.length >= TABLE_LIMITS.maxBatchOperations ||
        batch.bytes + bytes > BATCH_BYTE_BUDGET ||
        batch.keys.has(rowKey))
    ) {
      out.push(batch.actions);
      batch = undefined;
    }
    if (!batch) {
      batch = { actions: [], bytes: 0, keys: new Set() };
      open.set(partitionKey, batch);
    }
    batch.actions.push(action);
    batch.bytes += bytes;
    batch.keys.add(rowKey);
  }
  for (const batch of open.values()) out.push(batch.actions);
  return out;
}
