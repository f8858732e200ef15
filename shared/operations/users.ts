/**
 * One user as an operator looks into it: the stored record, and where placement would put it now and why,
 * criterion by criterion for every site. And the other way round: which users a set of criteria matches,
 * before they are saved ("test these criteria").
 */
import { compileCriteria, explainPlacement, siteMacros, type Criterion, type PlacementCandidate, type PlacementExplanation, type UserRecord, type UserStateKind } from '../domain';
import { NotFoundError } from '../ports/storage';
import { customerContext } from '../provisioning/customerContext';
import type { OperationsDeps } from './ports';

export async function getUser(deps: Pick<OperationsDeps, 'storage'>, customerId: string, userId: string): Promise<UserRecord> {
  if (!(await deps.storage.customers.get(customerId))) throw new NotFoundError(`customer ${customerId} does not exist`);
  const found = await deps.storage.users.get(customerId, userId);
  if (!found) throw new NotFoundError(`user ${userId} of customer ${customerId} does not exist`);
  return found.value;
}

export interface UserPlacement extends PlacementExplanation {
  userId: string;
  /** Where the user is now (placement may since have changed). */
  state: UserRecord['state'];
  /** Other sites that matched when the user was last placed. */
  alsoMatchedSites: string[];
}

export async function explainUserPlacement(deps: Pick<OperationsDeps, 'storage'>, customerId: string, userId: string): Promise<UserPlacement> {
  const user = await getUser(deps, customerId, userId);
  const ctx = await customerContext(deps.storage, customerId);
  const candidates: PlacementCandidate[] = [...ctx.sites.values()].map((site) => {
    const defaults = ctx.siteDefaults.get(site.id) ?? { siteId: site.id, customerId, includeForOverbuild: false, microsoftUsers: false, createNumberInventoryAtCustomer: false, manageLicensesAndAllowStaging: false, teamsPolicies: {}, placementPriority: 0 };
    const moveUserCriteria = defaults.moveUserCriteriaId ? ctx.criteria.get(defaults.moveUserCriteriaId) : undefined;
    return { site, defaults, ...(moveUserCriteria ? { moveUserCriteria } : {}) };
  });
  return { userId, state: user.state, alsoMatchedSites: user.alsoMatchedSites ?? [], ...explainPlacement(user.attributes, candidates) };
}

export interface CriteriaTest {
  criteria: Criterion[];
  /** Resolve macros such as {{site.city}} in this site's context. */
  siteId?: string;
  /** How many matching users to list (the count covers all). */
  top?: number;
}

export interface CriteriaTestResult {
  scanned: number;
  matched: number;
  users: Array<{ userId: string; userPrincipalName?: string; displayName?: string; state: UserStateKind; siteId?: string }>;
}

export async function testCriteria(deps: Pick<OperationsDeps, 'storage'>, customerId: string, test: CriteriaTest): Promise<CriteriaTestResult> {
  if (!(await deps.storage.customers.get(customerId))) throw new NotFoundError(`customer ${customerId} does not exist`);
  let macros = {};
  if (test.siteId !== undefined) {
    const site = await deps.storage.sites.get(customerId, test.siteId);
    if (!site) throw new NotFoundError(`site ${test.siteId} does not exist`);
    macros = siteMacros(site.value);
  }
  const matches = compileCriteria(test.criteria, macros);
  const top = Math.min(Math.max(test.top ?? 25, 1), 200);
  const result: CriteriaTestResult = { scanned: 0, matched: 0, users: [] };
  for await (const { value: user } of deps.storage.users.list(customerId)) {
    if (user.removed) continue;
    result.scanned++;
    if (!matches(user.attributes)) continue;
    result.matched++;
    if (result.users.length >= top) continue;
    const a = user.attributes;
    result.users.push({
      userId: user.userId,
      ...(typeof a.userPrincipalName === 'string' ? { userPrincipalName: a.userPrincipalName } : {}),
      ...(typeof a.displayName === 'string' ? { displayName: a.displayName } : {}),
      state: user.state.kind,
      ...('siteId' in user.state && user.state.siteId ? { siteId: user.state.siteId } : {}),
    });
  }
  return result;
}
