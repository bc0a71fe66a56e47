/**
 * The golden domain-XML cases: each renders to testdata/golden/domain-xml/<file>, is validated by
 * virt-xml-validate and is defined and read back on libvirt's test driver.
 */
import type { Flavor, HostSettings, Image } from '../domain/index.js';
import { aFlavor, aHost, anImage } from './fixtures.js';

export interface GoldenCase {
  readonly file: string;
  readonly flavor: Flavor;
  readonly image: Image;
  readonly host: HostSettings;
  /** The `<pmu>` state the XML must carry: true on, false off, undefined no element. */
  readonly pmu: boolean | undefined;
  /** A config drive cdrom. */
  readonly configDrive?: boolean;
  /** The files of a kernel boot (the image has kernel_id and maybe ramdisk_id). */
  readonly bootFiles?: { readonly kernel: string; readonly ramdisk?: string };
}

const KERNEL_ID = '9f6c1a3e-2b4d-4e8f-a1c2-3d4e5f607182';
const RAMDISK_ID = '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';

const vran = aFlavor({
  id: 'a22d5517-147c-4147-a0d1-e698df5cd4e3',
  name: 'vran.small',
  extraSpecs: { 'hw:pmu': 'false' },
});

/** Every golden case, one file each. */
export const GOLDEN_CASES: readonly GoldenCase[] = [
  { file: 'pmu-unset.xml', flavor: aFlavor(), image: anImage(), host: aHost(), pmu: undefined },
  { file: 'pmu-off-from-flavor.xml', flavor: vran, image: anImage(), host: aHost(), pmu: false },
  {
    file: 'pmu-on-from-flavor.xml',
    flavor: aFlavor({ name: 'perf.medium', extraSpecs: { 'hw:pmu': 'on' } }),
    image: anImage(),
    host: aHost({ cpuMode: 'host-passthrough' }),
    pmu: true,
  },
  {
    file: 'pmu-on-from-image.xml',
    flavor: aFlavor(),
    image: anImage({ name: 'perf-tools', properties: { hw_pmu: 'true' } }),
    host: aHost(),
    pmu: true,
  },
  {
    file: 'pmu-agreeing.xml',
    flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'yes' } }),
    image: anImage({ properties: { hw_pmu: true } }),
    host: aHost(),
    pmu: true,
  },
  {
    file: 'kvm-hidden-pmu-off.xml',
    flavor: aFlavor({
      name: 'gpu.large',
      extraSpecs: { 'hw:pmu': 'false', 'hw:hide_hypervisor_id': 'true' },
    }),
    image: anImage(),
    host: aHost(),
    pmu: false,
  },
  {
    file: 'windows.xml',
    flavor: aFlavor({
      name: 'win.large',
      vcpus: 4,
      memoryMiB: 8192,
      diskGiB: 60,
      extraSpecs: { 'hw:cpu_sockets': '2' },
    }),
    image: anImage({
      name: 'windows-2022',
      properties: {
        os_type: 'windows',
        hw_disk_bus: 'sata',
        hw_vif_model: 'e1000e',
        hw_video_model: 'qxl',
        hw_pmu: 'off',
      },
    }),
    host: aHost(),
    pmu: false,
  },
  {
    file: 'aarch64.xml',
    flavor: aFlavor({ name: 'arm.medium', extraSpecs: { 'hw:pmu': 'true' } }),
    image: anImage({ name: 'debian-arm64', properties: { hw_architecture: 'aarch64' } }),
    host: aHost({ arch: 'aarch64', cpuMode: 'host-passthrough' }),
    pmu: true,
  },
  {
    file: 'topology-threads-scsi.xml',
    flavor: aFlavor({
      name: 'c8',
      vcpus: 8,
      memoryMiB: 16384,
      extraSpecs: { 'hw:cpu_sockets': '1', 'hw:cpu_cores': '4', 'hw:cpu_threads': '2' },
    }),
    image: anImage({ properties: { hw_disk_bus: 'scsi' } }),
    host: aHost(),
    pmu: undefined,
  },
  {
    file: 'legacy-pc-ide.xml',
    flavor: aFlavor({ extraSpecs: { 'hw:pmu': '0' } }),
    image: anImage({
      name: 'legacy',
      properties: {
        hw_machine_type: 'pc',
        hw_disk_bus: 'ide',
        hw_vif_model: 'rtl8139',
        hw_video_model: 'cirrus',
      },
    }),
    host: aHost(),
    pmu: false,
  },
  {
    file: 'custom-cpu-usb-no-video.xml',
    flavor: aFlavor({ vcpus: 1 }),
    image: anImage({ properties: { hw_pmu: 'NO', hw_disk_bus: 'usb', hw_video_model: 'none' } }),
    host: aHost({ cpuMode: 'custom', cpuModel: 'Nehalem' }),
    pmu: false,
  },
  {
    file: 'tcg-maximum-user-net.xml',
    flavor: aFlavor({ vcpus: 1, memoryMiB: 256, extraSpecs: { 'hw:pmu': 'true' } }),
    image: anImage(),
    host: aHost({ virtType: 'qemu', cpuMode: 'maximum', network: { type: 'user' } }),
    pmu: true,
  },
  {
    file: 'ppc64le-pmu-on.xml',
    flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'true' } }),
    image: anImage({ properties: { hw_architecture: 'ppc64le' } }),
    host: aHost({ virtType: 'qemu', network: { type: 'none' } }),
    pmu: true,
  },
  {
    file: 'lxc-pmu-ignored.xml',
    flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'true' } }),
    image: anImage(),
    host: aHost({ virtType: 'lxc' }),
    pmu: undefined,
  },
  {
    file: 'config-drive-q35.xml',
    flavor: aFlavor(),
    image: anImage(),
    host: aHost(),
    pmu: undefined,
    configDrive: true,
  },
  {
    file: 'config-drive-pc-ide.xml',
    flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'false' } }),
    image: anImage({ properties: { hw_machine_type: 'pc' } }),
    host: aHost(),
    pmu: false,
    configDrive: true,
  },
  {
    file: 'kernel-boot-config-drive.xml',
    flavor: aFlavor({ vcpus: 1, memoryMiB: 256 }),
    image: anImage({
      name: 'tiny-guest',
      properties: {
        kernel_id: KERNEL_ID,
        ramdisk_id: RAMDISK_ID,
        os_command_line: 'console=ttyS0 quiet',
        hw_pmu: 'true',
      },
    }),
    host: aHost({ virtType: 'qemu', cpuMode: 'maximum', network: { type: 'none' } }),
    pmu: true,
    configDrive: true,
    bootFiles: {
      kernel: `/var/lib/vpmu/images/${KERNEL_ID}`,
      ramdisk: `/var/lib/vpmu/images/${RAMDISK_ID}`,
    },
  },
  {
    file: 'kernel-boot-default-cmdline.xml',
    flavor: aFlavor(),
    image: anImage({ properties: { kernel_id: KERNEL_ID } }),
    host: aHost(),
    pmu: undefined,
    bootFiles: { kernel: `/var/lib/vpmu/images/${KERNEL_ID}` },
  },
  {
    file: 'escaping.xml',
    flavor: aFlavor({
      name: 'a&b <"c">',
      extraSpecs: { 'hw:pmu': ' Off ', 'trait:CUSTOM_X': '<required & "odd">' },
    }),
    image: anImage({ name: "it's <mine>" }),
    host: aHost({ instanceDir: '/srv/vpmu & co/instances/' }),
    pmu: false,
  },
];
