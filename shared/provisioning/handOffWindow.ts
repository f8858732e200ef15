/**
 * Each customer's share of the provisioning queue. The queue is first in, first out, and one app serves
 * every customer: a sync that hands off 900 users at once would otherwise put all of them ahead of every
 * customer onboarded after it, and a message sent back for a later turn would wait behind the whole queue
 * again. So a customer has at most `size` of its sync hand-offs in the queue at a time (its window); the
 * rest wait in Table Storage in the order they were handed off (its backlog), and each hand-off that
 * finishes sends the customer's next one, to the back of the queue (hand-offs that find nothing waiting
 * and room in the window go straight in). Every customer with work then moves at once, a window at a time,
 * whatever the order their syncs ran in.
 *
 * Nothing lives only in memory: the window (what was sent and when, what waits) is one record per customer
 * written under its ETag, the backlog's chunks are written before the window names them, and messages are
 * sent before the write that counts them. A hand-off is still marked on its user's row: one whose chunk a
 * kill left unnamed is found by the reconciler (the user is neither sent nor waiting), which also takes back
 * places held longer than its bound (a message deleted or dead-lettered without giving its place back), sends
 * what then fits, and removes chunks no window names.
 */
import { randomUUID } from 'node:crypto';
import { ConcurrencyError, ConflictError, type KeyValueStore, type Versioned } from '../ports/storage';
import { isSyncHandOff, type ProvisionUserMessage, type ProvisioningQueue } from './messages';

/**
 * Hand-offs of one customer in the queue at once. A tenant's users move no faster than its Microsoft quotas
 * allow (docs/limits.md: about 20 users a second), and a user's pass takes about a second at Microsoft's
 * latency, so 32 keep every handler that could serve a customer alone busy; many customers together then
 * take turns in the queue in slices of at most 32. SITESYNC_HANDOFF_WINDOW sets another size (every
 * instance should have the same: each fills the window to its own).
 */
export const HANDOFF_WINDOW = 32;
/** Users per backlog chunk: a chunk is one Table entity (~40 bytes a user). */
const CHUNK_USERS = 500;
const WINDOW_KEY = 'window';
const CHUNK_PREFIX = 'chunk:';
/** `:` and a UUID end a chunk's key. */
const UUID_SUFFIX = 37;
/** Finished hand-offs remembered to be passed over: a kill leaves at most one window's worth. */
const MAX_RELEASED = 1_000;
const ATTEMPTS = 50;

type HandOffReason = 'sync-add' | 'sync-update';

/** Hand-offs that wait their turn, written once and never changed: handed off together, in this order. */
interface BacklogChunk {
  observedAt?: string;
  requestedAt: string;
  users: Array<[userId: string, reason: HandOffReason]>;
}

export interface HandOffWindowRecord {
  /** Chunks still to send, oldest first: each chunk's key and how many of its hand-offs were sent. */
  backlog: Array<{ key: string; sent: number }>;
  /** Hand-offs sent and not finished: user id → when its message was sent. */
  inFlight: Record<string, string>;
  /**
   * Hand-offs whose message finished before the window counted it (`<user id> <observed at>`): sent by a
   * writer killed before its write. The backlog still holds them, and they are passed over there, not sent
   * again. Emptied with the backlog.
   */
  released?: string[];
}

export interface HandOffWindowDeps {
  store: KeyValueStore;
  queue: ProvisioningQueue;
  now?: () => Date;
  /** Hand-offs of a customer in the queue at once (default HANDOFF_WINDOW; SITESYNC_HANDOFF_WINDOW). */
  size?: number;
}

/** The key-value scope of a customer's window and backlog (removed with the customer). */
export function handOffScope(customerId: string): string {
  return `handoffs:${customerId}`;
}

export async function readHandOffWindow(store: KeyValueStore, customerId: string): Promise<HandOffWindowRecord | undefined> {
  return (await store.get<HandOffWindowRecord>(handOffScope(customerId), WINDOW_KEY))?.value;
}

/**
 * A sync's hand-offs of one customer join the back of its backlog, and as many as the window has room for
 * are sent. Messages of other causes go straight to the queue.
 */
