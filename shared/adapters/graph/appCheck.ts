/**
 * Proves a customer's app registration before it is stored: the credential reference names a secret that
 * exists, Microsoft Entra issues a token with it, and the token's application permissions (`roles`) hold
 * every one sitesync needs. Findings name the problem and never carry the secret: it is read into memory
 * here, handed to the identity library, and dropped.
 */
import type https from 'node:https';
import { REQUIRED_GRAPH_PERMISSIONS } from '../../domain';
import { ConfigurationError } from '../../config/settings';
import type { TenantAppFinding, TenantAppVerifier } from '../../onboarding/deps';
import { createTenantCredential, type AppRegistration, type SecretSource } from './credentials';

const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface AppCheckOptions {
  secrets: SecretSource;
  authorityHost?: string;
  agent?: https.Agent;
}

/** The Entra error code of a refused token request (AADSTS…), the only part of its text that is repeated. */
function entraCode(error: unknown): string | undefined {
  const text = error instanceof Error ? error.message : String(error);
  // MSAL reads the tenant's OpenID configuration first: a tenant Entra does not know fails there.
  if (/endpoints_resolution_error|invalid_tenant/.test(text)) return '90002';
  return /AADSTS(\d+)/.exec(text)?.[1];
}

/** What Entra's answer says about the app registration, by its documented codes. */
function findingForTokenError(app: AppRegistration, code: string | undefined): TenantAppFinding | undefined {
  switch (code) {
    case '90002':
    case '90023':
      return { field: 'tenantId', message: `Microsoft Entra has no tenant ${app.tenantId} (AADSTS${code})` };
    case '700016':
      return { field: 'clientId', message: `app ${app.clientId} is not registered or not consented in tenant ${app.tenantId} (AADSTS700016)` };
    case '7000215':
    case '7000222':
    case '7000216':
    case '700027':
      return { field: 'credentialRef', message: `Microsoft Entra refused the credential the reference names for app ${app.clientId} (AADSTS${code}: wrong or expired secret or certificate)` };
    case undefined:
      return undefined;
    default:
      return { field: 'credentialRef', message: `Microsoft Entra issued no token for app ${app.clientId} in tenant ${app.tenantId} (AADSTS${code})` };
  }
}

function rolesOf(accessToken: string): string[] {
  try {
    const claims = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { roles?: unknown };
    return Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
  } catch {
    return [];
  }
}

export function createAppCheck(options: AppCheckOptions): TenantAppVerifier {
  return {
    async verify(app) {
      let secret: string;
      try {
        secret = await options.secrets.resolve(app.credentialRef);
      } catch (error) {
        if (error instanceof ConfigurationError) return [{ field: 'credentialRef', message: error.message }];
        throw error;
      }
      const credential = createTenantCredential(app, { resolve: async () => secret }, { authorityHost: options.authorityHost, agent: options.agent });
      let token;
      try {
        token = await credential.getToken(GRAPH_SCOPE);
      } catch (error) {
        const finding = findingForTokenError(app, entraCode(error));
        // No answer from Entra at all (unreachable) is not the caller's to fix: it stays an error.
        if (!finding) throw new Error(`Microsoft Entra could not be reached to prove the credential of app ${app.clientId}`);
        return [finding];
      }
      if (!token) return [{ field: 'credentialRef', message: `Microsoft Entra issued no token for app ${app.clientId}` }];
      const roles = new Set(rolesOf(token.token));
      const missing = REQUIRED_GRAPH_PERMISSIONS.filter((permission) => !roles.has(permission));
      if (missing.length === 0) return [];
      return [{
        field: 'clientId',
        message: `app ${app.clientId} lacks the application permission(s) ${missing.join(', ')} in tenant ${app.tenantId}: grant them and have an administrator consent`,
        missingPermissions: [...missing],
      }];
    },
  };
}
