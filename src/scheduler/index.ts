export * from './host-state.js';
export * from './request-spec.js';
export * from './select-hosts.js';
export * from './server-group.js';
export * from './host-hints.js';
export * from './availability-zone.js';
