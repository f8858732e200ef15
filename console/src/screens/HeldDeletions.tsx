/**
 * Deletions the delete guard holds: which, why, held by which run and for how long. The operator allows
 * the ones picked (or all) — each user is checked against Microsoft right before, and one still there is
 * kept — or discards holds, which deletes nothing.
 */
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import type { HeldDeletion } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { useAction, useResource } from '../ui/hooks';
import { ErrorBox, href, Loaded, n, Notice, Section, Table, when } from '../ui/kit';

type Selection = { userIds: string[] } | { all: true };

export function HeldDeletionsScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const path = { customerId };
  const held = useResource(() => call(api.GET('/api/customers/{customerId}/held-deletions', { params: { path } })), [customerId]);
  const runs = useResource(() => call(api.GET('/api/customers/{customerId}/sync-runs', { params: { path, query: { top: '100' } } })), [customerId]);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const done = () => {
    setPicked(new Set());
    held.reload();
    runs.reload();
  };
  const allow = useAction(async (body: Selection) => {
    discard.clear();
    const r = await call(api.POST('/api/customers/{customerId}/held-deletions/allow', { params: { path }, body }));
    done();
    return r;
  });
  const discard = useAction(async (body: Selection) => {
    allow.clear();
    const r = await call(api.POST('/api/customers/{customerId}/held-deletions/discard', { params: { path }, body }));
    done();
    return r;
  });
  const busy = allow.busy || discard.busy;
  const runById = new Map((runs.data?.value ?? []).map((r) => [r.runId, r]));
  const list = held.data?.value ?? [];
  const users = list.filter((h) => h.entityType === 'users');
  const toggle = (id: string, on: boolean) => {
    const next = new Set(picked);
    if (on) next.add(id);
    else next.delete(id);
    setPicked(next);
  };
  return (
    <>
      <CustomerNav customerId={customerId} title="Held deletions" />
      <Section
        title="Held by the delete guard"
        actions={
          <>
            <button type="button" class="danger" disabled={busy || picked.size === 0} onClick={() => void allow.act({ userIds: [...picked] })}>
              Allow selected ({picked.size})
            </button>
            <button type="button" disabled={busy || picked.size === 0} onClick={() => void discard.act({ userIds: [...picked] })}>
              Discard selected ({picked.size})
            </button>
            <button type="button" class="danger" disabled={busy || list.length === 0} onClick={() => void allow.act({ all: true })}>
              Allow all
            </button>
          </>
        }
      >
        <p class="muted small">
          When a sync, or the change notifications of the last hour, would delete more than the customer's threshold allows, the deletions are held here.
          Allowing deletes a user only if Microsoft no longer shows it (checked right before); a user still there is kept and its hold released. Its
          number starts cooling. Discarding drops a hold and deletes nothing: a user still gone is found again by the next full sync. A held user that
          a sync sees again is released by itself.
        </p>
        {allow.error ? <ErrorBox error={allow.error} /> : null}
        {discard.error ? <ErrorBox error={discard.error} /> : null}
        {allow.result ? (
          <Notice tone="ok">
            Applied:{' '}
            {Object.entries(allow.result.applied)
              .filter(([, c]) => c > 0)
              .map(([t, c]) => `${c} ${t}`)
              .join(', ') || 'nothing'}
            .{allow.result.present.length ? ` Kept ${n(allow.result.present.length)} user(s) Microsoft still shows: ${allow.result.present.join(', ')}.` : ''}
            {allow.result.notHeld.length ? ` No longer held: ${allow.result.notHeld.join(', ')}.` : ''}
          </Notice>
        ) : null}
        {discard.result ? (
          <Notice tone="ok">
            Discarded {n(Object.values(discard.result.discarded).reduce((a, b) => a + b, 0))} hold(s); nothing was deleted.
            {discard.result.notHeld.length ? ` No longer held: ${discard.result.notHeld.join(', ')}.` : ''}
          </Notice>
        ) : null}
        <Loaded resource={held} what="held deletions" empty={(d) => d.value.length === 0} emptyText="Nothing is held: every deletion was within the thresholds.">
          {(d) => (
            <Table caption={`${n(d.value.length)} held deletions`} head={[<PickAll key="all" users={users} picked={picked} onChange={setPicked} />, 'Entity type', 'Id', 'Removal', 'Held by', 'Held for', 'Why']}>
              {d.value.map((h) => {
                const run = runById.get(h.runId);
                return (
                  <tr key={`${h.entityType}:${h.id}`}>
                    <td>
                      {h.entityType === 'users' ? (
                        <input type="checkbox" aria-label={`Pick ${h.id}`} checked={picked.has(h.id)} onChange={(e) => toggle(h.id, (e.currentTarget as HTMLInputElement).checked)} />
                      ) : null}
                    </td>
                    <td>{h.entityType}</td>
                    <td>{h.entityType === 'users' ? <a href={href(`/customers/${encodeURIComponent(customerId)}/users/${encodeURIComponent(h.id)}`)}>{h.id}</a> : <code>{h.id}</code>}</td>
                    <td>{h.removal}</td>
                    <td class="small">{run ? <>{run.kind} run of {when(run.startedAt)}</> : h.runId === 'notifications' ? 'change notifications' : <code>{h.runId}</code>}</td>
                    <td>{heldFor(h)}</td>
                    <td class="small">{h.heldReason ?? run?.heldReason ?? '—'}</td>
                  </tr>
                );
              })}
            </Table>
          )}
        </Loaded>
      </Section>
    </>
  );
}

function PickAll(props: { users: HeldDeletion[]; picked: Set<string>; onChange: (next: Set<string>) => void }) {
  const all = props.users.length > 0 && props.users.every((u) => props.picked.has(u.id));
  return (
    <input
      type="checkbox"
      aria-label="Pick every held user"
      checked={all}
      disabled={props.users.length === 0}
      onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked ? new Set(props.users.map((u) => u.id)) : new Set())}
    />
  );
}

/** How long it has been held, as the API counted it when the page loaded. */
function heldFor(h: HeldDeletion): preact.JSX.Element | string {
  if (h.ageSeconds === undefined) return '—';
  const s = h.ageSeconds;
  const text = s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86_400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return h.heldAt ? <time dateTime={h.heldAt} title={`since ${h.heldAt}`}>{text}</time> : text;
}
