/** Sites with their defaults: the list, and one site's form (the site and its defaults) with field errors. */
import { useEffect, useState } from 'preact/hooks';
import { api, call, callTagged, type ApiError } from '../../api/client';
import type { Site, SiteDefaults } from '../../api/types';
import { useAction, useResource } from '../../ui/hooks';
import { CheckField, ErrorBox, Loaded, Notice, Section, SelectField, Table, TextField } from '../../ui/kit';

export function SitesSection({ customerId }: { customerId: string }) {
  const sites = useResource(() => call(api.GET('/api/customers/{customerId}/sites', { params: { path: { customerId } } })), [customerId]);
  const [selected, setSelected] = useState<string | undefined>();
  return (
    <>
      <Section title="Sites" actions={<button type="button" onClick={() => setSelected('')}>New site</button>}>
        <Loaded resource={sites} what="sites" empty={(d) => d.items.length === 0} emptyText="No sites yet: add one, or import a configuration document.">
          {(d) => (
            <Table caption="Sites" captionHidden head={['Site', 'City', 'Country', '']}>
              {d.items.map((s) => (
                <tr key={s.id}>
                  <th scope="row">
                    {s.name} <span class="muted small">{s.id}</span>
                  </th>
                  <td>{s.city ?? '—'}</td>
                  <td>{s.country ?? '—'}</td>
                  <td>
                    <button type="button" onClick={() => setSelected(s.id)} aria-label={`Edit ${s.name}`}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Loaded>
      </Section>
      {selected !== undefined ? <SiteEditor key={selected} customerId={customerId} siteId={selected} onSaved={sites.reload} /> : null}
    </>
  );
}

const err = (e: ApiError | undefined, field: string) => e?.field(`/${field}`);

function SiteEditor({ customerId, siteId, onSaved }: { customerId: string; siteId: string; onSaved: () => void }) {
  const isNew = siteId === '';
  const [site, setSite] = useState<{ value: Partial<Site>; etag?: string }>({ value: { macros: {} } });
  const [defaults, setDefaults] = useState<{ value: Partial<SiteDefaults>; etag?: string }>({ value: { includeForOverbuild: false, microsoftUsers: false, placementPriority: 0, teamsPolicies: {} } });
  const criteria = useResource(() => call(api.GET('/api/customers/{customerId}/criteria', { params: { path: { customerId } } })), [customerId]);
  useEffect(() => {
    if (isNew) return;
    void callTagged(api.GET('/api/customers/{customerId}/sites/{id}', { params: { path: { customerId, id: siteId } } })).then((r) => setSite({ value: r.data, etag: r.etag }));
    void callTagged(api.GET('/api/customers/{customerId}/sites/{siteId}/defaults', { params: { path: { customerId, siteId } } })).then(
      (r) => setDefaults({ value: r.data, etag: r.etag }),
      () => undefined,
    );
  }, [customerId, siteId]);
  const saveSite = useAction(async () => {
    const { customerId: _c, ...body } = site.value as Site;
    const saved = isNew
      ? await callTagged(api.POST('/api/customers/{customerId}/sites', { params: { path: { customerId } }, body }))
      : await callTagged(api.PUT('/api/customers/{customerId}/sites/{id}', { params: { path: { customerId, id: siteId }, header: { 'If-Match': site.etag ?? '*' } }, body }));
    setSite({ value: saved.data, etag: saved.etag });
    onSaved();
    return saved.data;
  });
  const saveDefaults = useAction(async () => {
    const id = site.value.id ?? siteId;
    const { customerId: _c, siteId: _s, ...body } = defaults.value as SiteDefaults;
    const saved = await callTagged(
      api.PUT('/api/customers/{customerId}/sites/{siteId}/defaults', { params: { path: { customerId, siteId: id }, header: defaults.etag ? { 'If-Match': defaults.etag } : {} }, body: body as never }),
    );
    setDefaults({ value: saved.data, etag: saved.etag });
    return saved.data;
  });
  const s = site.value;
  const d = defaults.value;
  const moveCriteria = (criteria.data?.items ?? []).filter((c) => c.usage === 'Move User');
  return (
    <div class="grid two">
      <Section title={isNew ? 'New site' : `Site ${s.name ?? siteId}`}>
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void saveSite.act();
          }}
        >
          <TextField label="Id" value={s.id ?? ''} onInput={(v) => setSite({ ...site, value: { ...s, id: v } })} error={err(saveSite.error, 'id')} required />
          <TextField label="Name" value={s.name ?? ''} onInput={(v) => setSite({ ...site, value: { ...s, name: v } })} error={err(saveSite.error, 'name')} required />
          <TextField label="City" value={s.city ?? ''} onInput={(v) => setSite({ ...site, value: { ...s, city: v || undefined } })} error={err(saveSite.error, 'city')} />
          <TextField label="Country" value={s.country ?? ''} onInput={(v) => setSite({ ...site, value: { ...s, country: v || undefined } })} error={err(saveSite.error, 'country')} />
          <button type="submit" class="primary" disabled={saveSite.busy}>
            Save site
          </button>
          {saveSite.result ? <Notice tone="ok">Site saved.</Notice> : null}
          {saveSite.error ? <ErrorBox error={saveSite.error} /> : null}
        </form>
      </Section>
      <Section title="Site defaults">
        <form
          class="form"
          onSubmit={(e) => {
            e.preventDefault();
            void saveDefaults.act();
          }}
        >
          <CheckField label="Included for overbuild" checked={!!d.includeForOverbuild} onChange={(v) => setDefaults({ ...defaults, value: { ...d, includeForOverbuild: v } })} />
          <CheckField label="Microsoft users" checked={!!d.microsoftUsers} onChange={(v) => setDefaults({ ...defaults, value: { ...d, microsoftUsers: v } })} />
          <SelectField
            label="Move-user criteria"
            value={d.moveUserCriteriaId ?? ''}
            onChange={(v) => setDefaults({ ...defaults, value: { ...d, moveUserCriteriaId: v || undefined } })}
            options={[['', '(none)'], ...moveCriteria.map((c): [string, string] => [c.id, c.name])]}
            error={err(saveDefaults.error, 'moveUserCriteriaId')}
          />
          <CheckField label="Number inventory at customer" checked={!!d.createNumberInventoryAtCustomer} onChange={(v) => setDefaults({ ...defaults, value: { ...d, createNumberInventoryAtCustomer: v } })} />
          <CheckField label="Manage licenses and allow staging" checked={!!d.manageLicensesAndAllowStaging} onChange={(v) => setDefaults({ ...defaults, value: { ...d, manageLicensesAndAllowStaging: v } })} />
          <TextField label="Dial plan" value={d.dialPlan ?? ''} onInput={(v) => setDefaults({ ...defaults, value: { ...d, dialPlan: v || undefined } })} error={err(saveDefaults.error, 'dialPlan')} />
          <TextField label="Usage location" value={d.usageLocation ?? ''} onInput={(v) => setDefaults({ ...defaults, value: { ...d, usageLocation: v || undefined } })} error={err(saveDefaults.error, 'usageLocation')} hint="Two-letter country code, e.g. US" />
          <TextField
            label="Placement priority"
            type="number"
            value={String(d.placementPriority ?? 0)}
            onInput={(v) => setDefaults({ ...defaults, value: { ...d, placementPriority: Number(v) } })}
            error={err(saveDefaults.error, 'placementPriority')}
            hint="When several sites match, the highest wins"
          />
          <button type="submit" class="primary" disabled={saveDefaults.busy || (isNew && !site.etag)}>
            Save defaults
          </button>
          {saveDefaults.result ? <Notice tone="ok">Defaults saved.</Notice> : null}
          {saveDefaults.error ? <ErrorBox error={saveDefaults.error} /> : null}
        </form>
      </Section>
    </div>
  );
}
