/**
 * One tenant's directory and Teams state. Users live in a slot array (paging by slot index) with maps by
 * id and UPN; every change gets a sequence number and a log entry so delta rounds read only what changed.
 */
import { randomUUID } from 'node:crypto';
import {
  featureTypesFor, teamsPolicyId, TEAMS_POLICY_TYPES,
  type AssignedLicense, type DemoApp, type DemoApplicationInstance, type DemoDialPlan, type DemoGroup, type DemoNumberAssignment, type DemoPolicy,
  type DemoSku, type DemoTeamsUserConfiguration, type DemoTenant, type DemoUser, type PolicyAssignmentRef, type TeamsPolicyType,
} from '../demo/tenant';

export interface UserRecord {
  u: DemoUser;
  slot: number;
  /** Sequence of the last change of any kind. */
  seq: number;
  createdSeq: number;
  /** Sequence of the last soft delete or restore. */
  stateSeq: number;
  /** Sequence per changed property; null until the first change (most users never change). */
  fieldSeq: Record<string, number> | null;
  deletedDateTime: string | null;
}

export type UserChangeKind = 'created' | 'updated' | 'softDeleted' | 'restored' | 'hardDeleted';
export type UserChangeListener = (tenantId: string, userId: string, kind: UserChangeKind) => void;

/** Properties a client may set through PATCH or the control API. */
export const WRITABLE_USER_FIELDS = new Set<string>([
  'displayName', 'givenName', 'surname', 'mail', 'mailNickname', 'jobTitle', 'department', 'officeLocation', 'city', 'state',
  'country', 'streetAddress', 'postalCode', 'usageLocation', 'businessPhones', 'mobilePhone', 'preferredLanguage',
  'accountEnabled', 'userType', 'companyName', 'employeeId', 'employeeType', 'onPremisesSyncEnabled', 'onPremisesImmutableId',
  'userPrincipalName',
]);

export interface TelephoneOperation {
  id: string;
  kind: 'assignNumber' | 'unassignNumber';
  createdAt: number;
  createdDateTime: string;
  telephoneNumber: string;
  targetId: string | null;
  numberType: string;
  assignmentCategory: 'primary' | 'private' | 'alternate';
  locationId: string | null;
  final: { status: 'succeeded' | 'failed'; statusDetail: string | null } | null;
  finishedDateTime: string | null;
}

export class ServiceError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const isoNow = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class TenantState {
  readonly tenantId: string;
  readonly displayName: string;
  readonly domain: string;
  readonly apps = new Map<string, DemoApp>();
  readonly slots: Array<UserRecord | undefined> = [];
  readonly byId = new Map<string, UserRecord>();
  readonly byUpn = new Map<string, UserRecord>();
  activeCount = 0;
  seq = 0;
  /** Change log as parallel arrays (sequence, user id), ascending by sequence. */
  readonly logSeq: number[] = [];
  readonly logId: string[] = [];
  readonly tombstones = new Map<string, number>();
  /** Bumped by a sync reset; tokens of an older generation get resyncRequired. */
  deltaGeneration = 0;
  readonly skus = new Map<string, DemoSku>();
  readonly groups = new Map<string, { g: Omit<DemoGroup, 'members'>; members: Set<string> }>();
  readonly groupOrder: string[] = [];
  readonly dialPlans: DemoDialPlan[];
  readonly policies: Record<TeamsPolicyType, DemoPolicy[]>;
  readonly teams = new Map<string, DemoTeamsUserConfiguration>();
  readonly teamsOrder: string[] = [];
  readonly numbers: DemoNumberAssignment[];
  readonly numberIndex = new Map<string, DemoNumberAssignment>();
  readonly operations = new Map<string, TelephoneOperation>();
  /** Get-CsOnlineApplicationInstance: the tenant's resource accounts, for the Teams bridge. */
  readonly applicationInstances: DemoApplicationInstance[];
  private readonly listeners: UserChangeListener[] = [];

