export { DurableExtension, type DurableExtensionOptions, type OrchestrationStatus } from './extension';
export { BadRequestError, InstanceConflictError, NotFoundError } from './errors';
export { DurableStore, TERMINAL_STATUSES, type InstanceRecord, type RuntimeStatus, type InstanceQuery } from './store';
export { EventType, type HistoryEvent } from './history';
