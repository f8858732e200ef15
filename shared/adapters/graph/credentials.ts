/**
 * Per-customer credentials of the multi-tenant app. A customer row holds only a *reference* to the secret:
 * `kv:<secret-name>` (Key Vault, reached with the Function App's managed identity) or `env:<SETTING_NAME>`
 * (a local setting). The secret itself lives only in memory, inside the credential.
 */
import type https from 'node:https';
import {
  ClientCertificateCredential,
  ClientSecretCredential,
  DefaultAzureCredential,
  type AccessToken,
  type GetTokenOptions,
  type TokenCredential,
} from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { ConfigurationError } from '../../config/settings';
import { SECRET_SETTING_PREFIX } from '../../domain';

export type CredentialReference = `kv:${string}` | `env:${string}`;

export interface SecretSource {
  /** Returns the secret named by the reference. Errors name the reference, never the value. */
  resolve(reference: string): Promise<string>;
}

export function parseCredentialReference(reference: string): { store: 'kv' | 'env'; name: string } {
  const match = /^(kv|env):(.+)$/.exec(reference.trim());
  // The value is not echoed: a secret pasted where its reference belongs must not reach a log.
  if (!match) throw new ConfigurationError('credential reference must be kv:<secret-name> or env:<SETTING_NAME>');
  return { store: match[1] as 'kv' | 'env', name: match[2] };
}

/** The reference names nothing that holds a secret: the setting is unset, or the vault has no such secret. */
export class SecretNotFoundError extends ConfigurationError {
  override name = 'SecretNotFoundError';
}

export function createSecretSource(options: {
  keyVaultUrl?: string;
  env?: Record<string, string | undefined>;
  /** For Key Vault; defaults to DefaultAzureCredential (the managed identity in Azure). */
  vaultCredential?: TokenCredential;
  /** Agent trusting the extra CA (the local Key Vault). */
  agent?: https.Agent;
}): SecretSource {
  const env = options.env ?? process.env;
  let vault: SecretClient | undefined;
  return {
    async resolve(reference) {
      const { store, name } = parseCredentialReference(reference);
      if (store === 'env') {
        // Only settings meant to hold a customer's secret: never the host's own connection strings or keys.
        if (!name.startsWith(SECRET_SETTING_PREFIX)) throw new ConfigurationError(`env: credential references may only name settings starting with ${SECRET_SETTING_PREFIX}`);
        const value = env[name];
        if (!value) throw new SecretNotFoundError(`setting ${name} named by the credential reference is not set`);
        return value;
      }
      if (!options.keyVaultUrl) throw new ConfigurationError(`no Key Vault is configured (SITESYNC_KEY_VAULT_URL) to resolve kv:${name}`);
      vault ??= new SecretClient(options.keyVaultUrl, options.vaultCredential ?? new DefaultAzureCredential(), {
        ...(options.agent ? { agent: options.agent } : {}),
        // A vault outside Azure's domains (the local one) names its resource in its challenge all the same.
        disableChallengeResourceVerification: !/\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)$/.test(new URL(options.keyVaultUrl).hostname),
      });
      let secret;
      try {
        secret = await vault.getSecret(name);
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) throw new SecretNotFoundError(`Key Vault has no secret named ${name}`);
        // The vault's own message, never a value: Key Vault errors carry none.
        throw new ConfigurationError(`Key Vault could not be read for kv:${name}: ${(error as { code?: string }).code ?? (error instanceof Error ? error.message.split('\n')[0] : 'unknown error')}`);
      }
      if (!secret.value) throw new SecretNotFoundError(`Key Vault secret ${name} has no value`);
      return secret.value;
    },
  };
}

export interface AppRegistration {
  tenantId: string;
  clientId: string;
  credentialRef: string;
}

export interface CredentialOptions {
  authorityHost?: string;
  /** Agent trusting the extra CA, for the token calls too. */
  agent?: https.Agent;
}

/** A held token is asked for afresh this long before it expires (as MSAL's own cache counts a token expired 5 minutes early). */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

/**
 * A credential for the app in the customer's tenant. The secret is fetched on the first token request and
 * kept only inside the identity library's credential; a PEM with a private key means a certificate.
 */
export function createTenantCredential(app: AppRegistration, secrets: SecretSource, options: CredentialOptions = {}): TokenCredential {
  let inner: Promise<TokenCredential> | undefined;
  const clientOptions = {
    ...(options.authorityHost ? { authorityHost: options.authorityHost } : {}),
    // A non-Microsoft authority (the local emulator) cannot answer instance discovery.
    ...(options.authorityHost && !/login\.(microsoftonline|chinacloudapi|microsoftonline\.us)/.test(options.authorityHost)
      ? { disableInstanceDiscovery: true }
      : {}),
    ...(options.agent ? { agent: options.agent } : {}),
  };
  const build = async (): Promise<TokenCredential> => {
    const secret = await secrets.resolve(app.credentialRef);
    if (secret.includes('-----BEGIN') && secret.includes('PRIVATE KEY')) {
      return new ClientCertificateCredential(app.tenantId, app.clientId, { certificate: secret }, clientOptions);
    }
    return new ClientSecretCredential(app.tenantId, app.clientId, secret, clientOptions);
  };
  const request = async (scopes: string | string[], getTokenOptions?: GetTokenOptions): Promise<AccessToken | null> => {
    inner ??= build().catch((error: unknown) => {
      inner = undefined; // a vault hiccup must not poison the tenant for good
      throw error;
    });
    try {
      return await (await inner).getToken(scopes, getTokenOptions);
    } catch (error) {
      // A refused secret may have been rotated in the vault: read it again on the next request.
      if (/invalid_client|AADSTS7000215|AADSTS7000222/.test(error instanceof Error ? error.message : '')) inner = undefined;
      throw error;
    }
  };
  return sharedAndHeld({ getToken: request });
}

/**
 * Tokens asked for while one of the same scopes is on its way share it (the first activities of a sync start
 * together, and each asked Entra for a token of its own before any was cached: 8 for one sync), and a token
 * is kept until shortly before it expires: every Graph request asks for one, and the identity library's own
 * cache costs about a millisecond of CPU per lookup (a sync's read asked once per page, provisioning once
 * per call). Asking with claims (a challenge) or an abort signal always goes to the credential.
 */
export function sharedAndHeld(credential: TokenCredential, now: () => number = Date.now): TokenCredential {
  const inFlight = new Map<string, Promise<AccessToken | null>>();
  const held = new Map<string, AccessToken>();
  return {
    getToken(scopes: string | string[], getTokenOptions?: GetTokenOptions): Promise<AccessToken | null> {
      if (getTokenOptions?.abortSignal || getTokenOptions?.claims) return credential.getToken(scopes, getTokenOptions);
      const key = [scopes].flat().join(' ');
      const token = held.get(key);
      if (token && token.expiresOnTimestamp - now() > TOKEN_REFRESH_MARGIN_MS) return Promise.resolve(token);
      let pending = inFlight.get(key);
      if (!pending) {
        pending = credential
          .getToken(scopes, getTokenOptions)
          .then((fresh) => {
            if (fresh) held.set(key, fresh);
            return fresh;
          })
          .finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending;
    },
  };
}
