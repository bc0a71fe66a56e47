/** The vpmu library: vPMU semantics, guest design and libvirt domain XML, with no I/O. */
export * from './domain/index.js';
export * from './errors/index.js';
export { designGuest, DEFAULT_MACHINE_TYPES } from './design/index.js';
export { explainPmu, resolvePmu, checkPmuForGuest, parseBoolean, SPECS } from './specs/index.js';
export type { PmuExplanation, PmuResolution, SpecEntry } from './specs/index.js';
export { parseDomainXml, renderDomainXml } from './xml/index.js';
export type { DomainSummary } from './xml/index.js';
export * from './services/index.js';