export async function handOffToProvisioning(deps: HandOffWindowDeps, customerId: string, messages: readonly ProvisionUserMessage[]): Promise<void> {
  const handOffs: ProvisionUserMessage[] = [];
  const others: ProvisionUserMessage[] = [];
  for (const m of messages) (isSyncHandOff(m) && m.customerId === customerId ? handOffs : others).push(m);
  if (others.length > 0) await deps.queue.send(others);
  if (handOffs.length === 0) return;
  // More than a window's worth never fits, and is not asked about.
  if (handOffs.length <= (deps.size ?? HANDOFF_WINDOW) && (await sentStraight(deps, customerId, handOffs))) return;
  const scope = handOffScope(customerId);
  const keys: string[] = [];
  for (const chunk of toChunks(handOffs)) {
    const key = `${CHUNK_PREFIX}${chunk.requestedAt}:${randomUUID()}`;
    await deps.store.create(scope, key, chunk);
    remember(scope, key, chunk);
    keys.push(key);
  }
  await changeWindow(deps, customerId, (record) => {
    for (const key of keys) if (!record.backlog.some((b) => b.key === key)) record.backlog.push({ key, sent: 0 });
    return true;
  });
}

/**
 * Nothing waiting and room in the window (a change notification's user, a small sync's page): the hand-offs go
 * straight into the queue, counted in the window's write, with no chunk written and deleted again. Decided
 * once: an attempt that lost its write to another writer has sent them already. Whether they went.
 */
async function sentStraight(deps: HandOffWindowDeps, customerId: string, handOffs: readonly ProvisionUserMessage[]): Promise<boolean> {
  const size = deps.size ?? HANDOFF_WINDOW;
  let fits: boolean | undefined;
  await changeWindow(deps, customerId, (record, send) => {
    fits ??= record.backlog.length === 0 && size - Object.keys(record.inFlight).length >= handOffs.length;
    if (!fits) return false;
    const sentAt = (deps.now?.() ?? new Date()).toISOString();
    for (const m of handOffs) record.inFlight[m.userId] = sentAt;
    send.push(...handOffs);
    return true;
  });
  return fits === true;
}

/**
 * A hand-off's message is finished with (its user provisioned, needing attention, or given up on): its place
 * goes to the customer's next waiting hand-off. Repeats are harmless: a place is given back once.
 */
export async function releaseHandOff(deps: HandOffWindowDeps, message: ProvisionUserMessage): Promise<void> {
  if (!isSyncHandOff(message)) return;
  await changeWindow(deps, message.customerId, (record) => {
    if (message.userId in record.inFlight) {
      delete record.inFlight[message.userId];
      return true;
    }
    // Not counted: sent by a writer that died before its write (or not sent through the window at all).
    // While hand-offs wait, it may be one of them: it is passed over when its turn comes.
    if (record.backlog.length === 0) return false;
    const key = releasedKey(message.userId, message.observedAt);
    const released = record.released ?? [];
    if (released.includes(key)) return false;
    record.released = [...released, key].slice(-MAX_RELEASED);
    return true;
  });
}

/**
 * The reconciler's part: places held since before `cutoff` are taken back (a message lost, or a release
 * lost with a kill; the reconciler sends the lost work again from the user's hand-off mark), and what then
 * fits is sent. Returns how many places were taken back.
 */
export async function refillHandOffWindow(deps: HandOffWindowDeps, customerId: string, cutoff: Date): Promise<number> {
  let taken = 0;
  await changeWindow(deps, customerId, (record) => {
    taken = 0;
    for (const [userId, sentAt] of Object.entries(record.inFlight)) {
      if (Date.parse(sentAt) < cutoff.getTime()) {
        delete record.inFlight[userId];
        taken++;
      }
    }
    return taken > 0;
  });
  return taken;
}

/** The users whose hand-offs wait in the customer's backlog (named in `record`), not yet sent. */
export async function usersWaiting(store: KeyValueStore, customerId: string, record: HandOffWindowRecord): Promise<Set<string>> {
  const scope = handOffScope(customerId);
  const waiting = new Set<string>();
  for (const { key, sent } of record.backlog) {
    const chunk = await readChunk(store, scope, key);
    for (const [userId] of chunk?.users.slice(sent) ?? []) waiting.add(userId);
  }
  return waiting;
}

