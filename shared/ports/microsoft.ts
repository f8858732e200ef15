/**
 * What the use cases ask of a customer's Microsoft tenant: directory reads and writes (Graph), Teams telephony
 * and policy administration (Graph teamsAdministration), change-notification subscriptions, and the Teams
 * admin bridge for what Graph does not offer (dial plans, policy listings).
 *
 * Reads stream page by page; nothing here holds a whole tenant. Writes resolve only once Microsoft has applied
 * them (async Teams operations are polled to their end).
 */

/** The user attributes placement and provisioning read. Absent values are null, never undefined. */
export interface MicrosoftUser {
  id: string;
  userPrincipalName: string;
  displayName: string | null;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  mailNickname: string | null;
  city: string | null;
  country: string | null;
  state: string | null;
  streetAddress: string | null;
  postalCode: string | null;
  officeLocation: string | null;
  department: string | null;
  jobTitle: string | null;
  companyName: string | null;
  employeeId: string | null;
  employeeType: string | null;
  preferredLanguage: string | null;
  usageLocation: string | null;
  accountEnabled: boolean | null;
  userType: string | null;
  /** Licenses assigned directly or through groups. */
  assignedLicenses: MicrosoftAssignedLicense[];
  businessPhones: string[];
  mobilePhone: string | null;
  /** true while synced from on-premises AD, false once no longer synced, null if never synced. */
  onPremisesSyncEnabled: boolean | null;
  onPremisesImmutableId: string | null;
  createdDateTime: string | null;
}

export interface MicrosoftAssignedLicense {
  skuId: string;
  disabledPlans: string[];
}

/** A user taken out of the directory: `soft` can still be restored (deleted items), `hard` cannot. */
export interface MicrosoftUserRemoval {
  id: string;
  removed: 'soft' | 'hard';
}

export type MicrosoftUserChange = MicrosoftUser | MicrosoftUserRemoval;

export function isUserRemoval(change: MicrosoftUserChange): change is MicrosoftUserRemoval {
  return 'removed' in change;
}

/**
 * One page of a delta round. Within a page each user appears once (repeats merged, later wins); across pages a
 * user may appear again, always with its full selected state, so applying pages in order is idempotent.
 * The last page carries `deltaLink`, to be stored whole and passed to the next round.
 */
export interface UsersDeltaPage {
  changes: MicrosoftUserChange[];
  deltaLink?: string;
}

export interface MicrosoftLicenseSku {
  skuId: string;
  skuPartNumber: string;
  appliesTo: string | null;
  capabilityStatus: string | null;
  consumedUnits: number;
  prepaidUnits: { enabled: number; suspended: number; warning: number; lockedOut: number };
  servicePlans: Array<{ servicePlanId: string; servicePlanName: string; provisioningStatus: string | null; appliesTo: string | null }>;
}

export interface MicrosoftGroup {
  id: string;
  displayName: string | null;
  description: string | null;
  mail: string | null;
  mailEnabled: boolean | null;
  securityEnabled: boolean | null;
  groupTypes: string[];
}

export type TeamsAccountType =
  | 'user' | 'resourceAccount' | 'guest' | 'sfbOnPremUser' | 'unknown' | 'ineligibleUser' | 'unknownFutureValue';

export interface TeamsUserConfiguration {
  /** The Entra user id. */
  id: string;
  userPrincipalName: string | null;
  accountType: TeamsAccountType | string | null;
  isEnterpriseVoiceEnabled: boolean;
  featureTypes: string[];
  telephoneNumbers: Array<{ telephoneNumber: string; assignmentCategory: string }>;
  effectivePolicyAssignments: Array<{
    policyType: string;
    displayName: string | null;
    assignmentType: string | null;
    policyId: string | null;
    groupId: string | null;
  }>;
  modifiedDateTime: string | null;
}

export type NumberType = 'directRouting' | 'callingPlan' | 'operatorConnect';

