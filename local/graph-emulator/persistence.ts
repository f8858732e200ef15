/**
 * The emulator's world kept on disk, for a local runtime that keeps its state (`npm start -- --persist`):
 * its address (port), its certificate, its token signing key, its tenants with everything done to them,
 * and the subscriptions. Microsoft's side does not forget across a restart of the local runtime, and links
 * sitesync saved (next pages, delta links, operation URLs) keep naming an address that answers.
 *
 * Saved (structured clone, written atomically) shortly after each change, at most every few seconds and
 * never more often than ten times what a save costs, and when the emulator stops. A kill of its process
 * loses at most the changes of that last moment (the local Table Storage and broker keep every
 * acknowledged write; this stands in for Microsoft, whose own durability is not what is tested).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { writeFileDurably } from '../persistence/journal';
import type { Subscription } from './subscriptions';
import type { TenantState } from './state';
import type { SavedVault } from './keyVault';

export interface SavedEmulator {
  version: 1;
  port: number;
  certificate: { key: string; cert: string };
  tokenKey: Buffer;
  tenants: Array<Record<string, unknown>>;
  subscriptions: Subscription[];
  vault?: SavedVault;
  savedAt: number;
}

const FILE = 'graph-emulator.state';

export function loadSavedEmulator(dir: string): SavedEmulator | undefined {
  const file = path.join(dir, FILE);
  if (!existsSync(file)) return undefined;
  const saved = v8.deserialize(readFileSync(file)) as SavedEmulator;
  if (saved.version !== 1) throw new Error(`${file} was written by another version of the emulator: delete it to start afresh`);
  return saved;
}

export interface EmulatorWorld {
  port: number;
  certificate: { key: string; cert: string };
  tokenKey: Buffer;
  tenants(): TenantState[];
  subscriptions(): Subscription[];
  vault(): SavedVault;
}

export class EmulatorSaver {
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private lastCostMs = 0;
  private lastSave = 0;

  constructor(
    private readonly dir: string,
    private readonly world: EmulatorWorld,
    private readonly minIntervalMs = 2_000,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Something changed: a save follows soon. */
  changed(): void {
    this.dirty = true;
    if (this.timer) return;
    const wait = Math.max(this.minIntervalMs, this.lastCostMs * 10) - (Date.now() - this.lastSave);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) this.save();
    }, Math.max(0, wait));
    this.timer.unref();
  }

  save(): void {
    const started = Date.now();
    this.dirty = false;
    const saved: SavedEmulator = {
      version: 1,
      port: this.world.port,
      certificate: this.world.certificate,
      tokenKey: this.world.tokenKey,
      tenants: this.world.tenants().map((t) => t.snapshot()),
      subscriptions: this.world.subscriptions(),
      vault: this.world.vault(),
      savedAt: started,
    };
    writeFileDurably(path.join(this.dir, FILE), v8.serialize(saved));
    this.lastSave = Date.now();
    this.lastCostMs = this.lastSave - started;
  }

  /** A last save (a clean stop, or the parent process gone). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.save();
  }
}
