/**
 * A tiny Linux test guest built at test time from two Debian packages, extracted (never
 * installed): the kernel of linux-image-amd64 and busybox-static. Its initramfs holds busybox, the
 * kernel modules that read a SATA or IDE cdrom and an ISO 9660 file system (those the kernel has
 * as modules, with their dependencies, in load order), and an /init that mounts the config drive,
 * prints one marked JSON line to the serial console with what it read and what its own kernel sees
 * of the PMU, then powers off. `scripts/install-deps.sh --tests` fetches the packages into
 * GUEST_DEBS_DIR.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { skipOrThrow } from './tools.js';

const run = promisify(execFile);

/** Where the packages are fetched to (VPMU_TEST_GUEST_DEBS overrides). */
export const GUEST_DEBS_DIR = process.env.VPMU_TEST_GUEST_DEBS ?? '/var/cache/vpmu/test-guest';

/** The marker of the guest's report line on its console. */
export const REPORT_MARK = 'VPMU-GUEST-REPORT ';

/**
 * The modules that read the config drive, by name, in an order that satisfies their dependencies
 * (checked again against each module's own `depends=`): SCSI core, libata with AHCI (q35's SATA)
 * and PIIX (the PC machine's IDE), the cdrom layer, the SCSI cdrom driver and ISO 9660.
 */
const WANTED_MODULES = [
  'scsi_common',
  'scsi_mod',
  'libata',
  'libahci',
  'ahci',
  'ata_piix',
  'cdrom',
  'sr_mod',
  'isofs',
] as const;

/** What the guest reports on its console. */
export interface GuestReport {
  readonly meta_data: Record<string, unknown> | null;
  readonly vendor_data2: Record<string, unknown> | null;
  readonly user_data_base64: string;
  readonly performance_events: string;
  readonly pmu_device: boolean;
  readonly arch_perfmon: boolean;
  readonly errors: string;
}

/** The packages' files, or a skip reason (a failure in CI). */
export function findGuestDebs(): { kernel: string; busybox: string } | string {
  const hint = `run scripts/install-deps.sh --tests (as root), which fetches linux-image-amd64's kernel package and busybox-static into ${GUEST_DEBS_DIR}`;
  if (!existsSync(GUEST_DEBS_DIR)) return skipOrThrow(`no ${GUEST_DEBS_DIR}: ${hint}`);
  const debs = readdirSync(GUEST_DEBS_DIR).filter((f) => f.endsWith('.deb'));
  const kernel = debs
    .filter((f) => /^linux-image-[0-9].*-amd64_/u.test(f))
    .sort()
    .at(-1);
  const busybox = debs
    .filter((f) => f.startsWith('busybox-static_'))
    .sort()
    .at(-1);
  if (kernel === undefined || busybox === undefined) {
    return skipOrThrow(`${GUEST_DEBS_DIR} lacks the kernel or busybox-static package: ${hint}`);
  }
  return { kernel: path.join(GUEST_DEBS_DIR, kernel), busybox: path.join(GUEST_DEBS_DIR, busybox) };
}

/** Builds the guest in `work`: returns its kernel and initramfs files and the modules it loads. */
export async function buildTestGuest(
  debs: { kernel: string; busybox: string },
  work: string,
): Promise<{ kernel: string; initramfs: string; modules: string[] }> {
  const k = path.join(work, 'kernel-deb');
  const b = path.join(work, 'busybox-deb');
  mkdirSync(k);
  // Only the kernel and the module folders the wanted modules live in (the whole package
  // unpacks to some 400 MB): dpkg-deb's data archive, filtered by tar.
  const wanted = [
    './boot/vmlinuz-*',
    './lib/modules/*/modules.builtin',
    ...['drivers/scsi', 'drivers/ata', 'drivers/cdrom', 'fs/isofs'].map(
      (d) => `./lib/modules/*/kernel/${d}/*`,
    ),
  ];
  await run(
    'sh',
    [
      '-c',
      'deb="$1"; into="$2"; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$into" --wildcards "$@"',
      'sh',
      debs.kernel,
      k,
      ...wanted,
    ],
    { timeout: 120_000 },
  );
  await run('dpkg-deb', ['-x', debs.busybox, b], { timeout: 60_000 });
  const vmlinuz = readdirSync(path.join(k, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (vmlinuz === undefined) throw new Error(`${debs.kernel} holds no /boot/vmlinuz-*`);
  const version = vmlinuz.slice('vmlinuz-'.length);
  const moduleRoot = path.join(k, 'lib', 'modules', version);
  const builtin = new Set(
    readFileSync(path.join(moduleRoot, 'modules.builtin'), 'utf8')
      .split('\n')
      .map((line) => path.basename(line).replace(/\.ko$/u, '').replace(/-/gu, '_')),
  );
  const files = new Map<string, string>();
  walk(path.join(moduleRoot, 'kernel'), (file) => {
    const name = path.basename(file);
    if (name.endsWith('.ko')) files.set(name.slice(0, -3).replace(/-/gu, '_'), file);
    else if (/\.ko\.(xz|zst|gz)$/u.test(name)) {
      throw new Error(`${file}: compressed modules are not handled (busybox insmod loads .ko)`);
    }
  });
  const order: string[] = [];
  const add = (name: string, chain: readonly string[]): void => {
    if (builtin.has(name) || order.includes(name)) return;
    if (chain.includes(name)) throw new Error(`module dependency cycle: ${chain.join(' → ')}`);
    const file = files.get(name);
    if (file === undefined) throw new Error(`kernel ${version} has no module ${name}`);
    for (const dep of dependsOf(file)) add(dep, [...chain, name]);
    order.push(name);
  };
  for (const name of WANTED_MODULES) add(name, []);

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'cd', 'lib', 'lib/modules'].map((p) => dir(p)),
    { path: 'dev/console', mode: 0o020600, data: Buffer.alloc(0), rdev: [5, 1] },
    { path: 'bin/busybox', mode: 0o100755, data: readFileSync(path.join(b, 'bin', 'busybox')) },
    { path: 'init', mode: 0o100755, data: Buffer.from(initScript(order)) },
    ...order.map((name) => ({
      path: `lib/modules/${name}.ko`,
      mode: 0o100644,
      data: readFileSync(files.get(name) ?? ''),
    })),
  ];
  const initramfs = path.join(work, 'initramfs.cpio');
  writeFileSync(initramfs, newc(entries));
  return { kernel: path.join(k, 'boot', vmlinuz), initramfs, modules: order };
}