  constructor(tenant: DemoTenant, private readonly clock: () => number) {
    this.tenantId = tenant.tenantId;
    this.displayName = tenant.displayName;
    this.domain = tenant.domain;
    for (const app of tenant.apps) this.apps.set(app.clientId, app);
    for (const u of tenant.users) this.insert(u, 0);
    for (const s of tenant.skus) this.skus.set(s.skuId.toLowerCase(), s);
    for (const g of tenant.groups) {
      const { members, ...rest } = g;
      this.groups.set(g.id, { g: rest, members: new Set(members) });
      this.groupOrder.push(g.id);
    }
    this.dialPlans = tenant.dialPlans;
    this.policies = tenant.policies;
    for (const c of tenant.teamsUserConfigurations) {
      this.teams.set(c.id, c);
      this.teamsOrder.push(c.id);
    }
    this.numbers = tenant.numberAssignments;
    for (const n of this.numbers) this.numberIndex.set(n.telephoneNumber, n);
    this.applicationInstances = tenant.applicationInstances ?? [];
  }

  /**
   * The tenant's data as plain values (maps, arrays, records), without its clock and listeners: what the
   * emulator saves to keep its tenants across restarts. Shared records stay shared under structured clone.
   */
  snapshot(): Record<string, unknown> {
    const { clock: _clock, listeners: _listeners, ...data } = this as unknown as Record<string, unknown>;
    return data;
  }

  /** A tenant from `snapshot()`'s data, on the given clock, with no listeners yet. */
  static restore(data: Record<string, unknown>, clock: () => number): TenantState {
    const tenant = Object.create(TenantState.prototype) as TenantState;
    Object.assign(tenant, { applicationInstances: [] }, data, { clock, listeners: [] });
    return tenant;
  }

  onUserChange(listener: UserChangeListener): void {
    this.listeners.push(listener);
  }

  private emit(userId: string, kind: UserChangeKind): void {
    for (const l of this.listeners) l(this.tenantId, userId, kind);
  }

  private insert(u: DemoUser, seq: number): UserRecord {
    const rec: UserRecord = { u, slot: this.slots.length, seq, createdSeq: seq, stateSeq: 0, fieldSeq: null, deletedDateTime: null };
    this.slots.push(rec);
    this.byId.set(u.id, rec);
    this.byUpn.set(u.userPrincipalName.toLowerCase(), rec);
    this.activeCount++;
    return rec;
  }

  private bump(rec: UserRecord): number {
    const seq = ++this.seq;
    rec.seq = seq;
    this.logSeq.push(seq);
    this.logId.push(rec.u.id);
    return seq;
  }

  /** An active (not soft-deleted) user by id or UPN. */
  findUser(idOrUpn: string): UserRecord | undefined {
    const rec = this.byId.get(idOrUpn) ?? this.byUpn.get(idOrUpn.toLowerCase());
    return rec && !rec.deletedDateTime ? rec : undefined;
  }

  requireUser(idOrUpn: string): UserRecord {
    const rec = this.findUser(idOrUpn);
    if (!rec) throw new ServiceError(404, 'Request_ResourceNotFound', `Resource '${idOrUpn}' does not exist or one of its queried reference-property objects are not present.`);
    return rec;
  }

  addUser(input: Partial<DemoUser>): DemoUser {
    const id = input.id ?? randomUUID();
    if (this.byId.has(id) || this.tombstones.has(id)) throw new ServiceError(400, 'Request_BadRequest', `Another object with the same value for property id already exists.`);
    const nick = input.mailNickname ?? (input.userPrincipalName ?? `user.${id.slice(0, 8)}`).split('@')[0];
    const upn = input.userPrincipalName ?? `${nick}@${this.domain}`;
    if (this.byUpn.has(upn.toLowerCase())) throw new ServiceError(400, 'Request_BadRequest', 'Another object with the same value for property userPrincipalName already exists.');
    const u: DemoUser = {
      id, userPrincipalName: upn, displayName: input.displayName ?? nick, givenName: null, surname: null, mail: upn, mailNickname: nick,
      jobTitle: null, department: null, officeLocation: null, city: null, state: null, country: null, streetAddress: null, postalCode: null,
      usageLocation: null, businessPhones: [], mobilePhone: null, preferredLanguage: null, accountEnabled: true, userType: 'Member',
      companyName: null, employeeId: null, employeeType: null, onPremisesSyncEnabled: null, onPremisesImmutableId: null,
      createdDateTime: isoNow(this.clock()), assignedLicenses: [],
      ...input,
    };
    u.id = id;
    u.userPrincipalName = upn;
    const rec = this.insert(u, 0);
    this.bump(rec);
    rec.createdSeq = rec.seq;
    this.emit(id, 'created');
    return u;
  }

