/** Image data as files under a directory: `<dir>/<image id>`, written to a temporary name first. */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ComputeError } from '../../errors/index.js';
import type { ImageFiles, StoredData } from '../../ports/image-files.js';

/** Options of the file adapter. */
export interface FsImageFilesOptions {
  /** Opens the temporary file an upload is written to. @default node:fs createWriteStream, mode 0600 */
  readonly openWrite?: (file: string) => Writable;
}

const PARTIAL = /^[A-Za-z0-9-]+\.[0-9a-f-]{36}\.partial$/u;

/** Keeps one file per image in `dir`; the location is the file name. */
export class FsImageFiles implements ImageFiles {
  readonly #dir: string;
  readonly #openWrite: (file: string) => Writable;
  /** The `.partial` files this process is writing now. */
  readonly #writing = new Set<string>();

  constructor(dir: string, options: FsImageFilesOptions = {}) {
    this.#dir = dir;
    this.#openWrite = options.openWrite ?? ((file) => createWriteStream(file, { mode: 0o600 }));
  }

  async write(imageId: string, chunks: AsyncIterable<Uint8Array>): Promise<StoredData> {
    if (!/^[A-Za-z0-9-]+$/u.test(imageId)) {
      throw new RangeError(`Cannot store data for image id "${imageId}": unsafe file name`);
    }
    const final = path.join(this.#dir, imageId);
    // A unique temporary name: concurrent writers never share a file.
    const partial = `${final}.${randomUUID()}.partial`;
    this.#writing.add(path.basename(partial));
    let size = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of chunks) {
          size += chunk.byteLength;
          yield chunk;
        }
      })(),
    );
    try {
      await mkdir(this.#dir, { recursive: true });
      await pipeline(counted, this.#openWrite(partial));
      await rename(partial, final);
    } catch (error) {
      await rm(partial, { force: true }).catch(() => undefined);
      throw storageError(error, imageId);
    } finally {
      this.#writing.delete(path.basename(partial));
    }
    return { location: imageId, size };
  }

  async *read(location: string): AsyncIterable<Uint8Array> {
    for await (const chunk of createReadStream(this.#file(location))) yield chunk as Uint8Array;
  }

  async delete(location: string): Promise<void> {
    await rm(this.#file(location), { force: true });
  }

  /**
   * Removes what a crash can leave: `<id>.<uuid>.partial` files of interrupted uploads, and data
   * files no image refers to (`keep` holds the locations that images do refer to). Run at start,
   * before any upload; returns the names removed.
   */
  async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    return this.#removeWhere(
      (name) => PARTIAL.test(name) || (/^[A-Za-z0-9-]+$/u.test(name) && !keep.has(name)),
    );
  }

  /**
   * Removes the `.partial` files of uploads that no write of this process is making: safe at any
   * time (unlike sweep(), whose `keep` may be stale by the time it runs); run periodically.
   */
  async sweepPartials(): Promise<string[]> {
    return this.#removeWhere((name) => PARTIAL.test(name) && !this.#writing.has(name));
  }

  /** Removes the files of the data directory that `stray` picks; returns their names, sorted. */
  async #removeWhere(stray: (name: string) => boolean): Promise<string[]> {
    const names = (await this.#names()).filter(stray);
    await Promise.all(names.map((name) => rm(path.join(this.#dir, name), { force: true })));
    return names.sort();
  }

  /** The files in the data directory; none when it does not exist yet. */
  async #names(): Promise<string[]> {
    return readdir(this.#dir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
  }

  #file(location: string): string {
    if (!/^[A-Za-z0-9-]+$/u.test(location)) {
      throw new RangeError(`Cannot open image data "${location}": unsafe file name`);
    }
    return path.join(this.#dir, location);
  }
}

/**
 * A full or read-only disk as Glance reports it (StorageFull: 413, StorageWriteDenied: 503),
 * naming the image but not the host path; anything else (a failing source) unchanged.
 */
function storageError(error: unknown, imageId: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    // NOTE: Glance wording (glance/api/v2/image_data.py).
    return new ComputeError(
      'image.over_limit',
      `Image storage media is full: there is no room for the data of image ${imageId}. The image stays queued with no data.`,
    );
  }
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new ComputeError(
      'image.storage_unavailable',
      `Insufficient permissions on image storage media: the data of image ${imageId} cannot be written (${code}). The image stays queued with no data.`,
    );
  }
  return error;
}
