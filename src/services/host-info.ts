/** `vpmu host-info`: what this host can give guests, including whether a vPMU works here. */
import { orThrow, type HostCapabilities } from '../domain/index.js';
import { decideHostCapabilities } from '../host/index.js';
import type { HostProbe } from '../ports/host-probe.js';

export type { HostCapabilities } from '../domain/index.js';
export type { HostProbe } from '../ports/host-probe.js';

/** Probes the host and decides its capabilities and traits. */
export async function describeHost(probe: HostProbe): Promise<HostCapabilities> {
  return orThrow(decideHostCapabilities(await probe.facts()));
}
