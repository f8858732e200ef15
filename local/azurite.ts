/**
 * Azurite's Table service, in-process. In memory by default; a folder when asked to persist, so that
 * `npm start -- --persist` keeps customers, syncs and Durable state across restarts. Persisting, it keeps
 * every write it acknowledged through a kill of its process at any moment (`persistence/tables.ts`). A query
 * that names its partition is answered from that partition, as Azure's Table service answers it, rather
 * than by Azurite's scan of the whole table (`persistence/partitionQueries.ts`).
 */
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { answerPartitionQueriesFromIndex, type PartitionQueryStore } from './persistence/partitionQueries';
import { makeTablesDurable, type AzuriteTableServerInternals, type DurableTables } from './persistence/tables';

// Azurite ships no typings for its internal server classes; these are the parts we call.
interface AzuriteTableServer {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
}
type TableServerCtor = new (config: unknown) => AzuriteTableServer;
type TableConfigurationCtor = new (...args: unknown[]) => unknown;

/** The well-known development storage account and key (public, Azurite's and the emulator's). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface TableServerHandle {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** A connection string for @azure/data-tables. */
  connectionString: string;
  /** Persisting only: the journal behind the acknowledged writes. */
  durability?: DurableTables;
  /** HTTP requests served so far (a batch is one), for the benchmarks' operation counts. */
  requests(): number;
  /** The same requests by table, operation and, when it failed, status: where a workload's Table work goes. */
  requestsByKind(): Record<string, number>;
  /** Queries answered from the PartitionKey index (one partition, or a range of them) rather than by scanning the table (`persistence/partitionQueries.ts`). */
  queriesFromPartitionIndex(): number;
  stop(): Promise<void>;
}

export async function startTableServer(
  options: { port?: number; host?: string; persistDir?: string; /** Tests only: Azurite scanning whole tables, as it ships. */ scanWholeTables?: boolean } = {},
): Promise<TableServerHandle> {
  /* eslint-disable @typescript-eslint/no-require-imports -- Azurite's server classes are CommonJS internals without an exports map. */
  const TableServer = (require('azurite/dist/src/table/TableServer') as { default: TableServerCtor }).default;
  const TableConfiguration = (require('azurite/dist/src/table/TableConfiguration') as { default: TableConfigurationCtor }).default;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const host = options.host ?? '127.0.0.1';
  let dbPath: string | undefined;
  if (options.persistDir) {
    mkdirSync(options.persistDir, { recursive: true });
    dbPath = path.join(options.persistDir, '__azurite_db_table__.json');
  }
  const config = new TableConfiguration(
    host,
    options.port ?? 0,
    5, // keep-alive seconds
    dbPath,
    false, // debug log
    false, // access log
    undefined,
    undefined,
    true, // loose
    true, // skip API version check: SDK upgrades must not break local runs
    '',
    '',
    '',
    undefined,
    false,
    !options.persistDir, // in-memory unless persisting
  );
  const server = new TableServer(config);
  const narrowed = options.scanWholeTables ? () => 0 : answerPartitionQueriesFromIndex((server as unknown as { metadataStore: PartitionQueryStore }).metadataStore);
  const durability = options.persistDir ? makeTablesDurable(server as unknown as AzuriteTableServerInternals, { dir: path.join(options.persistDir, 'tables-journal') }) : undefined;
  await server.start();
  let requests = 0;
  const byKind: Record<string, number> = {};
  (server as unknown as { httpServer?: { on(event: 'request', listener: (req: IncomingMessage, res: ServerResponse) => void): void } }).httpServer?.on('request', (req, res) => {
    requests++;
    const kind = tableRequestKind(req.method ?? '', req.url ?? '');
    res.once('finish', () => {
      const key = res.statusCode >= 400 ? `${kind} ${res.statusCode}` : kind;
      byKind[key] = (byKind[key] ?? 0) + 1;
    });
  });
  // getHttpServerAddress() reports the bound port, including when port 0 was asked for.
  const address = server.getHttpServerAddress();
  const port = Number(new URL(address).port);
  const url = `http://${host}:${port}`;
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};TableEndpoint=${url}/${DEV_ACCOUNT};`;
  return {
    url,
    port,
    connectionString,
    durability,
    requests: () => requests,
    requestsByKind: () => ({ ...byKind }),
    queriesFromPartitionIndex: narrowed,
    async stop() {
      await server.close();
      await durability?.close();
    },
  };
}

/**
 * `Users point-read`, `Users query(partition)`, `Numbers query(partition range)`, `Users query(scan)`,
 * `Numbers upsert/replace`, `batch`…: a query names whether its filter pins a partition (or a range of
 * them), since Table Storage answers one without it by scanning the table.
 */
export function tableRequestKind(method: string, url: string): string {
  const [pathname, query = ''] = url.split('?');
  const segment = decodeURIComponent(pathname.split('/').filter(Boolean).pop() ?? '');
  if (segment === '$batch') return 'batch';
  const table = segment.replace(/\(.*$/, '');
  const keyed = /\(PartitionKey=/.test(segment);
  switch (method) {
    case 'GET': {
      if (keyed) return `${table} point-read`;
      const filter = new URLSearchParams(query).get('$filter') ?? '';
      const scope = /PartitionKey eq/.test(filter) ? (/RowKey eq/.test(filter) ? 'point' : 'partition') : /PartitionKey (ge|gt)/.test(filter) ? 'partition range' : 'scan';
      return `${table} query(${scope})${/NextPartitionKey|NextRowKey/.test(query) ? ' next page' : ''}`;
    }
    case 'POST':
      return `${table} insert`;
    case 'PUT':
      return `${table} ${keyed ? 'upsert/replace' : 'create'}`;
    case 'PATCH':
    case 'MERGE':
      return `${table} merge`;
    case 'DELETE':
      return `${table} delete`;
    default:
      return `${table} ${method}`;
  }
}
