/** The operator's views across customers and into one user: estate, placement reasons, criteria tests. */
export * from './ports';
export * from './estate';
export * from './users';
