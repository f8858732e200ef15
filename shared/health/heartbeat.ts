/**
 * The host heartbeat: a timer records that the function app is alive and its storage writable;
 * the health endpoint reports it. Operators and the local demo use it to see the app is really running.
 */
export interface Heartbeat {
  /** When the timer last ran (ISO 8601). */
  at: string;
  /** Whether that run was late (the host was down at the scheduled time). */
  wasPastDue: boolean;
  /** Runs recorded so far. */
  count: number;
}

export interface HeartbeatStore {
  read(): Promise<Heartbeat | undefined>;
  record(at: Date, wasPastDue: boolean): Promise<Heartbeat>;
}

export interface HealthReport {
  status: 'healthy' | 'degraded';
  version: string;
  checks: { storage: 'ok' | 'unreachable' };
  heartbeat?: Heartbeat;
}

export async function recordHeartbeat(store: HeartbeatStore, at: Date, wasPastDue: boolean): Promise<Heartbeat> {
  return store.record(at, wasPastDue);
}

export async function healthReport(store: HeartbeatStore, version: string): Promise<HealthReport> {
  try {
    const heartbeat = await store.read();
    return { status: 'healthy', version, checks: { storage: 'ok' }, heartbeat };
  } catch {
    return { status: 'degraded', version, checks: { storage: 'unreachable' } };
  }
}
