/**
 * Storage ports: one repository per aggregate. Use cases depend on these; `shared/adapters/tables`
 * implements them on Azure Table Storage.
 *
 * Concurrency: every read returns the entity's ETag; every read-modify-write passes it back, and a write
 * that lost a race fails with `ConcurrencyError` (HTTP 412) instead of overwriting someone else's change.
 */
import type {
  Customer,
  FlowThroughCriteria,
  GlobalSettings,
  ModelFilterCriteria,
  MicrosoftUser,
  NumberEntry,
  NumberRange,
  NumberType,
  PendingHandOff,
  QuickAddGroup,
  Site,
  SiteDefaults,
  TransactionOutcome,
  TransactionRecord,
  TransactionStep,
  UserProfile,
  UserRecord,
  WantedLine,
} from '../domain';

// ---------------------------------------------------------------------------------------------
// Errors

export class StorageError extends Error {
  override name = 'StorageError';
}
/** The entity does not exist (404). */
export class NotFoundError extends StorageError {
  override name = 'NotFoundError';
}
/** The entity changed since it was read: its ETag no longer matches (412). Re-read and retry. */
export class ConcurrencyError extends StorageError {
  override name = 'ConcurrencyError';
}
/** Same error, under the HTTP status's name. */
export const PreconditionFailedError = ConcurrencyError;
export type PreconditionFailedError = ConcurrencyError;
/** The entity already exists (409). */
export class ConflictError extends StorageError {
  override name = 'ConflictError';
}
/** With prevent-duplicate-numbers on, the number already exists elsewhere in the customer's inventory. */
export class DuplicateNumberError extends ConflictError {
  override name = 'DuplicateNumberError';
  constructor(
    readonly number: string,
    /** Site holding it; undefined = the customer's own inventory. */
    readonly heldBySiteId: string | undefined,
  ) {
    super(`number ${number} already exists in the inventory of ${heldBySiteId === undefined ? 'the customer' : `site ${heldBySiteId}`}`);
  }
}
/**
 * Table Storage did not answer (connection reset, refused, timed out) or answered busy (500, 503) after the
 * client's own retries. Nothing is known to have changed; a later attempt may succeed.
 */
export class StorageUnavailableError extends StorageError {
  override name = 'StorageUnavailableError';
}
/** A value cannot be stored as given: a key too long, an entity over Table Storage's limits. */
export class StorageValidationError extends StorageError {
  override name = 'StorageValidationError';
}

// ---------------------------------------------------------------------------------------------
// Shapes

/** A stored value with the ETag to pass back on update. */
export interface Versioned<T> {
  value: T;
  etag: string;
}

/** Common shape of configuration repositories whose items live under one customer. */
export interface CustomerScopedRepository<T> {
  get(customerId: string, id: string): Promise<Versioned<T> | undefined>;
  list(customerId: string): Promise<Versioned<T>[]>;
  /** @throws ConflictError when an item with the same id exists. */
  create(value: T): Promise<Versioned<T>>;
  /** @throws ConcurrencyError when `etag` is stale; NotFoundError when the item is gone. */
  update(value: T, etag: string): Promise<Versioned<T>>;
  /** Unconditional write, for imports and seeding. */
  upsert(value: T): Promise<Versioned<T>>;
  /** Idempotent without an ETag; with one, @throws ConcurrencyError when stale. */
  delete(customerId: string, id: string, etag?: string): Promise<void>;
}

export interface CustomerRepository {
  get(customerId: string): Promise<Versioned<Customer> | undefined>;
  list(): Promise<Versioned<Customer>[]>;
  create(customer: Customer): Promise<Versioned<Customer>>;
  update(customer: Customer, etag: string): Promise<Versioned<Customer>>;
  delete(customerId: string, etag?: string): Promise<void>;
}

export type SiteRepository = CustomerScopedRepository<Site>;
/** Keyed by site id: one site defaults document per site. */
export type SiteDefaultsRepository = CustomerScopedRepository<SiteDefaults>;
export type ModelFilterCriteriaRepository = CustomerScopedRepository<ModelFilterCriteria>;
export type QuickAddGroupRepository = CustomerScopedRepository<QuickAddGroup>;
export type UserProfileRepository = CustomerScopedRepository<UserProfile>;
export type FlowThroughCriteriaRepository = CustomerScopedRepository<FlowThroughCriteria>;

/** The level above every customer in global settings resolution. */
export const PROVIDER_SCOPE = '*provider';

