/** Shapes the screens use, each read off the generated paths: never written by hand. */
import type { paths } from './schema.gen';

type Ok<T> = T extends { responses: { 200: { content: { 'application/json': infer B } } } } ? B : T extends { responses: { 201: { content: { 'application/json': infer B } } } } ? B : T extends { responses: { 202: { content: { 'application/json': infer B } } } } ? B : never;
type Body<T> = T extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

export type GetOk<P extends keyof paths> = paths[P] extends { get: infer O } ? Ok<O> : never;
export type PostOk<P extends keyof paths> = paths[P] extends { post: infer O } ? Ok<O> : never;
export type PostBody<P extends keyof paths> = paths[P] extends { post: infer O } ? Body<O> : never;
export type PutBody<P extends keyof paths> = paths[P] extends { put: infer O } ? Body<O> : never;

export type Estate = GetOk<'/api/estate'>;
export type EstateCustomer = Estate['customers'][number];
export type Customer = GetOk<'/api/customers/{customerId}'>;
export type SyncRun = GetOk<'/api/customers/{customerId}/sync-runs/{runId}'>;
export type SyncDefinition = GetOk<'/api/customers/{customerId}/syncs'>['value'][number];
export type HeldDeletion = GetOk<'/api/customers/{customerId}/held-deletions'>['value'][number];
export type User = GetOk<'/api/customers/{customerId}/users/{userId}'>;
export type UserListItem = GetOk<'/api/customers/{customerId}/users'>['items'][number];
export type UserPlacement = GetOk<'/api/customers/{customerId}/users/{userId}/placement'>;
export type Transaction = GetOk<'/api/customers/{customerId}/transactions/{transactionId}'>;
export type Site = GetOk<'/api/customers/{customerId}/sites/{id}'>;
export type SiteDefaults = GetOk<'/api/customers/{customerId}/sites/{siteId}/defaults'>;
export type Criteria = GetOk<'/api/customers/{customerId}/criteria/{id}'>;
export type Criterion = Criteria['criteria'][number];
export type CriteriaTestResult = PostOk<'/api/customers/{customerId}/criteria/test'>;
export type QuickAddGroup = GetOk<'/api/customers/{customerId}/quick-add-groups/{id}'>;
export type UserProfile = GetOk<'/api/customers/{customerId}/user-profiles/{id}'>;
export type FlowThroughCriteria = GetOk<'/api/customers/{customerId}/flow-through-criteria'>;
export type GlobalSettings = GetOk<'/api/customers/{customerId}/global-settings'>;
export type EffectiveSettings = GetOk<'/api/customers/{customerId}/global-settings/effective'>;
export type NumberRange = GetOk<'/api/customers/{customerId}/number-ranges'>['items'][number];
export type NumberEntry = GetOk<'/api/customers/{customerId}/numbers'>['items'][number];
export type PreviewPage = GetOk<'/api/customers/{customerId}/placement-preview'>;
export type OverbuildStatus = GetOk<'/api/customers/{customerId}/overbuilds/{id}'>;
export type DeadLetter = GetOk<'/api/dead-letters/user-provisioning'>['messages'][number];
export type ApplyReport = Ok<paths['/api/customers/{customerId}/configuration']['put']>;
export type ConfigurationDocument = PutBody<'/api/customers/{customerId}/configuration'>;
export type UserState = User['state']['kind'];
