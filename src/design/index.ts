export * from './design-guest.js';
export * from './config-drive.js';