export interface NumberAssignment {
  id: string;
  /** Always with a leading '+'. */
  telephoneNumber: string;
  numberType: NumberType | string;
  activationState: string | null;
  assignmentStatus: string | null;
  /** The user or resource account holding the number, when assigned. */
  assignmentTargetId: string | null;
  assignmentCategory: string | null;
  locationId: string | null;
  civicAddressId: string | null;
  networkSiteId: string | null;
  isoCountryCode: string | null;
  city: string | null;
  capabilities: string[];
  numberSource: string | null;
}

export interface AssignNumberRequest {
  userId: string;
  /** E.164; sent to Microsoft as given. */
  number: string;
  numberType: NumberType;
  /** Emergency location. */
  locationId?: string;
  assignmentCategory?: 'primary' | 'private' | 'alternate';
}

export interface UnassignNumberRequest {
  number: string;
  numberType: NumberType;
  /** When known, lets a repeat after a lost reply check the number's state instead of guessing. */
  userId?: string;
}

/**
 * A number assignment Microsoft accepted and finishes on its own (seconds). Its outcome is read later, many
 * at once, rather than polled while the user waits.
 */
export interface NumberOperation {
  kind: 'assign' | 'unassign';
  /** E.164, as sent. */
  number: string;
  userId: string;
  /** Where Microsoft reports the operation; absent when the write applied at once or its reply was lost (the number's own state tells then). */
  location?: string;
}

export type NumberOperationOutcome =
  | { status: 'pending' }
  | { status: 'succeeded' }
  /** `notApplied`: the number shows the write never took effect (a lost request): sending it again is safe. */
  | { status: 'failed'; reason: string; notApplied?: boolean };

export interface LicenseChange {
  add: Array<{ skuId: string; disabledPlans?: string[] }>;
  remove: string[];
}

export interface GraphSubscription {
  id: string;
  resource: string;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | null;
  expirationDateTime: string;
  clientState: string | null;
}

export interface CreateSubscriptionRequest {
  /** e.g. `users`, without the base URL. */
  resource: string;
  /** For users only `updated` and `deleted` are accepted. */
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl?: string;
  expirationDateTime: string;
  clientState?: string;
}

export interface UsersPage {
  users: MicrosoftUser[];
  nextLink?: string;
}

/** One page of a delta round with the link to the next page, or the delta link on the last one. */
export interface UsersDeltaPageAt {
  changes: MicrosoftUserChange[];
  nextLink?: string;
  deltaLink?: string;
}

export interface TeamsConfigurationsPage {
  configurations: TeamsUserConfiguration[];
  nextLink?: string;
}

/**
 * Page-at-a-time reads, resumable from a link: a Durable activity reads one page and hands the link to the
 * next, so a restart continues where it stopped and no activity holds a tenant.
 */
export interface PagedMicrosoftReads {
  /** The first page when `link` is undefined; that request may carry a `$filter` (the customer's sync filter). */
  usersPage(link: string | undefined, filter?: string): Promise<UsersPage>;
  /** A fresh round when `link` is undefined. @throws DeltaTokenExpiredError when a stored link is no longer valid. */
  usersDeltaPage(link: string | undefined): Promise<UsersDeltaPageAt>;
  teamsConfigurationsPage(link: string | undefined): Promise<TeamsConfigurationsPage>;
}

/** The directory, licensing and Teams administration of one customer's tenant. */
export interface MicrosoftTenant extends PagedMicrosoftReads {
  readonly tenantId: string;

