/**
 * Provisioning: the placement preview (a dry run) before an overbuild, the overbuild and Quick User forms
 * with their per-user results, and the customer's dead letters with replay.
 */
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import type { OverbuildStatus, PreviewPage, Transaction } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { DeadLetterList } from '../ui/DeadLetterList';
import { useAction, useResource } from '../ui/hooks';
import { Badge, CheckField, ErrorBox, href, Loaded, n, Notice, Section, SelectField, Table, TextField } from '../ui/kit';

export function ProvisioningScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const sites = useResource(() => call(api.GET('/api/customers/{customerId}/sites', { params: { path: { customerId } } })), [customerId]);
  const siteOptions: Array<[string, string]> = (sites.data?.items ?? []).map((s) => [s.id, s.name]);
  return (
    <>
      <CustomerNav customerId={customerId} title="Provisioning" />
      <Overbuild customerId={customerId} siteOptions={siteOptions} />
      <QuickUser customerId={customerId} siteOptions={siteOptions} />
      <Section title="Dead letters" id="dead-letters">
        <DeadLetterList customerId={customerId} />
      </Section>
    </>
  );
}

function Overbuild({ customerId, siteOptions }: { customerId: string; siteOptions: Array<[string, string]> }) {
  const [siteId, setSiteId] = useState('');
  const [provision, setProvision] = useState(true);
  const [pages, setPages] = useState<PreviewPage[]>([]);
  const preview = useAction(async (continuation?: string) => {
    const page = await call(api.GET('/api/customers/{customerId}/placement-preview', { params: { path: { customerId }, query: { mode: 'overbuild', top: '50', ...(continuation ? { continuation } : {}) } } }));
    setPages(continuation ? [...pages, page] : [page]);
    return page;
  });
  const [overbuildId, setOverbuildId] = useState<string | undefined>();
  const start = useAction(async () => {
    const r = await call(api.POST('/api/customers/{customerId}/overbuilds', { params: { path: { customerId } }, body: { provision, ...(siteId ? { siteId } : {}) } }));
    setOverbuildId(r.id);
    return r;
  });
  const status = useResource(() => (overbuildId ? call(api.GET('/api/customers/{customerId}/overbuilds/{id}', { params: { path: { customerId, id: overbuildId } } })) : Promise.resolve(undefined)), [customerId, overbuildId], {
    pollMs: (d) => (d && !['Completed', 'Failed', 'Terminated'].includes(d.runtimeStatus) ? 700 : undefined),
  });
  const items = pages.flatMap((p) => p.items).filter((i) => !siteId || (i.placement.kind === 'site' && i.placement.siteId === siteId) || i.placement.kind !== 'site');
  const last = pages[pages.length - 1];
  return (
    <Section title="Overbuild">
      <form
        class="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void preview.act();
        }}
      >
        <SelectField label="Overbuild site" value={siteId} onChange={setSiteId} options={[['', 'Every overbuild site'], ...siteOptions]} />
        <CheckField label="Provision as well as move" checked={provision} onChange={setProvision} />
        <button type="submit" disabled={preview.busy}>
          {preview.busy ? 'Previewing…' : 'Preview placement'}
        </button>
        <button type="button" class="primary" disabled={start.busy || pages.length === 0} onClick={() => void start.act()} title={pages.length === 0 ? 'Preview first' : undefined}>
          Run the overbuild
        </button>
      </form>
      {pages.length === 0 ? <p class="muted small">Preview first: a dry run shows where each customer-level user would go and what would change, without changing anything.</p> : null}
      {preview.error ? <ErrorBox error={preview.error} /> : null}
      {pages.length > 0 ? (
        items.length === 0 ? (
          <p class="state empty">No customer-level user would move.</p>
        ) : (
          <>
            <Table caption={`Preview: ${n(items.length)} customer-level users${last?.continuation ? ' (more to load)' : ''}`} head={['User', 'Would go to', 'Profile', 'Changes', 'Note']}>
              {items.map((i) => (
                <tr key={i.userId}>
                  <td>
                    <a href={href(`/customers/${encodeURIComponent(customerId)}/users/${encodeURIComponent(i.userId)}`)}>{i.userPrincipalName ?? i.userId}</a>
                  </td>
                  <td>{i.placement.kind === 'site' ? String(i.placement.siteName ?? i.placement.siteId) : <span class="muted">stays at customer ({String(i.placement.reason)})</span>}</td>
                  <td>{i.profileId ?? '—'}</td>
                  <td class="num">{i.plan ? n(i.plan.changes.length) : '—'}</td>
                  <td class="small">{i.note ?? (i.plan?.unmet.length ? `unmet: ${i.plan.unmet.join(', ')}` : '')}</td>
                </tr>
              ))}
            </Table>
            {last?.continuation ? (
              <button type="button" onClick={() => void preview.act(last.continuation)} disabled={preview.busy}>
                Load more
              </button>
            ) : null}
          </>
        )
      ) : null}
      {start.error ? <ErrorBox error={start.error} /> : null}
      {overbuildId ? <OverbuildResult status={status.data} /> : null}
    </Section>
  );
}

