import type { Cron } from 'croner';
import { ncrontab } from '../../shared/sync/schedule';

/**
 * NCRONTAB as Azure Functions reads it: six fields (seconds first), UTC, and day-of-month AND
 * day-of-week both required when both are restricted (Vixie cron ORs them; NCrontab does not).
 */
export class NcrontabSchedule {
  private readonly cron: Cron;

  constructor(readonly expression: string) {
    const fields = expression.trim().split(/\s+/);
    if (fields.length !== 6) {
      throw new Error(`Schedule "${expression}" must have six fields: second minute hour day month day-of-week`);
    }
    this.cron = ncrontab(expression);
  }

  /** The first occurrence strictly after `after`. */
  nextAfter(after: number): number | undefined {
    return this.cron.nextRun(new Date(after))?.getTime();
  }

  /** The next `count` occurrences after `after`. */
  nextRuns(count: number, after: number): Date[] {
    return this.cron.nextRuns(count, new Date(after));
  }
}

/** Resolves `%SettingName%` binding expressions the way the host does. */
export function resolveAppSettingExpression(value: string, env: Record<string, string | undefined>): string {
  const match = /^%([^%]+)%$/.exec(value.trim());
  if (!match) return value;
  const resolved = env[match[1]];
  if (resolved === undefined) throw new Error(`App setting "${match[1]}" referenced by "${value}" is not set`);
  return resolved;
}
