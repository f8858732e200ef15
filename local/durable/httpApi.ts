/**
 * The Durable client HTTP API. It is served twice on the host's server, as in Azure:
 * - `/runtime/webhooks/durabletask/...`, the public management webhooks behind the extension's system
 *   key (here the host's function or master key, in `code` or `x-functions-key`); the check-status
 *   URLs point there;
 * - `/durabletask/...`, the `rpcBaseUrl` the SDK's DurableClient calls. Azure serves it on a
 *   loopback-only listener without keys, so here it answers loopback callers only.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalHost } from '../host/host';
import type { DurableExtension, OrchestrationStatus } from './extension';
import { BadRequestError, InstanceConflictError, NotFoundError } from './errors';
import type { InstanceQuery, RuntimeStatus } from './store';

const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask/';
const RPC_PREFIX = '/durabletask/';
const INSTANCE_PLACEHOLDER = 'INSTANCEID';
const DEFAULT_PAGE_SIZE = 100;

export class DurableHttpApi {
  constructor(
    private readonly extension: DurableExtension,
    private readonly host: LocalHost,
    private readonly hubName: string,
  ) {}

  webhookBaseUrl(): string {
    return `${this.host.url}${WEBHOOK_PREFIX.slice(0, -1)}`;
  }

  /** The object the Azure extension binds to a `durableClient` input, which `df.getClient` reads. */
  clientInputData(): Record<string, unknown> {
    const base = this.webhookBaseUrl();
    const query = this.requiredQuery();
    return {
      taskHubName: this.hubName,
      creationUrls: {
        createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?code=${this.host.keys.functionKey}`,
        createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${this.host.keys.functionKey}`,
      },
      managementUrls: this.managementUrls(base, INSTANCE_PLACEHOLDER),
      baseUrl: base,
      requiredQueryStringParameters: query,
      rpcBaseUrl: `${this.host.url}${RPC_PREFIX}`,
      httpBaseUrl: '',
      maxGrpcMessageSizeInBytes: 0,
      grpcHttpClientTimeout: '00:01:40',
    };
  }

  private requiredQuery(): string {
    return `taskHub=${encodeURIComponent(this.hubName)}&connection=Storage&code=${encodeURIComponent(this.host.keys.functionKey)}`;
  }

  private managementUrls(base: string, id: string): Record<string, string> {
    const q = this.requiredQuery();
    const instance = `${base}/instances/${id}`;
    return {
      id,
      purgeHistoryDeleteUri: `${instance}?${q}`,
      restartPostUri: `${instance}/restart?${q}`,
      sendEventPostUri: `${instance}/raiseEvent/{eventName}?${q}`,
      statusQueryGetUri: `${instance}?${q}`,
      terminatePostUri: `${instance}/terminate?reason={text}&${q}`,
      rewindPostUri: `${instance}/rewind?reason={text}&${q}`,
      suspendPostUri: `${instance}/suspend?reason={text}&${q}`,
      resumePostUri: `${instance}/resume?reason={text}&${q}`,
    };
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    let rest: string;
    if (url.pathname.startsWith(WEBHOOK_PREFIX)) {
      rest = url.pathname.slice(WEBHOOK_PREFIX.length);
      if (!this.authorized(req, url)) {
        send(res, 401, { Message: 'A valid system key is required (code query parameter or x-functions-key header).' });
        return true;
      }
    } else if (url.pathname.startsWith(RPC_PREFIX)) {
      rest = url.pathname.slice(RPC_PREFIX.length);
      if (!isLoopback(req.socket.remoteAddress)) {
        send(res, 403, { Message: 'The Durable RPC endpoint accepts local callers only.' });
        return true;
      }
    } else {
      return false;
    }
    const hub = url.searchParams.get('taskHub');
    if (hub && hub.toLowerCase() !== this.hubName.toLowerCase()) {
      send(res, 400, { Message: `This host serves task hub '${this.hubName}', not '${hub}'.` });
      return true;
    }
    try {
      await this.route(req, res, url, rest.split('/').map(decodeURIComponent));
    } catch (err) {
      if (err instanceof InstanceConflictError) send(res, 409, { Message: err.message });
      else if (err instanceof NotFoundError) send(res, 404, { Message: err.message });
      else if (err instanceof BadRequestError) send(res, 400, { Message: err.message });
      else {
        this.host.log('error', 'durable', `Durable HTTP API ${req.method} ${url.pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        send(res, 500, { Message: err instanceof Error ? err.message : String(err) });
      }
    }
    return true;
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const header = req.headers['x-functions-key'];
    const presented = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get('code') ?? '';
    return [this.host.keys.functionKey, this.host.keys.masterKey].some((key) => keyEquals(presented, key));
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, parts: string[]): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const [area, id, action, extra] = parts;
    if (area === 'orchestrators' && id && method === 'POST') return this.start(req, res, url, id, action || undefined);
    if (area === 'instances' && !id) {
      if (method === 'GET') return this.list(req, res, url);
      if (method === 'DELETE') {
        const deleted = await this.extension.purgeWhere(parseQuery(url));
        return send(res, deleted > 0 ? 200 : 404, { instancesDeleted: deleted });
      }
    }
    if (area === 'instances' && id && !action) {
      if (method === 'GET') return this.status(res, url, id);
      if (method === 'DELETE') {
        const deleted = await this.extension.purge(id);
        return send(res, deleted > 0 ? 200 : 404, { instancesDeleted: deleted });
      }
    }
    if (area === 'instances' && id && method === 'POST') {
      if (action === 'raiseEvent' && extra) {
        const body = await readBody(req);
        return this.outcome(res, id, await this.extension.raiseEvent(id, extra, body === '' ? undefined : body));
      }
      if (action === 'terminate') return this.outcome(res, id, await this.extension.terminate(id, url.searchParams.get('reason') ?? ''));
      if (['suspend', 'resume', 'rewind', 'restart'].includes(action)) {
        return send(res, 501, { Message: `The local Durable runtime does not implement '${action}'.` });
      }
    }
    if (area === 'entities') return send(res, 501, { Message: 'The local Durable runtime does not run entities.' });
    send(res, 404, { Message: `No Durable API at ${url.pathname}` });
  }

  private async start(req: IncomingMessage, res: ServerResponse, url: URL, name: string, instanceId: string | undefined): Promise<void> {
    const body = await readBody(req);
    const id = await this.extension.startNew(name, { instanceId, input: body === '' ? undefined : body });
    const payload = this.managementUrls(`${url.origin}${WEBHOOK_PREFIX.slice(0, -1)}`, id);
    const timeoutSeconds = Number(url.searchParams.get('timeout'));
    if (timeoutSeconds > 0) {
      const final = await this.extension.waitForCompletion(id, timeoutSeconds * 1000).catch(() => undefined);
      if (final?.runtimeStatus === 'Completed') return send(res, 200, final.output);
      if (final) return send(res, 200, final);
    }
    send(res, 202, payload, { Location: payload.statusQueryGetUri, 'Retry-After': '10' });
  }

  private async status(res: ServerResponse, url: URL, id: string): Promise<void> {
    const flag = (name: string): boolean => url.searchParams.get(name)?.toLowerCase() === 'true';
    const status = await this.extension.getStatus(id, {
      showHistory: flag('showHistory'),
      showHistoryOutput: flag('showHistoryOutput'),
      showInput: url.searchParams.get('showInput')?.toLowerCase() !== 'false',
    });
    if (!status) return send(res, 404, { Message: `No instance with ID '${id}' found.` });
    const running: RuntimeStatus[] = ['Pending', 'Running', 'ContinuedAsNew', 'Suspended'];
    if (running.includes(status.runtimeStatus)) {
      const location = this.managementUrls(`${url.origin}${WEBHOOK_PREFIX.slice(0, -1)}`, id).statusQueryGetUri;
      return send(res, 202, status, { Location: location, 'Retry-After': '10' });
    }
    const failedAsError = status.runtimeStatus === 'Failed' && url.searchParams.get('returnInternalServerErrorOnFailure')?.toLowerCase() === 'true';
    send(res, failedAsError ? 500 : 200, status);
  }

  private async list(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const top = Number(url.searchParams.get('top'));
    const token = headerOf(req, 'x-ms-continuation-token');
    const page = await this.extension.listInstances(parseQuery(url), top > 0 ? top : DEFAULT_PAGE_SIZE, token);
    const showInput = url.searchParams.get('showInput')?.toLowerCase() !== 'false';
    const items: OrchestrationStatus[] = page.items.map((s) => (showInput ? s : { ...s, input: null }));
    send(res, 200, items, page.continuationToken ? { 'x-ms-continuation-token': page.continuationToken } : {});
  }

  private outcome(res: ServerResponse, id: string, outcome: 'accepted' | 'gone' | 'not-found'): void {
    if (outcome === 'accepted') return send(res, 202, null);
    if (outcome === 'gone') return send(res, 410, { Message: `Instance '${id}' has already finished.` });
    send(res, 404, { Message: `No instance with ID '${id}' found.` });
  }
}

function parseQuery(url: URL): InstanceQuery {
  const statuses = url.searchParams.get('runtimeStatus');
  const from = url.searchParams.get('createdTimeFrom');
  const to = url.searchParams.get('createdTimeTo');
  return {
    runtimeStatus: statuses ? (statuses.split(',').map((s) => s.trim()).filter(Boolean) as RuntimeStatus[]) : undefined,
    createdTimeFrom: from ? Date.parse(from) : undefined,
    createdTimeTo: to ? Date.parse(to) : undefined,
    instanceIdPrefix: url.searchParams.get('instanceIdPrefix') ?? undefined,
  };
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = body === null && status === 202 ? '' : JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(payload)), ...headers });
  res.end(payload);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function keyEquals(presented: string, expected: string): boolean {
  if (!expected) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);
}
