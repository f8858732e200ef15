/** What the lifecycle tests ask of one customer of a test world: its syncs, its users, Microsoft's side. */
import { expect } from 'vitest';
import type { UserRecord } from '../../shared/domain';
import type { World } from '../provisioning/world';

export type VoiceUser = UserRecord & { number: string; state: { siteId: string } };

export function customerUnderTest(world: () => World, customerId: string) {
  const control = () => world().stack.graph!.control;
  /** Who holds the number in Microsoft (Teams), or null. */
  const holderInTeams = (number: string) => control().numbers(world().tenantId).find((n) => n.telephoneNumber === number)?.assignmentTargetId ?? null;

  /** Runs a sync to its end (it must succeed) and waits for what it handed off. */
  async function sync(kind: 'full' | 'delta'): Promise<{ counts?: Record<string, unknown> }> {
    const started = await world().api('POST', `/customers/${customerId}/syncs/${kind}/run`);
    expect(started.status).toBe(202);
    for (let i = 0; i < 1_200; i++) {
      const run = (await world().api('GET', `/customers/${customerId}/sync-runs/${started.body.runId}`)).body;
      if (run?.status && run.status !== 'running') {
        expect(run.status, JSON.stringify(run)).toBe('succeeded');
        await world().idle(120_000);
        return run;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the sync did not finish');
  }

  /** How many users hold the number in Teams: the demo tenant gives a few numbers to two users on purpose. */
  const holdersInTeams = (number: string) => [...control().state(world().tenantId).teams.values()].filter((t) => t.telephoneNumbers.some((n) => n.telephoneNumber === number)).length;

  /**
   * A provisioned user holding its number in Teams alone, a different one each call. (A number two users
   * hold is recorded as whichever was provisioned first's, so what the other gets back is not the test's.)
   */
  const taken = new Set<string>();
  async function voiceUser(): Promise<VoiceUser> {
    for await (const { value } of world().storage.users.list(customerId)) {
      if (value.state.kind === 'provisioned' && value.number && !taken.has(value.userId) && holderInTeams(value.number) === value.userId && holdersInTeams(value.number) === 1) {
        taken.add(value.userId);
        return value as VoiceUser;
      }
    }
    throw new Error('no provisioned user with a number left');
  }

  return { control, holderInTeams, sync, voiceUser };
}
