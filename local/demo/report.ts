/**
 * The demo job's report: each step is `ok` only when it did what its name says, `skipped` with the reason
 * when it cannot run against the chosen endpoint, or `failed` with what went wrong. The job succeeds when
 * no step failed.
 */
export type StepStatus = 'ok' | 'skipped' | 'failed';

export interface ScenarioStep {
  name: string;
  status: StepStatus;
  /** True for `ok` only: a skipped step did not do what it says. */
  ok: boolean;
  detail: string;
  ms: number;
}

export interface ScenarioReport {
  startedAt: string;
  finishedAt: string;
  /** No step failed. */
  ok: boolean;
  steps: ScenarioStep[];
  [section: string]: unknown;
}

/** Thrown by a step's work to say it could not run here (not a failure), with the reason. */
export class StepSkipped extends Error {
  override name = 'StepSkipped';
}

export class ScenarioRecorder {
  readonly steps: ScenarioStep[] = [];
  private readonly startedAt = new Date();
  readonly extra: Record<string, unknown> = {};

  constructor(private readonly onStep: (step: ScenarioStep) => void = () => {}) {}

  /** Runs one step; a failure is recorded with its reason and the scenario goes on where it can. */
  async step<T>(name: string, work: () => Promise<{ value: T; detail: string; failed?: boolean }>): Promise<T | undefined> {
    const started = Date.now();
    try {
      const { value, detail, failed } = await work();
      this.push(name, failed ? 'failed' : 'ok', detail, started);
      return failed ? undefined : value;
    } catch (err) {
      const skipped = err instanceof StepSkipped;
      this.push(name, skipped ? 'skipped' : 'failed', err instanceof Error ? err.message : String(err), started);
      return undefined;
    }
  }

  /** A step that cannot run here, and why. */
  skip(name: string, reason: string): void {
    this.push(name, 'skipped', reason, Date.now());
  }

  private push(name: string, status: StepStatus, detail: string, started: number): void {
    const step: ScenarioStep = { name, status, ok: status === 'ok', detail, ms: Date.now() - started };
    this.steps.push(step);
    this.onStep(step);
  }

  report(): ScenarioReport {
    return {
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ok: this.steps.every((s) => s.status !== 'failed'),
      steps: this.steps,
      ...this.extra,
    };
  }
}
