/**
 * Makes Azurite's Table service keep what it acknowledged, as Azure Table Storage does. Azurite holds its
 * tables in LokiJS and saves the whole database every 5 s, so a kill loses up to 5 s of acknowledged writes.
 * Here every change Azurite makes to its collections (a row put or deleted, a table created or dropped) is
 * recorded in a write-ahead journal as the row's new state, and no answer leaves the server before the
 * journal holds every change made until then (group commit: one flush covers all the answers waiting for
 * it). A start loads the last snapshot and replays the journal over it: a record says what a row became, so
 * replaying it twice changes nothing. Snapshots are taken when the journal grows, and at a clean stop;
 * Azurite's own autosave is turned off.
 *
 * A batch (entity group transaction) reaches the journal whole, when it ends: Azurite runs a batch without
 * yielding to other requests, so its changes are held back until then and a kill never leaves half of one.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Journal, writeFileDurably } from './journal';

/** The parts of LokiJS that Azurite's table store uses and this module wraps. */
interface LokiCollection {
  name: string;
  findOne(query: Record<string, unknown>): Record<string, unknown> | null;
  get(id: number): Record<string, unknown> | null;
  insert(doc: unknown): unknown;
  update(doc: unknown): unknown;
  remove(doc: unknown): unknown;
}
interface LokiDb {
  autosave: boolean;
  autosaveDisable(): void;
  collections: LokiCollection[];
  getCollection(name: string): LokiCollection | null;
  addCollection(name: string, options?: Record<string, unknown>): LokiCollection;
  removeCollection(name: string): void;
  serialize(): string;
}
export interface AzuriteTableStore {
  db: LokiDb;
  lokiDBPath: string;
  init(): Promise<void>;
  beginBatchTransaction(batchId: string): Promise<void>;
  endBatchTransaction(account: string, table: string, batchId: string, context: unknown, succeeded: boolean): Promise<void>;
}
export interface AzuriteTableServerInternals {
  metadataStore: AzuriteTableStore;
  httpServer: Server;
}

type JournalRecord =
  | { t: 'add'; c: string; o: Record<string, unknown> }
  | { t: 'drop'; c: string }
  | { t: 'put'; c: string; d: Record<string, unknown> }
  | { t: 'del'; c: string; k: Record<string, unknown> };

const TABLES_COLLECTION = '$TABLES_COLLECTION$';
const SERVICES_COLLECTION = '$SERVICES_COLLECTION$';

export interface DurableTablesOptions {
  /** Folder of the snapshot's journal (the snapshot itself is Azurite's database file). */
  dir: string;
  /** Journal size that triggers a snapshot (default 64 MiB). */
  snapshotAfterBytes?: number;
  /** A journal older than this gets a snapshot even when small (default 5 min). */
  snapshotAfterMs?: number;
}

export interface DurableTables {
  /** Writes a snapshot and drops the journal it covers. */
  snapshot(): Promise<void>;
  /** After the server closed: a last snapshot, then the journal is closed. */
  close(): Promise<void>;
  /** Journal records replayed at start (for tests and the start-up message). */
  readonly replayed: number;
}

/** The key a row of a collection is known by: its table's primary key, or the registries' own keys. */
function keyOf(collection: string, doc: Record<string, unknown>): Record<string, unknown> {
  if (collection === TABLES_COLLECTION) return { account: doc.account, table: doc.table };
  if (collection === SERVICES_COLLECTION) return { accountName: doc.accountName };
  return { PartitionKey: doc.PartitionKey, RowKey: doc.RowKey };
}

/** A row as stored, without LokiJS's own bookkeeping (its id and timestamps are per process). */
function rowOf(doc: Record<string, unknown>): Record<string, unknown> {
  const { $loki: _id, meta: _meta, ...row } = doc;
  return row;
}

function apply(db: LokiDb, record: JournalRecord): void {
  switch (record.t) {
    case 'add':
      if (!db.getCollection(record.c)) db.addCollection(record.c, record.o);
      return;
    case 'drop':
      if (db.getCollection(record.c)) db.removeCollection(record.c);
      return;
    case 'put': {
      const collection = db.getCollection(record.c) ?? db.addCollection(record.c, { indices: ['PartitionKey', 'RowKey'] });
      const existing = collection.findOne(keyOf(record.c, record.d));
      if (existing) collection.remove(existing);
      collection.insert({ ...record.d });
      return;
    }
    case 'del': {
      const collection = db.getCollection(record.c);
      const existing = collection?.findOne(record.k);
      if (collection && existing) collection.remove(existing);
      return;
    }
  }
}

/**
 * Call on a constructed, not yet started Azurite TableServer with persistence on. The journal is replayed
 * when Azurite's store initialises (inside `start()`), before the server accepts a request.
 */
