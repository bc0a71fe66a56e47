/** Image data as files under a directory: `<dir>/<image id>`, written to a temporary name first. */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageFiles, StoredData } from '../../ports/image-files.js';

/** Keeps one file per image in `dir`; the location is the file name. */
export class FsImageFiles implements ImageFiles {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async write(imageId: string, chunks: AsyncIterable<Uint8Array>): Promise<StoredData> {
    if (!/^[A-Za-z0-9-]+$/u.test(imageId)) {
      throw new RangeError(`Cannot store data for image id "${imageId}": unsafe file name`);
    }
    await mkdir(this.#dir, { recursive: true });
    const final = path.join(this.#dir, imageId);
    // A unique temporary name: concurrent writers never share a file.
    const partial = `${final}.${randomUUID()}.partial`;
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
      await pipeline(counted, createWriteStream(partial, { mode: 0o600 }));
      await rename(partial, final);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return { location: imageId, size };
  }

  async *read(location: string): AsyncIterable<Uint8Array> {
    for await (const chunk of createReadStream(this.#file(location))) yield chunk as Uint8Array;
  }

  async delete(location: string): Promise<void> {
    await rm(this.#file(location), { force: true });
  }

  #file(location: string): string {
    if (!/^[A-Za-z0-9-]+$/u.test(location)) {
      throw new RangeError(`Cannot open image data "${location}": unsafe file name`);
    }
    return path.join(this.#dir, location);
  }
}
