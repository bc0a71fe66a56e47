/**
 * Instance disks: a qcow2 overlay on the image data, or a blank qcow2. The image data is taken into
 * the instance directory as `base`: a hard link to the image file (one system call, no data
 * moved), or a copy when the image is on another filesystem or links are refused. The overlay is
 * backed on that link, so deleting the image file loses nothing, and the filesystem's link count
 * is the reference count: the data goes with the last instance directory holding it. vpmu writes
 * the empty qcow2 itself (see qcow2.ts); `qemu-img info` (Debian: qemu-utils) reads the image's
 * format and size, once per image file. Failures name the file and the reason.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { constants, createReadStream, type Stats } from 'node:fs';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { ComputeError } from '../../errors/index.js';
import { inspectImageFile } from '../image-inspector/qemu-img-inspector.js';
import {
  BASE_NAME,
  checkCreateRequest,
  checkDiskPath,
  isInstanceDirName,
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
    const source =
      request.backingFile === undefined ? undefined : path.resolve(request.backingFile);
    const dir = path.dirname(file);
    const made = await mkdir(dir, { recursive: true });
    const base = path.join(dir, BASE_NAME);
    let tookBase = false;
    try {
      let backing: { file: string; format: string; virtualSize: number } | undefined;
      if (source !== undefined) {
        await takeImageData(source, base, file);
        tookBase = true;
        let stats = await lstat(base);
        if (stats.isSymbolicLink()) {
          // link(2) linked the symbolic link itself: take the file it names instead.
          await takeImageData(await imageTarget(source), base, file);
          stats = await lstat(base);
        }
        if (!stats.isFile()) throw diskFailure('create', source, 'the image file is not a file');
        // What is inspected is what the disk is backed on: the image cannot change in between.
        backing = { file: base, ...(await this.info(base, stats, source, request.backingFormat)) };
      }
      const encoded = encodeQcow2({
        virtualSize: Math.max(backing?.virtualSize ?? 0, request.sizeGiB * GIB),
        backing,
      });
      if (!encoded.ok) throw diskFailure('create', file, encoded.reason);
      await writeQcow2(file, encoded.image).catch((error: unknown) => {
        const reason =
          (error as NodeJS.ErrnoException).code === 'EEXIST'
            ? 'the file already exists'
            : error instanceof Error
              ? error.message
              : String(error);
        throw diskFailure('create', file, reason);
      });
    } catch (error) {
      if (tookBase) await rm(base, { force: true }).catch(() => undefined);
      if (made !== undefined) await rmdir(dir).catch(() => undefined);
      throw error;
    }
  }

  async receive(fromDir: string, toDir: string): Promise<void> {
    const from = path.resolve(fromDir);
    const to = checkRemoveRequest(this.root, toDir);
    const entries = await readdir(from, { withFileTypes: true }).catch((error: unknown) => {
      throw diskFailure('receive', from, reasonOf(error));
    });
    await mkdir(path.dirname(to), { recursive: true });
    await mkdir(to).catch((error: unknown) => {
      const reason =
        (error as NodeJS.ErrnoException).code === 'EEXIST'
          ? 'the directory already exists'
          : reasonOf(error);
      throw diskFailure('receive', to, reason);
    });
    try {
      for (const entry of entries) {
        if (!entry.isFile() || TEMP_BASE.test(entry.name)) continue;
        const source = path.join(from, entry.name);
        const target = path.join(to, entry.name);
        // The image data is written once and only read: a link where the filesystem allows.
        if (entry.name === BASE_NAME) await takeImageData(source, target, undefined);
        else await copyFile(source, target, constants.COPYFILE_FICLONE);
      }
      const disk = path.join(to, 'disk');
      // An unreadable disk fails the move: left backed on the source's base, confirm would break it.
      const name = await readBackingName(disk);
      if (name !== undefined && path.resolve(from, name) === path.join(from, BASE_NAME)) {
        const base = path.join(to, BASE_NAME);
        const { format } = await this.info(base, await lstat(base), base, undefined);
        const outcome = await runQemuImg(
          this.qemuImg,
          ['rebase', '-u', '-f', 'qcow2', '-F', format, '-b', base, disk],
          this.timeoutMs,
        );
        if (!outcome.ok) throw diskFailure('receive', disk, outcome.error);
      }
    } catch (error) {
      await rm(to, { recursive: true, force: true }).catch(() => undefined);
      if (error instanceof ComputeError) throw error;
      throw diskFailure('receive', from, reasonOf(error));
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

  async backing(file: string): Promise<string | undefined> {
    const disk = path.resolve(file);
    const name = await readBackingName(disk).catch((error: unknown) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      throw diskFailure('read', disk, missing ? 'the disk does not exist' : reasonOf(error));
    });
    if (name === undefined) return undefined;
    const backing = path.resolve(path.dirname(disk), name);
    if (!(await exists(backing))) {
      throw diskFailure('read', disk, `its backing file ${backing} is missing`);
    }
    return backing;
  }

  async adopt(file: string): Promise<boolean> {
    const disk = checkDiskPath(this.root, file, 'use');
    // No disk (a guest without one) or not a qcow2 overlay: nothing to take.
    const name = await readBackingName(disk).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || error === NOT_QCOW2)
        return undefined;
      throw diskFailure('read', disk, reasonOf(error));
    });
    const dir = path.dirname(disk);
    const base = path.join(dir, BASE_NAME);
    if (name === undefined || path.resolve(dir, name) === base) return true;
    const backing = path.resolve(dir, name);
    const [stats, baseStats] = await Promise.all([
      stat(backing).catch(() => undefined),
      lstat(base).catch(() => undefined),
    ]);
    if (stats === undefined) {
      // Gone since an adopt() that took its data but could not rewrite the running guest's disk.
      if (baseStats?.isFile() !== true) {
        throw diskFailure('use', disk, `its backing file ${backing} is missing`);
      }
    } else if (baseStats?.dev !== stats.dev || baseStats.ino !== stats.ino) {
      // The disk backs on `backing`, not on `base`: a `base` there is no disk's, so it may go.
      await takeImageData(backing, base, undefined);
    }
    const { format } = await this.info(base, await lstat(base), backing, undefined);
    const outcome = await runQemuImg(
      this.qemuImg,
      ['rebase', '-u', '-f', 'qcow2', '-F', format, '-b', base, disk],
      this.timeoutMs,
    );
    if (outcome.ok) return true;
    // qemu-img's words for an image a running QEMU holds (its write lock).
    if (/\block\b|another process using the image/iu.test(outcome.stderr)) return false;
    throw diskFailure('use', disk, outcome.error);
  }

  async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    const kept = new Set([...keep].map((id) => id.toLowerCase()));
    const entries = await readdir(this.root, { withFileTypes: true }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    const removed: string[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !isInstanceDirName(entry.name)) continue;
      const dir = path.join(this.root, entry.name);
      if (!kept.has(entry.name.toLowerCase())) {
        if (await removeDirectory(dir)) removed.push(dir);
        continue;
      }
      for (const name of await readdir(dir).catch(() => [])) {
        if (!TEMP_BASE.test(name)) continue;
        await rm(path.join(dir, name), { force: true });
        removed.push(path.join(dir, name));
      }
    }
    return removed;
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
    stats: Stats,
    image: string,
    declaredFormat: string | undefined,
  ): Promise<{ format: string; virtualSize: number }> {
    // Keyed by the file itself, not its name: every instance's base links one image file.
    const key = `${stats.dev}\0${stats.ino}\0${declaredFormat ?? ''}\0${stats.size}\0${stats.mtimeMs}`;
    const cached = this.infoCache.get(key);
    if (cached !== undefined) return cached;
    const outcome = await inspectImageFile(file, declaredFormat, {
      maxVirtualSize: this.maxVirtualSize,
      qemuImg: this.qemuImg,
      timeoutMs: this.timeoutMs,
    }).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw diskFailure('read', image, reason.replace(/^Cannot check image data: /u, ''));
    });
    if (!outcome.ok) {
      throw new ComputeError(
        'image.invalid_data',
        `Cannot build a disk on image ${path.basename(image)}: ${outcome.reason}${declaredFormat === undefined ? '' : ` (declared disk_format ${declaredFormat})`}`,
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

/** A half-taken base: the temporary name takeImageData() links or copies to before its rename. */
const TEMP_BASE = new RegExp(`^\\.${BASE_NAME}-[0-9a-f]+\\.tmp$`, 'u');

