export * from './guest-config.js';
