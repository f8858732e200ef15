/**
 * One user: its Microsoft attributes, where placement put it and why (each site's criteria, one by one),
 * its number and Teams side, and its transactions step by step with their errors.
 */
import { api, call } from '../api/client';
import { Fragment } from 'preact';
import type { Transaction, UserPlacement } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { useResource } from '../ui/hooks';
import { Badge, ErrorBox, Loaded, Section, Table, when } from '../ui/kit';

export function UserScreen(props: { params: { customerId: string; userId: string } }) {
  const { customerId, userId } = props.params;
  const path = { customerId, userId };
  const user = useResource(() => call(api.GET('/api/customers/{customerId}/users/{userId}', { params: { path } })), [customerId, userId]);
  const placement = useResource(() => call(api.GET('/api/customers/{customerId}/users/{userId}/placement', { params: { path } })), [customerId, userId]);
  const txs = useResource(() => call(api.GET('/api/customers/{customerId}/transactions', { params: { path: { customerId }, query: { userId, top: '20' } } })), [customerId, userId]);
  const a = (user.data?.attributes ?? {}) as Record<string, unknown>;
  return (
    <>
      <CustomerNav customerId={customerId} title={String(a.displayName ?? userId)} />
      <Loaded resource={user} what="the user">
        {(u) => (
          <div class="grid two">
            <Section title="State">
              <p>
                <Badge value={u.state.kind} /> {u.state.siteId ? <>at site <strong>{u.state.siteId}</strong></> : null}
                {u.state.profileId ? <> with profile {u.state.profileId}</> : null}
              </p>
              {u.state.reason ? (
                <p class={u.state.kind === 'needs-attention' ? 'notice bad' : 'notice info'}>
                  <strong>Reason:</strong> <span data-testid="state-reason">{u.state.reason}</span>
                </p>
              ) : null}
              {u.removed ? <p class="notice bad">Deleted in Microsoft (restorable) {when(u.removed.at)}</p> : null}
              <dl class="facts">
                <dt>Number</dt>
                <dd>{u.number ?? '—'}</dd>
                <dt>Role</dt>
                <dd>{u.role ?? '—'}</dd>
                <dt>Last synced</dt>
                <dd>{when(u.syncedAt)}</dd>
                <dt>Also matched when placed</dt>
                <dd>{u.alsoMatchedSites?.length ? u.alsoMatchedSites.join(', ') : 'no other site'}</dd>
                <dt>Teams</dt>
                <dd>
                  {u.teams
                    ? `${u.teams.present ? 'known to Teams' : 'not yet in Teams'}${u.teams.enterpriseVoice ? ', Enterprise Voice' : ''}${u.teams.numbers.length ? `, ${u.teams.numbers.join(', ')}` : ''}`
                    : '—'}
                </dd>
              </dl>
            </Section>
            <Section title="Microsoft attributes">
              <dl class="facts">
                {Object.entries(u.attributes)
                  .filter(([k]) => k !== 'id')
                  .map(([k, v]) => (
                    <Fragment key={k}>
                      <dt key={`${k}-t`}>{k}</dt>
                      <dd key={`${k}-d`}>{Array.isArray(v) ? v.join(', ') || '—' : v === null || v === undefined || v === '' ? '—' : String(v)}</dd>
                    </Fragment>
                  ))}
              </dl>
            </Section>
          </div>
        )}
      </Loaded>
      <Section title="Placement and why">
        <Loaded resource={placement} what="the placement">
          {(p) => <PlacementView p={p} />}
        </Loaded>
      </Section>
      <Section title="Transactions">
        <Loaded resource={txs} what="transactions" empty={(d) => d.items.length === 0} emptyText="Nothing has been done to this user yet.">
          {(d) => (
            <ol class="timeline">
              {d.items.map((t) => (
                <TransactionView key={t.id} t={t} />
              ))}
            </ol>
          )}
        </Loaded>
      </Section>
      {user.error && user.data ? <ErrorBox error={user.error} /> : null}
    </>
  );
}

function PlacementView({ p }: { p: UserPlacement }) {
  const verdict =
    p.placement.kind === 'site'
      ? `Today's configuration places this user at ${p.placement.siteName}${p.placement.alsoMatched.length ? `; ${p.placement.alsoMatched.join(', ')} also matched (fix the overlap)` : ''}.`
      : p.placement.reason === 'no-site-enabled'
        ? 'No site takes users: none is included for overbuild with Microsoft users and move-user criteria.'
        : 'No site’s criteria match this user, so it stays at customer level.';
  return (
    <>
      <p data-testid="placement-verdict">{verdict}</p>
      {p.sites.map((s) => (
        <details key={s.siteId} open={s.matched}>
          <summary>
            <Badge value={s.matched ? 'ok' : s.notEligible ? 'skipped' : 'failed'} label={s.matched ? 'matched' : s.notEligible ? 'not eligible' : 'no match'} /> {s.siteName}{' '}
            <span class="muted small">
              priority {s.priority}
              {s.criteriaName ? ` · criteria ${s.criteriaName}` : ''}
              {s.notEligible ? ` · ${s.notEligible}` : ''}
            </span>
          </summary>
          {s.criteria.length > 0 ? (
            <Table caption={`${s.siteName}: criteria one by one`} captionHidden head={['', 'Attribute', 'Condition', 'Value', "User's value", 'Join']}>
              {s.criteria.map((c, i) => (
                <tr key={i}>
                  <td>{c.satisfied ? '✓' : '✗'}<span class="visually-hidden">{c.satisfied ? 'satisfied' : 'not satisfied'}</span></td>
                  <td>{c.attribute}</td>
                  <td>
                    {c.not ? 'NOT ' : ''}
                    {c.condition}
                  </td>
                  <td>{c.value ?? <span class="muted">(macro without a value here)</span>}</td>
                  <td>{c.userValues.length ? c.userValues.join(', ') : <span class="muted">(none)</span>}</td>
                  <td>{i < s.criteria.length - 1 ? c.join : ''}</td>
                </tr>
              ))}
            </Table>
          ) : null}
        </details>
      ))}
    </>
  );
}

function TransactionView({ t }: { t: Transaction }) {
  return (
    <li>
      <p>
        <Badge value={t.outcome} /> <strong>{t.kind}</strong> {when(t.startedAt)}
        {t.trigger ? <span class="muted small"> · {t.trigger}</span> : null}
      </p>
      <ol class="steps">
        {t.steps.map((s, i) => (
          <li key={i} class={s.result}>
            <Badge value={s.result} /> {s.name}
            {s.detail ? <span class={s.result === 'failed' ? 'field-error' : 'muted'}> — {s.detail}</span> : null}
          </li>
        ))}
      </ol>
    </li>
  );
}