export interface GlobalSettingsRepository {
  /** @param scope a customer id, or PROVIDER_SCOPE for the provider's defaults. */
  get(scope: string): Promise<Versioned<GlobalSettings> | undefined>;
  /** Without an ETag: create-or-replace. With one: @throws ConcurrencyError when stale. */
  put(scope: string, settings: GlobalSettings, etag?: string): Promise<Versioned<GlobalSettings>>;
  delete(scope: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Number inventory

/** Where an inventory lives: a site, or the customer itself (visible to all its sites). */
export interface NumberScope {
  customerId: string;
  siteId?: string;
}

export interface AddRangeResult {
  /** Numbers created. */
  created: number;
  /** Numbers already present in this scope (kept as they are). */
  existing: number;
  /** With prevent-duplicate-numbers: numbers refused because another scope holds them. */
  duplicates: string[];
}

export type AllocationResult =
  | { ok: true; entry: Versioned<NumberEntry> }
  | { ok: false; reason: 'no-number-available'; message: string };

export interface AllocationRequest {
  customerId: string;
  /** The user's site: its inventory is tried first, then the customer's. */
  siteId: string;
  userId: string;
  lineType?: NumberType;
  now: Date;
  /** Prevent duplicate numbers is on: numbers flagged duplicate are passed over. */
  refuseDuplicates?: boolean;
  /** Numbers not to offer (found held in Microsoft by someone else during this step). */
  skip?: readonly string[];
}

/** What a preview asks: the numbers next in line for a site, none of them taken. */
export interface NumberPeekRequest {
  customerId: string;
  siteId: string;
  lineType?: NumberType;
  now: Date;
  refuseDuplicates?: boolean;
  /** How many, at most. */
  count: number;
  /** Numbers already offered to others (a customer-level number is shared by every site). */
  skip?: readonly string[];
}

export interface NumberInventoryRepository {
  /** Expands a range into its scope; existing numbers are kept. Ranges themselves are stored too. */
  addRange(range: NumberRange, options: { preventDuplicateNumbers: boolean }): Promise<AddRangeResult>;
  listRanges(customerId: string): Promise<NumberRange[]>;
  getRange(customerId: string, rangeId: string): Promise<NumberRange | undefined>;
  /** The range's document only; its numbers are removed one by one (`remove`). Idempotent. */
  removeRange(customerId: string, rangeId: string): Promise<void>;
  get(scope: NumberScope, number: string): Promise<Versioned<NumberEntry> | undefined>;
  list(scope: NumberScope): Promise<Versioned<NumberEntry>[]>;
  /** Every inventory of the customer (its own and every site's), in one scan. */
  listAll(customerId: string): Promise<Versioned<NumberEntry>[]>;
  /**
   * Read-modify-write of one number with If-Match, read again and retried on a lost race. `change` returns
   * undefined for "no change" and may throw to refuse. @throws NotFoundError when the number is not in the scope.
   */
  update(scope: NumberScope, number: string, change: (entry: NumberEntry) => NumberEntry | undefined): Promise<Versioned<NumberEntry>>;
  /**
   * Assigns the next available Microsoft number (site first, then customer) to the user, safely under any
   * number of concurrent callers: each number is taken with a conditional write, the loser moves on to the
   * next candidate. Idempotent per user: a user already holding a number in these scopes gets it back.
   */
  allocateNext(request: AllocationRequest): Promise<AllocationResult>;
  /** The numbers `allocateNext` would offer next, in its order, without taking any (a preview's reading). */
  peekNext(request: NumberPeekRequest): Promise<NumberEntry[]>;
  /**
   * Assigns a given number (Quick User, explicit line), or confirms one reserved for the user.
   * @throws ConflictError when it is not available, NotFoundError when it is not in the scope's inventory.
   */
  assign(scope: NumberScope, number: string, userId: string, now: Date, options?: { refuseDuplicates?: boolean }): Promise<Versioned<NumberEntry>>;
  /**
   * Releases a user's number into cooling for `coolingDays` (a number only reserved for the user is available
   * at once). No-op when the user does not hold it.
   */
  release(scope: NumberScope, number: string, userId: string, now: Date, coolingDays: number): Promise<void>;
  /**
   * Records a number a user already holds in Microsoft (sync, overbuild). With prevent-duplicate-numbers off
   * the number may end up in several scopes, as the source system does; with it on,
   * @throws DuplicateNumberError when another scope holds it.
   */
  recordInUse(
    scope: NumberScope,
    entry: { number: string; userId: string; vendor: string; lineType: NumberType },
    options: { preventDuplicateNumbers: boolean },
  ): Promise<Versioned<NumberEntry>>;
  /**
   * `recordInUse` for many numbers of one scope that no inventory of the scope had when they were read (a
   * sync's held numbers outside any range): written in batches, each entry as given (Used by its holder,
   * flagged duplicate when several users hold it). A number that appeared in the scope meanwhile is
   * recorded over its entry as `recordInUse` does. Returns the numbers another scope holds, not recorded
   * (prevent-duplicate-numbers on).
   */
  recordManyInUse(scope: NumberScope, entries: readonly NumberEntry[], options: { preventDuplicateNumbers: boolean }): Promise<{ recorded: number; refused: string[] }>;
  /**
   * Writes the customer-wide claims for every number already in the customer's inventory, for when
   * prevent-duplicate-numbers is switched on. Numbers held by several scopes stay as they are (the first
   * scope in key order gets the claim) and are reported so an operator can resolve them.
   */
  claimExisting(customerId: string): Promise<{ claimed: number; duplicates: Array<{ number: string; siteIds: Array<string | undefined> }> }>;
  /** Deletes an Available number (and its customer-wide claim). @throws ConflictError when in use. */
  remove(scope: NumberScope, number: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Users, transactions, sync state

export interface UpsertManyResult {
  written: number;
  batches: number;
}

export interface UserRepository {
  get(customerId: string, userId: string): Promise<Versioned<UserRecord> | undefined>;
  /**
   * Several users' records at once (synced attributes and state, without the Teams side), in a few queries
   * rather than a read each: what the sync needs to diff a page. Missing users are absent from the map.
   */
  getMany(customerId: string, userIds: readonly string[]): Promise<Map<string, Versioned<UserRecord>>>;
  /** @throws ConflictError when the user exists. */
  create(record: UserRecord): Promise<Versioned<UserRecord>>;
  /** Replaces the record. @throws ConcurrencyError when `etag` is stale. */
  update(record: UserRecord, etag: string): Promise<Versioned<UserRecord>>;
  /**
   * The sync's bulk write: streams users into batches of up to 100 per partition. Only the synced
   * attributes and `syncedAt` are written (merge), so a concurrent provisioning's state is never lost;
   * a user new to storage reads back as at-customer.
   */
  upsertMany(
    customerId: string,
    users: Iterable<MicrosoftUser> | AsyncIterable<MicrosoftUser>,
    syncedAt: Date,
    /** Users handed to provisioning by this write, marked in the same row write. */
    handoffs?: ReadonlyMap<string, PendingHandOff>,
  ): Promise<UpsertManyResult>;
  /** Users whose hand-off to provisioning was requested before `before` and has not finished. */
  pendingHandOffs(customerId: string, before: Date): AsyncIterable<Versioned<UserRecord>>;
  /** Leavers whose offboarding (offboard after N days) is due by `now`: only they are read. */
  dueLeavers(customerId: string, now: Date): AsyncIterable<Versioned<UserRecord>>;
  /** Marks a user soft-deleted in Microsoft, or clears the mark (undefined) when it is restored. */
  markRemoved(customerId: string, userId: string, removed: UserRecord['removed']): Promise<void>;
  /** Stores the Teams side of users, stamped with the time of writing; reads join it onto their records. */
  setTeams(customerId: string, entries: ReadonlyArray<{ userId: string; teams: NonNullable<UserRecord['teams']> }>): Promise<void>;
  /**
   * Every user's Teams numbers as last stored, with when they were stored: what the inventory reconciles
   * against. With `readSince`, only the users stored since then that hold a number (the holders a read that
   * began then saw, without reading everyone else's Teams side), their `readAt` not read back.
   */
  teamsNumbers(customerId: string, options?: { readSince?: string }): AsyncIterable<{ userId: string; numbers: string[]; readAt?: string }>;
  /**
   * The site of each of these users placed at one; users at customer level and users not stored are absent.
   * Only placements are read, so asking for a large share of the tenant costs a scan of the placed users,
   * not a query per few users.
   */
  sitesOf(customerId: string, userIds: readonly string[]): Promise<Map<string, string>>;
  /** Every user of the customer, streamed. */
  list(customerId: string): AsyncIterable<Versioned<UserRecord>>;
  /** Whether the customer has any user stored, in one query that reads no user's record. */
  anyStored(customerId: string): Promise<boolean>;
  /** Deletes in batches; missing users are ignored. Returns how many were asked for. */
  deleteMany(customerId: string, userIds: Iterable<string>): Promise<number>;
}

export interface TransactionRepository {
  /** @throws ConflictError when the id exists (a repeat of the same trigger). */
  create(transaction: TransactionRecord): Promise<Versioned<TransactionRecord>>;
  get(customerId: string, id: string): Promise<Versioned<TransactionRecord> | undefined>;
  /** Appends steps (and sets the outcome when given), retrying on concurrent appends. */
  appendSteps(customerId: string, id: string, steps: TransactionStep[], outcome?: Exclude<TransactionOutcome, 'running'>, finishedAt?: Date): Promise<Versioned<TransactionRecord>>;
  /** Newest first; with `userId`, that user's only, however old. */
  listRecent(customerId: string, limit: number, options?: { userId?: string }): Promise<TransactionRecord[]>;
}

/** Small JSON values by scope and key (delta links, sync cursors, schedules' last runs). */
export interface KeyValueStore {
  get<T>(scope: string, key: string): Promise<Versioned<T> | undefined>;
  /** Without an ETag: create-or-replace. With one: @throws ConcurrencyError when stale. */
  put<T>(scope: string, key: string, value: T, etag?: string): Promise<Versioned<T>>;
  /** Create-or-replace of several keys of one scope, in as few requests as fit. */
  putAll<T>(scope: string, entries: ReadonlyArray<{ key: string; value: T }>): Promise<void>;
  /** @throws ConflictError when the key exists. */
  create<T>(scope: string, key: string, value: T): Promise<Versioned<T>>;
  delete(scope: string, key: string, etag?: string): Promise<void>;
  /** Every value of a scope. */
  list<T>(scope: string): Promise<Versioned<T>[]>;
  /** Every key of a scope, without reading the values. */
  keys(scope: string): Promise<string[]>;
}

/**
 * A number assignment Microsoft runs on its own (seconds), waiting to be checked with others; the user is
 * finished once it is over. One per user (id = user id).
 */
export interface PendingNumberAssignment {
  customerId: string;
  userId: string;
  number: string;
  lineType: NumberType;
  /** The inventory the number is recorded in: a site's, or the customer's when absent. */
  inventorySiteId?: string;
  /** The user's site, where a next number would come from. */
  siteId: string;
  /** Where Microsoft reports the operation; absent while its outcome is read from the number. */
  location?: string;
  transactionId: string;
  startedAt: string;
  /** When to look next (ISO instant). */
  dueAt: string;
  /** Assignments sent for this step, and checks made. */
  sends: number;
  checks: number;
  /** Numbers found held by other users in Microsoft during this step: not offered again. */
  skip: string[];
  /**
   * The user's state once the number is given, as the rest of the pass left it. Absent while that pass has
   * not finished (the intent is stored before the request goes out): a pass cut short by a crash is run
   * again by its cause's redelivery or the reconciler, and only then is the user finished.
   */
  then?: UserRecord['state'];
  role?: string;
  /** A number of the user's that this one replaces (given back once this one is in place). */
  replaces?: string;
  /** The message of the pass, sent again when the number turns out held by someone else. */
  cause: Record<string, unknown>;
  /**
   * Licenses granted in the pass were taken to have brought the user into Teams: a refusal means "not
   * yet", and the user is staged with this line for the re-check instead of needing attention.
   */
  stageIfRefused?: { profileId: string; line: WantedLine };
}

export interface PendingNumberAssignmentRepository extends CustomerScopedRepository<PendingNumberAssignment> {
  /**
   * Conditional writes of one customer's assignments, each on its ETag, in as few requests as the store
   * allows (one per hundred): a request that meets an assignment changed or gone since writes none of its
   * assignments, which come back as `stale`.
   */
  updateAll(items: ReadonlyArray<Versioned<PendingNumberAssignment>>): Promise<{ written: Versioned<PendingNumberAssignment>[]; stale: number }>;
}

export interface Storage {
  customers: CustomerRepository;
  sites: SiteRepository;
  siteDefaults: SiteDefaultsRepository;
  modelFilterCriteria: ModelFilterCriteriaRepository;
  quickAddGroups: QuickAddGroupRepository;
  userProfiles: UserProfileRepository;
  flowThroughCriteria: FlowThroughCriteriaRepository;
  globalSettings: GlobalSettingsRepository;
  numbers: NumberInventoryRepository;
  users: UserRepository;
  transactions: TransactionRepository;
  syncState: KeyValueStore;
  pendingNumbers: PendingNumberAssignmentRepository;
}
