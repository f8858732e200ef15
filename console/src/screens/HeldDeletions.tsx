/** Deletions the delete guard holds: which, why and since when; allow them once checked. */
import { api, call } from '../api/client';
import { CustomerNav } from '../ui/CustomerNav';
import { useAction, useResource } from '../ui/hooks';
import { age, ErrorBox, href, Loaded, n, Notice, Section, Table, when } from '../ui/kit';

export function HeldDeletionsScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const path = { customerId };
  const held = useResource(() => call(api.GET('/api/customers/{customerId}/held-deletions', { params: { path } })), [customerId]);
  const runs = useResource(() => call(api.GET('/api/customers/{customerId}/sync-runs', { params: { path, query: { top: '100' } } })), [customerId]);
  const allow = useAction(async () => {
    const r = await call(api.POST('/api/customers/{customerId}/held-deletions/allow', { params: { path }, body: { all: true } }));
    held.reload();
    return r;
  });
  const runById = new Map((runs.data?.value ?? []).map((r) => [r.runId, r]));
  return (
    <>
      <CustomerNav customerId={customerId} title="Held deletions" />
      <Section
        title="Held by the delete guard"
        actions={
          <button type="button" class="danger" disabled={allow.busy || !held.data || held.data.value.length === 0} onClick={() => void allow.act()}>
            Allow all
          </button>
        }
      >
        <p class="muted small">
          When a sync, or the change notifications of the last hour, would delete more than the customer's threshold allows, the deletions are held here.
          Allowing applies them: users are removed and their numbers start cooling.
        </p>
        {allow.error ? <ErrorBox error={allow.error} /> : null}
        {allow.result ? (
          <Notice tone="ok">
            Applied:{' '}
            {Object.entries(allow.result.applied)
              .filter(([, c]) => c > 0)
              .map(([t, c]) => `${c} ${t}`)
              .join(', ') || 'nothing (already applied)'}
            .
          </Notice>
        ) : null}
        <Loaded resource={held} what="held deletions" empty={(d) => d.value.length === 0} emptyText="Nothing is held: every deletion was within the thresholds.">
          {(d) => (
            <Table caption={`${n(d.value.length)} held deletions`} head={['Entity type', 'Id', 'Removal', 'Held by run', 'Held since', 'Why']}>
              {d.value.map((h) => {
                const run = runById.get(h.runId);
                return (
                  <tr key={`${h.entityType}:${h.id}`}>
                    <td>{h.entityType}</td>
                    <td>{h.entityType === 'users' ? <a href={href(`/customers/${encodeURIComponent(customerId)}/users/${encodeURIComponent(h.id)}`)}>{h.id}</a> : <code>{h.id}</code>}</td>
                    <td>{h.removal}</td>
                    <td class="small">{run ? <>{run.kind} run of {when(run.startedAt)}</> : h.runId === 'notifications' ? 'change notifications' : h.runId}</td>
                    <td>{run ? age(run.finishedAt ?? run.startedAt) : '—'}</td>
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
