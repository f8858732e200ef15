/** Run history as a chart: each run's duration (bar) and users added, changed or deleted (dots), oldest left. */
import type { SyncRun } from '../api/types';

export function RunChart(props: { runs: SyncRun[] }) {
  const runs = [...props.runs].filter((r) => r.finishedAt).reverse();
  if (runs.length === 0) return <p class="state empty">No finished run to chart yet.</p>;
  const W = 640;
  const H = 160;
  const pad = 28;
  const secs = runs.map((r) => (Date.parse(r.finishedAt!) - Date.parse(r.startedAt)) / 1000);
  const changes = runs.map((r) => Object.values(r.counts).reduce((s, c) => s + (c ? c.added + c.changed + c.deleted : 0), 0));
  const maxS = Math.max(...secs, 1);
  const maxC = Math.max(...changes, 1);
  const step = Math.min((W - pad * 2) / runs.length, 48);
  const label = `Last ${runs.length} runs: durations from ${Math.min(...secs).toFixed(1)} to ${maxS.toFixed(1)} seconds; up to ${maxC} users changed in one run.`;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} width="100%" height={H}>
        <line x1={pad} y1={H - pad} x2={W - pad} y2={H - pad} class="axis" />
        <text x={4} y={14} class="axis-label">
          {maxS.toFixed(0)} s
        </text>
        <text x={W - pad + 2} y={14} class="axis-label">
          {maxC}
        </text>
        {runs.map((r, i) => {
          const h = ((H - pad * 2) * secs[i]) / maxS;
          const x = pad + i * step + step * 0.15;
          const cy = H - pad - ((H - pad * 2) * changes[i]) / maxC;
          return (
            <g key={r.runId}>
              <rect x={x} y={H - pad - h} width={step * 0.7} height={Math.max(h, 1)} class={`bar ${r.status}`}>
                <title>{`${r.kind} ${r.status} ${new Date(r.startedAt).toLocaleString()}: ${secs[i].toFixed(1)} s, ${changes[i]} changed`}</title>
              </rect>
              <circle cx={x + step * 0.35} cy={cy} r={3} class="dot" />
            </g>
          );
        })}
      </svg>
      <figcaption class="small muted">Bars: duration (left scale). Dots: users added, changed or deleted (right scale).</figcaption>
    </figure>
  );
}
