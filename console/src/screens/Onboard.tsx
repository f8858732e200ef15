/** Onboard a customer from its configuration document: the customer, its sites and everything they need. */
import { useState } from 'preact/hooks';
import { api, call, ApiError } from '../api/client';
import type { ApplyReport, ConfigurationDocument } from '../api/types';
import { useAction } from '../ui/hooks';
import { ErrorBox, Field, href, Notice, TextField } from '../ui/kit';

export function OnboardScreen() {
  const [customerId, setCustomerId] = useState('');
  const [text, setText] = useState('');
  const apply = useAction(async (): Promise<ApplyReport> => {
    let doc: ConfigurationDocument;
    try {
      doc = JSON.parse(text) as ConfigurationDocument;
    } catch (e) {
      throw new ApiError(400, 'The document is not JSON', e instanceof Error ? e.message : String(e));
    }
    return call(api.PUT('/api/customers/{customerId}/configuration', { params: { path: { customerId } }, body: doc }));
  });
  const onFile = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  const report = apply.result;
  return (
    <>
      <h1>Onboard a customer</h1>
      <p>
        Paste or choose the customer's configuration document: its tenant (<code>customer</code>), sites, criteria, site defaults, Quick Add Groups, profiles,
        flow-through criteria, global settings and number ranges. It is checked whole before anything is written; applying it again changes nothing.
      </p>
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void apply.act();
        }}
      >
        <TextField label="Customer id" value={customerId} onInput={setCustomerId} required hint="Letters, digits, dot, dash and underscore, as in the API's URLs." error={apply.error?.errors.find((f) => f.in === 'path')?.message} />
        <Field label="Document file">{(id) => <input id={id} type="file" accept="application/json,.json" onChange={onFile} />}</Field>
        <Field label="Configuration document (JSON)" error={apply.error && apply.error.errors.length === 0 && apply.error.status === 400 ? apply.error.detail : undefined}>
          {(id, describedBy) => <textarea id={id} rows={14} class="code" value={text} aria-describedby={describedBy} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />}
        </Field>
        <button type="submit" class="primary" disabled={apply.busy || !customerId || !text}>
          {apply.busy ? 'Applying…' : 'Apply the document'}
        </button>
      </form>
      {apply.error && apply.error.errors.length > 0 ? <ErrorBox error={apply.error} /> : apply.error && apply.error.status !== 400 ? <ErrorBox error={apply.error} /> : null}
      {report ? (
        <section class="panel" aria-label="Result">
          <Notice tone="ok">
            Applied to <a href={href(`/customers/${encodeURIComponent(report.customerId)}`)}>{report.customerId}</a>: {report.summary.created} created, {report.summary.updated} updated,{' '}
            {report.summary.unchanged} unchanged.
          </Notice>
          {report.followUps?.map((f) => (
            <Notice key={f.name} tone={f.ok ? 'ok' : 'bad'}>
              {f.name}: {f.ok ? 'started' : `not started (${f.error ?? 'unknown error'})`}
            </Notice>
          ))}
          <ul class="small">
            {report.items.map((i) => (
              <li key={`${i.kind}:${i.id}`}>
                {i.kind} <code>{i.id}</code>: {i.outcome}
                {i.detail ? ` (${i.detail})` : ''}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  );
}
