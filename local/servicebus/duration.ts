/** ISO 8601 durations as Service Bus entity settings use them (`PT1M`, `PT10M`, `P1D`, `PT0.5S`). */
const PATTERN = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export function parseIsoDuration(value: string): number {
  const match = PATTERN.exec(value);
  if (!match || value === 'P' || value.endsWith('T')) throw new Error(`Not an ISO 8601 duration: "${value}"`);
  const [, d, h, m, s] = match;
  return Math.round(((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Number(s ?? 0) * 1000);
}

/** host.json TimeSpan values (`00:05:00`, `1.00:00:00`, `00:00:00.500`). */
export function parseTimeSpan(value: string): number {
  const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!match) throw new Error(`Not a TimeSpan: "${value}"`);
  const [, days, hours, minutes, seconds, fraction] = match;
  const ms = fraction ? Math.round(Number(`0.${fraction}`) * 1000) : 0;
  return ((Number(days ?? 0) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000 + ms;
}
