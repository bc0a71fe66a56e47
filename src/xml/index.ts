export * from './parse-domain.js';
export * from './render-domain.js';
export * from './writer.js';
export * from './capabilities.js';
