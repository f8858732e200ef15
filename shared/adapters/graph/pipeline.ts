/**
 * The Graph client's middleware: pace, authenticate, send, and retry what is safe to retry.
 *
 * Replaces the SDK's default chain because its RetryHandler repeats POSTs after a 504 (a write that may
 * have taken effect), its auth handler only trusts known hosts, and its transport cannot trust an extra CA.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { Context, Middleware, MiddlewareOptions } from '@microsoft/microsoft-graph-client';
import { ConfigurationError } from '../../config/settings';
import { GraphPermissionError, GraphTransientError, MicrosoftError } from '../../ports/microsoft';
import {
  backoffDelay,
  costOf,
  parseRetryAfter,
  systemClock,
  type Clock,
  type Pacer,
  type RequestCost,
  type RetryPolicy,
} from './pacer';
import { TransportError, type Transport } from './transport';

/** Per-call options, passed with `.middlewareOptions([new CallOptions(...)])`. */
export class CallOptions implements MiddlewareOptions {
  /** Set by the middleware when it fails for a reason the SDK would blur into a generic GraphError. */
  failure?: Error;
  /** Retries the middleware made. */
  retries = 0;
  constructor(
    readonly settings: {
      /** May be sent twice without harm. Defaults to true for GET, PUT, PATCH, DELETE; false for POST. */
      idempotent?: boolean;
      /** Overrides Microsoft's cost table (a $batch costs the sum of its requests). */
      cost?: RequestCost;
      operation?: string;
    } = {},
  ) {}
}

export interface PipelineDependencies {
  pacer: Pacer;
  transport: Transport;
  credential: TokenCredential;
  scopes: string[];
  retry: RetryPolicy;
  clock?: Clock;
  random?: () => number;
}

const RETRYABLE = new Set([429, 503, 504]);

/** A token with less life left than this when its request may go is asked for again. */
const TOKEN_MIN_LIFE_MS = 60_000;

export class PacedGraphMiddleware implements Middleware {
  private readonly clock: Clock;
  private readonly random: () => number;

  constructor(private readonly deps: PipelineDependencies) {
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
  }

  async execute(context: Context): Promise<void> {
    const url = typeof context.request === 'string' ? context.request : context.request.url;
    const method = (context.options?.method ?? 'GET').toUpperCase();
    const callOptions = (context.middlewareControl?.getMiddlewareOptions(CallOptions) as CallOptions | undefined) ?? new CallOptions();
    const idempotent = callOptions.settings.idempotent ?? method !== 'POST';
    const cost = callOptions.settings.cost ?? costOf(method, url);
    const headers = toHeaderRecord(context.options?.headers);
    const body = context.options?.body as string | Uint8Array | undefined;

    for (let attempt = 0; ; attempt++) {
      // The token is asked for while the quotas are waited on: a cold credential's round trips to the
      // identity platform overlap the pacer's lease (a held token comes from the credential's cache at once).
      const asked = this.askToken();
      const release = await this.deps.pacer.acquire(cost);
      let token: string;
      try {
        let accessToken = await asked;
        // A long hold (a Retry-After) may have brought the token asked for before it near its expiry.
        if (accessToken && accessToken.expiresOnTimestamp - this.clock.now() < TOKEN_MIN_LIFE_MS) accessToken = await this.askToken();
        if (!accessToken) throw new GraphTransientError(`${method} ${pathOf(url)}: no access token`);
        token = accessToken.token;
      } catch (error) {
        release();
        callOptions.failure = tokenFailure(error);
        throw callOptions.failure;
      }
      let response: Response;
      try {
        response = await this.deps.transport({ method, url, headers: { ...headers, authorization: `Bearer ${token}` }, body });
      } catch (error) {
        release();
        const failure = this.networkFailure(error, method, url, idempotent);
        if (failure.retry && attempt < this.deps.retry.maxRetries) {
          callOptions.retries += 1;
          await this.clock.sleep(backoffDelay(attempt, this.deps.retry, this.random));
          continue;
        }
        callOptions.failure = failure.error;
        throw failure.error;
      }
      release();

      const retryAfter = RETRYABLE.has(response.status) ? parseRetryAfter(response.headers.get('retry-after'), this.clock.now()) : undefined;
      // Microsoft throttles the app + tenant, not the request: hold the whole tenant, whether or not this
      // request goes again.
      if (retryAfter !== undefined) this.deps.pacer.holdUntilTime(this.clock.now() + retryAfter);
      if (response.status === 429) this.deps.pacer.noteThrottled();
      // A write is repeated only on answers that say it was not processed (429, 503).
      const retryable = RETRYABLE.has(response.status) && (idempotent || response.status !== 504);
      if (!retryable || attempt >= this.deps.retry.maxRetries) {
        context.response = response;
        return;
      }
      const delay = retryAfter ?? backoffDelay(attempt, this.deps.retry, this.random);
      await response.arrayBuffer().catch(() => undefined);
      callOptions.retries += 1;
      await this.clock.sleep(delay);
    }
  }

  private askToken(): Promise<AccessToken | null> {
    const asked = this.deps.credential.getToken(this.deps.scopes);
    // Awaited once the quotas allow the request; a failure meanwhile is not left unhandled.
    asked.catch(() => undefined);
    return asked;
  }

  private networkFailure(error: unknown, method: string, url: string, idempotent: boolean): { retry: boolean; error: Error } {
    if (error instanceof GraphTransientError) return { retry: true, error };
    const message = error instanceof Error ? error.message : String(error);
    const mayHaveApplied = !idempotent && (!(error instanceof TransportError) || error.connected);
    const transient = new GraphTransientError(`${method} ${pathOf(url)}: ${message}`, undefined, undefined, undefined, mayHaveApplied);
    if (!(error instanceof TransportError)) return { retry: false, error: transient };
    return { retry: !mayHaveApplied, error: transient };
  }
}

/**
 * The identity platform refused the app (wrong secret, app not consented in the tenant, unknown tenant):
 * a permission problem an operator must fix. Anything else (vault, network) may pass. The identity
 * library's message names the AADSTS code and never the secret.
 */
export function tokenFailure(error: unknown): Error {
  if (error instanceof MicrosoftError || error instanceof ConfigurationError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const summary = message.split('\n')[0].slice(0, 300);
  if (/AADSTS\d+|invalid_client|unauthorized_client|invalid_tenant|invalid_grant/.test(message)) {
    const code = /AADSTS(\d+)/.exec(message)?.[0] ?? 'TokenRefused';
    return new GraphPermissionError(`access token refused: ${summary}`, 401, code, undefined, []);
  }
  return new GraphTransientError(`access token unavailable: ${summary}`);
}

function toHeaderRecord(headers: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  if (!headers) return record;
  if (headers instanceof Headers) {
    headers.forEach((value, name) => (record[name.toLowerCase()] = value));
    return record;
  }
  if (Array.isArray(headers)) {
    for (const [name, value] of headers as Array<[string, string]>) record[name.toLowerCase()] = value;
    return record;
  }
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value !== undefined && value !== null) record[name.toLowerCase()] = String(value);
  }
  return record;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}
