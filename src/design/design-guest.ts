/**
 * Flavor + image + host settings → GuestSpec. Every decision about the guest happens here; the
 * XML renderer only writes down what this module decided. All issues are collected, not just
 * the first, so a tenant fixes everything in one go.
 */
import {
  ok,
  failIfAny,
  type Architecture,
  type CpuTopology,
  type DiskBus,
  type Flavor,
  type GuestClock,
  type GuestCpu,
  type GuestDevices,
  type GuestFeatures,
  type GuestMetadata,
  type GuestOs,
  type GuestSpec,
  type HostSettings,
  type Image,
  type KernelBoot,
  type Owner,
  type Result,
} from '../domain/index.js';
import type { Issue } from '../errors/index.js';
import {
  checkPmuForGuest,
  emitsPmu,
  explainPmu,
  HW_ARCHITECTURE,
  HW_DISK_BUS,
  HW_HIDE_HYPERVISOR_ID,
  HW_MACHINE_TYPE,
  HW_VIDEO_MODEL,
  HW_VIF_MODEL,
  KERNEL_ID,
  OS_COMMAND_LINE,
  OS_TYPE,
  RAMDISK_ID,
  readSetting,
  resolveEither,
  resolvePmu,
  resolveTopology,
  validateFlavorExtraSpecs,
  validateImageProperties,
  type PmuExplanation,
  type PmuResolution,
  type SpecEntry,
} from '../specs/index.js';

/** Everything a guest is designed from. */
export interface DesignInput {
  readonly flavor: Flavor;
  readonly image: Image;
  readonly host: HostSettings;
  readonly name: string;
  readonly uuid: string;
  readonly owner?: Owner | undefined;
  /** Attach the config drive `<instanceDir>/<uuid>/disk.config` as a cdrom. */
  readonly configDrive?: boolean | undefined;
  /**
   * The host files of the image's kernel_id and ramdisk_id images, for a direct kernel boot. An
   * image with kernel_id cannot be designed without them.
   */
  readonly bootFiles?:
    { readonly kernel: string; readonly ramdisk?: string | undefined } | undefined;
}

/** A designed guest: the spec to render, and the vPMU decision with its provenance. */
export interface GuestDesign {
  readonly spec: GuestSpec;
  readonly pmu: PmuResolution;
  readonly explanation: PmuExplanation;
}

