import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../local/host/clock';
import { MemoryTimerStatusStore, LocalHost } from '../../local/host/host';
import { NcrontabSchedule, resolveAppSettingExpression } from '../../local/host/ncrontab';
import { timerCalls } from './fixtures/calls';
import { KEYS, startFixtureHost } from './support';
import { readHostJson } from '../../local/host/hostJson';
import { loadFunctionApp, PROJECT_ROOT } from '../../local/host/load';
import path from 'node:path';
import { TableSingletonLocks, TableTimerStatusStore } from '../../local/host/timers';
import { startAzurite } from '../support/azurite';
import { TableClient } from '@azure/data-tables';

const iso = (d: Date) => d.toISOString();

describe('NCRONTAB', () => {
  it('fires 0 0 0 13 * Fri only on Friday the 13th (day-of-month AND day-of-week)', () => {
    const runs = new NcrontabSchedule('0 0 0 13 * Fri').nextRuns(3, Date.UTC(2024, 0, 1));
    expect(runs.map(iso)).toEqual(['2024-09-13T00:00:00.000Z', '2024-12-13T00:00:00.000Z', '2025-06-13T00:00:00.000Z']);
  });

  it('reads six fields, seconds first, in UTC', () => {
    const s = new NcrontabSchedule('0 30 9 * * 1-5');
    // 2026-01-02 is a Friday; the next weekday 09:30 after Friday 10:00 is Monday.
    expect(iso(new Date(s.nextAfter(Date.UTC(2026, 0, 2, 10))!))).toBe('2026-01-05T09:30:00.000Z');
    expect(iso(new Date(new NcrontabSchedule('*/15 * * * * *').nextAfter(Date.UTC(2026, 0, 1, 0, 0, 1))!))).toBe('2026-01-01T00:00:15.000Z');
  });

  it('refuses five-field (Vixie) expressions', () => {
    expect(() => new NcrontabSchedule('*/5 * * * *')).toThrow(/six fields/);
  });

  it('resolves %Setting% expressions', () => {
    expect(resolveAppSettingExpression('%SYNC_SCHEDULE%', { SYNC_SCHEDULE: '0 0 2 * * *' })).toBe('0 0 2 * * *');
    expect(() => resolveAppSettingExpression('%MISSING%', {})).toThrow(/MISSING/);
  });
});

describe('timer triggers under a controlled clock', () => {
  it('fires each occurrence with the timer object and never early', async () => {
    timerCalls.length = 0;
    const clock = new VirtualClock(Date.UTC(2026, 0, 1, 0, 0, 30));
    const { host } = await startFixtureHost({ clock, enableTimers: true });
    try {
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 4, 59));
      expect(timerCalls.filter((c) => c.at !== 'friday13')).toHaveLength(0);
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 15, 0));
      const fiveMinute = timerCalls.filter((c) => c.at !== 'friday13');
      expect(fiveMinute).toHaveLength(3);
      expect(fiveMinute[0].timer.isPastDue).toBe(false);
      // As the Functions host passes it: the status as it stood when the run began (Next is this occurrence).
      expect(fiveMinute[0].timer.scheduleStatus?.next).toBe('2026-01-01T00:05:00.000Z');
      expect(fiveMinute[1].timer.scheduleStatus?.last).toBe('2026-01-01T00:05:00.000Z');
      expect(fiveMinute[1].timer.scheduleStatus?.next).toBe('2026-01-01T00:10:00.000Z');
      // 2026-02-13 is a Friday.
      await clock.advanceTo(Date.UTC(2026, 1, 13, 0, 0, 1));
      expect(timerCalls.filter((c) => c.at === 'friday13')).toHaveLength(1);
    } finally {
      await host.stop();
    }
  });

  it('runs a missed occurrence at start and marks it past due', async () => {
    timerCalls.length = 0;
    const store = new MemoryTimerStatusStore();
    await store.set('everyFiveMinutes', { last: Date.UTC(2026, 0, 1, 0, 0), next: Date.UTC(2026, 0, 1, 0, 5) });
    const clock = new VirtualClock(Date.UTC(2026, 0, 1, 1, 2));
    const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
    const host = await LocalHost.start({ registry, hostJson: readHostJson(PROJECT_ROOT), keys: KEYS, clock, timerStatusStore: store, logger: () => {} });
    try {
      const first = timerCalls.find((c) => c.at !== 'friday13');
      expect(first?.timer.isPastDue).toBe(true);
      expect(first?.timer.scheduleStatus?.last).toBe('2026-01-01T00:00:00.000Z');
    } finally {
      await host.stop();
    }
  });
});

/** One instance of the fixture app whose timers share their status and listener locks with the others. */
function timerInstance(o: {
  registry: Awaited<ReturnType<typeof loadFunctionApp>>;
  clock: VirtualClock;
  name: string;
  status: TableTimerStatusStore;
  locks: TableSingletonLocks;
  listenerLockPeriodMs: number;
  recoveryPollMs: number;
}) {
  return LocalHost.start({
    registry: o.registry,
    hostJson: readHostJson(PROJECT_ROOT),
    keys: KEYS,
    clock: o.clock,
    logger: () => {},
    instanceId: o.name,
    timerStatusStore: o.status,
    singletonLocks: o.locks,
    timerLocks: { listenerLockPeriodMs: o.listenerLockPeriodMs, listenerLockRecoveryPollingIntervalMs: o.recoveryPollMs },
  });
}

