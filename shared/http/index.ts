/** HTTP plumbing shared by every API route: problems, bodies, queries, ids, ETags, OpenAPI. */
export * from './problem';
export * from './errors';
export * from './body';
export * from './ids';
export * from './query';
export * from './etag';
export * from './openapi';
export * from './route';
