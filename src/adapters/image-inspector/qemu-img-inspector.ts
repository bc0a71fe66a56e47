/**
 * Image format inspection with `qemu-img info` (Debian: qemu-utils), the way Nova and Glance do it
 * since OSSA-2024-001: a tenant's image may not refer to any other file, and must be the format it
 * was declared as.
 *
 * Two steps, cheapest first:
 * 1. The first bytes are read here, and the formats that name other files are refused before
 *    qemu-img opens anything: a VMDK descriptor (its extents are other files), a qcow2 with a
 *    backing file or an external data file (qemu-img would open the data file).
 * 2. `qemu-img info` probes the format, which must be the declared one, and its report is checked
 *    (backing file, data file, VMDK create type and extents, virtual size).
 * qemu-img runs under `prlimit` (30 s of CPU, 1 GiB of address space, as Nova runs it) and a
 * wall-clock timeout that kills it: a crafted header cannot make it eat the host.
 */
import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { ComputeError } from '../../errors/index.js';
import type { ImageInspector, InspectionOutcome } from '../../ports/image-inspector.js';

/**
 * The qemu-img format each Glance disk_format must be. ISO, AMI, AKI and ARI have no qemu-img
 * driver: to qemu-img they are raw bytes, and raw is what they are checked as (an ISO 9660
 * filesystem probes as raw). Null: a disk format qemu-img cannot open, refused.
 */
const QEMU_FORMAT_OF: Readonly<Record<string, string>> = {
  raw: 'raw',
  iso: 'raw',
  ami: 'raw',
  aki: 'raw',
  ari: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vdi: 'vdi',
  vhd: 'vpc',
  vhdx: 'vhdx',
  ploop: 'parallels',
};

/** VMDK create types whose data is all in the one file (Nova's allowed list). */
const SINGLE_FILE_VMDK = new Set(['monolithicSparse', 'streamOptimized']);

/** Options of an inspection. */
interface InspectOptions {
  /** Refuse images whose virtual size is larger (bytes). */
  readonly maxVirtualSize: number;
  /** @default 'qemu-img' */
  readonly qemuImg?: string;
  /** Wall-clock limit of one qemu-img run. @default 60000 */
  readonly timeoutMs?: number;
}

/** What qemu-img reports for a file, as far as the checks read it. */
interface QemuInfo {
  readonly format?: unknown;
  readonly 'virtual-size'?: unknown;
  readonly 'backing-filename'?: unknown;
  readonly 'format-specific'?: {
    readonly type?: unknown;
    readonly data?: {
      readonly 'data-file'?: unknown;
      readonly 'create-type'?: unknown;
      readonly extents?: readonly { readonly filename?: unknown }[];
    };
  };
}

/**
 * Inspects `file` as `declaredFormat` (a Glance disk_format; undefined: accept the probed format,
 * still refusing references to other files). The outcome's reason never names `file`.
 */
export async function inspectImageFile(
  file: string,
  declaredFormat: string | undefined,
  options: InspectOptions,
): Promise<{ ok: true; format: string; virtualSize: number } | { ok: false; reason: string }> {
  const expected = declaredFormat === undefined ? undefined : QEMU_FORMAT_OF[declaredFormat];
  if (declaredFormat !== undefined && expected === undefined) {
    return { ok: false, reason: `disk_format ${declaredFormat} cannot be checked or booted` };
  }
  const headerProblem = refusedHeader(await readHead(file));
  if (headerProblem !== undefined) return { ok: false, reason: headerProblem };

  const probed = await qemuImgInfo(file, options);
  if (!probed.ok) return { ok: false, reason: `it is not a readable disk image (${probed.error})` };
  const detected = String(probed.info.format);
  if (expected !== undefined && detected !== expected) {
    return { ok: false, reason: `its data is ${detected}, not ${expected}` };
  }
  // One qemu-img run is enough: a run forced to the format the probe found reads the file with
  // the same driver and reports the same.
  const problem = refusedInfo(probed.info, options.maxVirtualSize);
  if (problem !== undefined) return { ok: false, reason: problem };
  return { ok: true, format: detected, virtualSize: Number(probed.info['virtual-size']) };
}

/** The ImageInspector port over qemu-img, for image data kept as files. */
export class QemuImgInspector implements ImageInspector {
  readonly #fileOf: (location: string) => string;
  readonly #options: InspectOptions;