describe('timer triggers on several instances of one app', () => {
  it('fire once per occurrence across instances, and move to another instance when the holder stops', async () => {
    const azurite = await startAzurite();
    timerCalls.length = 0;
    const clock = new VirtualClock(Date.UTC(2026, 0, 1, 0, 0, 30));
    const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
    // Shorter than Azure's 60 s and 1 min (host.json's singleton section, or this option).
    const instance = (name: string) =>
      timerInstance({ registry, clock, name, status: new TableTimerStatusStore(azurite.connectionString, 'test-app'), locks: new TableSingletonLocks(azurite.connectionString, 'test-app'), listenerLockPeriodMs: 1_000, recoveryPollMs: 200 });
    const first = await instance('one');
    const second = await instance('two');
    try {
      expect(first.listensToTimer('everyFiveMinutes')).toBe(true);
      expect(second.listensToTimer('everyFiveMinutes')).toBe(false);
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 15, 0));
      expect(timerCalls.filter((c) => c.at !== 'friday13')).toHaveLength(3);

      await first.stop();
      const deadline = Date.now() + 15_000;
      while (!second.listensToTimer('everyFiveMinutes')) {
        if (Date.now() > deadline) throw new Error('the second instance never took the listener lock');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 25, 0));
      const runs = timerCalls.filter((c) => c.at !== 'friday13');
      expect(runs).toHaveLength(5);
      expect(runs.every((r) => !r.timer.isPastDue)).toBe(true);
    } finally {
      await first.stop();
      await second.stop();
      await azurite.stop();
    }
  }, 60_000);
});

describe('a timer holder whose lock was taken over while it stalled', () => {
  it('does not run an occurrence once its lock is another instance’s, and a new holder skips an occurrence the lock says was run', async () => {
    const azurite = await startAzurite();
    timerCalls.length = 0;
    const clock = new VirtualClock(Date.UTC(2026, 0, 1, 0, 0, 30));
    const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
    const HOST = 'stalled-app';
    const LOCK = 'Host.Functions.everyFiveMinutes.Listener';
    const locks = TableClient.fromConnectionString(azurite.connectionString, 'AzureWebJobsHostLocks', { allowInsecureConnection: true });
    const status = new TableTimerStatusStore(azurite.connectionString, HOST);
    // Renewals far apart (the stalled holder does not notice in time); recovery polled often.
    const instance = (name: string) =>
      timerInstance({ registry, clock, name, status, locks: new TableSingletonLocks(azurite.connectionString, HOST), listenerLockPeriodMs: 60_000, recoveryPollMs: 100 });
    /** What a stalled holder's lease looks like to the others: expired, its claim kept. */
    const expireLock = async () => {
      const row = await locks.getEntity<{ Occurrence?: number }>(HOST, LOCK);
      await locks.updateEntity({ partitionKey: HOST, rowKey: LOCK, Owner: 'one', ExpiresAt: new Date(0), ...(row.Occurrence === undefined ? {} : { Occurrence: row.Occurrence }) }, 'Replace', { etag: row.etag });
    };
    const waitUntil = async (what: string, condition: () => boolean) => {
      const deadline = Date.now() + 15_000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    const runs = () => timerCalls.filter((c) => c.at !== 'friday13');
    const first = await instance('one');
    const second = await instance('two');
    try {
      expect(first.listensToTimer('everyFiveMinutes')).toBe(true);
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 5, 0));
      const before = runs().length;
      expect(before).toBe(1);

      // 1. The holder stalls past its lease; the other instance takes the lock. The holder still has the
      //    00:10 occurrence armed: its claim fails on the lock's ETag, so only the new holder runs it.
      await expireLock();
      await waitUntil('the second instance to take the lock', () => second.listensToTimer('everyFiveMinutes'));
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 10, 0));
      await waitUntil('the 00:10 run', () => runs().length === before + 1);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(runs()).toHaveLength(before + 1);
      expect(first.listensToTimer('everyFiveMinutes')).toBe(false);

      // 2. The new holder claims 00:15 and stalls before its status is written; the first instance takes
      //    the lock back, finds 00:15 past due in the status, and skips it: the lock says it was run.
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 15, 0));
      await waitUntil('the 00:15 run', () => runs().length === before + 2);
      await status.set('everyFiveMinutes', { last: Date.UTC(2026, 0, 1, 0, 10, 0), next: Date.UTC(2026, 0, 1, 0, 15, 0), lastUpdated: Date.UTC(2026, 0, 1, 0, 10, 0) });
      await clock.advanceTo(Date.UTC(2026, 0, 1, 0, 16, 0));
      await second.stop(); // releases the lock, its claim kept
      await waitUntil('the first instance to take the lock back', () => first.listensToTimer('everyFiveMinutes'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(runs()).toHaveLength(before + 2);
      expect(runs().some((r) => r.timer.isPastDue)).toBe(false);
    } finally {
      await first.stop();
      await second.stop();
      await azurite.stop();
    }
  }, 60_000);
});
