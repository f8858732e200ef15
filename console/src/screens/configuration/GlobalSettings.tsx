/** The customer's global settings (inherit, yes or no), with what is in effect beside each. */
import { useEffect, useState } from 'preact/hooks';
import { api, call, callTagged } from '../../api/client';
import type { GlobalSettings } from '../../api/types';
import { useAction, useResource } from '../../ui/hooks';
import { ErrorBox, Loaded, Notice, Section, SelectField, TextField } from '../../ui/kit';

const TRI: Array<[string, string]> = [
  ['inherit', 'Inherit'],
  ['yes', 'Yes'],
  ['no', 'No'],
];
const FLAGS = [
  ['moveAndFlowThrough', 'Move and flow-through'],
  ['addSync', 'Provision users an add sync brings'],
  ['updateSync', 'Provision users an update sync changes'],
  ['preventDuplicateNumbers', 'Prevent duplicate numbers'],
] as const;

export function GlobalSettingsSection({ customerId }: { customerId: string }) {
  const path = { customerId };
  const stored = useResource(() => callTagged(api.GET('/api/customers/{customerId}/global-settings', { params: { path } })), [customerId]);
  const effective = useResource(() => call(api.GET('/api/customers/{customerId}/global-settings/effective', { params: { path } })), [customerId]);
  const [value, setValue] = useState<GlobalSettings | undefined>();
  useEffect(() => setValue(stored.data?.data), [stored.data]);
  const save = useAction(async () => {
    const etag = stored.data?.etag;
    const saved = await callTagged(api.PUT('/api/customers/{customerId}/global-settings', { params: { path, header: etag ? { 'If-Match': etag } : {} }, body: value as never }));
    stored.reload();
    effective.reload();
    return saved.data;
  });
  const e = save.error;
  return (
    <Section title="Global settings">
      <Loaded resource={stored} what="global settings">
        {() =>
          value ? (
            <form
              class="form"
              onSubmit={(ev) => {
                ev.preventDefault();
                void save.act();
              }}
            >
              {FLAGS.map(([name, label]) => (
                <SelectField
                  key={name}
                  label={label}
                  value={value[name]}
                  onChange={(v) => setValue({ ...value, [name]: v })}
                  options={TRI}
                  error={e?.field(`/${name}`)}
                  hint={effective.data ? `In effect: ${effective.data[name] ? 'yes' : 'no'}` : undefined}
                />
              ))}
              <TextField label="Add sync flow-through criteria id" value={value.addSyncCriteriaId ?? ''} onInput={(v) => setValue({ ...value, addSyncCriteriaId: v || undefined })} error={e?.field('/addSyncCriteriaId')} />
              <TextField label="Update sync flow-through criteria id" value={value.updateSyncCriteriaId ?? ''} onInput={(v) => setValue({ ...value, updateSyncCriteriaId: v || undefined })} error={e?.field('/updateSyncCriteriaId')} />
              <TextField
                label="Number cooling days"
                type="number"
                value={value.numberCoolingDays === undefined ? '' : String(value.numberCoolingDays)}
                onInput={(v) => setValue({ ...value, numberCoolingDays: v === '' ? undefined : Number(v) })}
                error={e?.field('/numberCoolingDays')}
                hint={effective.data ? `In effect: ${effective.data.numberCoolingDays} days` : undefined}
              />
              <button type="submit" class="primary" disabled={save.busy}>
                Save settings
              </button>
              {save.result ? <Notice tone="ok">Settings saved.</Notice> : null}
              {e ? <ErrorBox error={e} /> : null}
            </form>
          ) : null
        }
      </Loaded>
    </Section>
  );
}
