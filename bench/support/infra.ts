/**
 * The benchmarks' outside world in a child process: the Graph emulator with a generated tenant and
 * Azurite's Table service. Kept apart so it shares neither the event loop nor the memory figures of the
 * code being measured. Run as a script, it serves until told to stop over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface InfraInfo {
  graphUrl: string;
  caPem: string;
  teamsBridgeUrl: string;
  tenantId: string;
  clientId: string;
  secret: string;
  users: number;
  tablesConnectionString: string;
}

export type InfraCommand =
  | { kind: 'change'; count: number; seed: number }
  | { kind: 'enforceQuotas'; enabled: boolean }
  | { kind: 'counters' }
  | { kind: 'stop' };

export interface InfraProcess {
  info: InfraInfo;
  request<T>(command: InfraCommand): Promise<T>;
  stop(): Promise<void>;
}

export function startInfraProcess(options: { users: number; seed: string; enforceQuotas?: boolean }): Promise<InfraProcess> {
  const child: ChildProcess = fork(__filename, ['--serve', JSON.stringify(options)], {
    execArgv: [...process.execArgv, '--max-old-space-size=8192'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the emulator process exited with ${code}`)));
    child.once('message', (info) => {
      let seq = 0;
      const pending = new Map<number, (value: unknown) => void>();
      child.on('message', (m) => {
        const reply = m as { seq: number; value: unknown };
        pending.get(reply.seq)?.(reply.value);
        pending.delete(reply.seq);
      });
      const request = <T>(command: InfraCommand) =>
        new Promise<T>((done) => {
          const id = ++seq;
          pending.set(id, done as (value: unknown) => void);
          child.send({ seq: id, command });
        });
      resolve({
        info: info as InfraInfo,
        request,
        async stop() {
          const exited = new Promise((r) => child.once('exit', r));
          child.send({ seq: 0, command: { kind: 'stop' } });
          await exited;
        },
      });
    });
  });
}

async function serve(options: { users: number; seed: string; enforceQuotas?: boolean }): Promise<void> {
  const { generateDemoTenant } = await import('../../local/demo/tenant');
  const { startGraphEmulator } = await import('../../local/graph-emulator');
  const { startTableServer } = await import('../../local/azurite');
  const tenant = generateDemoTenant({ seed: options.seed, users: options.users });
  const [emulator, tables] = await Promise.all([startGraphEmulator({ tenants: [tenant], enforceQuotas: options.enforceQuotas }), startTableServer({ port: 0 })]);
  const info: InfraInfo = {
    graphUrl: emulator.url,
    caPem: emulator.caPem,
    teamsBridgeUrl: emulator.teamsBridgeUrl,
    tenantId: tenant.tenantId,
    clientId: tenant.apps[0].clientId,
    secret: tenant.apps[0].secret,
    users: tenant.users.length,
    tablesConnectionString: tables.connectionString,
  };
  process.send?.(info);
  process.on('message', async (m) => {
    const { seq, command } = m as { seq: number; command: InfraCommand };
    switch (command.kind) {
      case 'change': {
        // Deterministic: every n-th active user gets a new job title.
        const ids = [...emulator.control.state(tenant.tenantId).byId.values()].filter((r) => r.deletedDateTime === null).map((r) => r.u.id);
        const step = Math.max(1, Math.floor(ids.length / command.count));
        let changed = 0;
        for (let i = command.seed % step; i < ids.length && changed < command.count; i += step, changed++) {
          emulator.control.updateUser(tenant.tenantId, ids[i], { jobTitle: `Changed ${command.seed}-${i}` });
        }
        process.send?.({ seq, value: changed });
        break;
      }
      case 'enforceQuotas':
        emulator.control.setQuotas(command.enabled);
        process.send?.({ seq, value: true });
        break;
      case 'counters':
        process.send?.({ seq, value: emulator.counters.snapshot() });
        break;
      case 'stop':
        await Promise.all([emulator.stop(), tables.stop()]);
        process.exit(0);
    }
  });
}

if (process.argv[2] === '--serve') {
  serve(JSON.parse(process.argv[3]) as { users: number; seed: string }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
