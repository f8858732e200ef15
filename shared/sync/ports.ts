/**
 * What the pull sync needs besides the shared storage and Microsoft ports: its run records, its
 * definitions, the customer-level catalog (dial plans, policies, licenses), deletions waiting on the guard,
 * and paged reads of Microsoft that a Durable activity can resume from a link.
 */
import type { Customer } from '../domain';
import type { MicrosoftTenant, TeamsAdminBridge } from '../ports/microsoft';
import type { EntityCounts, EntityType, SyncDefinition, SyncRun } from './model';

export interface SyncRunStore {
  /** Creates the run; a repeat with the same id returns the stored one (activities run at least once). */
  create(run: SyncRun): Promise<SyncRun>;
  get(customerId: string, runId: string): Promise<SyncRun | undefined>;
  save(run: SyncRun): Promise<void>;
  /** Progress of one entity type, written by its own activities (no contention with the others). */
  saveProgress(customerId: string, runId: string, entityType: EntityType, counts: EntityCounts): Promise<void>;
  /** The progress of several entity types at once. */
  saveProgressOf(customerId: string, runId: string, progress: Partial<Record<EntityType, EntityCounts>>): Promise<void>;
  progress(customerId: string, runId: string): Promise<Partial<Record<EntityType, EntityCounts>>>;
  /** Newest first. */
  list(customerId: string, top: number): Promise<SyncRun[]>;
}

export interface SyncDefinitionStore {
  list(customerId: string): Promise<SyncDefinition[]>;
  get(customerId: string, kind: SyncDefinition['kind']): Promise<SyncDefinition | undefined>;
  put(definition: SyncDefinition): Promise<void>;
}

/** A customer-level copy of one tenant object (a dial plan, a policy, a license SKU). */
export interface CatalogItem {
  id: string;
  name: string;
  /** A stable fingerprint of the synced fields; equal hashes mean unchanged. */
  hash: string;
  data: unknown;
}

export type CatalogType = Exclude<EntityType, 'users'>;

export interface CatalogStore {
  list(customerId: string, type: CatalogType): Promise<CatalogItem[]>;
  write(customerId: string, type: CatalogType, items: readonly CatalogItem[]): Promise<void>;
  remove(customerId: string, type: CatalogType, ids: readonly string[]): Promise<void>;
}

export type RemovalKind = 'soft' | 'hard' | 'missing';

export interface PendingDeletion {
  entityType: EntityType;
  id: string;
  removal: RemovalKind;
  runId: string;
  /** Held by the guard until an operator allows or discards it, or the entity is seen again. */
  held: boolean;
  heldReason?: string;
  /** ISO instant the guard first held it. */
  heldAt?: string;
}

export interface PendingDeletionStore {
  /**
   * Records deletions. A held one is written as given (holding is always safe); one not held is a proposal
   * and never replaces a hold of the same entity, whichever run or notification wrote it: a held entity is
   * deleted by an operator's allow only.
   */
  add(customerId: string, deletions: readonly PendingDeletion[]): Promise<void>;
  /** Everything pending for the customer, optionally for one run or type. */
  list(customerId: string, filter?: { runId?: string; entityType?: EntityType; held?: boolean }): Promise<PendingDeletion[]>;
  remove(customerId: string, deletions: ReadonlyArray<Pick<PendingDeletion, 'entityType' | 'id'>>): Promise<void>;
}

export interface CustomerMicrosoft {
  tenant: MicrosoftTenant;
  /** Absent when no Teams admin bridge is configured: dial plans and policies are then not synced. */
  bridge?: TeamsAdminBridge;
}

/** A customer's app registration in its tenant: the tenant, the app's client id, where its credential is (never the secret). */
export type AppRegistration = Pick<Customer, 'tenantId' | 'clientId' | 'credentialRef'>;

export interface MicrosoftAccess {
  /**
   * The Microsoft side of one customer: from the registration given (a run carries the one it began with,
   * so that its steps do not read it again), else from its onboarding record.
   */
  forCustomer(customerId: string, registration?: AppRegistration): Promise<CustomerMicrosoft>;
}
