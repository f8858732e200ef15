/**
 * Queries that name their partition, answered from that partition.
 *
 * Azurite answers every entity query by testing each row of the table against the filter (its Loki store
 * runs the filter as a `where` over the whole collection), so locally one customer's query costs as much as
 * every customer's rows: with 200 customers a query for one of them scanned 100,000 users or 200,000 numbers,
 * and Azurite's one thread, not sitesync, set the pace of a whole estate. Azure's Table service serves a
 * query whose filter fixes the PartitionKey from that partition alone (Microsoft's table design guide, "Design
 * for querying": a partition scan, as against a table scan). Azurite already keeps a binary index on
 * PartitionKey for its point reads and inserts; a query whose filter, at the top level of its `and`s, says
 * `PartitionKey eq '…'` is narrowed to that index first. Azurite's own filter, continuation and order then
 * apply exactly as before, so the answer is the same row for row (`test/persistence/partitionQueries.test.ts` asks
 * both). A filter that does not pin one partition (a range, an `or`, a `not`, a typed value) is left to
 * Azurite as it is. The index is the one Azurite's point reads and its duplicate check on insert already
 * trust to find a partition's rows.
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
}
export interface PartitionQueryStore {
  queryTableEntities(context: unknown, account: string, table: string, queryOptions: { filter?: string }, ...rest: unknown[]): Promise<unknown>;
  getEntityCollection(account: string, table: string, context: unknown): LokiCollection;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports -- Azurite's parser has no exports map.
const parseQuery = (require('azurite/dist/src/table/persistence/QueryInterpreter/QueryParser') as { default: (q: string) => QueryNode }).default;

/** The partition a filter pins at the top level of its `and`s (`PartitionKey eq 'x'`), if one does. */
export function pinnedPartition(filter: string | undefined): string | undefined {
  if (!filter) return undefined;
  let tree: QueryNode;
  try {
    tree = parseQuery(filter);
  } catch {
    return undefined; // Azurite answers a filter it cannot parse with its own error.
  }
  const pending: QueryNode[] = [tree];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.name === 'and' && node.left && node.right) {
      pending.push(node.left, node.right);
      continue;
    }
    if (node.name !== 'eq' || !node.left || !node.right) continue;
    const [id, constant] = node.left.name === 'id' ? [node.left, node.right] : [node.right, node.left];
    if (id.name === 'id' && id.identifier === 'PartitionKey' && constant.name === 'constant' && typeof constant.value === 'string') return constant.value;
  }
  return undefined;
}

/**
 * Serve each query that pins a partition from Azurite's PartitionKey index rather than the whole table.
 * Returns how many queries were answered so: a later Azurite whose store no longer fits these hooks still
 * answers correctly, and this count shows it stopped narrowing.
 */
export function answerPartitionQueriesFromIndex(store: PartitionQueryStore): () => number {
  const query = store.queryTableEntities.bind(store);
  let narrowed = 0;
  store.queryTableEntities = (context, account, table, queryOptions, ...rest) => {
    const partition = pinnedPartition(queryOptions?.filter);
    if (partition === undefined) return query(context, account, table, queryOptions, ...rest);
    let collection: LokiCollection;
    try {
      collection = store.getEntityCollection(account, table, context);
    } catch {
      return query(context, account, table, queryOptions, ...rest); // no such table: Azurite's own answer
    }
    const chain = collection.chain;
    // Azurite's query takes the collection's chain once, synchronously, before its first await: that one
    // chain starts from the partition's rows, and the collection is itself again before anything else runs.
    collection.chain = function partitionChain(this: LokiCollection) {
      collection.chain = chain;
      narrowed++;
      return chain.call(this).find({ PartitionKey: { $eq: partition } });
    };
    try {
      return query(context, account, table, queryOptions, ...rest);
    } finally {
      collection.chain = chain;
    }
  };
  return () => narrowed;
}
