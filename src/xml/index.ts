export * from './parse-domain.js';
export * from './render-domain.js';
export * from './stringify.js';
export * from './tree.js';
export * from './capabilities.js';
