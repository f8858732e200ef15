/**
 * Leavers as a sync or a change notification sees them: a placed user disabled or soft-deleted in Microsoft
 * is marked a leaver, and the customer's leaver setting says what follows — kept where it is (the mark says
 * why), offboarded at once (a `leaver` message now), or after N days (the `leavers` timer sends it when due).
 * A leaver that comes back (enabled again, restored) loses the mark; one that was offboarded returns to its
 * old site with its number when the number is still free for it, else stays at customer level with the reason.
 */
import {
  keepForReturn,
  leaverSchedule,
  numberFreeFor,
  siteOf,
  type EffectiveGlobalSettings,
  type Leaver,
  type LeaverReason,
  type UserRecord,
} from '../domain';
import type { Storage } from '../ports/storage';
import type { ProvisionUserMessage } from '../provisioning/messages';
import { updateUser } from '../provisioning/provisionUser';

export interface LeaverSighting {
  before: UserRecord;
  /** Why the user is a leaver now; undefined when it is not. */
  reason: LeaverReason | undefined;
}

export interface LeaverOutcome {
  /** Messages to send: offboard leavers at once, return restored ones to their site. */
  messages: ProvisionUserMessage[];
  /** Users returning to their old site (their flow-through hand-off is replaced by the return). */
  returning: Set<string>;
}

export async function settleLeavers(
  storage: Storage,
  customerId: string,
  sightings: readonly LeaverSighting[],
  settings: EffectiveGlobalSettings,
  now: Date,
): Promise<LeaverOutcome> {
  const out: LeaverOutcome = { messages: [], returning: new Set() };
  const requestedAt = now.toISOString();
  for (const { before, reason } of sightings) {
    const userId = before.userId;
    // A user at customer level that leaves the sync filter is marked too: flow-through leaves a leaver alone.
    const placed = siteOf(before.state) !== undefined;
    if (reason && !before.leaver && (placed || reason === 'outside-filter')) {
      const schedule = leaverSchedule(settings.leavers, now);
      const leaver: Leaver = { reason, since: requestedAt, ...(placed && schedule.kind === 'offboard' && settings.leavers.action === 'offboard-after-days' ? { offboardAt: schedule.at.toISOString() } : {}) };
      await updateUser({ storage }, customerId, userId, (r) => ({ ...r, leaver }));
      if (placed && settings.leavers.action === 'offboard-at-once') out.messages.push({ customerId, userId, reason: 'leaver', observedAt: leaver.since, requestedAt });
    } else if (!reason && before.leaver) {
      const back = before.returnTo;
      if (back && !siteOf(before.state)) {
        const entry = back.number ? await numberOf(storage, customerId, back.siteId, back.number) : undefined;
        const free = !back.number || (entry !== undefined && numberFreeFor(entry, userId, now));
        if (free) {
          // Kept for it until provisioning assigns it again: no one else is given it meanwhile.
          if (entry) await storage.numbers.update({ customerId, ...(entry.siteId !== undefined ? { siteId: entry.siteId } : {}) }, entry.number, (e) => keepForReturn(e, userId, now));
          await updateUser({ storage }, customerId, userId, ({ leaver: _l, ...r }) => r);
          out.messages.push({ customerId, userId, reason: 'restore', observedAt: back.offboardedAt, requestedAt });
          out.returning.add(userId);
          continue;
        }
        const why = `back from leaving, but its number ${back.number} is no longer free: it does not return to site ${back.siteId}`;
        await updateUser({ storage }, customerId, userId, ({ leaver: _l, returnTo: _t, ...r }) => ({ ...r, state: { kind: 'at-customer', reason: why } }));
        continue;
      }
      await updateUser({ storage }, customerId, userId, ({ leaver: _l, ...r }) => r);
    }
  }
  return out;
}

async function numberOf(storage: Storage, customerId: string, siteId: string, number: string) {
  return (await storage.numbers.get({ customerId, siteId }, number))?.value ?? (await storage.numbers.get({ customerId }, number))?.value;
}

/**
 * The `leavers` timer's work: every leaver whose offboarding is due (offboard-after-days) and still at a site
 * gets its `leaver` message; the message id (its `since`) makes a repeat of a tick harmless.
 */
export async function dueLeaverMessages(storage: Storage, now: Date): Promise<ProvisionUserMessage[]> {
  const out: ProvisionUserMessage[] = [];
  const requestedAt = now.toISOString();
  for (const { value: customer } of await storage.customers.list()) {
    for await (const { value: user } of storage.users.dueLeavers(customer.id, now)) {
      const at = user.leaver?.offboardAt;
      if (at && at <= requestedAt && siteOf(user.state)) {
        out.push({ customerId: customer.id, userId: user.userId, reason: 'leaver', observedAt: user.leaver!.since, requestedAt });
      }
    }
  }
  return out;
}
