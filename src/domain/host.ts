/**
 * What a host probe reads (HostFacts, raw text straight from the host) and what vpmu concludes
 * from it (HostCapabilities). src/host/ turns the first into the second, purely.
 */

/** Raw facts about a compute host, gathered by an adapter; nothing here is interpreted yet. */
export interface HostFacts {
  /** `virsh capabilities`. */
  readonly capabilitiesXml: string;
  /** `virsh domcapabilities --virttype T` per virt type tried; `error` when libvirt refused. */
  readonly domainCapabilities: readonly DomainCapabilitiesFact[];
  /** /proc/cpuinfo, or undefined when it could not be read. */
  readonly cpuinfo: string | undefined;
  /** Whether /dev/kvm exists and can be opened for reading and writing. */
  readonly kvmDevice: boolean;
  /** /sys/module/kvm/parameters/enable_pmu (`Y`/`N`), undefined when absent (kernel < 5.17, no kvm module). */
  readonly kvmEnablePmu: string | undefined;
  /** Names under /sys/bus/event_source/devices (`cpu`, `armv8_pmuv3_0`, …); undefined when unreadable. */
  readonly perfEventDevices: readonly string[] | undefined;
}

/** One `virsh domcapabilities` answer. */
export interface DomainCapabilitiesFact {
  readonly virtType: string;
  readonly xml?: string;
  readonly error?: string;
}

/** Whether one virt type works on the host, and why not when it does not. */
export interface VirtTypeSupport {
  readonly virtType: 'kvm' | 'qemu';
  readonly usable: boolean;
  readonly reason: string;
}

/** What the host can give guests, as vpmu reports and schedules on it. */
export interface HostCapabilities {
  /** Host architecture, libvirt's name (`x86_64`, `aarch64`). */
  readonly arch: string;
  /** CPU vendor as /proc/cpuinfo or libvirt names it (`Intel`, `AMD`, `ARM`), if known. */
  readonly cpuVendor: string | undefined;
  /** libvirt's name for the host CPU model, e.g. `Skylake-Client-IBRS`. */
  readonly cpuModel: string | undefined;
  /** Guest architectures libvirt can run here. */
  readonly guestArches: readonly string[];
  readonly virtTypes: readonly VirtTypeSupport[];
  /** CPU modes and named models usable for the best virt type (from domcapabilities). */
  readonly cpuModes: readonly string[];
  readonly cpuModels: readonly string[];
  /** The host's own PMU, as the kernel shows it. */
  readonly hostPmu: { readonly present: boolean; readonly evidence: string };
  /** KVM's PMU switch: true/false from enable_pmu, undefined when the kernel has no such switch. */
  readonly kvmPmuEnabled: boolean | undefined;
  /** Whether a guest can get a working vPMU here, and why (not). */
  readonly vpmu: { readonly available: boolean; readonly reason: string };
  /** Placement-style traits, sorted: os-traits names plus CUSTOM_HW_VPMU. */
  readonly traits: readonly string[];
}

/** The custom trait a host reports when it can give a guest a working vPMU. */
export const VPMU_TRAIT = 'CUSTOM_HW_VPMU';
