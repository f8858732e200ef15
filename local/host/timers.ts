/**
 * Timer triggers as the Functions host runs them on several instances:
 * - each timer function's listener is a singleton across the instances of an app: it runs only where its
 *   listener lock is held (`{hostId}/Host.Functions.{name}.Listener`; a blob lease in Azure, a row with an
 *   ETag here), kept for `listenerLockPeriod` (60 s) and renewed at half of it; an instance without the lock
 *   tries again every `listenerLockRecoveryPollingInterval` (1 min), so a dead holder's timers move within
 *   about two minutes;
 * - the schedule status (`Last`, `Next`, `LastUpdated`) is kept per app in storage: a listener that starts
 *   (after a deployment, or on the instance that took the lock over) and finds `Next` passed runs the timer
 *   once, past due, however many occurrences were missed; the status is written after each run;
 * - before each run the holder renews its lock with the ETag it holds, and that same conditional write
 *   records the occurrence it is about to run on the lock. A holder whose lock was taken over meanwhile (its
 *   renewals fell behind while its process stalled) fails the write and does not run; a new holder's catch-up
 *   skips an occurrence the lock says was run. So each occurrence runs at most once across the instances.
 *   Azure's status is written only after the run, so a holder that dies mid-run has its occurrence run again
 *   by the next holder, and one that stalls may overlap its successor (Azure/azure-functions-host#2968);
 *   here the timer's next occurrence does that work instead (every timer of the app is a periodic sweep).
 * Sources: azure-webjobs-sdk-extensions `TimerListener`, `ScheduleMonitor`; azure-webjobs-sdk `SingletonOptions`.
 */
import type { Timer } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import type { Clock } from './clock';
import type { ExecutionLog, TimerRunReason } from './executionLog';
import type { HostJson } from './hostJson';
import type { NcrontabSchedule } from './ncrontab';
import type { RegisteredFunction } from './registry';
import { parseTimeSpan } from '../servicebus/duration';

export interface TimerStatus {
  last?: number;
  next?: number;
  lastUpdated?: number;
}

/** Where timer schedule status survives a restart (Azure keeps it in storage when useMonitor is on). */
export interface TimerStatusStore {
  get(functionName: string): Promise<TimerStatus | undefined>;
  set(functionName: string, status: TimerStatus): Promise<void>;
}

export class MemoryTimerStatusStore implements TimerStatusStore {
  private readonly map = new Map<string, TimerStatus>();
  async get(name: string): Promise<TimerStatus | undefined> {
    return this.map.get(name);
  }
  async set(name: string, status: TimerStatus): Promise<void> {
    this.map.set(name, status);
  }
}

/** A lease on a named lock, held until it expires unless renewed. */
export interface LockLease {
  lockId: string;
  etag: string;
  /** The last timer occurrence a holder of this lock claimed (ms), carried from holder to holder. */
  occurrence?: number;
}

/** The host's singleton locks (a blob lease each in Azure). */
export interface SingletonLocks {
  tryAcquire(lockId: string, owner: string, periodMs: number): Promise<LockLease | undefined>;
  /** Renews with the lease's ETag; with `occurrence`, records it as claimed in the same write. False: the lock is another's. */
  renew(lease: LockLease, owner: string, periodMs: number, occurrence?: number): Promise<boolean>;
  release(lease: LockLease): Promise<void>;
}

/** Locks for a host alone (tests of one host without storage): always granted. */
export class MemorySingletonLocks implements SingletonLocks {
  async tryAcquire(lockId: string): Promise<LockLease> {
    return { lockId, etag: '' };
  }
  async renew(lease: LockLease, _owner: string, _periodMs: number, occurrence?: number): Promise<boolean> {
    if (occurrence !== undefined) lease.occurrence = occurrence;
    return true;
  }
  async release(): Promise<void> {}
}

export interface TimerLockSettings {
  /** How long a listener lock lasts unless renewed (host.json `singleton.listenerLockPeriod`, 60 s; Azure accepts 15 to 60 s). */
  listenerLockPeriodMs: number;
  /** How often an instance without a listener lock tries to take it (`singleton.listenerLockRecoveryPollingInterval`, 1 min). */
  listenerLockRecoveryPollingIntervalMs: number;
}

export const AZURE_TIMER_LOCK_DEFAULTS: TimerLockSettings = { listenerLockPeriodMs: 60_000, listenerLockRecoveryPollingIntervalMs: 60_000 };

