export * from './cpuinfo.js';
export * from './host-capabilities.js';
