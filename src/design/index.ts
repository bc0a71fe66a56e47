export * from './design-guest.js';