  /** Every user, page after page ($select, $top=999). Stop iterating to stop reading. */
  listUsers(): AsyncIterable<MicrosoftUser[]>;
  /** Callback form of listUsers; resolves with the number of users read. */
  forEachUsersPage(onPage: (users: MicrosoftUser[]) => Promise<void> | void): Promise<number>;
  /**
   * A delta round: from the start when `deltaLink` is undefined, else from that link.
   * @throws DeltaTokenExpiredError when the link is no longer valid; start a round without one.
   */
  usersDelta(deltaLink: string | undefined): AsyncIterable<UsersDeltaPage>;
  /** A link that yields only changes from now on, without reading the tenant. */
  latestUsersDeltaLink(): Promise<string>;
  /** null when the user does not exist. Never answered from a read begun before the call. */
  getUser(id: string): Promise<MicrosoftUser | null>;
  /** Several users in few round trips ($batch). Missing users are absent from the map. */
  getUsers(ids: string[]): Promise<Map<string, MicrosoftUser>>;
  listSubscribedSkus(): Promise<MicrosoftLicenseSku[]>;
  listGroups(): AsyncIterable<MicrosoftGroup[]>;
  listTeamsUserConfigurations(): AsyncIterable<TeamsUserConfiguration[]>;
  /** The Teams configurations of the tenant's resource accounts (`accountType` resourceAccount): auto attendants' and call queues'. */
  listResourceAccounts(): Promise<TeamsUserConfiguration[]>;
  /** null when Teams does not know the user (yet). */
  getTeamsUserConfiguration(userId: string): Promise<TeamsUserConfiguration | null>;
  listNumberAssignments(filter?: { numberType?: NumberType; assignmentStatus?: string }): AsyncIterable<NumberAssignment[]>;
  /** null when the number is not in the tenant. */
  getNumberAssignment(number: string): Promise<NumberAssignment | null>;

  setUsageLocation(userId: string, usageLocation: string): Promise<void>;
  /** @throws GraphInvalidRequestError with reason `invalidUsageLocation` or `noAvailableLicenses` */
  assignLicenses(userId: string, change: LicenseChange): Promise<void>;
  /** Already a member counts as done. */
  addGroupMember(groupId: string, userId: string): Promise<void>;
  /** Not a member counts as done. */
  removeGroupMember(groupId: string, userId: string): Promise<void>;
  /**
   * Resolves when Microsoft's operation succeeded. @throws OperationFailedError with Microsoft's reason;
   * OperationTimedOutError when it is still running at the deadline (check the number's state later).
   */
  assignNumber(request: AssignNumberRequest): Promise<void>;
  unassignNumber(request: UnassignNumberRequest): Promise<void>;
  /**
   * Sends assignNumber and returns once Microsoft accepted it, without waiting for the operation; a lost
   * reply is settled by the number's state, never by sending blindly again.
   */
  startAssignNumber(request: AssignNumberRequest): Promise<NumberOperation>;
  /** Where each operation stands, in the order given: read in $batch requests of up to 20 operations. */
  numberOperationOutcomes(operations: readonly NumberOperation[]): Promise<NumberOperationOutcome[]>;
  /** Graph policy assignment (TeamsCallingPolicy, TeamsMeetingPolicy, …); the name is resolved to its id. */
  assignTeamsPolicy(userId: string, policyType: string, policyName: string): Promise<void>;
  /** Several policy types for one user in one request (Graph takes a list of assignments). */
  assignTeamsPolicies(userId: string, assignments: ReadonlyArray<{ policyType: string; policyName: string }>): Promise<void>;
  /** Takes the user's direct assignment of each policy type away (Graph v1.0 unassign): Global, or a group's, applies again. */
  unassignTeamsPolicies(userId: string, policyTypes: readonly string[]): Promise<void>;

  createSubscription(request: CreateSubscriptionRequest): Promise<GraphSubscription>;
  renewSubscription(id: string, expirationDateTime: string): Promise<GraphSubscription>;
  /** Already gone counts as done. */
  deleteSubscription(id: string): Promise<void>;
  listSubscriptions(): Promise<GraphSubscription[]>;
}

export interface DialPlanNormalizationRule {
  name: string | null;
  pattern: string;
  translation: string;
  isInternalExtension: boolean;
  priority: number | null;
  description: string | null;
}

export interface TenantDialPlan {
  /** e.g. `Tag:London`. */
  identity: string;
  /** The name a grant uses (identity without `Tag:`). */
  name: string;
  simpleName: string | null;
  description: string | null;
  normalizationRules: DialPlanNormalizationRule[];
}

export interface TeamsPolicy {
  policyType: string;
  /** `Global` or `Tag:<name>`. */
  identity: string;
  /** The name a grant uses (identity without `Tag:`). */
  name: string;
  description: string | null;
}

