export * from './guest-spec.js';
export * from './result.js';
export * from './types.js';
export * from './documents.js';
export * from './host.js';
export * from './notification.js';
export * from './server-state.js';
