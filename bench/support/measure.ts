import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
/** `--name value` and `--flag` arguments. */
export function cliArgs(argv = process.argv.slice(2)): Map<string, string> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      args.set(arg.slice(2), next);
      i++;
    } else args.set(arg.slice(2), 'true');
  }
  return args;
}

/**
 * Wall time and peak RSS/heap of this process while `run` is in flight: RSS sampled every 100 ms, the heap
 * every second. Sampling costs the measured work its CPU: at 50 reads of both a second it took up to 6% of
 * it on a busy machine (the heap's figures walk its spaces; RSS is read from the kernel).
 */
export async function measured<T>(run: () => Promise<T>): Promise<{ result: T; ms: number; peakRss: number; peakHeap: number }> {
  global.gc?.();
  let peakRss = 0;
  let peakHeap = 0;
  let samples = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    if (samples++ % 10 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  };
  sample();
  const timer = setInterval(sample, 100);
  const started = performance.now();
  try {
    const result = await run();
    return { result, ms: performance.now() - started, peakRss, peakHeap };
  } finally {
    clearInterval(timer);
    samples = 0;
    sample();
  }
}

export { progressBar } from '../../local/progress';

/** The nearest-rank quantile `q` of values sorted ascending (NaN for none). */
export const quantile = (sorted: readonly number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * Writes a benchmark's figures to `--json FILE` when asked, with the machine they were measured on (load
 * and cores: a figure taken on a busy machine says so).
 */
export function writeFigures(jsonFile: string | undefined, benchmark: string, figures: Record<string, unknown>): void {
  if (!jsonFile) return;
  writeFileSync(jsonFile, JSON.stringify({ benchmark, loadAverage: loadavg(), cores: cpus().length, ...figures }, null, 2));
  process.stdout.write(`figures written to ${jsonFile}\n`);
}
