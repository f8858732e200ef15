/** The whole configuration as one document: download it, or apply one (checked whole, then applied idempotently). */
import { useState } from 'preact/hooks';
import { api, call, ApiError } from '../../api/client';
import type { ApplyReport, ConfigurationDocument } from '../../api/types';
import { useAction } from '../../ui/hooks';
import { ErrorBox, Field, Notice, Section } from '../../ui/kit';

export function ImportExportSection({ customerId }: { customerId: string }) {
  const [text, setText] = useState('');
  const exported = useAction(async () => {
    const doc = await call(api.GET('/api/customers/{customerId}/configuration', { params: { path: { customerId } } }));
    const json = JSON.stringify(doc, null, 2);
    const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
    setText(json);
    return url;
  });
  const apply = useAction(async (): Promise<ApplyReport> => {
    let doc: ConfigurationDocument;
    try {
      doc = JSON.parse(text) as ConfigurationDocument;
    } catch (e) {
      throw new ApiError(400, 'The document is not JSON', e instanceof Error ? e.message : String(e));
    }
    return call(api.PUT('/api/customers/{customerId}/configuration', { params: { path: { customerId } }, body: doc }));
  });
  return (
    <Section title="Import and export">
      <div class="actions">
        <button type="button" onClick={() => void exported.act()} disabled={exported.busy}>
          Export the configuration
        </button>
        {exported.result ? (
          <a class="button" href={exported.result} download={`${customerId}-configuration.json`}>
            Download {customerId}-configuration.json
          </a>
        ) : null}
      </div>
      {exported.error ? <ErrorBox error={exported.error} /> : null}
      <form
        class="form"
        onSubmit={(e) => {
          e.preventDefault();
          void apply.act();
        }}
      >
        <Field label="Configuration document (JSON)">
          {(id) => <textarea id={id} class="code" rows={18} value={text} onInput={(e) => setText((e.currentTarget as HTMLTextAreaElement).value)} />}
        </Field>
        <Field label="Or choose a file">
          {(id) => (
            <input
              id={id}
              type="file"
              accept="application/json,.json"
              onChange={async (e) => {
                const f = (e.currentTarget as HTMLInputElement).files?.[0];
                if (f) setText(await f.text());
              }}
            />
          )}
        </Field>
        <button type="submit" class="primary" disabled={apply.busy || !text}>
          Apply the document
        </button>
      </form>
      {apply.error ? <ErrorBox error={apply.error} /> : null}
      {apply.result ? (
        <Notice tone="ok">
          {apply.result.summary.created} created, {apply.result.summary.updated} updated, {apply.result.summary.unchanged} unchanged.
        </Notice>
      ) : null}
    </Section>
  );
}
