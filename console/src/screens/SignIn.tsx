/**
 * Sign-in with a function key. The key is checked against the API, then kept in this tab's sessionStorage
 * (gone when the tab closes; never written to a URL, a cookie or local storage).
 */
import { useState } from 'preact/hooks';
import { api, call, session, type ApiError } from '../api/client';
import { ErrorBox, TextField } from '../ui/kit';

export function SignIn(props: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await call(api.GET('/api/customers', { params: { query: { top: '1' } }, headers: { 'x-functions-key': key } }));
      session.signIn(key);
      props.onSignedIn();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="signin">
      <h1>Sign in to the console</h1>
      <p>
        Enter a function key of this function app. Locally, <code>npm start</code> writes it to <code>.local/endpoints.json</code>. The key stays in this
        browser tab only.
      </p>
      <form onSubmit={submit} class="form narrow">
        <TextField label="Function key" type="password" autoComplete="current-password" value={key} onInput={setKey} required error={error?.status === 401 ? 'This key is not accepted.' : undefined} />
        <button type="submit" class="primary" disabled={busy || key.length === 0}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
      {error && error.status !== 401 ? <ErrorBox error={error} /> : null}
    </div>
  );
}
