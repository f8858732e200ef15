/**
 * Durable fan-out benchmark: 1,000 no-op activities end to end through the local Durable runtime
 * (SDK replay, Table Storage histories, the host's concurrency limits from host.json), against the
 * storage floor: the same number of entity writes done directly in transactions of 100 on the same
 * in-process Azurite. Prints both and their ratio.
 *
 *   npm run bench:durable [-- --activities 1000] [--json FILE]
 */
import { TableClient, TableTransaction } from '@azure/data-tables';
import { startTableServer } from '../local/azurite';
import { DurableExtension } from '../local/durable';
import { SystemClock } from '../local/host/clock';
import { LocalHost } from '../local/host/host';
import { readHostJson } from '../local/host/hostJson';
import { PROJECT_ROOT } from '../local/host/load';
import { installFunctionsCore } from '../local/host/registry';
import { cliArgs, writeFigures } from './support/measure';

const args = cliArgs();
const FAN_OUT = Number(args.get('activities') ?? 1000);

async function main(): Promise<void> {
  if (!Number.isInteger(FAN_OUT) || FAN_OUT < 1 || FAN_OUT > 100_000) throw new Error('--activities takes 1 to 100000');
  const registry = installFunctionsCore();
  const df = await import('durable-functions');
  df.app.activity('BenchNoOp', { handler: async (n: number) => n });
  df.app.orchestration('BenchFanOut', function* (context) {
    const count = context.df.getInput<number>();
    const results: number[] = yield context.df.Task.all(Array.from({ length: count }, (_, i) => context.df.callActivity('BenchNoOp', i)));
    return results.length;
  });

  const azurite = await startTableServer({ port: 0 });
  const hostJson = readHostJson(PROJECT_ROOT);
  const durable = new DurableExtension({ connectionString: azurite.connectionString });
  const host = await LocalHost.start({
    registry,
    hostJson,
    keys: { functionKey: 'bench', masterKey: 'bench-master' },
    clock: new SystemClock(),
    extensions: [durable],
    enableTimers: false,
    logger: () => undefined,
  });

  try {
    // Warm-up: JIT, table creation, connection pool.
    await durable.waitForCompletion(await durable.startNew('BenchFanOut', { input: '50' }), 60_000);

    const writesBefore = durable.storage.writes;
    const started = performance.now();
    const id = await durable.startNew('BenchFanOut', { input: String(FAN_OUT) });
    const status = await durable.waitForCompletion(id, 600_000);
    const durableMs = performance.now() - started;
    const writes = durable.storage.writes - writesBefore;
    if (status.runtimeStatus !== 'Completed' || status.output !== FAN_OUT) throw new Error(`Fan-out ended ${status.runtimeStatus}: ${JSON.stringify(status.output)}`);
    const record = await durable.storage.getInstance(id);
    const history = await durable.storage.loadHistory(id, record!.executionId);
    const episodes = history.events.filter((e) => e.EventType === 12).length;

    await storageFloor(azurite.connectionString, 'BenchFloorWarmup', 200);
    const floorMs = await storageFloor(azurite.connectionString, 'BenchFloor', writes);

    const d = durableMs.toFixed(0);
    const f = floorMs.toFixed(0);
    console.log(`durable fan-out of ${FAN_OUT} no-op activities: ${d} ms (${episodes} orchestrator episodes, ${writes} entity writes, ` +
      `concurrency ${hostJson.extensions?.durableTask?.maxConcurrentActivityFunctions ?? 10} activities / ${hostJson.extensions?.durableTask?.maxConcurrentOrchestratorFunctions ?? 10} episodes)`);
    console.log(`storage floor, ${writes} entity writes in transactions of 100: ${f} ms`);
    console.log(`ratio durable / floor: ${(durableMs / floorMs).toFixed(1)}x`);
    writeFigures(args.get('json'), 'durable', { activities: FAN_OUT, durableMs, floorMs, ratio: durableMs / floorMs, episodes, entityWrites: writes });
  } finally {
    await host.stop();
    await azurite.stop();
  }
}

async function storageFloor(connectionString: string, tableName: string, writes: number): Promise<number> {
  const table = TableClient.fromConnectionString(connectionString, tableName, { allowInsecureConnection: true });
  await table.createTable();
  // Rows shaped like history rows: one partition, a JSON event per row.
  const payload = JSON.stringify({ EventType: 5, EventId: -1, IsPlayed: false, Timestamp: new Date().toISOString(), TaskScheduledId: 1, Result: '1' });
  const started = performance.now();
  for (let offset = 0; offset < writes; offset += 100) {
    const batch = new TableTransaction();
    for (let i = offset; i < Math.min(writes, offset + 100); i++) {
      batch.upsertEntity({ partitionKey: 'floor', rowKey: String(i).padStart(10, '0'), ExecutionId: 'e', EventType: 5, Event: payload }, 'Replace');
    }
    await table.submitTransaction(batch.actions);
  }
  return performance.now() - started;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
