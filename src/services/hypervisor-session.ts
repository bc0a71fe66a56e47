import type { HostProbe } from '../ports/host-probe.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import type { InstanceDisks } from '../ports/instance-disks.js';

/** The ports of one hypervisor connection, as src/main/ wires them for the CLI. */
export interface HypervisorSession {
  readonly hypervisor: Hypervisor;
  readonly disks: InstanceDisks;
  readonly probe: HostProbe;
}
