/**
 * Model filter criteria: the list, an editor (one row per criterion, errors at the field), and "test these
 * criteria": which of the customer's users the criteria in the editor match, before anything is saved.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, call, callTagged, type ApiError } from '../../api/client';
import type { Criteria, Criterion } from '../../api/types';
import { useAction, useResource } from '../../ui/hooks';
import { Badge, CheckField, ErrorBox, href, Loaded, n, Notice, Section, SelectField, Table, TextField } from '../../ui/kit';

const CONDITIONS: Criterion['condition'][] = ['Equals', 'Equals Exactly', 'Contains', 'Contains Exactly', 'Regex Search'];
const USAGES: Criteria['usage'][] = ['Move User', 'Flow Through Provisioning'];
const blank = (): Criterion => ({ not: false, attribute: 'city', condition: 'Equals', value: '', join: 'AND' });

export function CriteriaSection({ customerId }: { customerId: string }) {
  const list = useResource(() => call(api.GET('/api/customers/{customerId}/criteria', { params: { path: { customerId } } })), [customerId]);
  const [selected, setSelected] = useState<string | undefined>();
  return (
    <>
      <Section title="Model filter criteria" actions={<button type="button" onClick={() => setSelected('')}>New criteria</button>}>
        <Loaded resource={list} what="criteria" empty={(d) => d.items.length === 0} emptyText="No criteria yet.">
          {(d) => (
            <Table caption="Criteria" captionHidden head={['Name', 'Usage', 'Criteria', '']}>
              {d.items.map((c) => (
                <tr key={c.id}>
                  <th scope="row">
                    {c.name} <span class="muted small">{c.id}</span>
                  </th>
                  <td>{c.usage}</td>
                  <td class="small">{c.criteria.map((x, i) => `${x.not ? 'NOT ' : ''}${x.attribute} ${x.condition} "${x.value}"${i < c.criteria.length - 1 ? ` ${x.join} ` : ''}`).join('')}</td>
                  <td>
                    <button type="button" onClick={() => setSelected(c.id)} aria-label={`Edit ${c.name}`}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Loaded>
      </Section>
      {selected !== undefined ? <CriteriaEditor key={selected} customerId={customerId} id={selected} onSaved={list.reload} /> : null}
    </>
  );
}

function CriteriaEditor({ customerId, id, onSaved }: { customerId: string; id: string; onSaved: () => void }) {
  const isNew = id === '';
  const [item, setItem] = useState<{ value: Omit<Criteria, 'customerId'>; etag?: string }>({ value: { id: '', name: '', usage: 'Move User', criteria: [blank()] } });
  useEffect(() => {
    if (!isNew) void callTagged(api.GET('/api/customers/{customerId}/criteria/{id}', { params: { path: { customerId, id } } })).then((r) => setItem({ value: r.data, etag: r.etag }));
  }, [customerId, id]);
  const v = item.value;
  const set = (patch: Partial<Criteria>) => setItem({ ...item, value: { ...v, ...patch } });
  const setRow = (i: number, patch: Partial<Criterion>) => set({ criteria: v.criteria.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  const save = useAction(async () => {
    const { customerId: _c, ...body } = v as Criteria;
    const saved = isNew
      ? await callTagged(api.POST('/api/customers/{customerId}/criteria', { params: { path: { customerId } }, body }))
      : await callTagged(api.PUT('/api/customers/{customerId}/criteria/{id}', { params: { path: { customerId, id }, header: { 'If-Match': item.etag ?? '*' } }, body }));
    setItem({ value: saved.data, etag: saved.etag });
    onSaved();
    return saved.data;
  });
  const e = save.error;
  return (
    <div class="grid two">
      <Section title={isNew ? 'New criteria' : `Criteria ${v.name}`}>
        <form
          class="form"
          onSubmit={(ev) => {
            ev.preventDefault();
            void save.act();
          }}
        >
          <TextField label="Id" value={v.id} onInput={(x) => set({ id: x })} error={e?.field('/id')} required />
          <TextField label="Name" value={v.name} onInput={(x) => set({ name: x })} error={e?.field('/name')} required />
          <SelectField label="Usage" value={v.usage} onChange={(x) => set({ usage: x as Criteria['usage'] })} options={USAGES.map((u): [string, string] => [u, u])} />
          <fieldset>
            <legend>Criteria, folded left to right</legend>
            {v.criteria.map((c, i) => (
              <div class="criterion" key={i} role="group" aria-label={`Criterion ${i + 1}`}>
                <CheckField label="NOT" checked={c.not} onChange={(x) => setRow(i, { not: x })} />
                <TextField label="Attribute" value={c.attribute} onInput={(x) => setRow(i, { attribute: x })} error={e?.field(`/criteria/${i}/attribute`)} />
                <SelectField label="Condition" value={c.condition} onChange={(x) => setRow(i, { condition: x as Criterion['condition'] })} options={CONDITIONS.map((x): [string, string] => [x, x])} />
                <TextField label="Value" value={c.value} onInput={(x) => setRow(i, { value: x })} error={e?.field(`/criteria/${i}/value`)} hint="Macros: {{site.city}}, {{site.name}}, {{macro.NAME}}" />
                {i < v.criteria.length - 1 ? <SelectField label="Then" value={c.join} onChange={(x) => setRow(i, { join: x as Criterion['join'] })} options={[['AND', 'AND'], ['OR', 'OR']]} /> : null}
                <button type="button" class="link" disabled={v.criteria.length === 1} onClick={() => set({ criteria: v.criteria.filter((_, j) => j !== i) })} aria-label={`Remove criterion ${i + 1}`}>
                  Remove
                </button>
              </div>
            ))}
            <button type="button" onClick={() => set({ criteria: [...v.criteria, blank()] })}>
              Add a criterion
            </button>
          </fieldset>
          <button type="submit" class="primary" disabled={save.busy}>
            Save criteria
          </button>
          {save.result ? <Notice tone="ok">Criteria saved.</Notice> : null}
          {e ? <ErrorBox error={e} /> : null}
        </form>
      </Section>
      <CriteriaTest customerId={customerId} criteria={v.criteria} />
    </div>
  );
}

function CriteriaTest({ customerId, criteria }: { customerId: string; criteria: Criterion[] }) {
  const sites = useResource(() => call(api.GET('/api/customers/{customerId}/sites', { params: { path: { customerId } } })), [customerId]);
  const [siteId, setSiteId] = useState('');
  const test = useAction(() => call(api.POST('/api/customers/{customerId}/criteria/test', { params: { path: { customerId } }, body: { criteria, ...(siteId ? { siteId } : {}), top: 25 } })));
  return (
    <Section title="Test these criteria">
      <form
        class="form"
        onSubmit={(ev) => {
          ev.preventDefault();
          void test.act();
        }}
      >
        <SelectField label="Resolve macros for site" value={siteId} onChange={setSiteId} options={[['', '(no site)'], ...(sites.data?.items ?? []).map((s): [string, string] => [s.id, s.name])]} />
        <button type="submit" disabled={test.busy}>
          {test.busy ? 'Testing…' : 'Test these criteria'}
        </button>
      </form>
      {test.error ? <TestError error={test.error} /> : null}
      {test.result ? (
        <div aria-live="polite">
          <p data-testid="criteria-test-result">
            <strong>{n(test.result.matched)}</strong> of {n(test.result.scanned)} users match.
          </p>
          {test.result.users.length > 0 ? (
            <Table caption="First matching users" head={['User', 'State', 'Site']}>
              {test.result.users.map((u) => (
                <tr key={u.userId}>
                  <td>
                    <a href={href(`/customers/${encodeURIComponent(customerId)}/users/${encodeURIComponent(u.userId)}`)}>{u.displayName ?? u.userPrincipalName ?? u.userId}</a>
                  </td>
                  <td>
                    <Badge value={u.state} />
                  </td>
                  <td>{u.siteId ?? '—'}</td>
                </tr>
              ))}
            </Table>
          ) : null}
        </div>
      ) : null}
    </Section>
  );
}

function TestError({ error }: { error: ApiError }) {
  return <ErrorBox error={error} />;
}
