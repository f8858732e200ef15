/** Provisioning: flow-through, overbuild, Quick User, the staging re-check and the dead-letter view. */
export * from './messages';
export * from './ports';
export * from './customerContext';
export * from './microsoftState';
export * from './provisionUser';
export * from './handler';
export * from './numberChecks';
export { forgetAssignedNumbers } from './tenantNumbers';
export * from './staging';
export * from './quickUser';
export * from './overbuild';
export * from './preview';
export * from './deadLetters';
export * from './reconcile';
export * from './handOffWindow';
export * from './offboard';
export * from './moves';
