/**
 * Quick Add Groups, user profiles and flow-through criteria: nested documents, edited as JSON with the
 * API's field errors listed by their path and the offending line marked.
 */
import { useState } from 'preact/hooks';
import { api, call, callTagged } from '../../api/client';
import { useAction, useResource } from '../../ui/hooks';
import { ErrorBox, Field, Loaded, Notice, Section, Table } from '../../ui/kit';

type Kind = 'quick-add-groups' | 'user-profiles';
const LABEL: Record<Kind, string> = { 'quick-add-groups': 'Quick Add Group', 'user-profiles': 'user profile' };

function JsonEditor(props: { label: string; text: string; onInput: (t: string) => void; error?: string }) {
  return (
    <Field label={props.label} error={props.error}>
      {(id, describedBy) => <textarea id={id} class="code" rows={16} value={props.text} aria-describedby={describedBy} aria-invalid={props.error ? 'true' : undefined} onInput={(e) => props.onInput((e.currentTarget as HTMLTextAreaElement).value)} />}
    </Field>
  );
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw Object.assign(new Error(`not JSON: ${e instanceof Error ? e.message : String(e)}`), { notJson: true });
  }
}

const strip = (v: Record<string, unknown>) => {
  const { customerId: _c, ...rest } = v;
  return JSON.stringify(rest, null, 2);
};

export function JsonItemsSection({ customerId, kind }: { customerId: string; kind: Kind }) {
  const list = useResource(
    (): Promise<{ items: Array<{ id: string; name: string }> }> => (kind === 'quick-add-groups' ? call(api.GET('/api/customers/{customerId}/quick-add-groups', { params: { path: { customerId } } })) : call(api.GET('/api/customers/{customerId}/user-profiles', { params: { path: { customerId } } }))),
    [customerId, kind],
  );
  const [editing, setEditing] = useState<{ id?: string; etag?: string; text: string } | undefined>();
  const [jsonError, setJsonError] = useState<string | undefined>();
  const open = async (id: string) => {
    const r =
      kind === 'quick-add-groups'
        ? await callTagged(api.GET('/api/customers/{customerId}/quick-add-groups/{id}', { params: { path: { customerId, id } } }))
        : await callTagged(api.GET('/api/customers/{customerId}/user-profiles/{id}', { params: { path: { customerId, id } } }));
    setEditing({ id, etag: r.etag, text: strip(r.data as Record<string, unknown>) });
  };
  const save = useAction(async () => {
    if (!editing) return undefined;
    setJsonError(undefined);
    let body: never;
    try {
      body = parse(editing.text) as never;
    } catch (e) {
      setJsonError((e as Error).message);
      return undefined;
    }
    const path = { customerId, id: editing.id ?? '' };
    const saved =
      kind === 'quick-add-groups'
        ? editing.id
          ? await callTagged(api.PUT('/api/customers/{customerId}/quick-add-groups/{id}', { params: { path, header: { 'If-Match': editing.etag ?? '*' } }, body }))
          : await callTagged(api.POST('/api/customers/{customerId}/quick-add-groups', { params: { path: { customerId } }, body }))
        : editing.id
          ? await callTagged(api.PUT('/api/customers/{customerId}/user-profiles/{id}', { params: { path, header: { 'If-Match': editing.etag ?? '*' } }, body }))
          : await callTagged(api.POST('/api/customers/{customerId}/user-profiles', { params: { path: { customerId } }, body }));
    const data = saved.data as Record<string, unknown>;
    setEditing({ id: String(data.id), etag: saved.etag, text: strip(data) });
    list.reload();
    return data;
  });
  return (
    <>
      <Section title={`${LABEL[kind]}s`} actions={<button type="button" onClick={() => setEditing({ text: '{\n  "id": "",\n  "name": ""\n}' })}>New {LABEL[kind]}</button>}>
        <Loaded resource={list} what={`${LABEL[kind]}s`} empty={(d) => d.items.length === 0}>
          {(d) => (
            <Table caption={`${LABEL[kind]}s`} captionHidden head={['Name', 'Id', '']}>
              {(d.items as Array<{ id: string; name: string }>).map((i) => (
                <tr key={i.id}>
                  <th scope="row">{i.name}</th>
                  <td>
                    <code>{i.id}</code>
                  </td>
                  <td>
                    <button type="button" onClick={() => void open(i.id)} aria-label={`Edit ${i.name}`}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </Table>
          )}
        </Loaded>
      </Section>
      {editing ? (
        <Section title={editing.id ? `Edit ${editing.id}` : `New ${LABEL[kind]}`}>
          <form
            class="form"
            onSubmit={(e) => {
              e.preventDefault();
              void save.act();
            }}
          >
            <JsonEditor label={`${LABEL[kind]} (JSON)`} text={editing.text} onInput={(text) => setEditing({ ...editing, text })} error={jsonError ?? (save.error?.errors.length ? `${save.error.errors.length} field(s) invalid, listed below` : undefined)} />
            <button type="submit" class="primary" disabled={save.busy}>
              Save
            </button>
          </form>
          {save.result ? <Notice tone="ok">Saved.</Notice> : null}
          {save.error ? <ErrorBox error={save.error} /> : null}
        </Section>
      ) : null}
    </>
  );
}

export function FlowThroughSection({ customerId }: { customerId: string }) {
  const path = { customerId };
  const current = useResource(
    () =>
      callTagged(api.GET('/api/customers/{customerId}/flow-through-criteria', { params: { path } })).catch((e: { status?: number }) => {
        if (e.status === 404) return { data: undefined, etag: undefined };
        throw e;
      }),
    [customerId],
  );
  const [text, setText] = useState<string | undefined>();
  const [jsonError, setJsonError] = useState<string | undefined>();
  const shown = text ?? (current.data?.data ? strip(current.data.data as Record<string, unknown>) : '{\n  "name": "Flow-through",\n  "entries": []\n}');
  const save = useAction(async () => {
    setJsonError(undefined);
    let body: never;
    try {
      body = parse(shown) as never;
    } catch (e) {
      setJsonError((e as Error).message);
      return undefined;
    }
    const etag = current.data?.etag;
    const saved = await callTagged(api.PUT('/api/customers/{customerId}/flow-through-criteria', { params: { path, header: etag ? { 'If-Match': etag } : {} }, body }));
    setText(undefined);
    current.reload();
    return saved.data;
  });
  return (
    <Section title="Flow-through criteria">
      <p class="muted small">Entries are tried in order; the first whose criteria (usage Flow Through Provisioning) match gives the user its profile.</p>
      <Loaded resource={current} what="flow-through criteria">
        {() => (
          <form
            class="form"
            onSubmit={(e) => {
              e.preventDefault();
              void save.act();
            }}
          >
            <JsonEditor label="Flow-through criteria (JSON)" text={shown} onInput={setText} error={jsonError ?? (save.error?.errors.length ? `${save.error.errors.length} field(s) invalid, listed below` : undefined)} />
            <button type="submit" class="primary" disabled={save.busy}>
              Save
            </button>
          </form>
        )}
      </Loaded>
      {save.result ? <Notice tone="ok">Saved.</Notice> : null}
      {save.error ? <ErrorBox error={save.error} /> : null}
    </Section>
  );
}
