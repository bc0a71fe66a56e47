/** A flavor: the operator's size and policy for a guest. Extra specs are raw strings, as in Nova. */
export interface Flavor {
  readonly id?: string;
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  readonly extraSpecs: Readonly<Record<string, string>>;
}

/** A raw image property value: Glance stores strings, but JSON documents may carry other scalars. */
export type PropertyValue = string | number | boolean;

/** An image as the compute service sees it: identity plus free-form properties such as `hw_pmu`. */
export interface Image {
  readonly id?: string;
  readonly name: string;
  readonly owner?: string;
  readonly properties: Readonly<Record<string, PropertyValue>>;
}

/** libvirt virt types vpmu renders guests for. */
export const VIRT_TYPES = ['kvm', 'qemu', 'lxc'] as const;
export type VirtType = (typeof VIRT_TYPES)[number];

/** libvirt `<cpu mode>` values vpmu can request. */
export const CPU_MODES = ['host-model', 'host-passthrough', 'maximum', 'custom'] as const;
export type CpuMode = (typeof CPU_MODES)[number];

/** Guest architectures vpmu can render (libvirt names). */
export const ARCHITECTURES = ['x86_64', 'i686', 'aarch64', 'ppc64', 'ppc64le'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/** Where a guest's NIC is plugged: a libvirt network by name, or QEMU user-mode networking. */
export type NetworkAttachment =
  | { readonly type: 'network'; readonly name: string }
  | { readonly type: 'user' }
  | { readonly type: 'none' };

/** What the host (or its operator) decides for every guest: the compute node's configuration. */
export interface HostSettings {
  readonly virtType: VirtType;
  /** Default guest architecture; an image's `hw_architecture` overrides it. */
  readonly arch: Architecture;
  readonly cpuMode: CpuMode;
  /** Named CPU model; only meaningful (and then required) with cpuMode `custom`. */
  readonly cpuModel?: string;
  /** Default machine type per architecture; an image's `hw_machine_type` overrides it. */
  readonly machineTypes?: Readonly<Partial<Record<Architecture, string>>>;
  /** Directory holding one sub-directory per instance (its disks). */
  readonly instanceDir: string;
  readonly network: NetworkAttachment;
}

/** Who owns the guest; recorded in the domain's metadata. */
export interface Owner {
  readonly projectId: string;
  readonly userId?: string;
}
