import { Cron } from 'croner';

/**
 * NCRONTAB as the Functions timer reads it: six fields, UTC, and day-of-month AND day-of-week both required
 * when both are restricted (Vixie cron ORs them; NCrontab does not).
 */
export function ncrontab(schedule: string): Cron {
  return new Cron(schedule, { timezone: 'UTC', domAndDow: true, paused: true });
}

export function nextOccurrence(schedule: string, after: Date): Date | undefined {
  return ncrontab(schedule).nextRun(after) ?? undefined;
}

/** Whether a schedule has an occurrence in (lastStartedAt, now]: the run it describes is due. */
export function isDue(schedule: string, lastStartedAt: Date, now: Date): boolean {
  const next = nextOccurrence(schedule, lastStartedAt);
  return next !== undefined && next.getTime() <= now.getTime();
}

/** Refuses an expression croner cannot read, with its reason. */
export function scheduleError(schedule: string): string | undefined {
  try {
    ncrontab(schedule);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
