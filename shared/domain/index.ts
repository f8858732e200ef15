/** The domain: pure rules and the shapes they work on. */
export * from './schemas';
export * from './regex';
export * from './macros';
export * from './criteria';
export * from './placement';
export * from './flowThrough';
export * from './globalSettings';
export * from './numbers';
export * from './plan';
export * from './lines';
export * from './reconcile';
export * from './user';
export * from './canonicalJson';
export * from './explain';
export * from './events';
export * from './resourceAccounts';
export * from './lifecycle';
