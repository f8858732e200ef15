/** Microsoft Graph change notifications: subscriptions, the webhook's intake, and the queue consumer. */
export * from './model';
export * from './ports';
export * from './deps';
export * from './clientState';
export * from './directory';
export * from './activity';
export * from './intake';
export * from './subscriptions';
export * from './processing';
