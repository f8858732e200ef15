import { describe, expect, it } from 'vitest';
import { ENTITY_TYPES, runAsSeen, runningEntities, zeroCounts, type SyncRun } from '../../shared/sync/model';

const run = (status: SyncRun['status']): SyncRun => ({
  customerId: 'c',
  runId: 'r1',
  kind: 'full',
  mode: 'full',
  trigger: 'operator',
  status,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: status === 'running' ? undefined : '2026-01-01T00:01:00.000Z',
  counts: Object.fromEntries(ENTITY_TYPES.map((t) => [t, zeroCounts()])) as SyncRun['counts'],
  entities: runningEntities(),
  handedOff: 0,
  errors: [],
});

describe('a run as it is seen', () => {
  it('reads running while its orchestration is active, even once its record is written', () => {
    const seen = runAsSeen(run('succeeded'), { active: true, runtimeStatus: 'Running', runId: 'r1' });
    expect(seen.status).toBe('running');
    expect(seen.finishedAt).toBeUndefined();
  });
  it('reads its record once its orchestration has ended', () => {
    expect(runAsSeen(run('succeeded'), { active: false, runtimeStatus: 'Completed', runId: 'r1' }).status).toBe('succeeded');
    expect(runAsSeen(run('held'), undefined).status).toBe('held');
    // An older run of an instance id now serving another run.
    expect(runAsSeen(run('succeeded'), { active: true, runtimeStatus: 'Running', runId: 'r2' }).status).toBe('succeeded');
  });
  it('reads failed, with the reason, when its orchestration ended without finishing it', () => {
    const failed = runAsSeen(run('running'), { active: false, runtimeStatus: 'Failed', runId: 'r1' });
    expect(failed.status).toBe('failed');
    expect(failed.errors[0]).toMatch(/ended \(Failed\)/);
    expect(runAsSeen(run('running'), undefined).errors[0]).toMatch(/orchestration is gone/);
    expect(runAsSeen(run('running'), { active: true, runtimeStatus: 'Running', runId: 'r2' }).status).toBe('failed');
  });
  it('a running record with its orchestration active reads running', () => {
    expect(runAsSeen(run('running'), { active: true, runtimeStatus: 'Pending', runId: 'r1' }).status).toBe('running');
  });
});
