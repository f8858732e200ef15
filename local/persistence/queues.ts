/**
 * The broker's queues on disk, as Service Bus keeps its entities: every message sent (and acknowledged to
 * its sender), scheduled or dead-lettered, every change of its delivery count or properties, and its end
 * (completed, expired, cancelled, moved) go into a write-ahead journal; the broker acknowledges a send
 * only once the journal holds it. A start replays a snapshot and the journal into the entities: every
 * message is available again (locks do not survive, as when they expire), scheduled ones wait for their
 * time, sequence numbers go on from the highest given, and duplicate detection remembers the ids it saw
 * within its window.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import rhea, { type Message } from 'rhea';
import type { EntityJournal, QueueEntity, RestoredMessage, StoredMessage } from '../servicebus/entity';
import { Journal, writeFileDurably } from './journal';

type Record_ =
  | { t: 'a'; q: string; n: number; at: number; s?: number; d: number; src?: string; m: string }
  | { t: 'c'; q: string; n: number; d: number; m?: string }
  | { t: 'r'; q: string; n: number };

interface EntityState {
  messages: Map<number, RestoredMessage>;
  /** Message ids first seen, with when (for duplicate detection). */
  seen: Map<string, number>;
  highest: number;
}

interface SnapshotFile {
  entities: Record<string, { highest: number; seen: Array<[string, number]>; messages: Array<Omit<RestoredMessage, 'message'> & { m: string }> }>;
}

const SNAPSHOT = 'queues.snapshot.json';

function encode(message: Message): string {
  return (rhea.message.encode(message) as unknown as Buffer).toString('base64');
}

function decode(text: string): Message {
  return rhea.message.decode(Buffer.from(text, 'base64')) as unknown as Message;
}

export class QueueJournal implements EntityJournal {
  private snapshotting?: Promise<void>;
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly dir: string,
    private readonly journal: Journal,
    private readonly entities: Map<string, QueueEntity>,
  ) {}

  /** Loads what `dir` holds into the entities (by path, lower-cased) and journals them from then on. */
  static async open(dir: string, entities: Map<string, QueueEntity>, now: number): Promise<QueueJournal> {
    const states = new Map<string, EntityState>();
    const state = (q: string) => {
      let s = states.get(q);
      if (!s) states.set(q, (s = { messages: new Map(), seen: new Map(), highest: 0 }));
      return s;
    };
    const snapshotFile = path.join(dir, SNAPSHOT);
    if (existsSync(snapshotFile)) {
      const snapshot = JSON.parse(readFileSync(snapshotFile, 'utf8')) as SnapshotFile;
      for (const [q, saved] of Object.entries(snapshot.entities)) {
        const s = state(q);
        s.highest = saved.highest;
        for (const [id, at] of saved.seen) s.seen.set(id, at);
        for (const { m, ...rest } of saved.messages) s.messages.set(rest.sequenceNumber, { ...rest, message: decode(m) });
      }
    }
    let replayed = 0;
    const journal = Journal.open(dir, 'queues', (raw) => {
      replayed++;
      const r = raw as Record_;
      const s = state(r.q);
      switch (r.t) {
        case 'a': {
          const message = decode(r.m);
          s.highest = Math.max(s.highest, r.n);
          if (message.message_id !== undefined && !r.src) s.seen.set(String(message.message_id), r.at);
          s.messages.set(r.n, { sequenceNumber: r.n, enqueuedAt: r.at, message, deliveries: r.d, ...(r.s !== undefined ? { scheduledAt: r.s } : {}), ...(r.src ? { deadLetterSource: r.src } : {}) });
          return;
        }
        case 'c': {
          const saved = s.messages.get(r.n);
          if (!saved) return;
          saved.deliveries = r.d;
          if (r.m) saved.message = decode(r.m);
          return;
        }
        case 'r':
          s.messages.delete(r.n);
          return;
      }
    });
    for (const [q, s] of states) {
      const entity = entities.get(q.toLowerCase());
      if (!entity) continue; // a queue no longer declared: its messages stay on disk until the next snapshot
      entity.restoreSequence(s.highest);
      for (const [id, at] of [...s.seen].sort((a, b) => a[1] - b[1])) entity.restoreSeen(id, at);
      for (const saved of [...s.messages.values()].sort((a, b) => a.sequenceNumber - b.sequenceNumber)) entity.restore(saved);
    }
    const store = new QueueJournal(dir, journal, entities);
    for (const entity of entities.values()) entity.journal = store;
    if (replayed > 0) await store.snapshot(now);
    store.timer = setInterval(() => {
      if (journal.size >= 32 * 1024 * 1024 && !store.snapshotting) void store.snapshot(Date.now()).catch(() => undefined);
    }, 1_000);
    store.timer.unref();
    return store;
  }

  added(entity: QueueEntity, stored: StoredMessage): void {
    this.journal.append({
      t: 'a', q: entity.path, n: stored.sequenceNumber, at: stored.enqueuedAt, d: stored.deliveries, m: encode(stored.message),
      ...(stored.scheduledAt !== undefined ? { s: stored.scheduledAt } : {}),
      ...(stored.deadLetterSource ? { src: stored.deadLetterSource } : {}),
    } satisfies Record_);
  }

  changed(entity: QueueEntity, stored: StoredMessage, what: 'deliveries' | 'message'): void {
    this.journal.append({ t: 'c', q: entity.path, n: stored.sequenceNumber, d: stored.deliveries, ...(what === 'message' ? { m: encode(stored.message) } : {}) } satisfies Record_);
  }

  removed(entity: QueueEntity, stored: StoredMessage): void {
    this.journal.append({ t: 'r', q: entity.path, n: stored.sequenceNumber } satisfies Record_);
  }

  /** Resolves once everything reported so far is on disk: then a send may be acknowledged. */
  durable(): Promise<void> {
    return this.journal.whenDurable();
  }

  /** Writes every entity's messages and remembered ids, and drops the journal they cover. */
  snapshot(now: number): Promise<void> {
    this.snapshotting ??= (async () => {
      const closed = this.journal.rotate();
      const file: SnapshotFile = { entities: {} };
      for (const entity of new Set(this.entities.values())) {
        const windowStart = now - (entity.duplicateDetectionWindowMs ?? 0);
        file.entities[entity.path] = {
          highest: entity.highestSequence,
          seen: entity.seen().filter((s) => s.at > windowStart).map((s) => [s.id, s.at]),
          messages: entity.messages().map((m) => ({
            sequenceNumber: m.sequenceNumber,
            enqueuedAt: m.enqueuedAt,
            deliveries: m.deliveries,
            ...(m.scheduledAt !== undefined && m.state === 'scheduled' ? { scheduledAt: m.scheduledAt } : {}),
            ...(m.deadLetterSource ? { deadLetterSource: m.deadLetterSource } : {}),
            m: encode(m.message),
          })),
        };
      }
      writeFileDurably(path.join(this.dir, SNAPSHOT), JSON.stringify(file));
      await this.journal.dropThrough(closed);
    })().finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  async close(now: number): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.snapshot(now);
    await this.journal.close();
  }
}
