import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { imageFilesContract } from '../../ports/image-files.contract.js';
import { FsImageFiles } from './fs-image-files.js';
import { MemoryImageFiles } from './memory-image-files.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-images-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

imageFilesContract('MemoryImageFiles', async () => new MemoryImageFiles());
imageFilesContract('FsImageFiles', async () => new FsImageFiles(mkdtempSync(path.join(dir, 'x-'))));
