/**
 * Instance disks: a qcow2 overlay on the image file, or a blank qcow2. vpmu writes the empty qcow2
 * itself (see qcow2.ts); `qemu-img info` (Debian: qemu-utils) reads the backing image's format and
 * size, once per image file. Failures name the file and the reason.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { ComputeError } from '../../errors/index.js';
import { inspectImageFile } from '../image-inspector/qemu-img-inspector.js';
import {
  checkCreateRequest,
  checkRemoveRequest,
  diskFailure,
  type InstanceDisks,
} from '../../ports/instance-disks.js';
import { encodeQcow2, writeQcow2 } from './qcow2.js';

/** Options for the qcow2 disk adapter. */
export interface Qcow2DisksOptions {
  /** Only paths under this directory are created or removed. */
  readonly instanceRoot: string;
  /** @default 'qemu-img' */
  readonly qemuImg?: string;
  /** @default 60000 */
  readonly timeoutMs?: number;
  /** Backing images claiming a larger virtual size (bytes) are refused. @default 1 TiB */
  readonly maxVirtualSize?: number;
}

const GIB = 1024 ** 3;
const execFileAsync = promisify(execFile);

/** `file` resolved, refused unless it lies below `root`. */
function inside(root: string, file: string): string {
  const resolved = path.resolve(file);
  const relative = path.relative(root, resolved);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw diskFailure('snapshot', file, `it is not inside the instance directory ${root}`);
  }
  return resolved;
}

/** InstanceDisks as qcow2 files under one instance directory. */
export class Qcow2Disks implements InstanceDisks {
  private readonly root: string;
  private readonly qemuImg: string;
  private readonly timeoutMs: number;
  private readonly maxVirtualSize: number;
  /**
   * `qemu-img info` per backing file, keyed by path, size and modification time: images are
   * written once and then only read, and a process spawn per boot would be its slowest step.
   */
  private readonly infoCache = new Map<string, { format: string; virtualSize: number }>();

  constructor(options: Qcow2DisksOptions) {
    this.root = path.resolve(options.instanceRoot);
    this.qemuImg = options.qemuImg ?? 'qemu-img';
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxVirtualSize = options.maxVirtualSize ?? 1024 ** 4;
  }

  async create(request: {
    path: string;
    sizeGiB: number;
    backingFile?: string | undefined;
    backingFormat?: string | undefined;
  }): Promise<void> {
    const file = checkCreateRequest(this.root, request);
    let backing: { file: string; format: string; virtualSize: number } | undefined;
    if (request.backingFile !== undefined) {
      const backingFile = path.resolve(request.backingFile);
      backing = { file: backingFile, ...(await this.info(backingFile, request.backingFormat)) };
    }
    const encoded = encodeQcow2({
      virtualSize: Math.max(backing?.virtualSize ?? 0, request.sizeGiB * GIB),
      backing,
    });
    if (!encoded.ok) throw diskFailure('create', file, encoded.reason);
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await writeQcow2(file, encoded.image);
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'EEXIST'
          ? 'the file already exists'
          : error instanceof Error
            ? error.message
            : String(error);
      throw diskFailure('create', file, reason);
    }
  }

  async remove(instancePath: string): Promise<boolean> {
    const dir = checkRemoveRequest(this.root, instancePath);
    try {
      return await removeDirectory(dir);
    } catch (error) {
      throw diskFailure('remove', dir, error instanceof Error ? error.message : String(error));
    }
  }

  async exists(file: string): Promise<boolean> {
    return exists(file);
  }

  export(file: string): { diskFormat: string; data: AsyncIterable<Uint8Array> } {
    const disk = inside(this.root, file);
    const copy = `${disk}.snapshot-${randomUUID()}`;
    const { qemuImg, timeoutMs } = this;
    async function* data(): AsyncIterable<Uint8Array> {
      try {
        // -U: the disk may be in use by a running guest; the copy is crash-consistent, as Nova's
        // live snapshot without a quiesced guest.
        await execFileAsync(qemuImg, ['convert', '-U', '-O', 'qcow2', disk, copy], {
          timeout: timeoutMs,
        }).catch((error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          throw diskFailure('snapshot', disk, reason);
        });
        for await (const chunk of createReadStream(copy)) yield chunk as Uint8Array;
      } finally {
        await rm(copy, { force: true });
      }
    }
    return { diskFormat: 'qcow2', data: data() };
  }

  /**
   * The backing image's format and virtual size, after the same inspection as at upload (the file
   * may have changed on disk since): an image that refers to other files, is not its declared
   * format or is too large is refused with `image.invalid_data`, naming the image, not the path.
   */
  private async info(
    file: string,
    declaredFormat: string | undefined,
  ): Promise<{ format: string; virtualSize: number }> {
    const stats = await stat(file).catch(() => undefined);
    if (stats === undefined) throw diskFailure('create', file, 'the image file does not exist');
    const key = `${file}\0${declaredFormat ?? ''}\0${stats.size}\0${stats.mtimeMs}\0${stats.ino}`;
    const cached = this.infoCache.get(key);
    if (cached !== undefined) return cached;
    const outcome = await inspectImageFile(file, declaredFormat, {
      maxVirtualSize: this.maxVirtualSize,
      qemuImg: this.qemuImg,
      timeoutMs: this.timeoutMs,
    }).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw diskFailure('read', file, reason.replace(/^Cannot check image data: /u, ''));
    });
    if (!outcome.ok) {
      throw new ComputeError(
        'image.invalid_data',
        `Cannot build a disk on image ${path.basename(file)}: ${outcome.reason}${declaredFormat === undefined ? '' : ` (declared disk_format ${declaredFormat})`}`,
      );
    }
    const info = { format: outcome.format, virtualSize: outcome.virtualSize };
    this.infoCache.set(key, info);
    return info;
  }
}

/**
 * Removes an instance directory that may be absent (false then). Its usual content, a disk or two,
 * takes three file operations this way where a recursive rm takes six or more; a subdirectory
 * falls back to rm.
 */
async function removeDirectory(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  if (entries === undefined) return false;
  if (entries.some((entry) => entry.isDirectory())) {
    await rm(dir, { recursive: true, force: true });
    return true;
  }
  await Promise.all(entries.map((entry) => unlink(path.join(dir, entry.name))));
  await rmdir(dir);
  return true;
}

/** Whether `file` is a file: a directory is not an image or a disk. */
async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (stats) => stats.isFile(),
    () => false,
  );
}
