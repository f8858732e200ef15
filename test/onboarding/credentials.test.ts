/**
 * Onboarding proves the tenant's app before keeping it, and keeps its secret out of everything: each wrong,
 * missing, secret-shaped or out-of-prefix reference and each app lacking a permission is a 400 naming the
 * problem, and no secret value appears in storage, logs or answers (all scanned). The Key Vault is the
 * emulator's, read through the Key Vault SDK with its challenge; tokens come from the emulator's identity
 * platform.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { TableServiceClient, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_APP_ROLES } from '../../local/demo/tenant';
import { REQUIRED_GRAPH_PERMISSIONS } from '../../shared/domain';
import { customerBody, startApi, TENANT, type Api, type Reply } from './support';

let api: Api;
const logs: string[] = [];
const answers: string[] = [];
/** Secret values that must never be seen again once given. */
const secrets: string[] = [];

const LIMITED_APP = randomUUID();
const LIMITED_SECRET = randomBytes(30).toString('base64url');
const PASTED = 'Xy8Q~abcDEF123456789_ghiJKLmnoPQRstu.vwx';

async function call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply> {
  const r = await api.call(method, path, { body, headers });
  answers.push(r.text);
  return r;
}

/** What the process writes to its console meanwhile (adapters' warnings, the host's default log lines). */
const originalWrites = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
function captureConsole(): void {
  const tee = (original: typeof originalWrites.out) => ((chunk: unknown, ...rest: unknown[]) => {
    logs.push(String(chunk));
    return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof originalWrites.out;
  process.stdout.write = tee(originalWrites.out);
  process.stderr.write = tee(originalWrites.err);
}

beforeAll(async () => {
  captureConsole();
  api = await startApi({ logger: (level, source, message) => logs.push(`${level} ${source} ${message}`) });
  secrets.push(api.secret, LIMITED_SECRET, PASTED);
  const control = api.stack.graph!.control;
  // An app holding all but two of the permissions, its secret in the vault.
  const lacking = REQUIRED_GRAPH_PERMISSIONS.slice(-2);
  control.addApp(TENANT.tenantId, { clientId: LIMITED_APP, secret: LIMITED_SECRET, displayName: 'limited', roles: DEMO_APP_ROLES.filter((r) => !lacking.includes(r as never)) });
  control.setVaultSecret('limited-app', LIMITED_SECRET);
  // A secret in the vault that is not the app's.
  const stale = randomBytes(30).toString('base64url');
  secrets.push(stale);
  control.setVaultSecret('rotated-away', stale);
});
afterAll(async () => {
  process.stdout.write = originalWrites.out;
  process.stderr.write = originalWrites.err;
  await api?.stop();
});

function expect400(r: Reply, path: string, ...words: string[]): void {
  expect(r.status, r.text).toBe(400);
  const error = (r.body.errors as Array<{ path: string; message: string }>).find((e) => e.path === path);
  expect(error, r.text).toBeDefined();
  for (const w of words) expect(error!.message).toContain(w);
}

describe('onboarding proves the credential', () => {
  it('refuses a kv: reference to a secret the vault does not hold', async () => {
    expect400(await call('POST', '/customers', { ...customerBody('c1'), credentialRef: 'kv:no-such-secret' }), '/credentialRef', 'no secret named no-such-secret');
  });

  it('refuses env: outside the reserved prefix, naming the prefix', async () => {
    for (const ref of ['env:AzureWebJobsStorage', 'env:SITESYNC_LOCAL_MASTER_KEY', 'env:ServiceBusConnection', 'env:SITESYNC_SECRET_']) {
      expect400(await call('POST', '/customers', { ...customerBody('c2'), credentialRef: ref }), '/credentialRef', 'SITESYNC_SECRET_');
    }
  });

  it('refuses env: naming a setting that is not set', async () => {
    expect400(await call('POST', '/customers', { ...customerBody('c3'), credentialRef: 'env:SITESYNC_SECRET_NOBODY' }), '/credentialRef', 'SITESYNC_SECRET_NOBODY', 'not set');
  });

  it('refuses a pasted secret, after kv: or alone, without repeating it', async () => {
    for (const ref of [PASTED, `kv:${'a8F3kLm29QzX7pW4nB6vC1dR5tY0uE'}`, `env:${'SITESYNC_SECRET_a8F3kLm29QzX7pW4nB6vC1dR5tY0uE'}`]) {
      const r = await call('POST', '/customers', { ...customerBody('c4'), credentialRef: ref });
      expect400(r, '/credentialRef');
      expect(r.text).not.toContain(ref.replace(/^(kv|env):/, ''));
    }
  });

  it('refuses a credential Microsoft Entra does not accept', async () => {
    expect400(await call('POST', '/customers', { ...customerBody('c5'), credentialRef: 'kv:rotated-away' }), '/credentialRef', 'refused the credential', 'AADSTS7000215');
  });

  it('refuses an app the tenant does not know, and a tenant that does not exist', async () => {
    expect400(await call('POST', '/customers', { ...customerBody('c6'), clientId: randomUUID() }), '/clientId', 'AADSTS700016');
    expect400(await call('POST', '/customers', { ...customerBody('c7'), tenantId: randomUUID() }), '/tenantId', 'AADSTS90002');
  });

  it('names the application permissions the app lacks', async () => {
    const r = await call('POST', '/customers', { ...customerBody('c8'), clientId: LIMITED_APP, credentialRef: 'kv:limited-app' });
    expect400(r, '/clientId', ...REQUIRED_GRAPH_PERMISSIONS.slice(-2));
    for (const held of REQUIRED_GRAPH_PERMISSIONS.slice(0, -2)) expect(r.body.detail).not.toContain(held);
  });

  it('keeps nothing of a refused onboarding, and refuses a change to a bad reference the same way', async () => {
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8']) expect((await call('GET', `/customers/${id}`)).status).toBe(404);
    expect((await call('POST', '/customers', customerBody('good'))).status).toBe(201);
    const read = await call('GET', '/customers/good');
    const etag = read.headers.get('etag')!;
    expect400(await call('PUT', '/customers/good', { ...customerBody('good'), credentialRef: 'env:SITESYNC_SECRET_NOBODY' }, { 'if-match': etag }), '/credentialRef', 'not set');
    expect((await call('GET', '/customers/good')).body.credentialRef).toBe(TENANT.credentialRef);
    // The same app through env: works too.
    const viaEnv = await call('PUT', '/customers/good', { ...customerBody('good'), credentialRef: 'env:SITESYNC_SECRET_CONTOSO' }, { 'if-match': etag });
    expect(viaEnv.status, viaEnv.text).toBe(200);
  });

  it('deleting a customer removes its reference from storage', async () => {
    api.stack.graph!.control.setVaultSecret('initech-graph-app', api.secret);
    expect((await call('POST', '/customers', { ...customerBody('initech'), credentialRef: 'kv:initech-graph-app' })).status).toBe(201);
    expect(await storageText()).toContain('initech-graph-app');
    expect((await call('DELETE', '/customers/initech', undefined, { 'if-match': '*' })).status).toBe(204);
    expect(await storageText()).not.toContain('initech-graph-app');
  });

  it('never stores, logs or answers a secret value', async () => {
    const stored = await storageText();
    const logged = logs.join('\n');
    const answered = answers.join('\n');
    expect(stored.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(stored.includes(secret), 'storage').toBe(false);
      expect(logged.includes(secret), 'logs').toBe(false);
      expect(answered.includes(secret), 'answers').toBe(false);
    }
  });
});

/** Every entity of every table, as text. */
async function storageText(): Promise<string> {
  const connection = api.stack.endpoints.tablesConnectionString;
  const service = TableServiceClient.fromConnectionString(connection, { allowInsecureConnection: true });
  const parts: string[] = [];
  for await (const table of service.listTables()) {
    const client = TableClient.fromConnectionString(connection, table.name!, { allowInsecureConnection: true });
    for await (const entity of client.listEntities()) parts.push(JSON.stringify(entity));
  }
  return parts.join('\n');
}
