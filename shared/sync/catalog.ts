/**
 * The catalog families of the pull sync: a tenant's dial plans, Teams policies and license SKUs, copied to
 * the customer level. Each is small, so one activity reads it whole, diffs it against what is stored and
 * applies adds, changes and (within the delete guard) deletions.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, guardDeletes, type DeleteThreshold } from '../domain';
import type { MicrosoftLicenseSku, TeamsPolicy, TenantDialPlan } from '../ports/microsoft';
import type { ResourceAccount } from '../domain';
import { readResourceAccounts } from './resourceAccounts';
import type { EntityCounts, EntityOutcome } from './model';
import { zeroCounts } from './model';
import type { CatalogItem, CatalogStore, CatalogType, CustomerMicrosoft, PendingDeletionStore } from './ports';

/** The policy types copied to the customer level (those a site default or Quick Add Group can name). */
export const SYNCED_POLICY_TYPES = [
  'TeamsCallingPolicy',
  'OnlineVoiceRoutingPolicy',
  'TeamsEmergencyCallingPolicy',
  'TeamsEmergencyCallRoutingPolicy',
  'OnlineVoicemailPolicy',
  'CallingLineIdentity',
] as const;

export function fingerprint(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url').slice(0, 22);
}

const item = (id: string, name: string, data: unknown): CatalogItem => ({ id, name, data, hash: fingerprint(data) });

export function dialPlanItems(plans: readonly TenantDialPlan[]): CatalogItem[] {
  return plans.map((p) => item(p.identity, p.name, p));
}

export function policyItems(policies: readonly TeamsPolicy[]): CatalogItem[] {
  return policies.map((p) => item(`${p.policyType}:${p.identity}`, p.name, p));
}

/** Seat counts are synced too: provisioning checks them before assigning. */
export function licenseItems(skus: readonly MicrosoftLicenseSku[]): CatalogItem[] {
  return skus.map((s) => item(s.skuId, s.skuPartNumber, s));
}

/** Resource accounts by id, with what they serve and the service numbers they hold. */
export function resourceAccountItems(accounts: readonly ResourceAccount[]): CatalogItem[] {
  return accounts.map((a) => item(a.id, a.displayName ?? a.userPrincipalName ?? a.id, a));
}

export async function readCatalog(type: CatalogType, microsoft: CustomerMicrosoft): Promise<CatalogItem[] | undefined> {
  switch (type) {
    case 'resourceAccounts':
      return resourceAccountItems(await readResourceAccounts(microsoft));
    case 'licenses':
      return licenseItems(await microsoft.tenant.listSubscribedSkus());
    case 'dialPlans':
      return microsoft.bridge ? dialPlanItems(await microsoft.bridge.listDialPlans()) : undefined;
    case 'policies': {
      const bridge = microsoft.bridge;
      if (!bridge) return undefined;
      const lists = await Promise.all(SYNCED_POLICY_TYPES.map((t) => bridge.listPolicies(t)));
      return policyItems(lists.flat());
    }
  }
}

export interface CatalogSyncResult {
  counts: EntityCounts;
  /** Set when the guard held this type's deletions. */
  heldReason?: string;
  /** Set when the type could not be read (no Teams admin bridge configured). */
  skipped?: string;
  /** Set when reading or storing the type failed after its retries: the reason. */
  failed?: string;
}

export async function syncCatalogType(
  args: { customerId: string; runId: string; type: CatalogType; threshold: DeleteThreshold },
  microsoft: CustomerMicrosoft,
  catalog: CatalogStore,
  pending: PendingDeletionStore,
  /** The type as just read, when the caller read it (to use it beyond the catalog). */
  read?: CatalogItem[],
): Promise<CatalogSyncResult> {
  // What Microsoft has, what is stored and what is held, read side by side.
  const [fresh, storedItems, holds] = await Promise.all([
    read ?? readCatalog(args.type, microsoft),
    catalog.list(args.customerId, args.type),
    pending.list(args.customerId, { entityType: args.type, held: true }),
  ]);
  if (!fresh) return { counts: zeroCounts(), skipped: 'no Teams admin bridge is configured' };
  const stored = new Map(storedItems.map((i) => [i.id, i]));
  const counts = zeroCounts();
  const writes: CatalogItem[] = [];
  const seen = new Set<string>();
  for (const i of fresh) {
    seen.add(i.id);
    const before = stored.get(i.id);
    if (!before) counts.added++;
    else if (before.hash !== i.hash) counts.changed++;
    else {
      counts.unchanged++;
      continue;
    }
    writes.push(i);
  }
  await catalog.write(args.customerId, args.type, writes);
  // Holds are re-validated on every complete read: an item seen again is not gone; one still gone stays held as it was.
  await pending.remove(args.customerId, holds.filter((h) => seen.has(h.id)));
  const stillHeld = new Set(holds.map((h) => h.id));
  const gone = [...stored.keys()].filter((id) => !seen.has(id) && !stillHeld.has(id));
  const decision = guardDeletes(args.type, gone.length, stored.size, args.threshold);
  if (!decision.allow) {
    await pending.add(
      args.customerId,
      gone.map((id) => ({ entityType: args.type, id, removal: 'missing' as const, runId: args.runId, held: true, heldReason: decision.reason, heldAt: new Date().toISOString() })),
    );
    counts.held = gone.length;
    return { counts, heldReason: decision.reason };
  }
  await catalog.remove(args.customerId, args.type, gone);
  counts.deleted = gone.length;
  return { counts };
}

/** How a run reports a catalog type: its result, or why there is none (`error`: the run's own failure). */
export function catalogOutcome(r: CatalogSyncResult | undefined, error: string | undefined): EntityOutcome {
  if (!r) return { status: 'failed', reason: error ?? 'the run ended before this type was read' };
  if (r.failed) return { status: 'failed', reason: r.failed };
  if (r.skipped) return { status: 'skipped', reason: r.skipped };
  if (r.heldReason) return { status: 'held', reason: r.heldReason };
  return { status: 'succeeded' };
}
