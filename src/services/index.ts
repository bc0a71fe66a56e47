export * from './guest-config.js';
export * from './identity.js';
export * from './flavors.js';
export * from './images.js';
export * from './metadefs.js';
export type { Clock, Ids } from '../ports/clock.js';
export type { ImageFiles } from '../ports/image-files.js';
export type { Store } from '../ports/store.js';
export { parseBoolean } from '../specs/index.js';
