/**
 * The number inventory: a bar per range by status, duplicates, numbers by status with cooling release
 * dates; and the statuses an operator sets: reserve a number, mark it used by a utility, release it.
 */
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import type { NumberEntry, NumberRange } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { useAction, useResource } from '../ui/hooks';
import { Badge, ErrorBox, Loaded, n, Notice, Section, SelectField, Table, TextField, when } from '../ui/kit';

const STATUSES = ['Available', 'Used', 'Used-Utility', 'Reserved', 'Cooling'] as const;
type Status = (typeof STATUSES)[number];
/** Enough for a range bar per range on a customer of this size; the table pages on. */
const MAX_PAGES = 20;

async function allNumbers(customerId: string): Promise<{ items: NumberEntry[]; complete: boolean }> {
  const items: NumberEntry[] = [];
  let continuation: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await call(api.GET('/api/customers/{customerId}/numbers', { params: { path: { customerId }, query: { top: '1000', ...(continuation ? { continuation } : {}) } } }));
    items.push(...r.items);
    continuation = r.continuation;
    if (!continuation) return { items, complete: true };
  }
  return { items, complete: false };
}

export function NumbersScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const ranges = useResource(() => call(api.GET('/api/customers/{customerId}/number-ranges', { params: { path: { customerId }, query: { top: '1000' } } })), [customerId]);
  const numbers = useResource(() => allNumbers(customerId), [customerId]);
  const [status, setStatus] = useState<Status | ''>('');
  return (
    <>
      <CustomerNav customerId={customerId} title="Numbers" />
      <Section title="Ranges">
        <Loaded resource={ranges} what="number ranges" empty={(d) => d.items.length === 0} emptyText="No number ranges yet: add them in the configuration document.">
          {(d) => <RangeBars ranges={d.items} numbers={numbers.data?.items ?? []} />}
        </Loaded>
      </Section>
      <Section title="Reserve or release a number">
        <StatusForm customerId={customerId} numbers={numbers.data?.items ?? []} onDone={() => numbers.reload()} />
      </Section>
      <Section title="Duplicates">
        <Loaded resource={numbers} what="duplicates" empty={(d) => !d.items.some((x) => x.duplicate)} emptyText="No duplicate: every number is held once, in one inventory.">
          {(d) => (
            <Table caption="Numbers held twice" captionHidden head={['Number', 'Scope', 'Held by', 'Also in']}>
              {d.items
                .filter((x) => x.duplicate)
                .map((x) => (
                  <tr key={`${x.siteId ?? ''}:${x.number}`}>
                    <th scope="row">{x.number}</th>
                    <td>{x.siteId ?? 'customer'}</td>
                    <td class="small">{x.heldBy?.join(', ') ?? x.userId ?? '—'}</td>
                    <td class="small">{x.alsoIn?.join(', ') ?? '—'}</td>
                  </tr>
                ))}
            </Table>
          )}
        </Loaded>
      </Section>
      <Section title="Numbers">
        <form class="filters" onSubmit={(e) => e.preventDefault()}>
          <SelectField label="Status" value={status} onChange={(v) => setStatus(v as Status | '')} options={[['', 'Any status'], ...STATUSES.map((s): [string, string] => [s, s])]} />
        </form>
        <Loaded resource={numbers} what="numbers" empty={(d) => d.items.length === 0}>
          {(d) => {
            const shown = d.items.filter((x) => !status || x.status === status);
            return (
              <>
                {!d.complete ? <p class="muted small">Showing the first {n(d.items.length)} numbers.</p> : null}
                {shown.length === 0 ? (
                  <p class="state empty">No {status} numbers.</p>
                ) : (
                  <Table caption={`${n(shown.length)} numbers`} head={['Number', 'Status', 'Scope', 'Range', 'User', 'Line type', 'Cooling until', 'Note']}>
                    {shown.slice(0, 500).map((x) => (
                      <tr key={`${x.siteId ?? ''}:${x.number}`}>
                        <th scope="row">{x.number}</th>
                        <td>
                          <Badge value={x.status} />
                        </td>
                        <td>{x.siteId ?? 'customer'}</td>
                        <td>{x.rangeId ?? '—'}</td>
                        <td class="small">{x.userId ?? '—'}</td>
                        <td>{x.lineType}</td>
                        <td>{x.coolingUntil ? when(x.coolingUntil) : '—'}</td>
                        <td class="small">
                          {x.duplicate ? <Badge value="failed" label="duplicate" /> : null} {x.reason ?? ''}
                        </td>
                      </tr>
                    ))}
                  </Table>
                )}
              </>
            );
          }}
        </Loaded>
      </Section>
    </>
  );
}

