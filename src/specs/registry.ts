/**
 * One entry per setting that a flavor extra spec and/or an image property can carry. The registry
 * is the single source for validation, for the resolvers and for docs/extra-specs.md.
 */

/** The value a setting accepts. */
export type SpecValue =
  | { readonly kind: 'boolean' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'pattern'; readonly pattern: RegExp; readonly expected: string };

/** How a value set on both the flavor and the image is combined. */
export type Combine =
  /** Both sides may set it; different values are a FlavorImageConflict (Nova's hw:pmu rule). */
  | 'conflict'
  /** True when either side is true (Nova's hide_hypervisor_id rule). */
  | 'either'
  /** The image's preferred CPU topology, when it sets any part, replaces the flavor's (Nova). */
  | 'image-topology'
  /** Only the image can set it. */
  | 'image-only';

export interface SpecEntry {
  /** Flavor extra spec keys; the first is canonical, the rest are accepted aliases. */
  readonly flavorKeys: readonly string[];
  /** Image property key, if the image can set it. */
  readonly imageKey: string | undefined;
  readonly value: SpecValue;
  readonly combine: Combine;
  /** One line for docs and messages. */
  readonly description: string;
}

const BOOLEAN = { kind: 'boolean' } as const;
const TOPOLOGY_COUNT = { kind: 'integer', min: 1, max: 1024 } as const;

export const HW_PMU = {
  flavorKeys: ['hw:pmu'],
  imageKey: 'hw_pmu',
  value: BOOLEAN,
  combine: 'conflict',
  description:
    'Turns the guest vPMU on or off (libvirt `<pmu state="on|off"/>`); unset leaves it to the hypervisor.',
} as const satisfies SpecEntry;

export const HW_HIDE_HYPERVISOR_ID = {
  // NOTE: Nova reads the legacy un-namespaced flavor key too, and the image twin is img_*.
  flavorKeys: ['hw:hide_hypervisor_id', 'hide_hypervisor_id'],
  imageKey: 'img_hide_hypervisor_id',
  value: BOOLEAN,
  combine: 'either',
  description:
    'Hides the KVM signature from the guest (libvirt `<kvm><hidden state="on"/></kvm>`).',
} as const satisfies SpecEntry;

export const HW_CPU_SOCKETS = {
  flavorKeys: ['hw:cpu_sockets'],
  imageKey: 'hw_cpu_sockets',
  value: TOPOLOGY_COUNT,
  combine: 'image-topology',
  description: 'Preferred number of CPU sockets; sockets x cores x threads must equal the vCPUs.',
} as const satisfies SpecEntry;

export const HW_CPU_CORES = {
  flavorKeys: ['hw:cpu_cores'],
  imageKey: 'hw_cpu_cores',
  value: TOPOLOGY_COUNT,
  combine: 'image-topology',
  description: 'Preferred number of cores per socket.',
} as const satisfies SpecEntry;

export const HW_CPU_THREADS = {
  flavorKeys: ['hw:cpu_threads'],
  imageKey: 'hw_cpu_threads',
  value: TOPOLOGY_COUNT,
  combine: 'image-topology',
  description: 'Preferred number of threads per core.',
} as const satisfies SpecEntry;

export const HW_MACHINE_TYPE = {
  flavorKeys: [],
  imageKey: 'hw_machine_type',
  value: {
    kind: 'pattern',
    pattern: /^[a-z][a-z0-9._-]{0,63}$/u,
    expected: 'a QEMU machine type name such as q35, pc, pc-q35-7.2, virt or pseries',
  },
  combine: 'image-only',
  description: 'QEMU machine type; unset uses the host default for the architecture.',
} as const satisfies SpecEntry;

export const HW_DISK_BUS = {
  flavorKeys: [],
  imageKey: 'hw_disk_bus',
  value: { kind: 'enum', values: ['virtio', 'scsi', 'sata', 'ide', 'usb'] },
  combine: 'image-only',
  description: 'Bus of the root disk; unset means virtio.',
} as const satisfies SpecEntry;

export const HW_VIF_MODEL = {
  flavorKeys: [],
  imageKey: 'hw_vif_model',
  value: {
    kind: 'enum',
    values: ['virtio', 'e1000', 'e1000e', 'rtl8139', 'ne2k_pci', 'pcnet', 'vmxnet3', 'spapr-vlan'],
  },
  combine: 'image-only',
  description: 'Model of the network interface; unset means virtio.',
} as const satisfies SpecEntry;