/**
 * Removes the customer's backlog chunks its window does not name that were handed off before `before`: a
 * chunk written by a sync killed before its window write (its users' hand-off marks are what the reconciler
 * sends them again from), or one emptied by a writer killed before deleting it. `seen` is the window as the
 * caller last read it: the window is read again only when a chunk it does not name is found. Returns how many.
 */
export async function removeUnnamedChunks(store: KeyValueStore, customerId: string, before: Date, seen: HandOffWindowRecord | undefined): Promise<number> {
  const scope = handOffScope(customerId);
  const unnamed = (record: HandOffWindowRecord | undefined, keys: string[]) => {
    const named = new Set(record?.backlog.map((b) => b.key));
    // `chunk:<handed off at>:<uuid>`: a key that does not say when is left alone.
    return keys.filter((key) => key.startsWith(CHUNK_PREFIX) && !named.has(key) && Date.parse(key.slice(CHUNK_PREFIX.length, -UUID_SUFFIX)) < before.getTime());
  };
  const candidates = unnamed(seen, await store.keys(scope));
  if (candidates.length === 0) return 0;
  let removed = 0;
  for (const key of unnamed(await readHandOffWindow(store, customerId), candidates)) {
    forget(scope, key);
    await store.delete(scope, key).catch(() => undefined);
    removed++;
  }
  return removed;
}

/** Changes the record and says whether it did; messages it adds to `send` are sent before the write. */
type WindowChange = (record: HandOffWindowRecord, send: ProvisionUserMessage[]) => boolean;

interface Commit {
  waiting: Array<{ change: WindowChange; done: () => void; failed: (error: unknown) => void }>;
}
/** Changes waiting to be written, per store and customer: one writer each in a process. */
const commits = new WeakMap<KeyValueStore, Map<string, Commit>>();

/**
 * Applies `change` to the customer's window. The handlers of one process finish many of a customer's users
 * at once: their changes are written together (a group commit), one write at a time per customer, and each
 * caller returns once the write holding its change succeeded, so nothing is acknowledged before it is stored.
 * Across processes the record's ETag decides.
 */
function changeWindow(deps: HandOffWindowDeps, customerId: string, change: WindowChange): Promise<void> {
  let byCustomer = commits.get(deps.store);
  if (!byCustomer) commits.set(deps.store, (byCustomer = new Map()));
  const customers = byCustomer;
  return new Promise((done, failed) => {
    const open = customers.get(customerId);
    if (open) {
      open.waiting.push({ change, done, failed });
      return;
    }
    const commit: Commit = { waiting: [{ change, done, failed }] };
    customers.set(customerId, commit);
    void (async () => {
      while (commit.waiting.length > 0) {
        const batch = commit.waiting.splice(0);
        try {
          await writeWindow(deps, customerId, (record, send) => batch.map((c) => c.change(record, send)).includes(true));
          for (const c of batch) c.done();
        } catch (error) {
          for (const c of batch) c.failed(error);
        }
      }
      customers.delete(customerId);
    })();
  });
}

/**
 * Reads the customer's window, applies `change`, fills the free places from the backlog, sends what it took,
 * and writes the window under its ETag (again from a fresh read when another instance wrote first); then
 * drops the chunks it emptied. Sent before written: a kill in between loses no message, and a send repeated
 * (after a kill or a lost race) carries the same message id, which Service Bus drops as a duplicate; a
 * message that finished before the window counted it is passed over when its place in the backlog comes.
 */
