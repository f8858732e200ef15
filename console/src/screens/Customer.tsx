/** A customer's syncs: the run going on (live, per entity type), run history with a chart, sync now, schedules. */
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import type { SyncDefinition, SyncRun } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { useAction, useResource } from '../ui/hooks';
import { RunChart } from '../ui/RunChart';
import { Badge, duration, ErrorBox, Loaded, n, Notice, Section, Table, TextField, when } from '../ui/kit';

const ENTITY_TYPES = ['users', 'licenses', 'policies', 'dialPlans'] as const;

export function CustomerScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const path = { customerId };
  const customer = useResource(() => call(api.GET('/api/customers/{customerId}', { params: { path } })), [customerId]);
  const runs = useResource(() => call(api.GET('/api/customers/{customerId}/sync-runs', { params: { path, query: { top: '20' } } })), [customerId], {
    pollMs: (d) => (d?.value.some((r) => r.status === 'running') ? 1000 : 10000),
  });
  const running = runs.data?.value.find((r) => r.status === 'running');
  const live = useResource(() => (running ? call(api.GET('/api/customers/{customerId}/sync-runs/{runId}', { params: { path: { customerId, runId: running.runId } } })) : Promise.resolve(undefined)), [customerId, running?.runId], {
    pollMs: (d) => (d?.status === 'running' ? 700 : undefined),
  });
  const start = useAction(async (kind: 'full' | 'delta') => {
    const r = await call(api.POST('/api/customers/{customerId}/syncs/{kind}/run', { params: { path: { customerId, kind } } }));
    runs.reload();
    return r;
  });
  return (
    <>
      <CustomerNav customerId={customerId} title={customer.data?.name ?? customerId} />
      {customer.error ? <ErrorBox error={customer.error} what="the customer" /> : null}
      <Section
        title="Sync"
        actions={
          <>
            <button type="button" class="primary" disabled={start.busy || !!running} onClick={() => void start.act('full')}>
              Sync now (full)
            </button>
            <button type="button" disabled={start.busy || !!running} onClick={() => void start.act('delta')}>
              Sync now (delta)
            </button>
          </>
        }
      >
        {start.error ? <ErrorBox error={start.error} /> : null}
        {start.result && !running ? <Notice tone="info">Sync started (run {start.result.runId}).</Notice> : null}
        {running ? <LiveRun run={live.data ?? running} /> : <p class="muted">No sync is running.</p>}
      </Section>
      <Section title="Run history">
        <Loaded resource={runs} what="sync runs" empty={(d) => d.value.length === 0} emptyText="This customer has not been synced yet.">
          {(d) => (
            <>
              <RunChart runs={d.value} />
              <Table caption="Sync runs, newest first" captionHidden head={['Started', 'Kind', 'Status', 'Duration', ...ENTITY_TYPES, 'Handed to provisioning', 'Notes']}>
                {d.value.map((r) => (
                  <tr key={r.runId}>
                    <td>{when(r.startedAt)}</td>
                    <td>
                      {r.kind}
                      {r.mode !== r.kind ? <span class="muted small"> ({r.mode})</span> : null}
                    </td>
                    <td>
                      <Badge value={r.status} />
                    </td>
                    <td class="num">{duration(r.startedAt, r.finishedAt)}</td>
                    {ENTITY_TYPES.map((t) => (
                      <td key={t} class="small">
                        <Counts run={r} type={t} />
                      </td>
                    ))}
                    <td class="num">{n(r.handedOff)}</td>
                    <td class="small">
                      {r.heldReason ? <div>{r.heldReason}</div> : null}
                      {r.resync ? <div>resync: {r.resync}</div> : null}
                      {r.errors.map((e) => (
                        <div key={e} class="field-error">
                          {e}
                        </div>
                      ))}
                    </td>
                  </tr>
                ))}
              </Table>
            </>
          )}
        </Loaded>
      </Section>
      <Schedules customerId={customerId} />
    </>
  );
}

function Counts({ run, type }: { run: SyncRun; type: (typeof ENTITY_TYPES)[number] }) {
  const c = run.counts[type];
  if (!c) return <span class="muted">—</span>;
  return (
    <span title={`${c.added} added, ${c.changed} changed, ${c.unchanged} unchanged, ${c.deleted} deleted, ${c.held} held`}>
      +{n(c.added)} ~{n(c.changed)} ={n(c.unchanged)} −{n(c.deleted)}
      {c.held ? ` ⏸${n(c.held)}` : ''}
    </span>
  );
}

function LiveRun({ run }: { run: SyncRun }) {
  return (
    <div class="live" aria-live="polite">
      <p>
        <Badge value={run.status} /> {run.kind} sync started {when(run.startedAt)}
      </p>
      <Table caption="Progress per entity type" head={['Entity type', 'Added', 'Changed', 'Unchanged', 'Deleted', 'Held']}>
        {ENTITY_TYPES.map((t) => {
          const c = run.counts[t];
          return (
            <tr key={t}>
              <th scope="row">{t}</th>
              <td class="num">{n(c?.added)}</td>
              <td class="num">{n(c?.changed)}</td>
              <td class="num">{n(c?.unchanged)}</td>
              <td class="num">{n(c?.deleted)}</td>
              <td class="num">{n(c?.held)}</td>
            </tr>
          );
        })}
      </Table>
      <p class="small muted">{n(run.handedOff)} users handed to provisioning so far.</p>
    </div>
  );
}

function Schedules({ customerId }: { customerId: string }) {
  const defs = useResource(() => call(api.GET('/api/customers/{customerId}/syncs', { params: { path: { customerId } } })), [customerId]);
  return (
    <Section title="Schedules">
      <Loaded resource={defs} what="schedules" empty={(d) => d.value.length === 0} emptyText="The first sync creates the schedules.">
        {(d) => (
          <div class="cards">
            {d.value.map((def) => (
              <ScheduleEditor key={def.kind} def={def} onSaved={defs.reload} />
            ))}
          </div>
        )}
      </Loaded>
    </Section>
  );
}

function ScheduleEditor({ def, onSaved }: { def: SyncDefinition; onSaved: () => void }) {
  const [schedule, setSchedule] = useState(def.schedule);
  const save = useAction(async (update: { schedule?: string; enabled?: boolean }) => {
    const saved = await call(api.PATCH('/api/customers/{customerId}/syncs/{kind}', { params: { path: { customerId: def.customerId, kind: def.kind } }, body: update }));
    onSaved();
    return saved;
  });
  return (
    <form
      class="card form"
      aria-label={`${def.kind} sync schedule`}
      onSubmit={(e) => {
        e.preventDefault();
        void save.act({ schedule });
      }}
    >
      <h3>
        {def.kind} sync <Badge value={def.enabled ? 'ok' : 'skipped'} label={def.enabled ? 'on' : 'off'} />
      </h3>
      <TextField label={`${def.kind} schedule (NCRONTAB, UTC)`} value={schedule} onInput={setSchedule} error={save.error?.field('schedule') ?? (save.error && save.error.errors.length === 0 ? save.error.detail : undefined)} hint="Six fields: second minute hour day month day-of-week" />
      <p class="small muted">
        Last started {when(def.lastStartedAt)}
        {def.lastSkipped ? ` · last skipped: ${def.lastSkipped.reason}` : ''}
      </p>
      <div class="actions">
        <button type="submit" disabled={save.busy || schedule === def.schedule}>
          Save schedule
        </button>
        <button type="button" disabled={save.busy} onClick={() => void save.act({ enabled: !def.enabled })}>
          {def.enabled ? 'Turn off' : 'Turn on'}
        </button>
      </div>
    </form>
  );
}
