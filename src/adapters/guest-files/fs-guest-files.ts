/**
 * Guest files on the local filesystem: config drives made with `genisoimage` (Debian:
 * genisoimage) from a staging directory, and console logs read from their end.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { diskFailure } from '../../ports/instance-disks.js';
import {
  lastLines,
  MAX_CONSOLE_BYTES,
  type GuestFile,
  type GuestFiles,
} from '../../ports/guest-files.js';

export interface FsGuestFilesOptions {
  /** Only files under this directory are written or read. */
  readonly instanceRoot: string;
  /** @default 'genisoimage' */
  readonly genisoimage?: string;
  /** @default 60000 */
  readonly timeoutMs?: number;
}

/** GuestFiles under one instance directory. */
export class FsGuestFiles implements GuestFiles {
  readonly #root: string;
  readonly #genisoimage: string;
  readonly #timeoutMs: number;

  constructor(options: FsGuestFilesOptions) {
    this.#root = path.resolve(options.instanceRoot);
    this.#genisoimage = options.genisoimage ?? 'genisoimage';
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  async writeConfigDrive(file: string, label: string, files: readonly GuestFile[]): Promise<void> {
    const target = this.#inside(file, 'create');
    const dir = path.dirname(target);
    await mkdir(dir, { recursive: true });
    const staging = await mkdtemp(path.join(dir, '.config-drive-'));
    try {
      for (const f of files) {
        const to = path.resolve(staging, f.path);
        if (path.relative(staging, to).startsWith('..')) {
          throw diskFailure('create', target, `the file ${f.path} would lie outside the drive`);
        }
        await mkdir(path.dirname(to), { recursive: true });
        await writeFile(to, Buffer.from(f.content, f.encoding));
      }
      const partial = `${target}.part`;
      // NOTE: the options Nova's config drive builder passes (Rock Ridge and Joliet names).
      const args = [
        ...['-o', partial, '-ldots', '-allow-lowercase', '-allow-multidot', '-l'],
        ...['-publisher', 'vpmu', '-quiet', '-J', '-r', '-V', label, staging],
      ];
      await new Promise<void>((resolve, reject) => {
        execFile(
          this.#genisoimage,
          args,
          { timeout: this.#timeoutMs, killSignal: 'SIGKILL' },
          (error, _stdout, stderr) => {
            if (error === null) {
              resolve();
              return;
            }
            const why =
              (error as NodeJS.ErrnoException).code === 'ENOENT'
                ? `${this.#genisoimage} is not installed (apt-get install genisoimage)`
                : `${this.#genisoimage} failed: ${stderr.trim() || error.message}`;
            reject(diskFailure('create', target, why));
          },
        );
      });
      await rename(partial, target);
    } finally {
      await rm(staging, { recursive: true, force: true });
      await rm(`${target}.part`, { force: true });
    }
  }

  async readConsoleLog(file: string, lines: number | undefined): Promise<string> {
    const target = this.#inside(file, 'read');
    let handle;
    try {
      handle = await open(target, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw diskFailure('read', target, String(error));
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, MAX_CONSOLE_BYTES);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return lastLines(buffer.toString('utf8'), lines);
    } finally {
      await handle.close();
    }
  }

  #inside(file: string, operation: string): string {
    const resolved = path.resolve(file);
    const relative = path.relative(this.#root, resolved);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
      throw diskFailure(operation, resolved, `it is outside the instance directory ${this.#root}`);
    }
    return resolved;
  }
}