function OverbuildResult({ status }: { status: OverbuildStatus | undefined }) {
  if (!status) return <p class="state loading">Starting the overbuild…</p>;
  const summary = status.summary;
  return (
    <div class="live" aria-live="polite" data-testid="overbuild-result">
      <p>
        <Badge value={status.runtimeStatus === 'Completed' ? 'succeeded' : status.runtimeStatus === 'Failed' ? 'failed' : 'running'} label={status.runtimeStatus} /> overbuild <code>{status.id}</code>
        {status.progress ? ` · ${n(status.progress.done)} of ${n(status.progress.matched)} users` : ''}
      </p>
      {summary ? (
        <>
          <ul class="tiles small">
            <li>
              <span class="big">{n(summary.moved)}</span> moved
            </li>
            <li>
              <span class="big">{n(summary.provisioned)}</span> provisioned
            </li>
            <li>
              <span class="big">{n(summary.staged)}</span> staged
            </li>
            <li>
              <span class="big">{n(summary.pending.length)}</span> pending
            </li>
            <li class={summary.failed.length ? 'bad' : ''}>
              <span class="big">{n(summary.failed.length)}</span> failed
            </li>
            <li>
              <span class="big">{n(summary.unmatched.count)}</span> stayed at customer
            </li>
          </ul>
          <UserResults caption="Failed" users={summary.failed} />
          <UserResults caption="Pending a retry" users={summary.pending} />
          <UserResults caption="Stayed at customer" users={summary.unmatched.users} />
        </>
      ) : null}
    </div>
  );
}

function UserResults({ caption, users }: { caption: string; users: Array<{ userId: string; reason: string }> }) {
  if (users.length === 0) return null;
  return (
    <Table caption={`${caption}: ${n(users.length)}`} head={['User', 'Why']}>
      {users.map((u) => (
        <tr key={u.userId}>
          <td>{u.userId}</td>
          <td class="small">{u.reason}</td>
        </tr>
      ))}
    </Table>
  );
}

function QuickUser({ customerId, siteOptions }: { customerId: string; siteOptions: Array<[string, string]> }) {
  const groups = useResource(() => call(api.GET('/api/customers/{customerId}/quick-add-groups', { params: { path: { customerId } } })), [customerId]);
  const [userId, setUserId] = useState('');
  const [siteId, setSiteId] = useState('');
  const [groupId, setGroupId] = useState('');
  const [line, setLine] = useState<'none' | 'next-available' | 'explicit'>('none');
  const [number, setNumber] = useState('');
  const [txId, setTxId] = useState<string | undefined>();
  const submit = useAction(async () => {
    const body = { userId, siteId, quickAddGroupId: groupId, line: line === 'explicit' ? { kind: 'explicit' as const, number } : { kind: line } };
    const r = await call(api.POST('/api/customers/{customerId}/quick-user', { params: { path: { customerId } }, body }));
    setTxId(r.transactionId);
    return r;
  });
  const tx = useResource(() => (txId ? call(api.GET('/api/customers/{customerId}/transactions/{transactionId}', { params: { path: { customerId, transactionId: txId } } })).catch(() => undefined) : Promise.resolve(undefined)), [customerId, txId], {
    pollMs: (d) => (txId && (!d || d.outcome === 'running') ? 700 : undefined),
  });
  const e = submit.error;
  return (
    <Section title="Quick User">
      <form
        class="form inline"
        onSubmit={(ev) => {
          ev.preventDefault();
          void submit.act();
        }}
      >
        <TextField label="User id" value={userId} onInput={setUserId} error={e?.field('/userId')} hint="The user's Entra object id (from its page)" />
        <SelectField label="Site for the user" value={siteId} onChange={setSiteId} options={[['', 'Choose a site'], ...siteOptions]} error={e?.field('/siteId')} />
        <SelectField label="Quick Add Group" value={groupId} onChange={setGroupId} options={[['', 'Choose a group'], ...(groups.data?.items ?? []).map((g): [string, string] => [g.id, g.name])]} error={e?.field('/quickAddGroupId')} />
        <SelectField label="Line" value={line} onChange={(v) => setLine(v as typeof line)} options={[['none', 'No number'], ['next-available', 'Next available'], ['explicit', 'This number']]} />
        {line === 'explicit' ? <TextField label="Number" value={number} onInput={setNumber} error={e?.field('/line/number')} placeholder="+14255550100" /> : null}
        <button type="submit" class="primary" disabled={submit.busy || !userId || !siteId || !groupId}>
          Move and provision
        </button>
      </form>
      {e ? <ErrorBox error={e} /> : null}
      {txId ? <Loaded resource={tx} what="the transaction">{(t) => (t ? <TxSteps t={t} /> : <p class="state loading">Queued…</p>)}</Loaded> : null}
    </Section>
  );
}

function TxSteps({ t }: { t: Transaction }) {
  return (
    <div aria-live="polite">
      <Notice tone={t.outcome === 'succeeded' ? 'ok' : t.outcome === 'running' ? 'info' : 'bad'}>
        Transaction {t.id}: {t.outcome}
      </Notice>
      <ol class="steps">
        {t.steps.map((s, i) => (
          <li key={i}>
            <Badge value={s.result} /> {s.name}
            {s.detail ? <span class={s.result === 'failed' ? 'field-error' : 'muted'}> — {s.detail}</span> : null}
          </li>
        ))}
      </ol>
    </div>
  );
}
