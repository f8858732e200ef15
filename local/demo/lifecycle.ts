/**
 * The demo job's look at the rest of a user's life: the resource accounts the sync counted apart from
 * people, an operator's move of a user between sites (previewed first), and a leaver offboarded when HR
 * disables the account. Each step is `ok` only when what it names happened, checked over the API.
 */
import type { ApiClient } from './api';
import { waitFor } from './api';
import { StepSkipped, type ScenarioRecorder } from './report';

interface UserView {
  userId: string;
  attributes: Record<string, unknown>;
  state: { kind: string; siteId?: string; reason?: string };
  number?: string;
  leaver?: { reason: string; since: string };
}

interface ResourceAccountsView {
  value: Array<{ id: string; kind: string; numbers: string[]; inventory: Array<{ number: string; status: string | null }> }>;
  byKind: Record<string, number>;
  lastSync?: { status: string; reason?: string };
}

interface TransactionView {
  id: string;
  outcome: string;
  steps: Array<{ name: string; result: string; detail?: string }>;
}

interface MovePreviewView {
  number: { current?: { number: string; outcome: string }; offered?: string };
  changes: Array<{ kind: string }>;
  takenAway: { policyTypes: string[]; dialPlan?: string };
  unmet: string[];
}

const upn = (u: UserView) => String(u.attributes.userPrincipalName ?? u.userId);

async function finished(api: ApiClient, customerId: string, transactionId: string): Promise<TransactionView> {
  return waitFor(
    `transaction ${transactionId}`,
    async () => {
      const tx = await api.json<TransactionView>('GET', `/customers/${customerId}/transactions/${encodeURIComponent(transactionId)}`);
      return tx.outcome === 'running' ? undefined : tx;
    },
    120_000,
    100,
  );
}

/** Resource accounts as the sync counted them: never stored as people, their numbers Used-Utility. */
export async function resourceAccountsStep(recorder: ScenarioRecorder, api: ApiClient, customerId: string, expectSome: boolean): Promise<void> {
  await recorder.step('resource accounts counted apart from people', async () => {
    const view = await api.json<ResourceAccountsView>('GET', `/customers/${customerId}/resource-accounts`);
    if (!view.lastSync) throw new Error('no sync has read the resource accounts');
    if (view.lastSync.status === 'skipped') throw new StepSkipped(`the sync skipped them: ${view.lastSync.reason ?? 'no reason given'}`);
    if (view.lastSync.status !== 'succeeded') throw new Error(`their last sync ${view.lastSync.status}${view.lastSync.reason ? `: ${view.lastSync.reason}` : ''}`);
    const numbers = view.value.flatMap((a) => a.inventory);
    const utility = numbers.filter((n) => n.status === 'Used-Utility').length;
    if (expectSome && view.value.length === 0) throw new Error('the demo tenant has auto attendants and call queues, and the sync counted none');
    const asPeople = (await Promise.all(view.value.slice(0, 20).map((a) => api.request('GET', `/customers/${customerId}/users/${encodeURIComponent(a.id)}`)))).filter((r) => r.status === 200).length;
    if (asPeople > 0) throw new Error(`${asPeople} resource account(s) stored as users`);
    if (utility < numbers.length) throw new Error(`${numbers.length - utility} of their ${numbers.length} numbers are not Used-Utility in the inventory`);
    const kinds = Object.entries(view.byKind).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ');
    return { value: view.byKind, detail: `${view.value.length} resource accounts (${kinds || 'none'}), none stored as a user; ${utility} of their numbers Used-Utility in the inventory` };
  });
}

/** Provisioned users holding a number at a site, in the list's order, but those to be left alone. */
async function placedWithNumbers(api: ApiClient, customerId: string, avoid: ReadonlySet<string>): Promise<UserView[]> {
  return (await api.json<{ items: UserView[] }>('GET', `/customers/${customerId}/users?state=provisioned&top=100`)).items.filter((u) => u.number && u.state.siteId && !avoid.has(u.userId));
}