function RangeBars({ ranges, numbers }: { ranges: NumberRange[]; numbers: NumberEntry[] }) {
  const byRange = new Map<string, Record<Status, number>>();
  for (const x of numbers) {
    if (!x.rangeId) continue;
    const counts = byRange.get(x.rangeId) ?? { Available: 0, Used: 0, 'Used-Utility': 0, Reserved: 0, Cooling: 0 };
    counts[x.status]++;
    byRange.set(x.rangeId, counts);
  }
  return (
    <>
      <ul class="legend" aria-label="Legend">
        {STATUSES.map((s) => (
          <li key={s}>
            <span class={`swatch s-${s}`} aria-hidden="true" /> {s}
          </li>
        ))}
      </ul>
      <Table caption="Ranges" captionHidden head={['Range', 'Scope', 'Numbers', 'By status']}>
        {ranges.map((r) => {
          const counts = byRange.get(r.id);
          const total = counts ? Object.values(counts).reduce((a, b) => a + b, 0) : 0;
          const label = counts ? STATUSES.map((s) => `${counts[s]} ${s}`).join(', ') : 'no numbers read';
          let x = 0;
          return (
            <tr key={r.id}>
              <th scope="row">
                {r.id}
                <div class="muted small">
                  {r.first} – {r.last} · {r.lineType}
                </div>
              </th>
              <td>{r.siteId ?? 'customer'}</td>
              <td class="num">{n(total)}</td>
              <td>
                <svg class="rangebar" viewBox="0 0 300 16" width="300" height="16" role="img" aria-label={`${r.id}: ${label}`}>
                  {counts && total > 0
                    ? STATUSES.map((s) => {
                        const w = (300 * counts[s]) / total;
                        const rect = w > 0 ? <rect key={s} x={x} y={0} width={w} height={16} class={`s-${s}`} /> : null;
                        x += w;
                        return rect;
                      })
                    : null}
                </svg>
                <div class="small muted">{label}</div>
              </td>
            </tr>
          );
        })}
      </Table>
    </>
  );
}

const ACTIONS = [
  ['reserve', 'Reserve (kept from everyone until released)'],
  ['utility', 'Mark used by a utility (a fax, a lift phone)'],
  ['release', 'Release (a reservation is Available at once, a utility number cools)'],
] as const;
type Action = (typeof ACTIONS)[number][0];

/** The operator's statuses: the number, its inventory, what to do and why. */
function StatusForm(props: { customerId: string; numbers: NumberEntry[]; onDone: () => void }) {
  const [number, setNumber] = useState('');
  const [scope, setScope] = useState('');
  const [action, setAction] = useState<Action>('reserve');
  const [reason, setReason] = useState('');
  const scopes = [...new Set(['', ...props.numbers.map((x) => x.siteId ?? '')])].sort();
  const change = useAction(async () => {
    const params = { path: { customerId: props.customerId, number: number.trim() } };
    const body = { ...(scope ? { siteId: scope } : {}), ...(reason.trim() ? { reason: reason.trim() } : {}) };
    const r =
      action === 'reserve'
        ? await call(api.POST('/api/customers/{customerId}/numbers/{number}/reserve', { params, body }))
        : action === 'utility'
          ? await call(api.POST('/api/customers/{customerId}/numbers/{number}/utility', { params, body }))
          : await call(api.POST('/api/customers/{customerId}/numbers/{number}/release', { params, body }));
    props.onDone();
    return r;
  });
  return (
    <form
      class="form inline"
      onSubmit={(e) => {
        e.preventDefault();
        void change.act();
      }}
    >
      <TextField label="Number" value={number} onInput={setNumber} placeholder="+12065550100" required />
      <SelectField label="Inventory" value={scope} onChange={setScope} options={scopes.map((s): [string, string] => [s, s ? `site ${s}` : 'customer'])} />
      <SelectField label="Action" value={action} onChange={(v) => setAction(v as Action)} options={ACTIONS.map(([v, label]): [string, string] => [v, label])} />
      <TextField label="Reason" value={reason} onInput={setReason} hint={action === 'release' ? 'Optional' : 'Required: why the number is kept'} />
      <button type="submit" class="primary" disabled={change.busy || !number.trim()}>
        Apply
      </button>
      <p class="muted small">A number a user holds in Teams is never changed here: it is released when the user gives it up.</p>
      {change.error ? <ErrorBox error={change.error} /> : null}
      {change.result ? (
        <Notice tone="ok">
          {change.result.number} is {change.result.status}
          {change.result.reason ? ` (${change.result.reason})` : ''}.
        </Notice>
      ) : null}
    </form>
  );
}
