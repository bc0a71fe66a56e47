import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { imageInspectorContract, type CraftedImage } from '../../ports/image-inspector.contract.js';
import {
  craftIn,
  craftOversizeQcow2,
  craftQcow2,
  craftQcow2WithBacking,
  craftQcow2WithDataFile,
  craftRaw,
  craftVmdkDescriptor,
  craftVmdkMonolithicFlat,
  craftVmdkSparse,
} from '../../testing/crafted-images.js';
import { scratchDir } from '../../testing/scratch.js';
import { requireQemuImg } from '../../testing/tools.js';
import { inspectImageFile, QemuImgInspector } from './qemu-img-inspector.js';

const skip = requireQemuImg();
const dir = scratchDir('vpmu-inspect-');
let n = 0;

function craft(image: CraftedImage, virtualSize: number | undefined): string {
  return craftIn(dir, (scratch) => {
    switch (image) {
      case 'qcow2':
        return craftQcow2(scratch);
      case 'raw':
        return craftRaw(scratch);
      case 'qcow2WithBacking':
        return craftQcow2WithBacking(scratch);
      case 'qcow2WithDataFile':
        return craftQcow2WithDataFile(scratch);
      case 'vmdkDescriptor':
        return craftVmdkDescriptor(scratch);
      case 'vmdkMonolithicFlat':
        return craftVmdkMonolithicFlat(scratch);
      case 'vmdkSparse':
        return craftVmdkSparse(scratch);
      case 'oversizeQcow2':
        return craftOversizeQcow2(scratch, virtualSize);
    }
  });
}

imageInspectorContract(
  'QemuImgInspector',
  async () => {
    const images = mkdtempSync(path.join(dir, 'images-'));
    const maxVirtualSize = 1024 ** 3;
    return {
      inspector: new QemuImgInspector((location) => path.join(images, location), {
        maxVirtualSize,
      }),
      maxVirtualSize,
      store: async (image, virtualSize) => {
        const location = `image-${++n}`;
        copyFileSync(craft(image, virtualSize), path.join(images, location));
        return location;
      },
    };
  },
  { skip },
);

describe('inspectImageFile()', { skip }, () => {
  it('refuses a backing file from the header, before qemu-img opens anything, whatever is declared', async () => {
    const file = craftIn(dir, craftQcow2WithBacking);
    for (const declared of ['vmdk', 'raw', undefined]) {
      assert.deepEqual(await inspectImageFile(file, declared, { maxVirtualSize: 1024 ** 4 }), {
        ok: false,
        reason: 'it is a qcow2 image with a backing file',
      });
    }
  });

  it('reports the probed format when none is declared', async () => {
    const file = craftIn(dir, craftRaw);
    assert.deepEqual(await inspectImageFile(file, undefined, { maxVirtualSize: 1024 ** 4 }), {
      ok: true,
      format: 'raw',
      virtualSize: 64 * 1024,
    });
  });

  it('kills a qemu-img that runs past its wall-clock limit and refuses the image', async () => {
    const slow = path.join(dir, 'slow-qemu-img');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const file = craftIn(dir, craftRaw);
    const started = Date.now();
    const outcome = await inspectImageFile(file, 'raw', {
      maxVirtualSize: 1024 ** 4,
      qemuImg: slow,
      timeoutMs: 500,
    });
    assert.deepEqual(outcome, {
      ok: false,
      reason: 'it is not a readable disk image (qemu-img info exceeded its limits (SIGKILL))',
    });
    assert.ok(Date.now() - started < 20_000, 'killed, not waited for');
  });

  it('says what to install when qemu-img is missing', async () => {
    const file = craftIn(dir, craftRaw);
    await assert.rejects(
      inspectImageFile(file, 'raw', { maxVirtualSize: 1024 ** 4, qemuImg: 'vpmu-no-qemu-img' }),
      /vpmu-no-qemu-img is not installed \(apt-get install qemu-utils\)/u,
    );
  });
});