/** An operator moves a provisioned user with a number to another site, after looking at the preview. */
export async function moveStep(recorder: ScenarioRecorder, api: ApiClient, customerId: string, avoid: ReadonlySet<string>): Promise<void> {
  await recorder.step('a user moved between sites, as the preview said', async () => {
    const users = await placedWithNumbers(api, customerId, avoid);
    const sites = (await api.json<{ items?: Array<{ id: string; name: string }>; value?: Array<{ id: string; name: string }> }>('GET', `/customers/${customerId}/sites`));
    const siteList = sites.items ?? sites.value ?? [];
    for (const user of users) {
      const target = siteList.find((s) => s.id !== user.state.siteId);
      if (!target) break;
      const preview = await api.json<MovePreviewView>('GET', `/customers/${customerId}/users/${encodeURIComponent(user.userId)}/move-preview?siteId=${encodeURIComponent(target.id)}`);
      if (preview.unmet.length > 0 || !preview.number.offered) continue; // no number for it there: another user
      const accepted = await api.json<{ transactionId: string }>('POST', `/customers/${customerId}/users/${encodeURIComponent(user.userId)}/move`, { siteId: target.id });
      const tx = await finished(api, customerId, accepted.transactionId);
      if (tx.outcome !== 'succeeded') throw new Error(`the move of ${upn(user)} ended ${tx.outcome}: ${tx.steps.filter((s) => s.result === 'failed').map((s) => s.detail).join('; ')}`);
      const after = await api.json<UserView>('GET', `/customers/${customerId}/users/${encodeURIComponent(user.userId)}`);
      if (after.state.siteId !== target.id) throw new Error(`${upn(user)} is at ${after.state.siteId ?? 'customer level'}, not ${target.id}`);
      if (after.number !== preview.number.offered && after.number !== preview.number.current?.number) throw new Error(`${upn(user)} holds ${after.number ?? 'no number'}, not the ${preview.number.offered} the preview offered`);
      const old = preview.number.current;
      const taken = [...preview.takenAway.policyTypes, ...(preview.takenAway.dialPlan ? [preview.takenAway.dialPlan] : [])];
      return {
        value: { userId: user.userId, from: user.state.siteId, to: target.id, number: after.number },
        detail: `${upn(user)} from ${user.state.siteId} to ${target.id}: ${old ? `${old.number} ${old.outcome === 'kept' ? 'kept' : 'released to cooling'}, ` : ''}${after.number} assigned; ${preview.changes.length} change(s) of the new site and profile applied${taken.length ? `; taken away: ${taken.join(', ')}` : ''}`,
      };
    }
    throw new Error('no provisioned user with a number could be moved: no other site offers a number');
  });
}

/**
 * HR disables a provisioned user in the tenant (the emulator's control API); Graph notifies the webhook and
 * the customer's leaver setting offboards it: back at customer level, its number given up.
 */
export async function leaverStep(recorder: ScenarioRecorder, api: ApiClient, customerId: string, avoid: ReadonlySet<string>, disable: (userId: string) => Promise<void>): Promise<void> {
  await recorder.step('a leaver disabled in the tenant is offboarded', async () => {
    const settings = await api.json<{ leavers: { action: string } }>('GET', `/customers/${customerId}/global-settings/effective`);
    if (settings.leavers.action !== 'offboard-at-once') throw new Error(`the customer's leaver setting is ${settings.leavers.action}, so nothing would be offboarded now`);
    // One holding its number alone: a duplicate stays with its other holder when one of them leaves.
    const duplicates = new Set((await api.json<{ items: Array<{ number: string }> }>('GET', `/customers/${customerId}/numbers?duplicate=true&top=500`)).items.map((n) => n.number));
    const users = (await placedWithNumbers(api, customerId, avoid)).filter((u) => !duplicates.has(u.number!));
    const user = users[users.length - 1];
    if (!user) throw new Error('no provisioned user with a number of its own to disable');
    const started = Date.now();
    await disable(user.userId);
    const after = await waitFor(
      `${upn(user)} to be offboarded`,
      async () => {
        const u = await api.json<UserView>('GET', `/customers/${customerId}/users/${encodeURIComponent(user.userId)}`);
        return u.state.kind === 'at-customer' || u.state.kind === 'needs-attention' ? u : undefined;
      },
      120_000,
      100,
    );
    if (after.state.kind !== 'at-customer') throw new Error(`${upn(user)} ended ${after.state.kind}: ${after.state.reason ?? ''}`);
    if (after.number) throw new Error(`${upn(user)} still holds ${after.number}`);
    const numbers = await api.json<{ items: Array<{ number: string; status: string }> }>('GET', `/customers/${customerId}/numbers?siteId=${encodeURIComponent(user.state.siteId!)}&status=Cooling&top=500`);
    const cooling = numbers.items.some((n) => n.number === user.number);
    if (!cooling) throw new Error(`${user.number} is not cooling in site ${user.state.siteId}'s inventory`);
    const seconds = (Date.now() - started) / 1000;
    return {
      value: { userId: user.userId, number: user.number, seconds },
      detail: `${upn(user)} disabled in the tenant, offboarded from ${user.state.siteId} ${seconds.toFixed(1)} s later: ${user.number} unassigned and cooling (${after.state.reason})`,
    };
  });
}
