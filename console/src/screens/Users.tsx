/** A customer's users, filtered by state, site and text; each links to the user's page. */
import { useLocation } from 'preact-iso';
import { useState } from 'preact/hooks';
import { api, call } from '../api/client';
import type { UserListItem, UserState } from '../api/types';
import { CustomerNav } from '../ui/CustomerNav';
import { useResource } from '../ui/hooks';
import { Badge, href, Loaded, SelectField, Table, TextField } from '../ui/kit';

const STATES: UserState[] = ['at-customer', 'at-site', 'provisioning', 'provisioned', 'staged', 'needs-attention'];

export function UsersScreen(props: { params: { customerId: string } }) {
  const customerId = props.params.customerId;
  const loc = useLocation();
  const state = (loc.query.state ?? '') as UserState | '';
  const siteId = loc.query.site ?? '';
  const search = loc.query.q ?? '';
  const [text, setText] = useState(search);
  const [pages, setPages] = useState<string[]>([]);
  const continuation = pages[pages.length - 1];
  const sites = useResource(() => call(api.GET('/api/customers/{customerId}/sites', { params: { path: { customerId } } })), [customerId]);
  const users = useResource(
    () =>
      call(
        api.GET('/api/customers/{customerId}/users', {
          params: {
            path: { customerId },
            query: { top: '50', ...(state ? { state } : {}), ...(siteId ? { siteId } : {}), ...(search ? { search } : {}), ...(continuation ? { continuation } : {}) },
          },
        }),
      ),
    [customerId, state, siteId, search, continuation],
  );
  const setFilter = (name: string, value: string) => {
    const q = new URLSearchParams(loc.query as Record<string, string>);
    if (value) q.set(name, value);
    else q.delete(name);
    setPages([]);
    const qs = q.toString();
    loc.route(`${href(`/customers/${encodeURIComponent(customerId)}/users`)}${qs ? `?${qs}` : ''}`);
  };
  return (
    <>
      <CustomerNav customerId={customerId} title="Users" />
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter('q', text.trim());
        }}
      >
        <SelectField label="State" value={state} onChange={(v) => setFilter('state', v)} options={[['', 'Any state'], ...STATES.map((s): [string, string] => [s, s.replace('-', ' ')])]} />
        <SelectField label="Site" value={siteId} onChange={(v) => setFilter('site', v)} options={[['', 'Any site'], ...(sites.data?.items ?? []).map((s): [string, string] => [s.id, s.name])]} />
        <TextField label="Name or UPN starts with" value={text} onInput={setText} />
        <button type="submit">Filter</button>
      </form>
      <Loaded resource={users} what="users" empty={(d) => d.items.length === 0} emptyText={state || siteId || search ? 'No user matches these filters.' : 'No users yet: the first sync brings them in.'}>
        {(d) => (
          <>
            <Table caption="Users" captionHidden head={['User', 'State', 'Site', 'Reason', 'Number', 'Department']}>
              {d.items.map((u) => (
                <UserRow key={u.userId} customerId={customerId} u={u} />
              ))}
            </Table>
            <div class="pager">
              <button type="button" disabled={pages.length === 0} onClick={() => setPages(pages.slice(0, -1))}>
                Previous page
              </button>
              <button type="button" disabled={!d.continuation} onClick={() => d.continuation && setPages([...pages, d.continuation])}>
                Next page
              </button>
            </div>
          </>
        )}
      </Loaded>
    </>
  );
}

function UserRow({ customerId, u }: { customerId: string; u: UserListItem }) {
  const a = u.attributes as Record<string, unknown>;
  return (
    <tr>
      <th scope="row">
        <a href={href(`/customers/${encodeURIComponent(customerId)}/users/${encodeURIComponent(u.userId)}`)}>{String(a.displayName ?? u.userId)}</a>
        <div class="muted small">{String(a.userPrincipalName ?? '')}</div>
      </th>
      <td>
        <Badge value={u.state.kind} />
      </td>
      <td>{u.state.siteId ?? <span class="muted">—</span>}</td>
      <td class="small">{u.state.reason ?? ''}</td>
      <td>{u.number ?? <span class="muted">—</span>}</td>
      <td class="small">{String(a.department ?? '')}</td>
    </tr>
  );
}
