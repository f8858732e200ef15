/**
 * The Durable client HTTP API. It is served twice, as in Azure:
 * - `/runtime/webhooks/durabletask/...` on the host's public port, the management webhooks behind the
 *   extension's system key (`durabletask_extension`) or the master key, in `code` or `x-functions-key`;
 *   a function key is refused. The check-status URLs point there and carry the system key;
 * - `/durabletask/...`, the `rpcBaseUrl` the SDK's DurableClient calls, on a listener of its own bound to
 *   the loopback interface, as the extension's local RPC endpoint is in Azure: the public port does not
 *   serve it at all.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalHost } from '../host/host';
import type { DurableExtension, OrchestrationStatus } from './extension';
import { BadRequestError, InstanceConflictError, NotFoundError } from './errors';
import type { InstanceQuery, RuntimeStatus } from './store';

const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask/';
/** The extension's name for its system key, as the Functions host names it. */
export const DURABLE_EXTENSION_KEY = 'durabletask_extension';
const RPC_PREFIX = '/durabletask/';
const INSTANCE_PLACEHOLDER = 'INSTANCEID';
const DEFAULT_PAGE_SIZE = 100;

export class DurableHttpApi {
  private rpcServer?: http.Server;
  private rpcUrl = '';

  constructor(
    private readonly extension: DurableExtension,
    private readonly host: LocalHost,
    private readonly hubName: string,
  ) {}

  /** Opens the loopback RPC listener the SDK's DurableClient talks to. */
  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const work = url.pathname.startsWith(RPC_PREFIX)
        ? this.serve(req, res, url, url.pathname.slice(RPC_PREFIX.length))
        : Promise.resolve(send(res, 404, { Message: `No Durable API at ${url.pathname}` }));
      void this.host.track(work.catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }));
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.rpcServer = server;
    this.rpcUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${RPC_PREFIX}`;
  }

  async close(): Promise<void> {
    const server = this.rpcServer;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Where the SDK's DurableClient sends its calls. */
  rpcBaseUrl(): string {
    return this.rpcUrl;
  }

  private systemKey(): string {
    return this.host.keys.systemKeys?.[DURABLE_EXTENSION_KEY] ?? this.host.keys.masterKey;
  }

  webhookBaseUrl(): string {
    return `${this.host.publicUrl}${WEBHOOK_PREFIX.slice(0, -1)}`;
  }

  /** The object the Azure extension binds to a `durableClient` input, which `df.getClient` reads. */
  clientInputData(): Record<string, unknown> {
    const base = this.webhookBaseUrl();
    const query = this.requiredQuery();
    return {
      taskHubName: this.hubName,
      creationUrls: {
        createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?code=${encodeURIComponent(this.systemKey())}`,
        createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&code=${encodeURIComponent(this.systemKey())}`,
      },
      managementUrls: this.managementUrls(base, INSTANCE_PLACEHOLDER),
      baseUrl: base,
      requiredQueryStringParameters: query,
      rpcBaseUrl: this.rpcUrl,
      httpBaseUrl: '',
      maxGrpcMessageSizeInBytes: 0,
      grpcHttpClientTimeout: '00:01:40',
    };
  }

  private requiredQuery(): string {
    return `taskHub=${encodeURIComponent(this.hubName)}&connection=Storage&code=${encodeURIComponent(this.systemKey())}`;
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

  /** The public webhooks, on the host's port; other paths are left to the host. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (!url.pathname.startsWith(WEBHOOK_PREFIX)) return false;
    if (!this.host.authorizedSystem(DURABLE_EXTENSION_KEY, req, url)) {
      send(res, 401, { Message: `The Durable extension's system key (${DURABLE_EXTENSION_KEY}) or the master key is required, in the code query parameter or the x-functions-key header.` });
      return true;
    }
    await this.serve(req, res, url, url.pathname.slice(WEBHOOK_PREFIX.length));
    return true;
  }

  private async serve(req: IncomingMessage, res: ServerResponse, url: URL, rest: string): Promise<void> {
    let parts: string[];
    try {
      parts = rest.split('/').map(decodeURIComponent);
    } catch {
      return send(res, 400, { Message: 'The request path is not valid percent-encoding.' });
    }
    const hub = url.searchParams.get('taskHub');
    if (hub && hub.toLowerCase() !== this.hubName.toLowerCase()) {
      return send(res, 400, { Message: `This host serves task hub '${this.hubName}', not '${hub}'.` });
    }
    try {
      await this.route(req, res, url, parts);
    } catch (err) {
      if (err instanceof InstanceConflictError) send(res, 409, { Message: err.message });
      else if (err instanceof NotFoundError) send(res, 404, { Message: err.message });
      else if (err instanceof BadRequestError) send(res, 400, { Message: err.message });
      else {
        this.host.log('error', 'durable', `Durable HTTP API ${req.method} ${url.pathname}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        send(res, 500, { Message: 'The Durable runtime failed to serve the request; the host log has the details.' });
      }
    }
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