async function writeWindow(deps: HandOffWindowDeps, customerId: string, change: WindowChange): Promise<void> {
  const scope = handOffScope(customerId);
  const read = (key: string) => readChunk(deps.store, scope, key);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await deps.store.get<HandOffWindowRecord>(scope, WINDOW_KEY);
    const record: HandOffWindowRecord = current ? structuredClone(current.value) : { backlog: [], inFlight: {} };
    const direct: ProvisionUserMessage[] = [];
    const changed = change(record, direct);
    const { messages, emptied } = await fill(record, customerId, read, (deps.now?.() ?? new Date()).toISOString(), deps.size ?? HANDOFF_WINDOW);
    if (!changed && messages.length === 0 && emptied.length === 0) return;
    if (direct.length + messages.length > 0) await deps.queue.send([...direct, ...messages]);
    try {
      await write(deps.store, scope, record, current);
    } catch (error) {
      if (error instanceof ConcurrencyError || error instanceof ConflictError) continue;
      throw error;
    }
    for (const key of emptied) {
      forget(scope, key);
      await deps.store.delete(scope, key).catch(() => undefined);
    }
    return;
  }
  throw new ConcurrencyError(`the hand-off window of customer ${customerId} kept changing under ${ATTEMPTS} attempts`);
}

async function fill(
  record: HandOffWindowRecord,
  customerId: string,
  read: (key: string) => Promise<BacklogChunk | undefined>,
  now: string,
  size: number,
): Promise<{ messages: ProvisionUserMessage[]; emptied: string[] }> {
  const messages: ProvisionUserMessage[] = [];
  const emptied: string[] = [];
  // The same user twice (handed off again while waiting) takes one place.
  const free = () => size - Object.keys(record.inFlight).length;
  while (free() > 0 && record.backlog.length > 0) {
    const head = record.backlog[0];
    const chunk = await read(head.key);
    // A chunk that is gone (read from a window another writer has since moved on) has nothing to send.
    const users = chunk ? chunk.users.slice(head.sent, head.sent + free()) : [];
    for (const [userId, reason] of users) {
      const done = record.released?.indexOf(releasedKey(userId, chunk?.observedAt)) ?? -1;
      if (done >= 0) record.released?.splice(done, 1);
      else {
        record.inFlight[userId] = now;
        messages.push({ customerId, userId, reason, ...(chunk?.observedAt ? { observedAt: chunk.observedAt } : {}), requestedAt: chunk?.requestedAt ?? now });
      }
    }
    head.sent += users.length;
    if (!chunk || head.sent >= chunk.users.length) {
      record.backlog.shift();
      emptied.push(head.key);
    }
  }
  if (record.backlog.length === 0) delete record.released;
  return { messages, emptied };
}

async function write(store: KeyValueStore, scope: string, record: HandOffWindowRecord, current: Versioned<HandOffWindowRecord> | undefined): Promise<void> {
  if (current) await store.put(scope, WINDOW_KEY, record, current.etag);
  else await store.create(scope, WINDOW_KEY, record);
}

/** Chunks never change once written (each key is new): a process keeps the ones it is sending from. */
const chunks = new Map<string, BacklogChunk>();
const CHUNKS_KEPT = 256;

function remember(scope: string, key: string, chunk: BacklogChunk): void {
  chunks.set(`${scope}\n${key}`, chunk);
  if (chunks.size > CHUNKS_KEPT) chunks.delete(chunks.keys().next().value!);
}

function forget(scope: string, key: string): void {
  chunks.delete(`${scope}\n${key}`);
}

async function readChunk(store: KeyValueStore, scope: string, key: string): Promise<BacklogChunk | undefined> {
  const known = chunks.get(`${scope}\n${key}`);
  if (known) return known;
  const found = (await store.get<BacklogChunk>(scope, key))?.value;
  if (found) remember(scope, key, found);
  return found;
}

function releasedKey(userId: string, observedAt: string | undefined): string {
  return `${userId} ${observedAt ?? ''}`;
}

function toChunks(messages: readonly ProvisionUserMessage[]): BacklogChunk[] {
  const chunks: BacklogChunk[] = [];
  for (const m of messages) {
    let last = chunks.at(-1);
    if (!last || last.users.length >= CHUNK_USERS || last.observedAt !== m.observedAt || last.requestedAt !== m.requestedAt) {
      last = { ...(m.observedAt ? { observedAt: m.observedAt } : {}), requestedAt: m.requestedAt, users: [] };
      chunks.push(last);
    }
    last.users.push([m.userId, m.reason as HandOffReason]);
  }
  return chunks;
}
