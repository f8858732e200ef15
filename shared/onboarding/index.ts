/** Onboarding and configuration use cases, written against the storage port. */
export * from './deps';
export * from './errors';
export * from './schemas';
export * from './references';
export * from './customers';
export * from './items';
export * from './settings';
export * from './numbers';
export * from './users';
export * from './configuration';
export * from './export';
