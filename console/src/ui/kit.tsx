/** The console's building blocks: states of a screen, tables, fields with their errors, badges, time. */
import type { ComponentChildren, JSX } from 'preact';
import { useId } from 'preact/hooks';
import type { ApiError } from '../api/client';
import type { Resource } from './hooks';

export const BASE = '/console';
export const href = (path: string) => `${BASE}${path}`;

/** Loading, error and empty states around a screen's content, the same on every screen. */
export function Loaded<T>(props: { resource: Resource<T>; what: string; empty?: (data: T) => boolean; emptyText?: ComponentChildren; children: (data: T) => ComponentChildren }) {
  const { resource: r } = props;
  if (r.error && r.data === undefined) return <ErrorBox error={r.error} what={props.what} retry={r.reload} />;
  if (r.data === undefined) return <p class="state loading" role="status" aria-live="polite">Loading {props.what}…</p>;
  if (props.empty?.(r.data)) return <p class="state empty">{props.emptyText ?? `No ${props.what} yet.`}</p>;
  return <>{r.error ? <ErrorBox error={r.error} what={props.what} retry={r.reload} /> : null}{props.children(r.data)}</>;
}

export function ErrorBox(props: { error: ApiError; what?: string; retry?: () => void }) {
  const e = props.error;
  return (
    <div class="state error" role="alert">
      <strong>{props.what ? `Could not load ${props.what}` : e.title}</strong>
      {e.status ? <span class="muted"> ({e.status} {e.title})</span> : null}
      {e.detail ? <p>{e.detail}</p> : null}
      {e.errors.length > 0 ? (
        <ul>
          {e.errors.map((f) => (
            <li key={f.path}>
              <code>{f.path || f.in}</code>: {f.message}
            </li>
          ))}
        </ul>
      ) : null}
      {props.retry ? (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Field(props: { label: string; error?: string; hint?: string; children: (id: string, describedBy: string | undefined) => ComponentChildren }) {
  const id = useId();
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [props.error ? errId : '', props.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint ? <small id={hintId} class="muted">{props.hint}</small> : null}
      {props.error ? <small id={errId} class="field-error">{props.error}</small> : null}
    </div>
  );
}

export function TextField(props: { label: string; value: string; onInput: (v: string) => void; error?: string; hint?: string; type?: 'text' | 'password' | 'number'; required?: boolean; placeholder?: string; autoComplete?: string }) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, describedBy) => (
        <input
          id={id}
          {...({ type: props.type ?? 'text' } as { type: 'text' })}
          value={props.value}
          required={props.required}
          placeholder={props.placeholder}
          autoComplete={props.autoComplete}
          aria-invalid={props.error ? 'true' : undefined}
          aria-describedby={describedBy}
          onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
        />
      )}
    </Field>
  );
}

export function SelectField(props: { label: string; value: string; onChange: (v: string) => void; options: Array<[string, string]>; error?: string; hint?: string }) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(id, describedBy) => (
        <select id={id} value={props.value} aria-invalid={props.error ? 'true' : undefined} aria-describedby={describedBy} onChange={(e) => props.onChange((e.currentTarget as HTMLSelectElement).value)}>
          {props.options.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function CheckField(props: { label: string; checked: boolean; onChange: (v: boolean) => void; error?: string }) {
  const id = useId();
  return (
    <div class={`field check${props.error ? ' invalid' : ''}`}>
      <input id={id} type="checkbox" checked={props.checked} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={id}>{props.label}</label>
      {props.error ? <small class="field-error">{props.error}</small> : null}
    </div>
  );
}

const TONES: Record<string, string> = {
  succeeded: 'ok',
  provisioned: 'ok',
  ok: 'ok',
  Available: 'ok',
  running: 'info',
  Running: 'info',
  'at-site': 'info',
  Used: 'info',
  held: 'warn',
  staged: 'warn',
  provisioning: 'warn',
  Reserved: 'warn',
  Cooling: 'warn',
  skipped: 'muted',
  'at-customer': 'muted',
  'Used-Utility': 'muted',
  failed: 'bad',
  Failed: 'bad',
  'partially-failed': 'bad',
  'needs-attention': 'bad',
};

export function Badge(props: { value: string; label?: string }) {
  return <span class={`badge ${TONES[props.value] ?? 'muted'}`}>{props.label ?? props.value}</span>;
}

export function Table(props: { caption: string; head: ComponentChildren[]; children: ComponentChildren; captionHidden?: boolean }) {
  return (
    <div class="table-wrap">
      <table>
        <caption class={props.captionHidden ? 'visually-hidden' : undefined}>{props.caption}</caption>
        <thead>
          <tr>
            {props.head.map((h, i) => (
              <th key={i} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function duration(from: string, to: string | undefined): string {
  if (!to) return '—';
  const ms = Date.parse(to) - Date.parse(from);
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

export function when(iso: string | undefined): JSX.Element {
  if (!iso) return <span class="muted">—</span>;
  return (
    <time dateTime={iso} title={iso}>
      {new Date(iso).toLocaleString()}
    </time>
  );
}

export const n = (value: number | undefined) => (value ?? 0).toLocaleString();

export function Section(props: { title: string; id?: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const id = useId();
  return (
    <section class="panel" aria-labelledby={id} id={props.id}>
      <header class="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.actions ? <div class="actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

export function Notice(props: { tone: 'ok' | 'bad' | 'info'; children: ComponentChildren }) {
  return (
    <p class={`notice ${props.tone}`} role={props.tone === 'bad' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}
