import type { DurableClient } from 'durable-functions';
import { ACTIVE_STATUSES, type OrchestrationState, type Orchestrations } from '../../ports/orchestrations';

/** The Durable Functions client behind the Orchestrations port. */
export class DurableOrchestrations implements Orchestrations {
  constructor(private readonly client: DurableClient) {}

  async start(name: string, instanceId: string, input: unknown, seen?: { state: OrchestrationState | undefined }): Promise<'started' | 'already-running'> {
    // Microsoft's singleton pattern: the instance's status first (the task hub refuses a start of a running id
    // with an exception that its HTTP API need not answer as a 409); a start that loses a race still is one.
    const current = seen ? seen.state : await this.status(instanceId);
    if (current && ACTIVE_STATUSES.has(current.runtimeStatus)) return 'already-running';
    try {
      await this.client.startNew(name, { instanceId, input });
      return 'started';
    } catch (err) {
      // Another starter won the race: the task hub refuses a second run of a running id with 409.
      if (err instanceof Error && /409/.test(err.message)) return 'already-running';
      throw err;
    }
  }

  async instances(matches: (instanceId: string) => boolean): Promise<Array<{ instanceId: string; runtimeStatus: string }>> {
    const all = await this.client.getStatusAll();
    return all.filter((s) => matches(s.instanceId)).map((s) => ({ instanceId: s.instanceId, runtimeStatus: String(s.runtimeStatus) }));
  }

  async purge(instanceId: string): Promise<void> {
    await this.client.purgeInstanceHistory(instanceId);
  }

  async status(instanceId: string): Promise<OrchestrationState | undefined> {
    try {
      const s = await this.client.getStatus(instanceId, { showInput: true });
      return {
        runtimeStatus: String(s.runtimeStatus),
        input: s.input,
        customStatus: s.customStatus,
        output: s.output,
        createdTime: s.createdTime ? new Date(s.createdTime).toISOString() : undefined,
        lastUpdatedTime: s.lastUpdatedTime ? new Date(s.lastUpdatedTime).toISOString() : undefined,
      };
    } catch (err) {
      if (err instanceof Error && /HTTP 404/.test(err.message)) return undefined;
      throw err;
    }
  }
}
