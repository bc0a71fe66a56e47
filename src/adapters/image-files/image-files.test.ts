import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { imageFilesContract } from '../../ports/image-files.contract.js';
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

  it('finds nothing to sweep in a directory that does not exist yet', async () => {
    assert.deepEqual(await new FsImageFiles(path.join(dir, 'absent')).sweep(new Set()), []);
  });
});
