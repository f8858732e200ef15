/** Every customer on one page: the page an operator opens each morning. */
import { api, call } from '../api/client';
import type { EstateCustomer } from '../api/types';
import { useResource } from '../ui/hooks';
import { age, Badge, href, Loaded, n, Table } from '../ui/kit';

const STATES = ['at-customer', 'at-site', 'provisioning', 'provisioned', 'staged', 'needs-attention'] as const;

export function EstateScreen() {
  const estate = useResource(() => call(api.GET('/api/estate')), [], { pollMs: (d) => (d?.customers.some((c) => c.lastRun?.status === 'running') ? 2000 : 15000) });
  return (
    <>
      <div class="page-head">
        <h1>Estate</h1>
        <a class="button" href={href('/onboard')}>
          Onboard a customer
        </a>
      </div>
      <Loaded resource={estate} what="the estate" empty={(d) => d.customers.length === 0} emptyText={<>No customers yet. <a href={href('/onboard')}>Onboard the first one</a> from its configuration document.</>}>
        {(d) => (
          <>
            <ul class="tiles" aria-label="Totals">
              <li>
                <span class="big">{n(d.customers.length)}</span> customers
              </li>
              <li>
                <span class="big">{n(d.customers.reduce((s, c) => s + c.users, 0))}</span> users
              </li>
              <li class={d.customers.some((c) => c.needsAttention > 0) ? 'bad' : ''}>
                <span class="big">{n(d.customers.reduce((s, c) => s + c.needsAttention, 0))}</span> need attention
              </li>
              <li class={d.customers.some((c) => c.heldDeletions > 0) ? 'warn' : ''}>
                <span class="big">{n(d.customers.reduce((s, c) => s + c.heldDeletions, 0))}</span> held deletions
              </li>
              <li class={d.deadLetters > 0 ? 'bad' : ''}>
                <a href={href('/dead-letters')}>
                  <span class="big">
                    {n(d.deadLetters)}
                    {d.deadLettersMore ? '+' : ''}
                  </span>{' '}
                  dead letters
                </a>
              </li>
            </ul>
            <Table caption="Customers" head={['Customer', 'Last sync', 'Users', ...STATES.map((s) => s.replace('-', ' ')), 'Held deletions', 'Dead letters']}>
              {d.customers.map((c) => (
                <EstateRow key={c.customerId} c={c} />
              ))}
            </Table>
          </>
        )}
      </Loaded>
    </>
  );
}

function EstateRow({ c }: { c: EstateCustomer }) {
  const base = `/customers/${encodeURIComponent(c.customerId)}`;
  const run = c.lastRun;
  return (
    <tr>
      <th scope="row">
        <a href={href(base)}>{c.name}</a>
        <div class="muted small">{c.customerId}</div>
      </th>
      <td>
        {run ? (
          <>
            <Badge value={run.status} /> <span class="small">{run.kind}</span>
            <div class="muted small">
              {age(run.finishedAt ?? run.startedAt)} · +{n(run.totals.added)} ~{n(run.totals.changed)} −{n(run.totals.deleted)}
              {run.totals.held ? ` · ${n(run.totals.held)} held` : ''}
            </div>
          </>
        ) : (
          <span class="muted">never synced</span>
        )}
      </td>
      <td class="num">{n(c.users)}</td>
      {STATES.map((s) => (
        <td key={s} class="num">
          {c.byState[s] ? <a href={href(`${base}/users?state=${s}`)} aria-label={`${n(c.byState[s])} ${s.replace('-', ' ')} users of ${c.name}`}>{n(c.byState[s])}</a> : <span class="muted">0</span>}
        </td>
      ))}
      <td class="num">{c.heldDeletions ? <a href={href(`${base}/held-deletions`)}>{n(c.heldDeletions)}</a> : <span class="muted">0</span>}</td>
      <td class="num">{c.deadLetters ? <a href={href(`${base}/provisioning#dead-letters`)}>{n(c.deadLetters)}</a> : <span class="muted">0</span>}</td>
    </tr>
  );
}
