import { Cron } from 'croner';

/** NCRONTAB (six fields, UTC, day-of-month AND day-of-week), as the Functions timer reads it. */
export function nextOccurrence(schedule: string, after: Date): Date | undefined {
  return new Cron(schedule, { timezone: 'UTC', domAndDow: true, paused: true }).nextRun(after) ?? undefined;
}

/** Whether a schedule has an occurrence in (lastStartedAt, now]: the run it describes is due. */
export function isDue(schedule: string, lastStartedAt: Date, now: Date): boolean {
  const next = nextOccurrence(schedule, lastStartedAt);
  return next !== undefined && next.getTime() <= now.getTime();
}

/** Refuses an expression croner cannot read, with its reason. */
export function scheduleError(schedule: string): string | undefined {
  try {
    new Cron(schedule, { timezone: 'UTC', domAndDow: true, paused: true });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
