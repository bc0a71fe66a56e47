/** Image data in memory, for tests. */
import type { ImageFiles, StoredData } from '../../ports/image-files.js';

/** Keeps each image's bytes in a map keyed by image id. */
export class MemoryImageFiles implements ImageFiles {
  readonly #data = new Map<string, Uint8Array>();

  async write(imageId: string, chunks: AsyncIterable<Uint8Array>): Promise<StoredData> {
    const parts: Uint8Array[] = [];
    for await (const chunk of chunks) parts.push(chunk);
    const data = Buffer.concat(parts);
    this.#data.set(imageId, data);
    return { location: imageId, size: data.byteLength };
  }

  async *read(location: string): AsyncIterable<Uint8Array> {
    const data = this.#data.get(location);
    if (data === undefined) {
      throw Object.assign(new Error(`Cannot read image data "${location}": nothing stored`), {
        code: 'ENOENT',
      });
    }
    yield data;
  }

  async delete(location: string): Promise<void> {
    this.#data.delete(location);
  }

  async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    const stray = [...this.#data.keys()].filter((location) => !keep.has(location)).sort();
    for (const location of stray) this.#data.delete(location);
    return stray;
  }
}
