/**
 * Turns for a tenant's users in this process. Service Bus hands messages out in order, and a sync hands its
 * users off as one block per customer: without turns, every message handler of the app would sit waiting
 * on one tenant's quota while the other customers' users wait behind the block. So once the tenant's
 * requests here already queue for its quota longer than TURN_BACKLOG_MS (enough to keep the quota spent),
 * a further user gets a later turn instead of a place in that queue, and the handler is free for another
 * customer. Turns follow one another by the quota time a user has taken here so far: a lower bound of the
 * pace a deferred block is served at, so the quota is never left idle; where it is too short (other
 * instances spend the same quota) a returning user tolerates a longer queue and goes ahead.
 */
import type { Clock, Pacer } from './pacer';

/** Quota time queued here beyond which a new user waits for a later turn. */
export const TURN_BACKLOG_MS = 250;

export class TenantTurns {
  /** Users told to start at once, for the quota time per user. */
  private started = 0;
  /** The last turn given out, plus one user's quota time: the next turn is no sooner. */
  private horizon = 0;

  constructor(
    private readonly pacers: ReadonlyArray<Pick<Pacer, 'backlogMs' | 'quotaMsSpent'>>,
    private readonly clock: Clock,
  ) {}

  /**
   * When a user's provisioning should start: undefined for now, else the epoch ms of its turn. A user that
   * has waited `turnsTaken` turns already tolerates that many more thresholds of backlog: a block that comes
   * back faster than it is served (several instances spacing their own turns) mostly goes ahead the second
   * time instead of circling.
   */
  turnAt(turnsTaken = 0): number | undefined {
    const now = this.clock.now();
    const backlog = Math.max(...this.pacers.map((p) => p.backlogMs(now)));
    if (backlog <= TURN_BACKLOG_MS * (1 + turnsTaken)) {
      this.started += 1;
      return undefined;
    }
    const quotaPerUser = this.started > 0 ? Math.max(...this.pacers.map((p) => p.quotaMsSpent())) / this.started : 0;
    const at = Math.max(now + backlog, this.horizon);
    this.horizon = at + quotaPerUser;
    return Math.round(at);
  }
}