export const HW_VIDEO_MODEL = {
  flavorKeys: [],
  imageKey: 'hw_video_model',
  value: { kind: 'enum', values: ['virtio', 'vga', 'cirrus', 'qxl', 'bochs', 'none'] },
  combine: 'image-only',
  description: 'Video device model; unset means virtio (vga on ppc64), none means no video device.',
} as const satisfies SpecEntry;

export const HW_ARCHITECTURE = {
  flavorKeys: [],
  imageKey: 'hw_architecture',
  value: { kind: 'enum', values: ['x86_64', 'i686', 'aarch64', 'ppc64', 'ppc64le'] },
  combine: 'image-only',
  description: 'Guest CPU architecture; unset uses the host architecture.',
} as const satisfies SpecEntry;

export const OS_TYPE = {
  flavorKeys: [],
  imageKey: 'os_type',
  value: { kind: 'enum', values: ['linux', 'windows'] },
  combine: 'image-only',
  description:
    'Guest operating system family; windows adds Hyper-V enlightenments and a local clock.',
} as const satisfies SpecEntry;

const IMAGE_ID = {
  kind: 'pattern',
  pattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u,
  expected: 'the id of an active image (a lower-case UUID)',
} as const;

export const IMG_CONFIG_DRIVE = {
  flavorKeys: [],
  imageKey: 'img_config_drive',
  value: { kind: 'enum', values: ['optional', 'mandatory'] },
  combine: 'image-only',
  description:
    'mandatory attaches a config drive to every server booted from the image; optional (the default) leaves it to the request.',
} as const satisfies SpecEntry;

export const KERNEL_ID = {
  flavorKeys: [],
  imageKey: 'kernel_id',
  value: IMAGE_ID,
  combine: 'image-only',
  description:
    'Boots the guest directly from this kernel image (libvirt `<kernel>`); the image itself is the root disk.',
} as const satisfies SpecEntry;

export const RAMDISK_ID = {
  flavorKeys: [],
  imageKey: 'ramdisk_id',
  value: IMAGE_ID,
  combine: 'image-only',
  description: 'The initial ramdisk of a kernel boot (libvirt `<initrd>`); needs kernel_id.',
} as const satisfies SpecEntry;

export const OS_COMMAND_LINE = {
  flavorKeys: [],
  imageKey: 'os_command_line',
  value: {
    kind: 'pattern',
    pattern: /^[\x20-\x7e]{0,1024}$/u,
    expected: 'a kernel command line of printable ASCII characters, at most 1024',
  },
  combine: 'image-only',
  description:
    'The kernel command line of a kernel boot (libvirt `<cmdline>`); unset means `root=/dev/vda console=tty0 console=ttyS0`.',
} as const satisfies SpecEntry;

/** Every setting vpmu knows, in documentation order. */
export const SPECS: readonly SpecEntry[] = [
  HW_PMU,
  HW_HIDE_HYPERVISOR_ID,
  HW_CPU_SOCKETS,
  HW_CPU_CORES,
  HW_CPU_THREADS,
  HW_MACHINE_TYPE,
  HW_DISK_BUS,
  HW_VIF_MODEL,
  HW_VIDEO_MODEL,
  HW_ARCHITECTURE,
  OS_TYPE,
  IMG_CONFIG_DRIVE,
  KERNEL_ID,
  RAMDISK_ID,
  OS_COMMAND_LINE,
];

/**
 * Flavor extra-spec namespaces whose keys vpmu validates strictly: an unknown key in one of them
 * is refused. Keys in other namespaces (trait:, resources:, aggregate_instance_extra_specs:, …)
 * are stored and passed through untouched.
 */
export const VALIDATED_NAMESPACES: readonly string[] = ['hw', 'hw_rng', 'hw_video'];

/** The entry that owns a flavor extra spec key, if any. */
export function findFlavorSpec(key: string): SpecEntry | undefined {
  return SPECS.find((spec) => spec.flavorKeys.includes(key));
}

/** The entry that owns an image property key, if any. */
export function findImageSpec(key: string): SpecEntry | undefined {
  return SPECS.find((spec) => spec.imageKey === key);
}
