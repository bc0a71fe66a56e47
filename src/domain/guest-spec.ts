import type { Architecture, CpuMode, NetworkAttachment, VirtType } from './types.js';

/**
 * Everything the XML renderer needs, fully decided. `undefined` means "emit nothing and let the
 * hypervisor decide" (the tri-state that `features.pmu` depends on).
 */
export interface GuestSpec {
  readonly virtType: VirtType;
  readonly name: string;
  readonly uuid: string;
  readonly metadata: GuestMetadata;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly os: GuestOs;
  readonly features: GuestFeatures;
  /** Absent for container guests (lxc). */
  readonly cpu: GuestCpu | undefined;
  readonly clock: GuestClock | undefined;
  readonly devices: GuestDevices;
}

/** Our namespaced `<metadata>`: what the guest was built from, for operators reading `dumpxml`. */
export interface GuestMetadata {
  readonly flavor: {
    readonly id: string | undefined;
    readonly name: string;
    /** Sorted by key so the XML is deterministic. */
    readonly extraSpecs: readonly (readonly [string, string])[];
  };
  readonly image: { readonly id: string | undefined; readonly name: string };
  readonly owner: { readonly projectId: string; readonly userId: string | undefined } | undefined;
}

export type GuestOs =
  | {
      readonly kind: 'hvm';
      readonly arch: Architecture;
      readonly machine: string;
      readonly bootDevice: 'hd';
      /** Direct kernel boot (an image's kernel_id, ramdisk_id and os_command_line). */
      readonly kernelBoot?: KernelBoot;
    }
  | { readonly kind: 'exe'; readonly arch: Architecture; readonly init: string };

/** A guest booted from a kernel file (libvirt `<kernel>`, `<initrd>`, `<cmdline>`). */
export interface KernelBoot {
  readonly kernel: string;
  readonly initrd: string | undefined;
  readonly cmdline: string;
}

/** Hyper-V enlightenments for Windows guests on x86 kvm/qemu. */
export interface HypervFeatures {
  readonly relaxed: boolean;
  readonly vapic: boolean;
  /** Spinlock retry count; undefined leaves spinlocks off. */
  readonly spinlockRetries: number | undefined;
}

export interface GuestFeatures {
  readonly acpi: boolean;
  readonly apic: boolean;
  readonly hyperv: HypervFeatures | undefined;
  readonly vmcoreinfo: boolean;
  readonly kvmHidden: boolean;
  /** true: `<pmu state="on"/>`, false: `<pmu state="off"/>`, undefined: no element. */
  readonly pmu: boolean | undefined;
}

export interface CpuTopology {
  readonly sockets: number;
  readonly cores: number;
  readonly threads: number;
}

export interface GuestCpu {
  readonly mode: CpuMode;
  /** Only with mode `custom`. */
  readonly model: string | undefined;
  readonly topology: CpuTopology;
}

export interface GuestTimer {
  readonly name: 'pit' | 'rtc' | 'hpet' | 'hypervclock';
  readonly tickPolicy?: 'delay' | 'catchup';
  readonly present?: boolean;
}

export interface GuestClock {
  readonly offset: 'utc' | 'localtime';
  readonly timers: readonly GuestTimer[];
}

export type DiskBus = 'virtio' | 'scsi' | 'sata' | 'ide' | 'usb';

export interface GuestDevices {
  /** Block-device root disk for hvm guests; undefined for container guests. */
  readonly rootDisk:
    | {
        readonly path: string;
        readonly format: 'qcow2';
        readonly bus: DiskBus;
        readonly targetDev: string;
      }
    | undefined;
  /** Root filesystem directory for container guests. */
  readonly rootFilesystem: { readonly sourceDir: string } | undefined;
  readonly interface: {
    readonly attachment: NetworkAttachment;
    readonly model: string | undefined;
  };
  /** The config drive, an ISO 9660 file attached as a read-only cdrom; undefined for none. */
  readonly configDrive:
    { readonly path: string; readonly bus: DiskBus; readonly targetDev: string } | undefined;
  readonly serialConsole: boolean;
  /** The file the serial console's output is logged to (hvm guests only). */
  readonly consoleLog: string | undefined;
  readonly video: string | undefined;
  readonly memballoon: 'virtio' | undefined;
  readonly rng: 'virtio' | undefined;
}