/** The file a symbolic link to an image names, refused (naming the link) when it is missing. */
async function imageTarget(link: string): Promise<string> {
  return realpath(link).catch(() => {
    throw diskFailure('create', link, 'the image file does not exist');
  });
}

/**
 * Puts the data of `source` at `base` beside `disk`: a hard link (atomic: there or not), else
 * (another filesystem, links refused) a copy, reflinked where the filesystem can, and synced. A
 * copy, or a link replacing a `base` a crash left without its disk, goes to a temporary name
 * first and is renamed into place, so a crash leaves a whole base or none (and at worst a
 * temporary file that sweep() removes). The base of `disk`, when that exists, is never replaced
 * (`disk` undefined: the base is no disk's). An image deleted in the meantime fails here, naming
 * the image.
 */
async function takeImageData(
  source: string,
  base: string,
  disk: string | undefined,
): Promise<void> {
  const failure = await link(source, base).then(
    () => undefined,
    (error: unknown) => error as NodeJS.ErrnoException,
  );
  if (failure === undefined) return;
  const code = failure.code ?? '';
  if (code === 'ENOENT') throw diskFailure('create', source, 'the image file does not exist');
  if (code === 'EEXIST' && disk !== undefined && (await present(disk))) {
    throw diskFailure('create', disk, 'the file already exists');
  }
  if (code !== 'EEXIST' && !LINK_REFUSED.has(code)) {
    throw diskFailure(
      'create',
      base,
      `cannot take the data of image file ${source}: ${failure.message}`,
    );
  }
  const temp = path.join(path.dirname(base), `.${BASE_NAME}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (code === 'EEXIST') {
      await link(source, temp);
    } else {
      await copyFile(source, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      const handle = await open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(temp, base);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw missing
      ? diskFailure('create', source, 'the image file does not exist')
      : diskFailure(
          'create',
          base,
          `cannot take the data of image file ${source}: ${reasonOf(error)}`,
        );
  }
}

/** Whether anything is at `file`. */
async function present(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/** link(2) failures that mean "copy instead": another filesystem, no links there, or not allowed. */
const LINK_REFUSED = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

const NOT_QCOW2 = new Error('it is not a qcow2 file');

/** The backing file name in a qcow2 header (undefined when it has none); rejects a non-qcow2 file. */
async function readBackingName(file: string): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(20);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead < header.length || header.toString('latin1', 0, 4) !== 'QFI\xfb') {
      throw NOT_QCOW2;
    }
    const offset = header.readBigUInt64BE(8);
    const length = header.readUInt32BE(16);
    if (offset === 0n || length === 0) return undefined;
    if (length > 1023 || offset > 65536n) throw new Error('its backing file name is malformed');
    const name = Buffer.alloc(length);
    await handle.read(name, 0, length, Number(offset));
    return name.toString('utf8');
  } finally {
    await handle.close();
  }
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs qemu-img; its message (the last line of its stderr) and its stderr when it fails. */
function runQemuImg(
  qemuImg: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; error: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      qemuImg,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolve({ ok: true });
          return;
        }
        const message =
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? `${qemuImg} is not installed (apt-get install qemu-utils)`
            : (stderr.trim().split('\n').at(-1) ?? error.message);
        resolve({ ok: false, error: message, stderr });
      },
    );
  });
}