  /** Applies property changes; returns the names that actually changed. */
  updateUser(idOrUpn: string, changes: Record<string, unknown>): string[] {
    const rec = this.requireUser(idOrUpn);
    const changed: string[] = [];
    for (const [k, v] of Object.entries(changes)) {
      if (!WRITABLE_USER_FIELDS.has(k)) {
        throw new ServiceError(400, 'Request_BadRequest', `Property '${k}' is read-only or does not exist on type 'microsoft.graph.user'.`);
      }
      const cur = (rec.u as unknown as Record<string, unknown>)[k];
      if (JSON.stringify(cur) === JSON.stringify(v)) continue;
      if (k === 'userPrincipalName') {
        const upn = String(v);
        const other = this.byUpn.get(upn.toLowerCase());
        if (other && other !== rec) throw new ServiceError(400, 'Request_BadRequest', 'Another object with the same value for property userPrincipalName already exists.');
        this.byUpn.delete(rec.u.userPrincipalName.toLowerCase());
        this.byUpn.set(upn.toLowerCase(), rec);
      }
      (rec.u as unknown as Record<string, unknown>)[k] = v;
      changed.push(k);
    }
    if (changed.length) this.touch(rec, changed);
    return changed;
  }

  private touch(rec: UserRecord, fields: string[]): void {
    const seq = this.bump(rec);
    rec.fieldSeq ??= {};
    for (const f of fields) rec.fieldSeq[f] = seq;
    this.emit(rec.u.id, 'updated');
  }

  softDelete(id: string): void {
    const rec = this.requireUser(id);
    rec.deletedDateTime = isoNow(this.clock());
    rec.stateSeq = this.bump(rec);
    this.activeCount--;
    this.emit(id, 'softDeleted');
  }