/** The report line in console output, parsed; undefined while the guest has not printed it. */
export function findReport(output: string): GuestReport | undefined {
  const line = output.split('\n').find((l) => l.includes(REPORT_MARK));
  if (line === undefined) return undefined;
  const json = line.slice(line.indexOf(REPORT_MARK) + REPORT_MARK.length).trim();
  return JSON.parse(json) as GuestReport;
}

function walk(dirPath: string, visit: (file: string) => void): void {
  for (const name of readdirSync(dirPath)) {
    const full = path.join(dirPath, name);
    if (statSync(full).isDirectory()) walk(full, visit);
    else visit(full);
  }
}

/** A module's `depends=` from its .modinfo strings. */
function dependsOf(file: string): string[] {
  const text = readFileSync(file).toString('latin1');
  const match = /(?:^|\0)depends=([^\0]*)\0/u.exec(text);
  return (match?.[1] ?? '')
    .split(',')
    .filter((d) => d !== '')
    .map((d) => d.replace(/-/gu, '_'));
}

/**
 * The guest's /init (busybox sh). Every wait is bounded; whatever fails is reported in `errors`
 * and the guest still powers off.
 */
function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
errors=""
for m in ${modules.join(' ')}; do
  insmod /lib/modules/$m.ko 2>/dev/null || errors="$errors insmod:$m"
done
i=0
while [ ! -b /dev/sr0 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
mount -t iso9660 -o ro /dev/sr0 /cd 2>/dev/null || errors="$errors mount:/dev/sr0"
esc() { sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g' | tr -d '\\r\\n'; }
json() { if [ -s "$1" ]; then tr -d '\\r\\n' < "$1"; else echo null; fi; }
perf=$(dmesg | grep -m1 'Performance Events' | sed -e 's/^\\[[^]]*\\] *//' | esc)
if [ -e /sys/bus/event_source/devices/cpu ]; then dev=true; else dev=false; fi
if grep -qw arch_perfmon /proc/cpuinfo; then ap=true; else ap=false; fi
ud=""
if [ -f /cd/openstack/latest/user_data ]; then ud=$(base64 /cd/openstack/latest/user_data | tr -d '\\n'); fi
echo "${REPORT_MARK}{\\"meta_data\\":$(json /cd/openstack/latest/meta_data.json),\\"vendor_data2\\":$(json /cd/openstack/latest/vendor_data2.json),\\"user_data_base64\\":\\"$ud\\",\\"performance_events\\":\\"$perf\\",\\"pmu_device\\":$dev,\\"arch_perfmon\\":$ap,\\"errors\\":\\"$(echo $errors | esc)\\"}"
sync
poweroff -f
`;
}

interface CpioEntry {
  readonly path: string;
  readonly mode: number;
  readonly data: Buffer;
  readonly rdev?: readonly [number, number];
}

function dir(p: string): CpioEntry {
  return { path: p, mode: 0o040755, data: Buffer.alloc(0) };
}

/** An uncompressed cpio archive in the "newc" format the kernel unpacks as an initramfs. */
function newc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { path: 'TRAILER!!!', mode: 0, data: Buffer.alloc(0) }]) {
    const name = Buffer.from(`${e.path}\0`);
    const header = Buffer.from(
      '070701' +
        [
          e.path === 'TRAILER!!!' ? 0 : ino++,
          e.mode,
          0, // uid
          0, // gid
          (e.mode & 0o170000) === 0o040000 ? 2 : 1, // nlink
          0, // mtime
          e.data.length,
          0, // devmajor
          0, // devminor
          e.rdev?.[0] ?? 0,
          e.rdev?.[1] ?? 0,
          name.length,
          0, // check
        ]
          .map(hex)
          .join(''),
    );
    parts.push(header, name, pad(header.length + name.length), e.data, pad(e.data.length));
  }
  return Buffer.concat(parts);
}
