import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { imageFilesContract } from '../../ports/image-files.contract.js';
import { pollUntil } from '../../testing/processes.js';
import { FsImageFiles } from './fs-image-files.js';
import { MemoryImageFiles } from './memory-image-files.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-images-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

imageFilesContract('MemoryImageFiles', async () => new MemoryImageFiles());
imageFilesContract('FsImageFiles', async () => new FsImageFiles(mkdtempSync(path.join(dir, 'x-'))));

describe('FsImageFiles.sweep()', () => {
  it('removes the .partial files of uploads a crash interrupted, and nothing it does not own', async () => {
    const images = mkdtempSync(path.join(dir, 's-'));
    const id = '0b5d7c1e-8a9f-4c2d-9e3b-6f1a2b3c4d5e';
    const partial = `${id}.6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d.partial`;
    writeFileSync(path.join(images, id), 'kept data');
    writeFileSync(path.join(images, partial), 'half an upload');
    writeFileSync(path.join(images, 'README.txt'), 'not an image file');
    const files = new FsImageFiles(images);
    assert.deepEqual(await files.sweep(new Set([id])), [partial]);
    assert.deepEqual(readdirSync(images).sort(), ['README.txt', id].sort());
  });

  it('sweepPartials() removes interrupted uploads but never one this process is writing', async () => {
    const images = mkdtempSync(path.join(dir, 'p-'));
    const stale =
      '0b5d7c1e-8a9f-4c2d-9e3b-6f1a2b3c4d5e.6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d.partial';
    writeFileSync(path.join(images, stale), 'half an upload from before a crash');
    const files = new FsImageFiles(images);
    const gate: { open?: () => void } = {};
    const held = new Promise<void>((resolve) => {
      gate.open = resolve;
    });
    const writing = files.write(
      'abc',
      (async function* () {
        yield new Uint8Array([1, 2, 3]);
        await held; // the upload is still under way while the sweep runs
        yield new Uint8Array([4]);
      })(),
    );
    await pollUntil(
      'the upload has its .partial file',
      () => readdirSync(images),
      (names) => names.some((name) => name.startsWith('abc.')),
    );
    assert.deepEqual(await files.sweepPartials(), [stale]);
    gate.open?.();
    assert.deepEqual(await writing, { location: 'abc', size: 4 });
    assert.deepEqual(readdirSync(images), ['abc']);
  });

  it('finds nothing to sweep in a directory that does not exist yet', async () => {
    assert.deepEqual(await new FsImageFiles(path.join(dir, 'absent')).sweep(new Set()), []);
  });
});
