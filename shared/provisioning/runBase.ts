/**
 * What every part of one provisioning pass of a user shares: the cause it serves, the customer's context,
 * the user as read, the steps it records and the first reason it needs attention.
 */
import type { NumberType, TransactionRecord, TransactionStep, UserRecord } from '../domain';
import { GraphThrottledError, GraphTransientError } from '../ports/microsoft';
import { ConcurrencyError, type Versioned } from '../ports/storage';
import type { CustomerContext } from './customerContext';
import type { ProvisionUserMessage } from './messages';
import type { ProvisioningDeps, ProvisioningMicrosoft } from './ports';

export const DEFAULT_LINE_TYPE: NumberType = 'DirectRouting';

/** Worth another attempt later: throttled, a transient Microsoft failure, or a write that lost a race. */
export function isTransient(error: unknown): boolean {
  return error instanceof GraphThrottledError || error instanceof GraphTransientError || error instanceof ConcurrencyError;
}

export abstract class RunBase {
  readonly steps: TransactionStep[] = [];
  /** The first reason the pass needs attention: the user's state says it. */
  protected attention?: string;
  /** The number the user holds as the pass goes: the stored one at first. */
  protected number?: string;
  private microsoftPorts?: ProvisioningMicrosoft;

  constructor(
    protected readonly deps: ProvisioningDeps,
    protected readonly ctx: CustomerContext,
    protected readonly user: UserRecord,
    protected readonly message: ProvisionUserMessage,
    protected readonly transactionId: string,
    protected readonly now: Date,
    protected readonly from: NonNullable<TransactionRecord['from']>,
    /** The transaction was there before this delivery: a pass of it ran, maybe in part (a redelivery, a resend). */
    protected readonly repeat = false,
    /** The stored version `user` was read from: the pass's one write of the record starts from it. */
    private read?: Versioned<UserRecord>,
  ) {
    this.number = user.number;
  }

  /** The version read at the start, once: after this pass's own write it is stale. */
  protected takeRead(): Versioned<UserRecord> | undefined {
    const read = this.read;
    this.read = undefined;
    return read;
  }

  protected get ms(): ProvisioningMicrosoft {
    this.microsoftPorts ??= this.deps.microsoft(this.ctx.customer);
    return this.microsoftPorts;
  }

  protected step(name: string, result: TransactionStep['result'], detail?: string): void {
    this.steps.push({ name, result, ...(detail ? { detail } : {}), at: new Date().toISOString() });
  }

  protected needsAttention(step: string, reason: string): void {
    this.step(step, 'failed', reason);
    this.attention ??= reason;
  }

}