  restore(id: string): DemoUser {
    const rec = this.byId.get(id);
    if (!rec || !rec.deletedDateTime) throw new ServiceError(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    rec.deletedDateTime = null;
    rec.stateSeq = this.bump(rec);
    this.activeCount++;
    this.emit(id, 'restored');
    return rec.u;
  }

  /** Permanent deletion, from active or soft-deleted; frees licenses, numbers and memberships. */
  hardDelete(id: string): void {
    const rec = this.byId.get(id);
    if (!rec) throw new ServiceError(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    if (!rec.deletedDateTime) this.activeCount--;
    for (const l of rec.u.assignedLicenses) {
      const sku = this.skus.get(l.skuId.toLowerCase());
      if (sku) sku.consumedUnits = Math.max(0, sku.consumedUnits - 1);
    }
    for (const { members } of this.groups.values()) members.delete(id);
    for (const n of this.numbers) if (n.assignmentTargetId === id) this.releaseNumber(n);
    if (this.teams.delete(id)) {
      const i = this.teamsOrder.indexOf(id);
      if (i >= 0) this.teamsOrder.splice(i, 1);
    }
    this.slots[rec.slot] = undefined;
    this.byId.delete(id);
    if (this.byUpn.get(rec.u.userPrincipalName.toLowerCase()) === rec) this.byUpn.delete(rec.u.userPrincipalName.toLowerCase());
    const seq = ++this.seq;
    this.logSeq.push(seq);
    this.logId.push(id);
    this.tombstones.set(id, seq);
    this.emit(id, 'hardDeleted');
  }

  // -------------------------------------------------------------------------------------------
  // Licenses

  assignLicense(idOrUpn: string, add: AssignedLicense[], remove: string[]): DemoUser {
    const rec = this.requireUser(idOrUpn);
    const u = rec.u;
    if (add.length && !(u.usageLocation && /^[A-Z]{2}$/.test(u.usageLocation))) {
      throw new ServiceError(400, 'Request_BadRequest', 'License assignment cannot be done for user with invalid usage location.');
    }
    const held = new Set(u.assignedLicenses.map((l) => l.skuId.toLowerCase()));
    for (const skuId of remove) {
      if (!this.skus.has(skuId.toLowerCase())) throw new ServiceError(400, 'Request_BadRequest', `License ${skuId} does not correspond to a valid company License.`);
      if (!held.has(skuId.toLowerCase())) throw new ServiceError(400, 'Request_BadRequest', `User does not have a corresponding license ${skuId}.`);
    }
    for (const l of add) {
      const sku = this.skus.get(l.skuId.toLowerCase());
      if (!sku) throw new ServiceError(400, 'Request_BadRequest', `License ${l.skuId} does not correspond to a valid company License.`);
      if (!held.has(l.skuId.toLowerCase()) && sku.consumedUnits >= sku.prepaidUnits.enabled) {
        throw new ServiceError(400, 'Request_BadRequest', `Subscription with SKU ${sku.skuId} does not have any available licenses.`);
      }
    }
    const removeSet = new Set(remove.map((s) => s.toLowerCase()));
    const next = u.assignedLicenses.filter((l) => !removeSet.has(l.skuId.toLowerCase()));
    for (const l of add) {
      const sku = this.skus.get(l.skuId.toLowerCase())!;
      const existing = next.find((x) => x.skuId.toLowerCase() === sku.skuId.toLowerCase());
      if (existing) existing.disabledPlans = [...l.disabledPlans];
      else next.push({ skuId: sku.skuId, disabledPlans: [...l.disabledPlans] });
    }
    const after = new Set(next.map((l) => l.skuId.toLowerCase()));
    for (const s of after) if (!held.has(s)) this.skus.get(s)!.consumedUnits++;
    for (const s of held) if (!after.has(s)) { const sku = this.skus.get(s); if (sku) sku.consumedUnits--; }
    u.assignedLicenses = next;
    this.touch(rec, ['assignedLicenses', 'assignedPlans']);
    this.syncTeamsFeatures(rec);
    return u;
  }

  servicePlansOf(skuId: string): string[] | undefined {
    return this.skus.get(skuId.toLowerCase())?.servicePlans.map((p) => p.servicePlanId);
  }

  /** assignedPlans derived from licenses, computed only when selected. */
  assignedPlans(u: DemoUser): unknown[] {
    const out: unknown[] = [];
    for (const l of u.assignedLicenses) {
      const sku = this.skus.get(l.skuId.toLowerCase());
      for (const p of sku?.servicePlans ?? []) {
        out.push({ assignedDateTime: u.createdDateTime, capabilityStatus: l.disabledPlans.includes(p.servicePlanId) ? 'Deleted' : 'Enabled', service: p.servicePlanName, servicePlanId: p.servicePlanId });
      }
    }
    return out;
  }

  /** Teams picks up licensed users: a config appears with a Teams plan, and feature types follow licenses. */
  private syncTeamsFeatures(rec: UserRecord): void {
    const features = featureTypesFor(rec.u.assignedLicenses, (skuId) => this.servicePlansOf(skuId));
    const cfg = this.teams.get(rec.u.id);
    const now = isoNow(this.clock());
    if (cfg) {
      this.teams.set(rec.u.id, { ...cfg, featureTypes: features, modifiedDateTime: now });
    } else if (features.includes('Teams')) {
      this.provisionTeamsUser(rec.u.id);
    }
  }

  /** Creates the Teams user configuration of a user (what Teams does some time after licensing). */
  provisionTeamsUser(userId: string): DemoTeamsUserConfiguration {
    const rec = this.requireUser(userId);
    const existing = this.teams.get(userId);
    if (existing) return existing;
    const now = isoNow(this.clock());
    const cfg: DemoTeamsUserConfiguration = {
      id: userId, userPrincipalName: rec.u.userPrincipalName, tenantId: this.tenantId,
      accountType: rec.u.userType === 'Guest' ? 'guest' : 'user', isEnterpriseVoiceEnabled: false,
      featureTypes: featureTypesFor(rec.u.assignedLicenses, (skuId) => this.servicePlansOf(skuId)),
      telephoneNumbers: [], effectivePolicyAssignments: TEAMS_POLICY_TYPES.map((t) => globalRef(t)),
      createdDateTime: now, modifiedDateTime: now,
    };
    this.teams.set(userId, cfg);
    this.teamsOrder.push(userId);
    return cfg;
  }

  // -------------------------------------------------------------------------------------------
  // Groups

  requireGroup(id: string): { g: Omit<DemoGroup, 'members'>; members: Set<string> } {
    const g = this.groups.get(id);
    if (!g) throw new ServiceError(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    return g;
  }

  addMember(groupId: string, userId: string): void {
    const g = this.requireGroup(groupId);
    const rec = this.requireUser(userId);
    if (g.members.has(rec.u.id)) {
      throw new ServiceError(400, 'Request_BadRequest', "One or more added object references already exist for the following modified properties: 'members'.");
    }
    g.members.add(rec.u.id);
  }

  removeMember(groupId: string, userId: string): void {
    const g = this.requireGroup(groupId);
    if (!g.members.delete(userId)) {
      throw new ServiceError(404, 'Request_ResourceNotFound', `Resource '${userId}' does not exist or one of its queried reference-property objects are not present.`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Teams numbers and policies

  normalizeNumber(n: string): string {
    const t = n.trim();
    return t.startsWith('+') ? t : `+${t}`;
  }

  releaseNumber(n: DemoNumberAssignment): void {
    const target = n.assignmentTargetId;
    n.assignmentStatus = 'unassigned';
    n.assignmentTargetId = null;
    n.assignmentCategory = null;
    if (target) {
      const cfg = this.teams.get(target);
      if (cfg) {
        this.teams.set(target, { ...cfg, telephoneNumbers: cfg.telephoneNumbers.filter((t) => t.telephoneNumber !== n.telephoneNumber), modifiedDateTime: isoNow(this.clock()) });
      }
    }
  }

  private addDirectRoutingNumber(telephoneNumber: string): DemoNumberAssignment {
    const number: DemoNumberAssignment = {
      id: telephoneNumber.replace(/^\+/, ''),
      telephoneNumber,
      numberType: 'directRouting',
      activationState: 'activated',
      assignmentStatus: 'unassigned',
      assignmentTargetId: null,
      assignmentCategory: null,
      capabilities: ['userAssignment'],
      locationId: null,
      civicAddressId: null,
      networkSiteId: null,
      operatorId: null,
      isoCountryCode: '',
      city: '',
      numberSource: 'onPremises',
      portInStatus: null,
      supportedCustomerActions: [],
      reverseNumberLookupOptions: [],
    };
    this.numbers.push(number);
    this.numberIndex.set(telephoneNumber, number);
    return number;
  }

  /** Runs an operation's outcome once its delay has passed; the rules follow Set-CsPhoneNumberAssignment. */
  completeOperation(op: TelephoneOperation): void {
    if (op.final) return;
    const fail = (detail: string): void => {
      op.final = { status: 'failed', statusDetail: detail };
    };
    op.finishedDateTime = isoNow(this.clock());
    let number = this.numberIndex.get(op.telephoneNumber);
    // Direct Routing numbers belong to the customer's carrier: Teams records one when it is first assigned.
    if (!number && op.kind === 'assignNumber' && op.numberType === 'directRouting') number = this.addDirectRoutingNumber(op.telephoneNumber);
    if (!number) return fail(`Telephone Number '${op.telephoneNumber}' was not found in the tenant.`);
    if (number.numberType !== op.numberType) return fail(`Telephone Number '${op.telephoneNumber}' is of type '${number.numberType}', not '${op.numberType}'.`);
    if (op.kind === 'unassignNumber') {
      if (!number.assignmentTargetId) return fail(`Telephone Number '${op.telephoneNumber}' is not assigned.`);
      this.releaseNumber(number);
      op.final = { status: 'succeeded', statusDetail: null };
      return;
    }
    const rec = op.targetId ? this.findUser(op.targetId) : undefined;
    if (!rec) return fail(`User '${op.targetId}' was not found.`);
    const cfg = this.teams.get(rec.u.id);
    if (!cfg) return fail(`User '${op.targetId}' was not found in Microsoft Teams.`);
    // A resource account's Teams Phone Resource Account license carries Teams Phone for its service number.
    if (!cfg.featureTypes.includes('PhoneSystem') && !cfg.featureTypes.includes('PhoneSystemVirtualUser')) return fail(`User '${rec.u.userPrincipalName}' is not licensed for Teams Phone (PhoneSystem).`);
    if (number.numberType === 'callingPlan' && !cfg.featureTypes.includes('CallingPlan')) return fail(`User '${rec.u.userPrincipalName}' has no Calling Plan license.`);
    if (rec.u.usageLocation && number.isoCountryCode !== rec.u.usageLocation && number.numberType === 'callingPlan') {
      return fail(`Telephone Number '${op.telephoneNumber}' cannot be assigned to a user with usage location '${rec.u.usageLocation}'.`);
    }
    if (number.assignmentTargetId && number.assignmentTargetId !== rec.u.id) {
      return fail(`Telephone Number '${op.telephoneNumber}' has already been assigned to another user`);
    }
    // A user holds one primary number: assigning another primary replaces it.
    if (op.assignmentCategory === 'primary') {
      for (const t of cfg.telephoneNumbers) {
        const held = this.numberIndex.get(t.telephoneNumber);
        if (t.assignmentCategory === 'primary' && held && held !== number && held.assignmentTargetId === rec.u.id) this.releaseNumber(held);
      }
    }
    number.assignmentStatus = cfg.accountType === 'resourceAccount' ? 'voiceApplicationAssigned' : 'userAssigned';
    number.assignmentTargetId = rec.u.id;
    number.assignmentCategory = op.assignmentCategory;
    number.activationState = 'activated';
    if (op.locationId) number.locationId = op.locationId;
    const current = this.teams.get(rec.u.id)!;
    const others = current.telephoneNumbers.filter((t) => t.telephoneNumber !== number.telephoneNumber && t.assignmentCategory !== op.assignmentCategory);
    this.teams.set(rec.u.id, {
      ...current, isEnterpriseVoiceEnabled: true,
      telephoneNumbers: [...others, { telephoneNumber: number.telephoneNumber, assignmentCategory: op.assignmentCategory }],
      modifiedDateTime: isoNow(this.clock()),
    });
    op.final = { status: 'succeeded', statusDetail: null };
  }

  /** A policy instance by type and name ("Global", "Name" or "Tag:Name"); TenantDialPlan reads dial plans. */
  findPolicy(policyType: string, name: string | null): { Identity: string } | undefined {
    const identity = !name || name.toLowerCase() === 'global' ? 'Global' : name.startsWith('Tag:') ? name : `Tag:${name}`;
    if (policyType === 'TenantDialPlan') {
      if (identity === 'Global') return { Identity: 'Global' };
      return this.dialPlans.find((d) => d.Identity.toLowerCase() === identity.toLowerCase());
    }
    const list = (this.policies as Record<string, DemoPolicy[] | undefined>)[policyType];
    if (!list) return undefined;
    if (policyType === 'TeamsCallingPolicy' || identity !== 'Global') return list.find((p) => p.Identity.toLowerCase() === identity.toLowerCase());
    return list.find((p) => p.Identity === 'Global') ?? { Identity: 'Global' };
  }

  findPolicyById(policyType: string, policyId: string): { Identity: string } | undefined {
    const candidates: Array<{ Identity: string }> = policyType === 'TenantDialPlan'
      ? [{ Identity: 'Global' }, ...this.dialPlans]
      : (this.policies as Record<string, DemoPolicy[] | undefined>)[policyType] ?? [];
    return candidates.find((p) => teamsPolicyId(policyType, p.Identity) === policyId);
  }

  /** Sets a user's direct assignment of a policy type; identity 'Global' removes the direct assignment. */
  setPolicy(userId: string, policyType: string, identity: string): void {
    const rec = this.requireUser(userId);
    const cfg = this.teams.get(rec.u.id);
    if (!cfg) throw new ServiceError(404, 'NotFound', `User '${userId}' was not found in Microsoft Teams.`);
    const ref = identity === 'Global' ? globalRef(policyType) : directRef(policyType, identity);
    const rest = cfg.effectivePolicyAssignments.filter((p) => p.policyType !== policyType);
    this.teams.set(rec.u.id, { ...cfg, effectivePolicyAssignments: [...rest, ref], modifiedDateTime: isoNow(this.clock()) });
  }
}

const refCache = new Map<string, PolicyAssignmentRef>();
function directRef(policyType: string, identity: string): PolicyAssignmentRef {
  const key = `${policyType}|${identity}`;
  let ref = refCache.get(key);
  if (!ref) {
    ref = { policyType, policyAssignment: { displayName: identity.replace(/^Tag:/, ''), assignmentType: 'direct', policyId: teamsPolicyId(policyType, identity), groupId: null } };
    refCache.set(key, ref);
  }
  return ref;
}
function globalRef(policyType: string): PolicyAssignmentRef {
  return directRef(policyType, 'Global');
}
