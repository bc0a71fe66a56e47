import type { HostFacts } from '../domain/index.js';

/** Reads the raw facts about this compute host; src/host/ decides what they mean. */
export interface HostProbe {
  /** Rejects with a ComputeError (`host.probe_failed` or a `hypervisor.*` code). */
  facts(): Promise<HostFacts>;
}
