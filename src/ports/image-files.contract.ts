/** Behaviour every ImageFiles adapter shares. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageFiles } from './image-files.js';

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    await Promise.resolve();
    yield new TextEncoder().encode(part);
  }
}

async function* failing(): AsyncIterable<Uint8Array> {
  yield new TextEncoder().encode('partial');
  throw new Error('client went away');
}

async function readAll(source: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts).toString('utf8');
}

/** Runs the ImageFiles contract against adapters made by `make`. */
export function imageFilesContract(name: string, make: () => Promise<ImageFiles>): void {
  describe(`ImageFiles contract: ${name}`, () => {
    it('writes, reads back and deletes data', async () => {
      const files = await make();
      const stored = await files.write('img-1', chunks('hello ', 'world'));
      assert.equal(stored.size, 11);
      assert.equal(await readAll(files.read(stored.location)), 'hello world');
      await files.delete(stored.location);
      await assert.rejects(readAll(files.read(stored.location)), { code: 'ENOENT' });
      await files.delete(stored.location);
    });

    it('sweeps data no image refers to, keeping what is listed', async () => {
      const files = await make();
      const kept = await files.write('img-keep', chunks('keep'));
      const stray = await files.write('img-stray', chunks('stray'));
      assert.deepEqual(await files.sweep(new Set([kept.location])), [stray.location]);
      assert.equal(await readAll(files.read(kept.location)), 'keep');
      await assert.rejects(readAll(files.read(stray.location)), { code: 'ENOENT' });
      assert.deepEqual(await files.sweep(new Set([kept.location])), []);
    });

    it('leaves nothing behind when the source fails', async () => {
      const files = await make();
      const before = await files.write('img-2', chunks('old'));
      await assert.rejects(files.write('img-2', failing()), /client went away/u);
      assert.equal(await readAll(files.read(before.location)), 'old');
    });
  });
}