  constructor(fileOf: (location: string) => string, options: InspectOptions) {
    this.#fileOf = fileOf;
    this.#options = options;
  }

  async inspect(location: string, declaredFormat: string | null): Promise<InspectionOutcome> {
    const outcome = await inspectImageFile(
      this.#fileOf(location),
      declaredFormat ?? undefined,
      this.#options,
    );
    return outcome.ok
      ? { ok: true, virtualSize: outcome.virtualSize }
      : { ok: false, reason: outcome.reason };
  }
}

const HEAD_BYTES = 512;
const QCOW2_MAGIC = 0x514649fb;
/** qcow2 incompatible feature bit 2: the guest data lives in an external file. */
const QCOW2_EXTERNAL_DATA_FILE = 4n;

async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A reason to refuse the data from its first bytes alone, before qemu-img opens it. */
function refusedHeader(head: Buffer): string | undefined {
  if (head.subarray(0, 64).toString('latin1').includes('# Disk DescriptorFile')) {
    return 'it is a VMDK descriptor, whose extents are other files; upload a monolithicSparse or streamOptimized VMDK';
  }
  if (head.length >= 104 && head.readUInt32BE(0) === QCOW2_MAGIC) {
    if (head.readBigUInt64BE(8) !== 0n) return 'it is a qcow2 image with a backing file';
    const version = head.readUInt32BE(4);
    if (version >= 3 && (head.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA_FILE) !== 0n) {
      return 'it is a qcow2 image with an external data file';
    }
  }
  return undefined;
}

/** A reason to refuse the data from what qemu-img reports. */
function refusedInfo(info: QemuInfo, maxVirtualSize: number): string | undefined {
  const format = String(info.format);
  if (info['backing-filename'] !== undefined) return `it is a ${format} image with a backing file`;
  const specific = info['format-specific']?.data;
  if (specific?.['data-file'] !== undefined) {
    return `it is a ${format} image with an external data file`;
  }
  if (format === 'vmdk') {
    const createType = String(specific?.['create-type']);
    if (!SINGLE_FILE_VMDK.has(createType) || (specific?.extents?.length ?? 0) > 1) {
      return `it is a ${createType} VMDK, whose extents are other files; upload a monolithicSparse or streamOptimized VMDK`;
    }
  }
  const virtualSize = info['virtual-size'];
  if (typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    return 'qemu-img reported no virtual size for it';
  }
  if (virtualSize > maxVirtualSize) {
    return `its virtual size, ${virtualSize} bytes, is above the limit of ${maxVirtualSize} bytes`;
  }
  return undefined;
}

/** Runs `qemu-img info` under resource limits; `error` is qemu-img's message without paths. */
function qemuImgInfo(
  file: string,
  options: InspectOptions,
): Promise<{ ok: true; info: QemuInfo } | { ok: false; error: string }> {
  const qemuImg = options.qemuImg ?? 'qemu-img';
  const args = ['--cpu=30', `--as=${1024 ** 3}`, '--', qemuImg, 'info', '--output=json', file];
  return new Promise((resolve, reject) => {
    execFile(
      'prlimit',
      args,
      {
        timeout: options.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        encoding: 'utf8',
        maxBuffer: 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error === null) {
          try {
            resolve({ ok: true, info: JSON.parse(stdout) as QemuInfo });
          } catch {
            resolve({ ok: false, error: 'qemu-img printed no JSON' });
          }
          return;
        }
        // ENOENT: no prlimit; 127: prlimit could not start qemu-img.
        const missing =
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'prlimit is not installed (apt-get install util-linux)'
            : error.code === 127
              ? `${qemuImg} is not installed (apt-get install qemu-utils)`
              : undefined;
        if (missing !== undefined) {
          reject(
            new ComputeError('image.storage_unavailable', `Cannot check image data: ${missing}`),
          );
          return;
        }
        if (error.killed || typeof error.signal === 'string') {
          // A header that makes qemu-img spin or swell is the data's doing: a refusal.
          resolve({
            ok: false,
            error: `qemu-img info exceeded its limits (${String(error.signal)})`,
          });
          return;
        }
        const message = stderr.trim().split('\n').at(-1) ?? error.message;
        resolve({
          ok: false,
          error: message.replace(/^qemu-img: /u, '').replaceAll(file, 'the image'),
        });
      },
    );
  });
}
