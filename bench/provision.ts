/**
 * Provisioning throughput against Microsoft's quotas: the identity write quota and the Teams service's
 * request rate, whichever binds.
 *
 *   npm run bench:provision -- --users 10000     (full run)
 *   npm run bench:provision -- --users 2000      (shorter)
 *
 * Starts the local stack with the Graph emulator enforcing Microsoft's identity quotas (3,000 writes per
 * 150 s per app and tenant), configures a customer with flow-through on, syncs the tenant's users to
 * customer level and sends one sync-add message per user. Reports users provisioned per minute against the
 * most the quotas allow (for each: its budget per minute / what one provisioned user spends of it, both
 * counted by the emulator; the lower one binds), the throttling answers (429) and how many reached a
 * message handler, and CPU ms per user.
 */
import { SingleBar, Presets } from 'cli-progress';
import { QUEUES } from '../shared/config/queues';
import { seedCustomer, startWorld, syncAdd } from '../test/provisioning/world';
import { cliArgs } from './support/measure';

const users = Number(cliArgs().get('users') ?? 10_000);
if (!Number.isInteger(users) || users < 10) {
  console.error('usage: npm run bench:provision -- --users N   (N >= 10)');
  process.exit(2);
}
const WRITES_PER_150S = 3_000;
/** Microsoft Teams service limit for Graph calls: 30 requests per second per app and tenant. */
const TEAMS_REQUESTS_PER_SECOND = 30;
/** Identity routes the quota charges writes on; Teams routes are not charged. */
const CHARGED = /^(users\.|groups\.|subscriptions\.)/;

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`starting the local stack with a ${users}-user demo tenant (quotas enforced)…`);
  const world = await startWorld({ users, seed: 'bench', stack: { graph: { emulator: { users, seed: 'bench', enforceQuotas: true } }, logger: () => undefined } });
  try {
    await seedCustomer(world, {
      customerId: 'bench',
      settings: { moveAndFlowThrough: 'yes', addSync: 'yes', addSyncCriteriaId: 'ft', preventDuplicateNumbers: 'no' },
    });
    const control = world.stack.graph!.control;
    control.resetCounters();
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    const ids = world.users.map((u) => u.id);
    for (let i = 0; i < ids.length; i += 500) await world.queue.send(syncAdd('bench', ids.slice(i, i + 500), new Date(t0).toISOString()));
    const bar = new SingleBar({ format: 'provisioning [{bar}] {value}/{total} messages | {rate}/min | {eta_formatted}' }, Presets.shades_classic);
    bar.start(ids.length, 0, { rate: 0 });
    const queue = QUEUES.userProvisioning.name;
    const base = world.stack.broker.stats(queue).completed;
    for (;;) {
      const s = world.stack.broker.stats(queue);
      const done = s.completed - base;
      const minutes = (Date.now() - t0) / 60_000;
      bar.update(Math.min(done, ids.length), { rate: Math.round(done / Math.max(minutes, 1e-9)) });
      if (s.active === 0 && done >= ids.length) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    bar.stop();
    const elapsedMs = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const counters = control.counters();

    let provisioned = 0;
    let handlerThrottled = 0;
    const states: Record<string, number> = {};
    for await (const { value } of world.storage.users.list('bench')) {
      states[value.state.kind] = (states[value.state.kind] ?? 0) + 1;
      if (value.state.kind === 'provisioned') provisioned++;
    }
    for (const t of await world.storage.transactions.listRecent('bench', ids.length * 2)) {
      if (t.steps.some((s) => s.name === 'retry')) handlerThrottled++;
    }
    const charged = Object.entries(counters.writes).filter(([k]) => CHARGED.test(k)).reduce((s, [, v]) => s + v, 0);
    const allWrites = Object.values(counters.writes).reduce((s, v) => s + v, 0);
    const chargedPerUser = charged / Math.max(provisioned, 1);
    const quotaPerMinute = (WRITES_PER_150S / 150) * 60;
    const ceiling = chargedPerUser > 0 ? quotaPerMinute / chargedPerUser : Infinity;
    const perMinute = provisioned / (elapsedMs / 60_000);
    // Graph's Teams endpoints share one budget; the Teams admin bridge (PowerShell) is paced on its own.
    const teamsRequests = Object.entries(counters.requests as Record<string, number>).filter(([k]) => k.startsWith('teams.')).reduce((sum, [, v]) => sum + v, 0);
    const teamsPerUser = teamsRequests / Math.max(provisioned, 1);
    const teamsCeiling = teamsPerUser > 0 ? (TEAMS_REQUESTS_PER_SECOND * 60) / teamsPerUser : Infinity;
    const binding = Math.min(ceiling, teamsCeiling);
    console.log('');
    console.log(`users                      ${ids.length} (states: ${JSON.stringify(states)})`);
    console.log(`elapsed                    ${(elapsedMs / 1000).toFixed(1)} s for the messages; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
    console.log(`provisioned per minute     ${perMinute.toFixed(0)}`);
    console.log(`writes                     ${allWrites} in all, ${charged} charged by the quota (${chargedPerUser.toFixed(2)} per provisioned user)`);
    console.log(`write quota ceiling        ${Number.isFinite(ceiling) ? ceiling.toFixed(0) : 'unbounded'} users/min (${quotaPerMinute} writes/min ÷ ${chargedPerUser.toFixed(2)})`);
    console.log(`Teams rate ceiling         ${Number.isFinite(teamsCeiling) ? teamsCeiling.toFixed(0) : 'unbounded'} users/min (${TEAMS_REQUESTS_PER_SECOND * 60} requests/min ÷ ${teamsPerUser.toFixed(2)} Teams requests per user)`);
    console.log(`ratio to the binding one   ${Number.isFinite(binding) ? (perMinute / binding).toFixed(2) : 'n/a'}  (goal ≥ 0.9)`);
    console.log(`429 answered by Microsoft  ${counters.throttled}; reaching a message handler: ${handlerThrottled}`);
    console.log(`CPU per user               ${((cpu.user + cpu.system) / 1000 / ids.length).toFixed(2)} ms (this process: host, broker, emulator, storage)`);
    const fullEstimate = (elapsedMs / ids.length) * 10_000;
    if (ids.length !== 10_000) console.log(`a full run (--users 10000) takes about ${(fullEstimate / 60_000).toFixed(1)} min at this rate, plus start-up`);
  } finally {
    await world.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