/** A resource account as Teams PowerShell's Get-CsOnlineApplicationInstance shows it. */
export interface ApplicationInstance {
  objectId: string;
  userPrincipalName: string | null;
  displayName: string | null;
  /** What the account serves: the auto attendant or call queue application id. */
  applicationId: string | null;
  /** E.164, without `tel:`. */
  phoneNumber: string | null;
}

/** Teams PowerShell administration reached through the bridge: what Graph cannot list or grant. */
export interface TeamsAdminBridge {
  readonly tenantId: string;
  listDialPlans(): Promise<TenantDialPlan[]>;
  /** Get-CsOnlineApplicationInstance: the resource accounts with what each serves. */
  listApplicationInstances(): Promise<ApplicationInstance[]>;
  /** policyType as in Teams PowerShell: TeamsCallingPolicy, OnlineVoiceRoutingPolicy, TenantDialPlan, … */
  listPolicies(policyType: string): Promise<TeamsPolicy[]>;
  /** Grants a policy (or a dial plan, policyType `TenantDialPlan`); a null name returns the user to Global. */
  grantPolicy(userId: string, policyType: string, policyName: string | null): Promise<void>;
}

// ── Errors ─────────────────────────────────────────────────────────────────────────────────────────────
// Messages carry Microsoft's code and request id, never a credential.

export class MicrosoftError extends Error {
  override name = 'MicrosoftError';
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
    readonly requestId?: string,
  ) {
    super(message);
  }
}

/** Microsoft kept throttling past our retries. */
export class GraphThrottledError extends MicrosoftError {
  override name = 'GraphThrottledError';
  constructor(message: string, status: number | undefined, code: string | undefined, requestId: string | undefined, readonly retryAfterMs: number | undefined) {
    super(message, status, code, requestId);
  }
}

/** A failure that a later attempt may not see (5xx, network, timeout). `mayHaveApplied` on writes whose outcome is unknown. */
export class GraphTransientError extends MicrosoftError {
  override name = 'GraphTransientError';
  constructor(message: string, status?: number, code?: string, requestId?: string, readonly mayHaveApplied = false) {
    super(message, status, code, requestId);
  }
}

export class GraphNotFoundError extends MicrosoftError {
  override name = 'GraphNotFoundError';
}

/** The code of a GraphNotFoundError saying Graph has no id for a Teams policy (by that type and name). */
export const POLICY_NOT_FOUND = 'policyNotFound';

/** 401/403: consent, a role or an application permission is missing. */
export class GraphPermissionError extends MicrosoftError {
  override name = 'GraphPermissionError';
  constructor(message: string, status: number | undefined, code: string | undefined, requestId: string | undefined, readonly missingPermissions: string[]) {
    super(message, status, code, requestId);
  }
}

export type InvalidRequestReason = 'invalidUsageLocation' | 'noAvailableLicenses' | 'alreadyAssigned' | 'quotaExceeded';

/** Microsoft refused the request as asked; repeating it will not help. `code` is Graph's error code. */
export class GraphInvalidRequestError extends MicrosoftError {
  override name = 'GraphInvalidRequestError';
  constructor(message: string, status: number | undefined, code: string | undefined, requestId: string | undefined, readonly reason?: InvalidRequestReason) {
    super(message, status, code, requestId);
  }
}

/** The delta link expired or Microsoft reset the sync state: start a full round. */
export class DeltaTokenExpiredError extends MicrosoftError {
  override name = 'DeltaTokenExpiredError';
}

/** An asynchronous Teams operation ended in failure. */
export class OperationFailedError extends MicrosoftError {
  override name = 'OperationFailedError';
  constructor(message: string, readonly operationId: string | undefined, readonly reason: string) {
    super(message);
  }
}

/** An asynchronous Teams operation was still running at the deadline; its outcome is unknown. */
export class OperationTimedOutError extends GraphTransientError {
  override name = 'OperationTimedOutError';
  constructor(message: string, readonly operationId: string | undefined) {
    super(message, undefined, undefined, undefined, true);
  }
}
