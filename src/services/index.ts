export * from './guest-config.js';
export * from './guest-lifecycle.js';
export * from './host-info.js';
export * from './readback.js';
export * from './hypervisor-session.js';