export function makeTablesDurable(server: AzuriteTableServerInternals, options: DurableTablesOptions): DurableTables {
  const store = server.metadataStore;
  const db = store.db;
  db.autosaveDisable();
  db.autosave = false;
  const limitBytes = options.snapshotAfterBytes ?? 64 * 1024 * 1024;
  const limitMs = options.snapshotAfterMs ?? 5 * 60_000;
  let journal: Journal | undefined;
  let batch: JournalRecord[] | undefined;
  let snapshotting: Promise<void> | undefined;
  let lastSnapshot = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let replayed = 0;

  const record = (r: JournalRecord): void => {
    if (batch) batch.push(r);
    else journal?.append(r);
  };

  const hookCollection = (collection: LokiCollection): void => {
    const name = collection.name;
    const insert = collection.insert.bind(collection);
    const update = collection.update.bind(collection);
    const remove = collection.remove.bind(collection);
    collection.insert = (doc: unknown) => {
      const result = insert(doc);
      for (const d of Array.isArray(doc) ? doc : [doc]) record({ t: 'put', c: name, d: rowOf(d as Record<string, unknown>) });
      return result;
    };
    collection.update = (doc: unknown) => {
      const result = update(doc);
      for (const d of Array.isArray(doc) ? doc : [doc]) record({ t: 'put', c: name, d: rowOf(d as Record<string, unknown>) });
      return result;
    };
    collection.remove = (doc: unknown) => {
      const docs = (Array.isArray(doc) ? doc : [doc]).map((d) => (typeof d === 'number' ? collection.get(d) : (d as Record<string, unknown>)));
      // LokiJS strips its bookkeeping from a removed document: take the keys first.
      const keys = docs.filter((d): d is Record<string, unknown> => d !== null).map((d) => keyOf(name, d));
      const result = remove(doc);
      for (const k of keys) record({ t: 'del', c: name, k });
      return result;
    };
  };

  const hookDatabase = (): void => {
    for (const collection of db.collections) hookCollection(collection);
    const addCollection = db.addCollection.bind(db);
    const removeCollection = db.removeCollection.bind(db);
    db.addCollection = (name: string, collectionOptions?: Record<string, unknown>) => {
      const collection = addCollection(name, collectionOptions);
      const o: Record<string, unknown> = {};
      if (collectionOptions?.indices) o.indices = collectionOptions.indices;
      if (collectionOptions?.unique) o.unique = collectionOptions.unique;
      record({ t: 'add', c: name, o });
      hookCollection(collection);
      return collection;
    };
    db.removeCollection = (name: string) => {
      removeCollection(name);
      record({ t: 'drop', c: name });
    };
    const begin = store.beginBatchTransaction.bind(store);
    const end = store.endBatchTransaction.bind(store);
    store.beginBatchTransaction = async (batchId: string) => {
      await begin(batchId);
      batch = [];
    };
    store.endBatchTransaction = async (account, table, batchId, context, succeeded) => {
      try {
        await end(account, table, batchId, context, succeeded);
      } finally {
        // A failed batch was rolled back: its records and the rollback's cancel out, so both go in whole.
        const held = batch ?? [];
        batch = undefined;
        for (const r of held) journal?.append(r);
      }
    };
  };

  const snapshot = (): Promise<void> => {
    if (!journal) return Promise.resolve();
    snapshotting ??= (async () => {
      const j = journal!;
      // Rotation and serialisation happen in one turn: the snapshot holds exactly the closed segments' effect.
      const closed = j.rotate();
      const text = db.serialize();
      lastSnapshot = Date.now();
      writeFileDurably(store.lokiDBPath, text);
      await j.dropThrough(closed);
    })().finally(() => {
      snapshotting = undefined;
    });
    return snapshotting;
  };

  const init = store.init.bind(store);
  store.init = async () => {
    await init();
    journal = Journal.open(options.dir, 'tables', (r) => {
      apply(db, r as JournalRecord);
      replayed++;
    });
    hookDatabase();
    if (replayed > 0) await snapshot();
    timer = setInterval(() => {
      if (!journal || snapshotting) return;
      if (journal.size >= limitBytes || (journal.size > 0 && Date.now() - lastSnapshot >= limitMs)) void snapshot().catch(() => undefined);
    }, 1_000);
    timer.unref();
  };

  gateAnswers(server.httpServer, () => journal);

  return {
    snapshot,
    async close() {
      if (timer) clearInterval(timer);
      if (!journal) return;
      await snapshot();
      await journal.close();
      journal = undefined;
    },
    get replayed() {
      return replayed;
    },
  };
}

type Emit = (...args: unknown[]) => unknown;

/**
 * Holds every answer until the journal holds every change made before the answer began: the first write of
 * the status line or the body waits for the flush, and what the handler wrote meanwhile follows in order.
 */
function gateAnswers(server: Server, journalOf: () => Journal | undefined): void {
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    const names = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
    const target = res as unknown as Record<(typeof names)[number], Emit>;
    const originals = Object.fromEntries(names.map((n) => [n, target[n]])) as Record<(typeof names)[number], Emit>;
    let queued: Array<[(typeof names)[number], unknown[]]> | undefined;
    const restore = () => {
      for (const n of names) target[n] = originals[n];
    };
    for (const name of names) {
      target[name] = (...args: unknown[]) => {
        if (!queued) {
          const journal = journalOf();
          const seq = journal?.lastSeq ?? 0;
          if (!journal || journal.isDurable(seq)) {
            restore();
            return originals[name].apply(res, args);
          }
          queued = [];
          journal.whenDurable(seq).then(
            () => {
              restore();
              for (const [n, a] of queued!) originals[n].apply(res, a);
            },
            (err: unknown) => {
              // Not on disk: the write is not acknowledged. The client sees the connection fail.
              restore();
              res.destroy(err instanceof Error ? err : new Error(String(err)));
            },
          );
        }
        queued.push([name, args]);
        return name === 'write' ? true : res;
      };
    }
  });
}
