import { Presets, SingleBar } from 'cli-progress';

/** A progress bar on stderr; a line every tenth when stderr is not a terminal (CI logs, pipes). */
export function progressBar(label: string, total: number, unit = 'users'): { update(value: number): void; stop(): void } {
  if (process.stderr.isTTY && total > 0) {
    const bar = new SingleBar(
      { format: `  ${label.padEnd(12)} {bar} {value}/{total} ${unit}  {duration_formatted}`, stream: process.stderr, clearOnComplete: false, hideCursor: true },
      Presets.shades_classic,
    );
    bar.start(total, 0);
    return { update: (v) => bar.update(Math.min(v, total)), stop: () => bar.stop() };
  }
  let last = -1;
  return {
    update(v) {
      const step = total > 0 ? Math.floor((v / total) * 10) : Math.floor(Math.log2(Math.max(1, v)));
      if (step !== last) {
        last = step;
        process.stderr.write(`  ${label} ${total > 0 ? `${Math.min(v, total)}/${total}` : v} ${unit}\n`);
      }
    },
    stop() {},
  };
}
