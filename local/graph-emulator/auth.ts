/**
 * The Microsoft identity platform's client-credentials flow, as far as @azure/identity (MSAL) needs it:
 * OpenID configuration, instance discovery, the token endpoint. Access tokens are JWT-shaped (HS256 with a
 * per-emulator key) and carry tid, appid and roles like real app-only tokens.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { EmuRequest, EmuResponse } from './http';
import type { TenantState } from './state';

export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  appid: string;
  azp: string;
  idtyp: 'app';
  oid: string;
  sub: string;
  tid: string;
  roles: string[];
  ver: '1.0';
}

export const TOKEN_LIFETIME_S = 3599;

export class TokenIssuer {
  /** The signing key; an emulator that keeps its state keeps it too, so tokens issued before a restart stay valid. */
  readonly key: Buffer;

  constructor(private readonly clock: () => number, key?: Buffer) {
    this.key = key ?? randomBytes(32);
  }

  issue(tenantId: string, clientId: string, roles: string[], audience: string): string {
    const now = Math.floor(this.clock() / 1000);
    const claims: AccessTokenClaims = {
      aud: audience, iss: `https://sts.windows.net/${tenantId}/`, iat: now, nbf: now, exp: now + TOKEN_LIFETIME_S,
      appid: clientId, azp: clientId, idtyp: 'app', oid: clientId, sub: clientId, tid: tenantId, roles, ver: '1.0',
    };
    const head = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'HS256', kid: 'emulator' })).toString('base64url');
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${head}.${body}.${this.sign(`${head}.${body}`)}`;
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }

  /** The claims of a valid bearer token, or the Graph 401 message explaining why not. */
  verify(authorization: string | undefined): { ok: true; claims: AccessTokenClaims } | { ok: false; message: string } {
    if (!authorization || !/^bearer /i.test(authorization)) return { ok: false, message: 'Access token is empty.' };
    const token = authorization.slice(7).trim();
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, message: 'IDX14100: JWT is not well formed, there are no dots (.).' };
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`));
    const given = Buffer.from(parts[2]);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { ok: false, message: 'Access token validation failure. Invalid signature.' };
    }
    let claims: AccessTokenClaims;
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as AccessTokenClaims;
    } catch {
      return { ok: false, message: 'Access token validation failure.' };
    }
    if (claims.exp * 1000 <= this.clock()) return { ok: false, message: 'Lifetime validation failed, the token is expired.' };
    return { ok: true, claims };
  }
}

function aadError(status: number, error: string, code: number, description: string): EmuResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  return {
    status,
    json: {
      error, error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code], timestamp: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      trace_id: traceId, correlation_id: correlationId, error_uri: 'https://login.microsoftonline.com/error?code=' + code,
    },
  };
}

export interface IdentityContext {
  findTenant(idOrDomain: string): TenantState | undefined;
  issuer: TokenIssuer;
  onToken(): void;
}

/** Handles the identity routes; returns undefined when the path is not one of them. */
export function handleIdentity(req: EmuRequest, ctx: IdentityContext): EmuResponse | undefined {
  const seg = req.path.split('/').filter(Boolean);
  if (req.method === 'GET' && seg.length === 3 && seg[0] === 'common' && seg[1] === 'discovery' && seg[2] === 'instance') {
    return {
      status: 200,
      json: {
        tenant_discovery_endpoint: `${req.origin}/common/v2.0/.well-known/openid-configuration`, 'api-version': '1.1',
        metadata: [{ preferred_network: new URL(req.origin).host, preferred_cache: new URL(req.origin).host, aliases: [new URL(req.origin).host] }],
      },
    };
  }
  if (seg.length < 2) return undefined;
  const tenantRef = seg[0];
  const rest = seg.slice(1).join('/');
  const isConfig = req.method === 'GET' && (rest === 'v2.0/.well-known/openid-configuration' || rest === '.well-known/openid-configuration');
  const isToken = rest === 'oauth2/v2.0/token' || rest === 'oauth2/token';
  const isKeys = req.method === 'GET' && rest === 'discovery/v2.0/keys';
  if (!isConfig && !isToken && !isKeys) return undefined;
  const tenant = ctx.findTenant(tenantRef);
  if (isKeys) return { status: 200, json: { keys: [] } };
  if (isConfig) {
    if (!tenant) return aadError(400, 'invalid_tenant', 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    const base = `${req.origin}/${tenantRef}`;
    return {
      status: 200,
      json: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${base}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `${req.origin}/${tenant.tenantId}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${req.origin}/oidc/userinfo`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
        kerberos_endpoint: `${base}/kerberos`,
        tenant_region_scope: 'NA',
        cloud_instance_name: new URL(req.origin).host,
        cloud_graph_host_name: new URL(req.origin).host,
        msgraph_host: new URL(req.origin).host,
        rbac_url: req.origin,
      },
    };
  }
  if (req.method !== 'POST') return aadError(405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
  ctx.onToken();
  const form = new URLSearchParams(req.body.toString('utf8'));
  let clientId = form.get('client_id') ?? '';
  let secret = form.get('client_secret') ?? '';
  const basic = req.headers.authorization;
  if (basic && /^basic /i.test(basic)) {
    const [id, pw] = Buffer.from(basic.slice(6), 'base64').toString('utf8').split(':');
    try {
      clientId ||= decodeURIComponent(id ?? '');
      secret ||= decodeURIComponent(pw ?? '');
    } catch {
      return aadError(401, 'invalid_client', 7000216, 'The client credentials in the Authorization header are not valid.');
    }
  }
  if (form.get('grant_type') !== 'client_credentials') {
    return aadError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${form.get('grant_type') ?? ''}'.`);
  }
  if (!tenant) return aadError(400, 'invalid_request', 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
  const app = tenant.apps.get(clientId);
  if (!app) {
    return aadError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`);
  }
  if (!secret) return aadError(401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
  if (secret !== app.secret) {
    return aadError(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
  }
  const scope = form.get('scope') ?? '';
  const resource = scope.split(' ').find((s) => s.endsWith('/.default'));
  if (!resource) return aadError(400, 'invalid_scope', 1002012, `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
  const audience = resource.slice(0, -'/.default'.length);
  return {
    status: 200,
    json: {
      token_type: 'Bearer', expires_in: TOKEN_LIFETIME_S, ext_expires_in: TOKEN_LIFETIME_S,
      access_token: ctx.issuer.issue(tenant.tenantId, app.clientId, [...app.roles], audience),
    },
  };
}
