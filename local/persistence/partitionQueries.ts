/**
 * Queries that name their partitions, answered from those partitions.
 *
 * Azurite answers every entity query by testing each row of the table against the filter (its Loki store
 * runs the filter as a `where` over the whole collection), so locally one customer's query costs as much as
 * every customer's rows: with 200 customers a query for one of them scanned 100,000 users or 200,000 numbers,
 * and Azurite's one thread, not sitesync, set the pace of a whole estate. Azure's Table service serves a
 * query whose filter fixes the PartitionKey from that partition alone, and one that bounds it from that range
 * of partitions, in key order (Microsoft's table design guide, "Design for querying": a point or partition
 * scan, or a range across partitions, as against a table scan). Azurite already keeps a binary index on
 * PartitionKey for its point reads and inserts; a query whose filter, at the top level of its `and`s, says
 * `PartitionKey eq '…'`, or bounds it from both sides (`ge`/`gt` and `lt`/`le`), starts from that index.
 * Azurite's own filter, continuation and order then apply exactly as before, so the answer is the same row
 * for row (`test/persistence/partitionQueries.test.ts` asks both). A filter that does neither (an `or`, a
 * `not`, a typed value, one side of a range) is left to Azurite as it is.
 *
 * Ranges need care: the index orders keys as Loki does, which is not the service's string order. Loki puts
 * the empty string first, then every key that reads as a number (`'10'`, `'1e3'`, `' 7'`), ordered as
 * numbers, then the rest in string order. A range whose bounds are not numbers is therefore contiguous in the
 * index for the keys that are not numbers either, and it is narrowed only while the table holds no key that
 * reads as a number (checked in the index on each query: such keys sort right after the empty one, so one
 * binary search finds them).
 */

// Azurite's query parser and store are CommonJS internals without typings; these are the parts used.
interface QueryNode {
  readonly name: string;
  readonly left?: QueryNode;
  readonly right?: QueryNode;
  readonly identifier?: string;
  readonly value?: unknown;
}
interface LokiResultset {
  find(query: Record<string, unknown>): LokiResultset;
}
interface LokiCollection {
  chain(): LokiResultset;
  readonly data?: ReadonlyArray<{ PartitionKey?: unknown }>;
  readonly binaryIndices?: Record<string, { dirty: boolean; values: readonly number[] } | undefined>;
}
export interface PartitionQueryStore {
  queryTableEntities(context: unknown, account: string, table: string, queryOptions: { filter?: string }, ...rest: unknown[]): Promise<unknown>;
  getEntityCollection(account: string, table: string, context: unknown): LokiCollection;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- Azurite's parser has no exports map.
const parseQuery = (require('azurite/dist/src/table/persistence/QueryInterpreter/QueryParser') as { default: (q: string) => QueryNode }).default;

/** The partitions a filter confines every matching row to: one partition, or a range of them (both ends kept). */
export type PartitionSpan = { readonly partition: string } | { readonly from: string; readonly to: string };

// `PartitionKey <op> 'c'` read from the constant's side: `'c' le PartitionKey` bounds the key from below.
const FLIPPED: Record<string, string> = { eq: 'eq', ge: 'le', gt: 'lt', le: 'ge', lt: 'gt' };

/** Loki orders these keys apart from string order (the empty string first, then numbers as numbers). */
function readsAsNumber(key: string): boolean {
  return !Number.isNaN(Number(key));
}

/**
 * The partitions a filter confines its rows to at the top level of its `and`s: `PartitionKey eq 'x'`, or a
 * lower and an upper bound whose values do not read as numbers. Anything else: undefined (a scan).
 */
export function partitionSpan(filter: string | undefined): PartitionSpan | undefined {
  if (!filter) return undefined;
  let tree: QueryNode;
  try {
    tree = parseQuery(filter);
  } catch {
    return undefined; // Azurite answers a filter it cannot parse with its own error.
  }
  let from: string | undefined;
  let to: string | undefined;
  const pending: QueryNode[] = [tree];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.name === 'and' && node.left && node.right) {
      pending.push(node.left, node.right);
      continue;
    }
    if (!(node.name in FLIPPED) || !node.left || !node.right) continue;
    const keyOnLeft = node.left.name === 'id';
    const [id, constant] = keyOnLeft ? [node.left, node.right] : [node.right, node.left];
    if (id.name !== 'id' || id.identifier !== 'PartitionKey' || constant.name !== 'constant' || typeof constant.value !== 'string') continue;
    const op = keyOnLeft ? node.name : FLIPPED[node.name];
    const value = constant.value;
    if (op === 'eq') return { partition: value };
    // Several bounds on one side: the tightest; a superset would do too, as Azurite's filter still applies.
    if (op === 'ge' || op === 'gt') from = from === undefined || value > from ? value : from;
    else to = to === undefined || value < to ? value : to;
  }
  if (from === undefined || to === undefined || readsAsNumber(from) || readsAsNumber(to)) return undefined;
  return { from, to };
}

/**
 * Whether the table holds a PartitionKey that reads as a number, which Loki's index keeps out of string order.
 * Such keys sort right after the empty string, so the first key past the empty ones tells. Unknown (no
 * index, or one waiting to be rebuilt): assume it does.
 */
function holdsNumericKeys(collection: LokiCollection): boolean {
  const index = collection.binaryIndices?.PartitionKey;
  const data = collection.data;
  if (!index || index.dirty || !data) return true;
  const keys = index.values;
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (data[keys[mid]].PartitionKey === '') low = mid + 1;
    else high = mid;
  }
  if (low === keys.length) return false;
  const first = data[keys[low]].PartitionKey;
  return typeof first !== 'string' || readsAsNumber(first);
}

/** The index lookup that yields at least every row of the span, or undefined where the index cannot be trusted to. */
function indexLookup(span: PartitionSpan, collection: LokiCollection): Record<string, unknown> | undefined {
  if ('partition' in span) return { PartitionKey: { $eq: span.partition } };
  if (holdsNumericKeys(collection)) return undefined;
  // Both ends inclusive: Azurite's filter then drops the ends that the range excludes.
  return { PartitionKey: { $between: [span.from, span.to] } };
}

/**
 * Serve each query that confines its rows to a partition or a range of them from Azurite's PartitionKey index
 * rather than the whole table. Returns how many queries were answered so: a later Azurite whose store no
 * longer fits these hooks still answers correctly, and this count shows it stopped narrowing.
 */
export function answerPartitionQueriesFromIndex(store: PartitionQueryStore): () => number {
  const query = store.queryTableEntities.bind(store);
  let narrowed = 0;
  store.queryTableEntities = (context, account, table, queryOptions, ...rest) => {
    const span = partitionSpan(queryOptions?.filter);
    if (span === undefined) return query(context, account, table, queryOptions, ...rest);
    let collection: LokiCollection;
    try {
      collection = store.getEntityCollection(account, table, context);
    } catch {
      return query(context, account, table, queryOptions, ...rest); // no such table: Azurite's own answer
    }
    const lookup = indexLookup(span, collection);
    if (lookup === undefined) return query(context, account, table, queryOptions, ...rest);
    const chain = collection.chain;
    // Azurite's query takes the collection's chain once, synchronously, before its first await: that one
    // chain starts from the span's rows, and the collection is itself again before anything else runs.
    collection.chain = function spanChain(this: LokiCollection) {
      collection.chain = chain;
      narrowed++;
      return chain.call(this).find(lookup);
    };
    try {
      return query(context, account, table, queryOptions, ...rest);
    } finally {
      collection.chain = chain;
    }
  };
  return () => narrowed;
}
