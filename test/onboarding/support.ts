import { randomBytes } from 'node:crypto';
import { startLocalStack, type LocalStack } from '../../local/stack';
import type { HostLogger } from '../../local/host/host';
import { DEMO_APP_ROLES } from '../../local/demo/tenant';
import { createTableStorage } from '../../shared/adapters/tables';
import type { Storage } from '../../shared/ports/storage';

export const TENANT = {
  tenantId: '0f3c9a52-7b1e-4c0a-9d7e-2a6b5c4d3e21',
  clientId: '5a8e1f20-3c4b-4d6e-8f90-1a2b3c4d5e6f',
  credentialRef: 'kv:contoso-graph-app',
};
/** The same app secret, kept in a setting for `env:` references. */
export const TENANT_SECRET_SETTING = 'SITESYNC_SECRET_CONTOSO';

export interface Api {
  stack: LocalStack;
  /** The app's secret (in the vault and the setting). */
  secret: string;
  storage: Storage;
  call(method: string, path: string, options?: { body?: unknown; raw?: string | Uint8Array; headers?: Record<string, string>; key?: string | null }): Promise<Reply>;
  stop(): Promise<void>;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON replies of any shape, asserted field by field
  text: string;
}

/**
 * One local host with Azurite and a small Graph emulator (onboarding proves the tenant's app with a token):
 * fast API tests. The app's secret is in the emulator's Key Vault as `contoso-graph-app` and in the
 * setting SITESYNC_SECRET_CONTOSO.
 */
export async function startApi(options: { logger?: HostLogger } = {}): Promise<Api> {
  const secret = randomBytes(30).toString('base64url');
  const stack = await startLocalStack({
    logger: options.logger,
    graph: { emulator: { tenants: [{ seed: 'api', users: 10, tenantId: TENANT.tenantId, apps: [{ clientId: TENANT.clientId, secret, displayName: 'sitesync', roles: [...DEMO_APP_ROLES] }] }] } },
    without: ['durable', 'serviceBus'],
  });
  stack.graph!.control.setVaultSecret('contoso-graph-app', secret);
  stack.host.setSetting(TENANT_SECRET_SETTING, secret);
  const { apiUrl, functionKey, tablesConnectionString } = stack.endpoints;
  const storage = createTableStorage({ connectionString: tablesConnectionString });
  return {
    stack,
    secret,
    storage,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.key === null ? {} : { 'x-functions-key': options.key ?? functionKey }) };
      let body: string | Uint8Array | undefined;
      if (options.raw !== undefined) body = options.raw;
      else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      }
      Object.assign(headers, options.headers);
      const res = await fetch(`${apiUrl}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    stop: () => stack.stop(),
  };
}

export function customerBody(id: string) {
  return { id, name: `Customer ${id}`, ...TENANT };
}