/** host.json's `singleton` section over Azure's defaults, then local options (tests shorten them). */
export function timerLockSettings(hostJson: HostJson, overrides: Partial<TimerLockSettings> = {}): TimerLockSettings {
  const singleton = (hostJson as { singleton?: { listenerLockPeriod?: string; listenerLockRecoveryPollingInterval?: string } }).singleton ?? {};
  const settings = { ...AZURE_TIMER_LOCK_DEFAULTS };
  if (singleton.listenerLockPeriod) settings.listenerLockPeriodMs = parseTimeSpan(singleton.listenerLockPeriod);
  if (singleton.listenerLockRecoveryPollingInterval) settings.listenerLockRecoveryPollingIntervalMs = parseTimeSpan(singleton.listenerLockRecoveryPollingInterval);
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) (settings as Record<string, number>)[key] = value;
  return settings;
}

function connectionOptions(connectionString: string) {
  return { allowInsecureConnection: /DefaultEndpointsProtocol=http;|UseDevelopmentStorage=true|http:\/\//i.test(connectionString) };
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? (err as { statusCode: number }).statusCode : undefined;
}

/** Listener locks as rows (PartitionKey = host id), each written with the ETag it was read with. */
export class TableSingletonLocks implements SingletonLocks {
  private readonly table: TableClient;
  private ready?: Promise<void>;

  constructor(
    connectionString: string,
    private readonly hostId: string,
  ) {
    this.table = TableClient.fromConnectionString(connectionString, 'AzureWebJobsHostLocks', connectionOptions(connectionString));
  }

  private ensure(): Promise<void> {
    this.ready ??= this.table.createTable();
    return this.ready;
  }

  async tryAcquire(lockId: string, owner: string, periodMs: number): Promise<LockLease | undefined> {
    await this.ensure();
    const row = { partitionKey: this.hostId, rowKey: lockId, Owner: owner, ExpiresAt: new Date(Date.now() + periodMs) };
    try {
      const current = await this.table.getEntity<{ Owner?: string; ExpiresAt?: Date; Occurrence?: number }>(this.hostId, lockId);
      // A lease is taken only once it has expired (or was released); the same instance restarted finds its own.
      if (current.Owner && current.Owner !== owner && current.ExpiresAt && current.ExpiresAt.getTime() > Date.now()) return undefined;
      const occurrence = typeof current.Occurrence === 'number' ? current.Occurrence : undefined;
      const response = await this.table.updateEntity({ ...row, ...(occurrence === undefined ? {} : { Occurrence: occurrence }) }, 'Replace', { etag: current.etag });
      return { lockId, etag: response.etag ?? '', occurrence };
    } catch (err) {
      if (statusOf(err) === 412) return undefined;
      if (statusOf(err) !== 404) throw err;
    }
    try {
      const response = await this.table.createEntity(row);
      return { lockId, etag: response.etag ?? '' };
    } catch (err) {
      if (statusOf(err) === 409) return undefined;
      throw err;
    }
  }

  async renew(lease: LockLease, owner: string, periodMs: number, occurrence?: number): Promise<boolean> {
    const claimed = occurrence ?? lease.occurrence;
    try {
      const response = await this.table.updateEntity(
        { partitionKey: this.hostId, rowKey: lease.lockId, Owner: owner, ExpiresAt: new Date(Date.now() + periodMs), ...(claimed === undefined ? {} : { Occurrence: claimed }) },
        'Replace',
        { etag: lease.etag },
      );
      lease.etag = response.etag ?? lease.etag;
      lease.occurrence = claimed;
      return true;
    } catch (err) {
      if (statusOf(err) === 412 || statusOf(err) === 404) return false;
      throw err;
    }
  }

  async release(lease: LockLease): Promise<void> {
    const claimed = lease.occurrence === undefined ? {} : { Occurrence: lease.occurrence };
    await this.table.updateEntity({ partitionKey: this.hostId, rowKey: lease.lockId, Owner: '', ExpiresAt: new Date(0), ...claimed }, 'Replace', { etag: lease.etag }).catch(() => undefined);
  }
}

/** Timer schedule status in Table Storage, per app (host id), so another instance or a restarted host sees the runs that were missed. */
export class TableTimerStatusStore implements TimerStatusStore {
  private ready?: Promise<void>;
  private readonly table: TableClient;

  constructor(
    connectionString: string,
    private readonly hostId = 'timers',
    tableName = 'LocalHostTimers',
  ) {
    this.table = TableClient.fromConnectionString(connectionString, tableName, connectionOptions(connectionString));
  }

  private ensure(): Promise<void> {
    this.ready ??= this.table.createTable();
    return this.ready;
  }

  async get(functionName: string): Promise<TimerStatus | undefined> {
    await this.ensure();
    try {
      const e = await this.table.getEntity<{ last?: number; next?: number; lastUpdated?: number }>(this.hostId, functionName);
      return { last: e.last, next: e.next, lastUpdated: e.lastUpdated };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async set(functionName: string, status: TimerStatus): Promise<void> {
    await this.ensure();
    await this.table.upsertEntity({ partitionKey: this.hostId, rowKey: functionName, ...status }, 'Replace');
  }
}

export interface TimerListenerDeps {
  fn: RegisteredFunction;
  schedule: NcrontabSchedule;
  clock: Clock;
  store: TimerStatusStore;
  locks: SingletonLocks;
  settings: TimerLockSettings;
  /** This instance's name, written on the locks it holds. */
  owner: string;
  invoke(fn: RegisteredFunction, timer: Timer): Promise<void>;
  log(level: 'information' | 'warning' | 'error', message: string): void;
  executionLog?: ExecutionLog;
  /** Keeps a run in the host's in-flight set, so stop() can wait for it. */
  track<T>(work: Promise<T>): Promise<T>;
}

export class TimerListener {
  private lease?: LockLease;
  private status?: TimerStatus;
  private cancelOccurrence?: () => void;
  private renewTimer?: NodeJS.Timeout;
  private recoveryTimer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  /** The renewals and claims of this listener's lock, one at a time: each writes with the ETag the last one got. */
  private lockWrites: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private armed = false;

  constructor(private readonly d: TimerListenerDeps) {}

  get lockId(): string {
    return `Host.Functions.${this.d.fn.name}.Listener`;
  }

  /** Whether this instance holds the listener lock and has armed the schedule (the timer runs here). */
  get listening(): boolean {
    return this.lease !== undefined && this.armed;
  }

  async start(): Promise<void> {
    if (!(await this.tryListen())) this.scheduleRecovery();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelOccurrence?.();
    clearTimeout(this.renewTimer);
    clearTimeout(this.recoveryTimer);
    await this.running.catch(() => undefined);
    if (this.lease) await this.d.locks.release(this.lease).catch(() => undefined);
    this.lease = undefined;
  }

  /** Runs the function now (the admin API), with the status it would see. */
  async runNow(): Promise<void> {
    this.status ??= await this.d.store.get(this.d.fn.name);
    await this.fire(this.d.clock.now(), { isPastDue: false, unscheduled: true, reason: 'admin' });
  }

  private async tryListen(): Promise<boolean> {
    const lease = await this.d.locks.tryAcquire(this.lockId, this.d.owner, this.d.settings.listenerLockPeriodMs).catch((err: unknown) => {
      this.d.log('warning', `listener lock for ${this.d.fn.name}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    });
    if (!lease || this.stopped) {
      if (lease) await this.d.locks.release(lease);
      return false;
    }
    this.lease = lease;
    this.scheduleRenewal();
    await this.listen();
    this.armed = true;
    return true;
  }

  private scheduleRecovery(): void {
    if (this.stopped) return;
    this.recoveryTimer = setTimeout(() => {
      void this.tryListen().then((ok) => {
        if (!ok) this.scheduleRecovery();
      });
    }, this.d.settings.listenerLockRecoveryPollingIntervalMs);
    this.recoveryTimer.unref();
  }

  private scheduleRenewal(): void {
    if (this.stopped) return;
    this.renewTimer = setTimeout(() => {
      const lease = this.lease;
      if (!lease) return;
      void this.renew(lease).then(
        (ok) => (ok ? this.scheduleRenewal() : this.lostLock()),
        () => this.scheduleRenewal(),
      );
    }, this.d.settings.listenerLockPeriodMs / 2);
    this.renewTimer.unref();
  }

  private renew(lease: LockLease, occurrence?: number): Promise<boolean> {
    const write = this.lockWrites.then(() => (this.lease === lease ? this.d.locks.renew(lease, this.d.owner, this.d.settings.listenerLockPeriodMs, occurrence) : false));
    this.lockWrites = write.catch(() => undefined);
    return write;
  }

  private lostLock(): void {
    if (!this.lease) return;
    this.d.log('warning', `lost the listener lock for ${this.d.fn.name}; another instance runs it`);
    this.lease = undefined;
    this.armed = false;
    clearTimeout(this.renewTimer);
    this.cancelOccurrence?.();
    this.scheduleRecovery();
  }

  /**
   * Renews the lock with its ETag and claims the occurrence in the same write; false when this instance no
   * longer holds it (or storage cannot say so), and then the occurrence is not run here.
   */
  private async claim(occurrence: number): Promise<boolean> {
    const lease = this.lease;
    if (!lease) return false;
    try {
      if (await this.renew(lease, occurrence)) return true;
      this.lostLock();
    } catch (err) {
      this.d.log('warning', `${this.d.fn.name} at ${new Date(occurrence).toISOString()} not run: its listener lock could not be confirmed (${err instanceof Error ? err.message : String(err)})`);
    }
    return false;
  }

  /** The listener's start: the status check (ScheduleMonitor.CheckPastDueAsync), then a past-due or startup run, then the schedule. */
  private async listen(): Promise<void> {
    const now = this.d.clock.now();
    const { schedule } = this.d;
    let status = await this.d.store.get(this.d.fn.name);
    if (!status) {
      status = { next: schedule.nextAfter(now), lastUpdated: now };
      await this.d.store.set(this.d.fn.name, status);
    } else {
      const base = status.last ?? status.lastUpdated ?? now;
      let expected = schedule.nextAfter(base);
      if (status.next !== expected) {
        // The schedule changed: an expected occurrence already gone is not past due.
        let updated = base;
        if (expected !== undefined && now > expected) {
          expected = schedule.nextAfter(now);
          updated = now;
        }
        status = { next: expected, lastUpdated: updated };
        await this.d.store.set(this.d.fn.name, status);
      }
    }
    // An occurrence a previous holder claimed on the lock was run (or is running) there: not past due here.
    const claimed = this.lease?.occurrence;
    if (claimed !== undefined && status.next !== undefined && status.next <= claimed) {
      status = { last: claimed, next: schedule.nextAfter(claimed), lastUpdated: claimed };
      await this.d.store.set(this.d.fn.name, status);
    }
    this.status = status;
    if (status.next !== undefined && now > status.next) {
      this.run(this.fire(status.next, { isPastDue: true, unscheduled: true, reason: 'past-due' }).finally(() => this.arm()));
    } else if (this.d.fn.trigger.runOnStartup === true) {
      this.run(this.fire(now, { isPastDue: false, unscheduled: true, reason: 'startup' }).finally(() => this.arm()));
    } else {
      this.arm();
    }
  }

  private arm(): void {
    if (this.stopped || !this.lease) return;
    const next = this.d.schedule.nextAfter(this.d.clock.now());
    if (next === undefined) return;
    this.cancelOccurrence = this.d.clock.schedule(next, () => {
      this.cancelOccurrence = undefined;
      if (this.stopped || !this.lease) return;
      // The next occurrence is computed after the run ends, so runs of one timer never overlap.
      this.run(this.fire(next, { isPastDue: false, unscheduled: false, reason: 'schedule' }).finally(() => this.arm()));
    });
  }

  private run(work: Promise<void>): void {
    this.running = this.d.track(work);
  }

  private async fire(occurrence: number, how: { isPastDue: boolean; unscheduled: boolean; reason: TimerRunReason }): Promise<void> {
    if (how.reason !== 'admin' && !(await this.claim(occurrence))) return;
    const invokedAt = this.d.clock.now();
    const status = this.status ?? {};
    const timer: Timer = {
      isPastDue: how.isPastDue,
      schedule: { adjustForDST: false },
      scheduleStatus: {
        last: new Date(status.last ?? 0).toISOString(),
        next: status.next === undefined ? '' : new Date(status.next).toISOString(),
        lastUpdated: new Date(status.lastUpdated ?? invokedAt).toISOString(),
      },
    };
    const record = this.d.executionLog?.timer(this.d.fn.name, occurrence, how.isPastDue, how.reason);
    try {
      await this.d.invoke(this.d.fn, timer);
    } catch (err) {
      this.d.log('error', `Executed '${this.d.fn.name}' (Failed): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    record?.done();
    // A run that fired a little early counts from its occurrence, so the next occurrence is never the same one again.
    const adjusted = !how.unscheduled && status.next !== undefined && status.next > invokedAt ? status.next : invokedAt;
    this.status = { last: adjusted, next: this.d.schedule.nextAfter(adjusted), lastUpdated: adjusted };
    await this.d.store.set(this.d.fn.name, this.status).catch((err: unknown) => this.d.log('warning', `timer status of ${this.d.fn.name}: ${err instanceof Error ? err.message : String(err)}`));
  }
}