/** Default machine type per architecture when neither the image nor the host names one. */
export const DEFAULT_MACHINE_TYPES: Readonly<Record<Architecture, string>> = {
  x86_64: 'q35',
  i686: 'pc',
  aarch64: 'virt',
  ppc64: 'pseries',
  ppc64le: 'pseries',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/u;
const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/u;
const DISK_TARGETS: Readonly<Record<DiskBus, string>> = {
  virtio: 'vda',
  scsi: 'sda',
  sata: 'sda',
  usb: 'sda',
  ide: 'hda',
};
const HYPERV_SPINLOCK_RETRIES = 8191;

/** Designs a guest, or returns every issue that stops it from being built. */
export function designGuest(input: DesignInput): Result<GuestDesign> {
  const { flavor, image, host } = input;
  const issues: Issue[] = [
    ...checkIdentity(input),
    ...checkFlavorSize(flavor),
    ...validateFlavorExtraSpecs(flavor),
    ...validateImageProperties(image),
  ];
  const invalid = failIfAny(issues);
  if (invalid) return invalid;

  const imageValue = (spec: SpecEntry): string | undefined => {
    const read = readSetting(spec, flavor, image);
    return read.ok ? read.value.image?.raw : undefined;
  };
  const arch = (imageValue(HW_ARCHITECTURE) as Architecture | undefined) ?? host.arch;
  const osType = imageValue(OS_TYPE) ?? 'linux';
  const isHvm = host.virtType !== 'lxc';
  const machine =
    imageValue(HW_MACHINE_TYPE) ?? host.machineTypes?.[arch] ?? DEFAULT_MACHINE_TYPES[arch];
  const diskBus = (imageValue(HW_DISK_BUS) as DiskBus | undefined) ?? 'virtio';

  const pmu = resolvePmu(flavor, image);
  const hidden = resolveEither(HW_HIDE_HYPERVISOR_ID, flavor, image);
  const topology = resolveTopology(flavor, image);
  const guarded = pmu.ok ? checkPmuForGuest(pmu.value, { arch, virtType: host.virtType }) : pmu;
  for (const result of [guarded, hidden, topology]) if (!result.ok) issues.push(...result.issues);
  issues.push(...checkPlacement(input, arch, machine, diskBus, isHvm));
  issues.push(...checkKernelBoot(input, imageValue, isHvm));
  const unbuildable = failIfAny(issues);
  if (unbuildable) return unbuildable;
  if (!guarded.ok || !hidden.ok || !topology.ok)
    throw new TypeError('unreachable: issues were collected');

  const x86 = arch === 'x86_64' || arch === 'i686';
  const windows = osType === 'windows';
  const virtualised = emitsPmu(host.virtType);
  const features: GuestFeatures = {
    acpi: isHvm && x86,
    apic: isHvm && x86,
    hyperv:
      virtualised && x86 && windows
        ? { relaxed: true, vapic: true, spinlockRetries: HYPERV_SPINLOCK_RETRIES }
        : undefined,
    vmcoreinfo: virtualised && x86,
    kvmHidden: virtualised && hidden.value,
    pmu: virtualised ? (guarded.value.resolved ?? undefined) : undefined,
  };
  const kernelBoot = designKernelBoot(input, imageValue, diskBus);
  const os: GuestOs = isHvm
    ? {
        kind: 'hvm',
        arch,
        machine,
        bootDevice: 'hd',
        ...(kernelBoot === undefined ? {} : { kernelBoot }),
      }
    : { kind: 'exe', arch, init: '/sbin/init' };
  const cpu: GuestCpu | undefined = isHvm ? designCpu(host, topology.value) : undefined;
  const spec: GuestSpec = {
    virtType: host.virtType,
    name: input.name,
    uuid: input.uuid,
    metadata: designMetadata(input),
    memoryMiB: flavor.memoryMiB,
    vcpus: flavor.vcpus,
    os,
    features,
    cpu,
    clock: isHvm ? designClock(x86, windows, host.virtType === 'kvm') : undefined,
    devices: designDevices(input, { arch, machine, diskBus, isHvm }, imageValue),
  };
  const explanation = explainPmu(guarded.value, {
    arch,
    virtType: host.virtType,
    cpuMode: host.cpuMode,
    cpuModel: host.cpuModel,
  });
  return ok({ spec, pmu: guarded.value, explanation });
}

function checkIdentity(input: DesignInput): Issue[] {
  const issues: Issue[] = [];
  if (!UUID.test(input.uuid)) {
    issues.push({
      code: 'input.invalid',
      path: ['uuid'],
      message: `Cannot use '${input.uuid}' as the guest UUID: expected a lower-case UUID such as 0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21`,
    });
  }
  if (!DOMAIN_NAME.test(input.name)) {
    issues.push({
      code: 'input.invalid',
      path: ['name'],
      message: `Cannot use '${input.name}' as the guest name: expected letters, digits, '.', '_' or '-', starting with a letter or digit, at most 255 characters`,
    });
  }
  return issues;
}

/** The flavor's sizes a guest needs: the API field, the Flavor property and the least allowed. */
const FLAVOR_SIZES = [
  ['vcpus', 'vcpus', 1],
  ['ram', 'memoryMiB', 1],
  ['disk', 'diskGiB', 0],
] as const;

function checkFlavorSize(flavor: Flavor): Issue[] {
  const issues: Issue[] = [];
  for (const [field, property, min] of FLAVOR_SIZES) {
    const value = flavor[property];
    if (Number.isInteger(value) && value >= min) continue;
    issues.push({
      code: 'input.invalid',
      path: ['flavor', field],
      message: `Cannot size a guest from flavor '${flavor.name}': ${field} is ${value}, expected a whole number of at least ${min}`,
    });
  }
  return issues;
}

/** Combinations that are valid one by one but that this host or machine cannot build. */
function checkPlacement(
  input: DesignInput,
  arch: Architecture,
  machine: string,
  diskBus: DiskBus,
  isHvm: boolean,
): Issue[] {
  const { host, image } = input;
  const issues: Issue[] = [];
  const sameFamily = arch === host.arch || (arch === 'i686' && host.arch === 'x86_64');
  if (host.virtType === 'kvm' && !sameFamily) {
    issues.push({
      code: 'spec.unsupported_for_guest',
      path: ['image', 'properties', 'hw_architecture'],
      message: `Cannot run image '${image.name}' (hw_architecture=${arch}) with virt type kvm on a ${host.arch} host: KVM runs guests of the host's own architecture only`,
    });
  }
  if (isHvm && diskBus === 'ide' && /^(pc-q35|q35|virt|pseries)/u.test(machine)) {
    issues.push({
      code: 'spec.unsupported_for_guest',
      path: ['image', 'properties', 'hw_disk_bus'],
      message: `Cannot attach the root disk of image '${image.name}' on bus ide: machine type '${machine}' has no IDE controller`,
    });
  }
  if (isHvm && host.cpuMode === 'custom' && (host.cpuModel ?? '') === '') {
    issues.push({
      code: 'input.invalid',
      path: ['host', 'cpu_model'],
      message: 'Cannot use CPU mode custom without a CPU model: name one, such as Nehalem or EPYC',
    });
  }
  if (host.cpuMode !== 'custom' && host.cpuModel !== undefined) {
    issues.push({
      code: 'input.invalid',
      path: ['host', 'cpu_model'],
      message: `Cannot use CPU model '${host.cpuModel}' with CPU mode ${host.cpuMode}: a named model needs CPU mode custom`,
    });
  }
  return issues;
}

/** An image with kernel_id needs its files; a ramdisk or command line needs a kernel. */
function checkKernelBoot(
  input: DesignInput,
  imageValue: (spec: SpecEntry) => string | undefined,
  isHvm: boolean,
): Issue[] {
  const { image, bootFiles } = input;
  const kernelId = imageValue(KERNEL_ID);
  const issues: Issue[] = [];
  if (kernelId === undefined) {
    for (const spec of [RAMDISK_ID, OS_COMMAND_LINE]) {
      if (imageValue(spec) === undefined) continue;
      issues.push({
        code: 'spec.unsupported_for_guest',
        path: ['image', 'properties', spec.imageKey],
        message: `Cannot use ${spec.imageKey} of image '${image.name}' without kernel_id: only a kernel boot takes a ramdisk or a kernel command line`,
      });
    }
    return issues;
  }
  if (!isHvm) {
    issues.push({
      code: 'spec.unsupported_for_guest',
      path: ['image', 'properties', 'kernel_id'],
      message: `Cannot boot image '${image.name}' from kernel ${kernelId} in a container guest (lxc): containers run the host's kernel`,
    });
  } else if (bootFiles === undefined) {
    issues.push({
      code: 'input.invalid',
      path: ['image', 'properties', 'kernel_id'],
      message: `Cannot boot image '${image.name}' from kernel ${kernelId}: the kernel image's file was not given`,
    });
  } else if (imageValue(RAMDISK_ID) !== undefined && bootFiles.ramdisk === undefined) {
    issues.push({
      code: 'input.invalid',
      path: ['image', 'properties', 'ramdisk_id'],
      message: `Cannot boot image '${image.name}' with ramdisk ${imageValue(RAMDISK_ID) ?? ''}: the ramdisk image's file was not given`,
    });
  }
  return issues;
}

/** Nova's default command line of a kernel boot: the root disk, and the console on the serial. */
function designKernelBoot(
  input: DesignInput,
  imageValue: (spec: SpecEntry) => string | undefined,
  diskBus: DiskBus,
): KernelBoot | undefined {
  const files = input.bootFiles;
  if (files === undefined || imageValue(KERNEL_ID) === undefined) return undefined;
  return {
    kernel: files.kernel,
    initrd: imageValue(RAMDISK_ID) === undefined ? undefined : files.ramdisk,
    cmdline:
      imageValue(OS_COMMAND_LINE) ??
      `root=/dev/${DISK_TARGETS[diskBus]} console=tty0 console=ttyS0`,
  };
}

/**
 * Where the config drive's cdrom goes, as Nova puts it: IDE on the i440fx PC machine, SATA on
 * q35, SCSI elsewhere; on the root disk's bus it takes the next letter.
 */
function cdromPlacement(
  arch: Architecture,
  machine: string,
  diskBus: DiskBus,
): { bus: DiskBus; targetDev: string } {
  const x86 = arch === 'x86_64' || arch === 'i686';
  if (x86 && !machine.includes('q35')) return { bus: 'ide', targetDev: 'hdd' };
  const bus: DiskBus = x86 ? 'sata' : 'scsi';
  const rootOnSd = DISK_TARGETS[diskBus] === 'sda';
  return { bus, targetDev: rootOnSd ? 'sdb' : 'sda' };
}

function designCpu(host: HostSettings, topology: CpuTopology): GuestCpu {
  return {
    mode: host.cpuMode,
    model: host.cpuMode === 'custom' ? host.cpuModel : undefined,
    topology,
  };
}

/** Nova's clock: UTC (local time for Windows), with x86 timers that keep guests from drifting. */
function designClock(x86: boolean, windows: boolean, kvm: boolean): GuestClock {
  if (!x86) return { offset: 'utc', timers: [] };
  return {
    offset: windows ? 'localtime' : 'utc',
    timers: [
      { name: 'pit', tickPolicy: 'delay' },
      { name: 'rtc', tickPolicy: 'catchup' },
      { name: 'hpet', present: false },
      ...(windows && kvm ? [{ name: 'hypervclock' as const, present: true }] : []),
    ],
  };
}

function designDevices(
  input: DesignInput,
  guest: {
    readonly arch: Architecture;
    readonly machine: string;
    readonly diskBus: DiskBus;
    readonly isHvm: boolean;
  },
  imageValue: (spec: SpecEntry) => string | undefined,
): GuestDevices {
  const { arch, machine, diskBus, isHvm } = guest;
  const instancePath = `${input.host.instanceDir.replace(/\/+$/u, '')}/${input.uuid}`;
  const defaultVideo = arch === 'ppc64' || arch === 'ppc64le' ? 'vga' : 'virtio';
  return {
    rootDisk: isHvm
      ? {
          path: `${instancePath}/disk`,
          format: 'qcow2',
          bus: diskBus,
          targetDev: DISK_TARGETS[diskBus],
        }
      : undefined,
    rootFilesystem: isHvm ? undefined : { sourceDir: `${instancePath}/rootfs` },
    interface: {
      attachment: input.host.network,
      model: isHvm ? (imageValue(HW_VIF_MODEL) ?? 'virtio') : undefined,
    },
    configDrive:
      isHvm && input.configDrive === true
        ? { path: `${instancePath}/disk.config`, ...cdromPlacement(arch, machine, diskBus) }
        : undefined,
    serialConsole: true,
    consoleLog: isHvm ? `${instancePath}/console.log` : undefined,
    video: isHvm ? (imageValue(HW_VIDEO_MODEL) ?? defaultVideo) : undefined,
    memballoon: isHvm ? 'virtio' : undefined,
    rng: isHvm ? 'virtio' : undefined,
  };
}

function designMetadata(input: DesignInput): GuestMetadata {
  const { flavor, image, owner } = input;
  return {
    flavor: {
      id: flavor.id,
      name: flavor.name,
      extraSpecs: Object.entries(flavor.extraSpecs).sort(([a], [b]) =>
        a < b ? -1 : a > b ? 1 : 0,
      ),
    },
    image: { id: image.id, name: image.name },
    owner: owner === undefined ? undefined : { projectId: owner.projectId, userId: owner.userId },
  };
}
