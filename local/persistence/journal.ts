/**
 * A write-ahead journal: records appended in memory are written to disk and flushed (fdatasync) in groups,
 * and a caller acknowledges a write only once `whenDurable` resolves for it. So a write the local Table
 * Storage or the broker has acknowledged survives any process being killed (and the machine losing power
 * after the flush). Records are JSON lines in numbered segment files; `rotate` starts a new segment so that
 * older ones can be dropped once a snapshot holds their effect. A torn last line (a kill in the middle of a
 * write) is ignored on replay: it was never acknowledged.
 *
 * Records appended in one turn of the event loop go to disk as one line: a change made of several records
 * (a row replaced: removed then inserted; a message moved to the dead-letter queue) is replayed whole or
 * not at all.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

interface Segment {
  number: number;
  file: string;
  handle?: Promise<FileHandle>;
  /** Lines not written yet. */
  buffer: string[];
  bufferedBytes: number;
  /** Highest record sequence in this segment. */
  lastSeq: number;
}

export class Journal {
  private seq = 0;
  private durableSeq = 0;
  private bytesSinceRotate = 0;
  private current: Segment;
  /** Segments rotated out whose buffers may still be being written. */
  private readonly retiring: Segment[] = [];
  private flushing?: Promise<void>;
  private readonly waiters: Array<{ seq: number; resolve: () => void; reject: (err: Error) => void }> = [];
  private failure?: Error;
  private closed = false;
  /** Records of the current turn, written as one line when the turn ends. */
  private group?: object[];

  private constructor(
    private readonly dir: string,
    private readonly name: string,
    firstSegment: number,
  ) {
    this.current = this.segment(firstSegment);
  }

  /**
   * Opens the journal `name` in `dir`, handing every record of the existing segments, oldest first, to
   * `replay` before any new record is appended.
   */
  static open(dir: string, name: string, replay: (record: unknown) => void): Journal {
    mkdirSync(dir, { recursive: true });
    const segments = Journal.segmentNumbers(dir, name);
    for (const n of segments) {
      const text = readFileSync(Journal.fileOf(dir, name, n), 'utf8');
      const lines = text.split('\n');
      // The last element is '' after a complete final line, or a torn line that was never acknowledged.
      for (const line of lines.slice(0, -1)) {
        if (line.length === 0) continue;
        for (const record of (JSON.parse(line) as { g: unknown[] }).g) replay(record);
      }
    }
    return new Journal(dir, name, (segments.at(-1) ?? 0) + 1);
  }

  private static segmentNumbers(dir: string, name: string): number[] {
    const pattern = new RegExp(`^${name.replace(/[^A-Za-z0-9_-]/g, '\\$&')}\\.(\\d+)\\.log$`);
    return readdirSync(dir)
      .map((f) => pattern.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private static fileOf(dir: string, name: string, n: number): string {
    return path.join(dir, `${name}.${String(n).padStart(8, '0')}.log`);
  }

  private segment(number: number): Segment {
    return { number, file: Journal.fileOf(this.dir, this.name, number), buffer: [], bufferedBytes: 0, lastSeq: 0 };
  }

  /** Bytes appended since the last rotation: what a snapshot would let the journal drop. */
  get size(): number {
    return this.bytesSinceRotate;
  }

  /** Sequence of the last record appended. */
  get lastSeq(): number {
    return this.seq;
  }

  isDurable(seq: number): boolean {
    return seq <= this.durableSeq;
  }

  /** Adds a record (kept in memory until the next flush; with the turn's others as one line); returns its sequence. */
  append(record: object): number {
    if (this.closed) throw new Error(`journal ${this.name} is closed`);
    if (!this.group) {
      this.group = [];
      queueMicrotask(() => this.closeGroup());
    }
    this.group.push(record);
    this.seq++;
    return this.seq;
  }

  private closeGroup(): void {
    const group = this.group;
    if (!group) return;
    this.group = undefined;
    const line = JSON.stringify({ g: group }) + '\n';
    this.current.buffer.push(line);
    this.current.bufferedBytes += line.length;
    this.current.lastSeq = this.seq;
    this.bytesSinceRotate += line.length;
    this.kick();
  }

  /** Resolves once every record up to `seq` is on disk; rejects if the disk refused it. */
  whenDurable(seq: number = this.seq): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq, resolve, reject });
      if (!this.group) this.kick();
    });
  }

  /**
   * Starts a new segment: records appended from now on go there. Returns the number of the segment just
   * closed; once a snapshot taken at this instant is safely on disk, `dropThrough` deletes it and older ones.
   */
  rotate(): number {
    this.closeGroup();
    const old = this.current;
    this.retiring.push(old);
    this.current = this.segment(old.number + 1);
    this.bytesSinceRotate = 0;
    this.kick();
    return old.number;
  }

  /** Deletes the segments up to and including `segment` (their effect is in a snapshot). */
  async dropThrough(segment: number): Promise<void> {
    await this.flushAll();
    for (const n of Journal.segmentNumbers(this.dir, this.name)) {
      if (n <= segment) unlinkSync(Journal.fileOf(this.dir, this.name, n));
    }
  }

  /** Writes and flushes everything appended so far. */
  async flushAll(): Promise<void> {
    this.closeGroup();
    await this.whenDurable(this.seq);
    while (this.flushing) await this.flushing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushAll().catch(() => undefined);
    this.closed = true;
    for (const segment of [...this.retiring, this.current]) {
      if (segment.handle) await (await segment.handle).close().catch(() => undefined);
    }
  }

  private kick(): void {
    if (this.flushing || this.failure) return;
    const pending = this.retiring.some((s) => s.buffer.length > 0) || this.current.buffer.length > 0;
    if (!pending) {
      this.retireClosedSegments();
      return;
    }
    // Group commit: records appended while this flush runs go together in the next one.
    this.flushing = this.flushOnce()
      .catch((err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        for (const w of this.waiters.splice(0)) w.reject(this.failure);
      })
      .finally(() => {
        this.flushing = undefined;
        this.kick();
      });
  }

  private async flushOnce(): Promise<void> {
    let upTo = this.durableSeq;
    for (const segment of [...this.retiring, this.current]) {
      if (segment.buffer.length === 0) continue;
      const data = segment.buffer.join('');
      const last = segment.lastSeq;
      segment.buffer = [];
      segment.bufferedBytes = 0;
      segment.handle ??= open(segment.file, 'a');
      const handle = await segment.handle;
      await handle.write(data);
      await handle.datasync();
      upTo = Math.max(upTo, last);
    }
    this.durableSeq = upTo;
    const ready = this.waiters.filter((w) => w.seq <= upTo);
    for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i].seq <= upTo) this.waiters.splice(i, 1);
    for (const w of ready) w.resolve();
  }

  private retireClosedSegments(): void {
    for (let i = this.retiring.length - 1; i >= 0; i--) {
      const segment = this.retiring[i];
      if (segment.buffer.length > 0) continue;
      this.retiring.splice(i, 1);
      if (segment.handle) void segment.handle.then((h) => h.close()).catch(() => undefined);
    }
  }
}

/** Writes a file so that a reader sees the old content or the whole new one, never a torn mix, even after a power cut. */
export function writeFileDurably(file: string, content: string | Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(path.dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
