/**
 * A Key Vault's secrets API, as far as @azure/keyvault-secrets' `getSecret` needs it, so that `kv:`
 * credential references are resolved locally the way they are in Azure:
 * - served at the root of a port of its own (the SDK parses secret ids as `https://host/secrets/name/version`);
 * - `GET /secrets/{name}[/{version}]?api-version=…` answers the secret bundle, or 404 `SecretNotFound`;
 * - a request without a bearer token gets Key Vault's 401 challenge (`WWW-Authenticate: Bearer
 *   authorization=…, resource=https://vault.azure.net`), and the client then asks the token endpoint;
 * - a token must be this emulator's, for the audience `https://vault.azure.net`, of an app granted read
 *   access to secrets (Azure's "Key Vault Secrets User" role, here a list of apps).
 */
import type { EmuRequest, EmuResponse } from './http';
import type { TokenIssuer } from './auth';
import { ServiceError } from './state';

const VAULT_AUDIENCE = 'https://vault.azure.net';

/** Key Vault's secret names: 1 to 127 letters, digits and dashes. */
const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export interface SavedVault {
  secrets: Array<[string, string]>;
  readers: string[];
  homeTenantId?: string;
}

export class LocalKeyVault {
  private readonly secrets = new Map<string, { value: string; version: string; created: number }>();
  /** `tenantId|clientId` of the apps that may read secrets. */
  private readonly readers = new Set<string>();
  /** The tenant the vault belongs to: its challenge names that tenant's authority. */
  private homeTenantId?: string;

  constructor(saved?: SavedVault) {
    for (const [name, value] of saved?.secrets ?? []) this.setSecret(name, value);
    for (const reader of saved?.readers ?? []) this.readers.add(reader);
    this.homeTenantId = saved?.homeTenantId;
  }

  setSecret(name: string, value: string): void {
    if (!SECRET_NAME.test(name)) throw new ServiceError(400, 'BadParameter', 'Key Vault secret names are 1 to 127 letters, digits and dashes.');
    this.secrets.set(name.toLowerCase(), { value, version: Date.now().toString(16).padStart(32, '0'), created: Math.floor(Date.now() / 1000) });
  }

  deleteSecret(name: string): void {
    this.secrets.delete(name.toLowerCase());
  }

  /** Lets an app of `tenantId` read secrets; the first grant makes that tenant the vault's home. */
  grantRead(tenantId: string, clientId: string): void {
    this.homeTenantId ??= tenantId;
    this.readers.add(`${tenantId}|${clientId}`);
  }

  snapshot(): SavedVault {
    return { secrets: [...this.secrets.entries()].map(([k, v]) => [k, v.value]), readers: [...this.readers], homeTenantId: this.homeTenantId };
  }

  /** `authority` is the identity platform's origin, named in the challenge. */
  handle(req: EmuRequest, issuer: TokenIssuer, authority: string): EmuResponse {
    const vaultError = (status: number, code: string, message: string, headers?: Record<string, string>): EmuResponse => ({ status, headers, json: { error: { code, message } } });
    if (!req.headers.authorization) {
      return vaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', {
        'www-authenticate': `Bearer authorization="${authority}/${this.homeTenantId ?? 'common'}", resource="${VAULT_AUDIENCE}"`,
      });
    }
    const auth = issuer.verify(req.headers.authorization);
    if (!auth.ok) return vaultError(401, 'Unauthorized', `AKV10022: Invalid audience or token: ${auth.message}`);
    if (auth.claims.aud !== VAULT_AUDIENCE) return vaultError(401, 'Unauthorized', `AKV10022: Invalid audience. Expected ${VAULT_AUDIENCE}, found: ${auth.claims.aud}.`);
    if (!this.readers.has(`${auth.claims.tid}|${auth.claims.appid}`)) {
      return vaultError(403, 'Forbidden', `Caller is not authorized to perform action on resource. Caller: appid=${auth.claims.appid}; Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'.`);
    }
    if (!req.query.get('api-version')) return vaultError(400, 'BadParameter', 'The api-version query parameter is required.');
    const seg = req.path.split('/').filter(Boolean);
    if (req.method !== 'GET' || seg[0] !== 'secrets' || seg.length < 2 || seg.length > 3) {
      return vaultError(405, 'MethodNotAllowed', 'Only reading a secret is served by the local Key Vault.');
    }
    const name = seg[1];
    const secret = SECRET_NAME.test(name) ? this.secrets.get(name.toLowerCase()) : undefined;
    if (!secret || (seg[2] && seg[2] !== secret.version)) {
      return vaultError(404, 'SecretNotFound', `A secret with (name/id) ${name}${seg[2] ? `/${seg[2]}` : ''} was not found in this key vault.`);
    }
    const base = req.origin;
    return {
      status: 200,
      json: {
        value: secret.value,
        id: `${base}/secrets/${name}/${secret.version}`,
        attributes: { enabled: true, created: secret.created, updated: secret.created, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
        tags: {},
      },
    };
  }
}
