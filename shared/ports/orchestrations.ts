/** Starting and watching Durable orchestrations, as the use cases need it. */
export interface OrchestrationState {
  runtimeStatus: string;
  /** What the instance was started with (it says which run an instance id reused across runs serves now). */
  input?: unknown;
  customStatus?: unknown;
  output?: unknown;
  createdTime?: string;
  lastUpdatedTime?: string;
}

export interface Orchestrations {
  /**
   * Starts `name` under `instanceId` unless an instance with that id is still pending or running: one id,
   * one run at a time, as the Durable task hub enforces. `seen`: the instance's state as the caller read it
   * just before (read beside its other reads), so that it is not read again here.
   */
  start(name: string, instanceId: string, input: unknown, seen?: { state: OrchestrationState | undefined }): Promise<'started' | 'already-running'>;
  status(instanceId: string): Promise<OrchestrationState | undefined>;
  /** Every instance whose id `matches`, whatever its status (a listing of the task hub: for rare work). */
  instances(matches: (instanceId: string) => boolean): Promise<Array<{ instanceId: string; runtimeStatus: string }>>;
  /** Deletes a finished instance's state and history. */
  purge(instanceId: string): Promise<void>;
}

export const ACTIVE_STATUSES = new Set(['Pending', 'Running', 'ContinuedAsNew']);
