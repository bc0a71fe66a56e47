export * from './boolean.js';
export * from './pmu.js';
export * from './registry.js';
export * from './resolve.js';
export * from './validate.js';
export * from './docs.js';
