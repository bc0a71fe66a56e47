import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ComputeError } from '../../errors/index.js';
import { RUN_TIMEOUT_MS } from '../../testing/processes.js';
import { scratchDir } from '../../testing/scratch.js';
import { requireQemuImg } from '../../testing/tools.js';
import { Qcow2Disks } from './qcow2-disks.js';

const skip = requireQemuImg();
const scratch = scratchDir('vpmu-disks-');
const root = path.join(scratch, 'instances');

function info(file: string): {
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
} {
  return JSON.parse(
    execFileSync('qemu-img', ['info', '--output=json', file], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    }),
  ) as {
    format: string;
    'virtual-size': number;
    'backing-filename'?: string;
  };
}

async function failure(promise: Promise<unknown>): Promise<ComputeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ComputeError, String(error));
    assert.equal(error.code, 'disk.operation_failed');
    return error;
  }
  assert.fail('expected a rejection');
}

describe('Qcow2Disks', { skip }, () => {
  const disks = new Qcow2Disks({ instanceRoot: root });

  it('creates a blank qcow2 of the flavor size and removes it with its directory', async () => {
    const file = path.join(root, 'a', 'disk');
    await disks.create({ path: file, sizeGiB: 1 });
    assert.deepEqual([info(file).format, info(file)['virtual-size']], ['qcow2', 1024 ** 3]);
    await disks.remove(path.join(root, 'a'));
    assert.equal(existsSync(path.join(root, 'a')), false);
    await disks.remove(path.join(root, 'a')); // a second removal is fine
  });

  it('creates an overlay backed by the image file, at least as large as the image', async () => {
    const image = path.join(scratch, 'image.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '2G'], {
      timeout: RUN_TIMEOUT_MS,
    });
    const file = path.join(root, 'b', 'disk');
    await disks.create({ path: file, sizeGiB: 1, backingFile: image });
    const overlay = info(file);
    assert.equal(overlay['backing-filename'], path.join(root, 'b', 'base'));
    assert.equal(overlay['virtual-size'], 2 * 1024 ** 3);
    const bigger = path.join(root, 'c', 'disk');
    await disks.create({ path: bigger, sizeGiB: 3, backingFile: image });
    assert.equal(info(bigger)['virtual-size'], 3 * 1024 ** 3);
  });

  it('exports a disk, its backing chain flattened, as qcow2 image data, leaving no copy behind', async () => {
    const disks = new Qcow2Disks({ instanceRoot: root });
    const image = path.join(scratch, 'export-base.raw');
    writeFileSync(image, Buffer.alloc(1024 * 1024, 7));
    const file = path.join(root, 'export', 'disk');
    await disks.create({ path: file, sizeGiB: 1, backingFile: image });
    const exported = disks.export(file);
    assert.equal(exported.diskFormat, 'qcow2');
    const chunks: Uint8Array[] = [];
    for await (const chunk of exported.data) chunks.push(chunk);
    const out = path.join(scratch, 'exported.qcow2');
    writeFileSync(out, Buffer.concat(chunks));
    const read = info(out);
    assert.equal(read.format, 'qcow2');
    assert.equal(read['backing-filename'], undefined, 'flattened');
    // The disk and its own link to the image data stay; no snapshot copy is left behind.
    assert.deepEqual(readdirSync(path.join(root, 'export')).sort(), ['base', 'disk']);
    const missing = disks.export(path.join(root, 'nope', 'disk')).data[Symbol.asyncIterator]();
    await assert.rejects(missing.next(), /Cannot snapshot disk/u);
  });

  it('refuses bad requests with the file and the reason', async () => {
    const missing = await failure(
      disks.create({
        path: path.join(root, 'd', 'disk'),
        sizeGiB: 1,
        backingFile: path.join(scratch, 'nope.img'),
      }),
    );
    assert.match(
      missing.message,
      /^Cannot create disk .*nope\.img: the image file does not exist$/u,
    );
    const zero = await failure(disks.create({ path: path.join(root, 'e', 'disk'), sizeGiB: 0 }));
    assert.match(zero.message, /needs a size above 0 GiB/u);
    const outside = await failure(
      disks.create({ path: path.join(scratch, 'elsewhere'), sizeGiB: 1 }),
    );
    assert.match(outside.message, /outside the instance directory/u);
    const rootItself = await failure(disks.remove(root));
    assert.match(rootItself.message, /refusing to remove the instance root/u);
    await disks.create({ path: path.join(root, 'f', 'disk'), sizeGiB: 1 });
    const twice = await failure(disks.create({ path: path.join(root, 'f', 'disk'), sizeGiB: 1 }));
    assert.match(twice.message, /already exists/u);
  });

  it('reports a missing qemu-img, needed to read a backing image, as what to install', async () => {
    const broken = new Qcow2Disks({ instanceRoot: root, qemuImg: 'vpmu-no-such-qemu-img' });
    const image = path.join(scratch, 'unread.raw');
    writeFileSync(image, Buffer.alloc(1024 * 1024));
    const error = await failure(
      broken.create({ path: path.join(root, 'g', 'disk'), sizeGiB: 1, backingFile: image }),
    );
    assert.match(
      error.message,
      /vpmu-no-such-qemu-img is not installed \(apt-get install qemu-utils\)/u,
    );
  });
});

describe('Qcow2Disks image info cache', { skip }, () => {
  it('asks qemu-img about a backing image once, and again after the image changes', async () => {
    const log = path.join(scratch, 'qemu-img-calls.log');
    const wrapper = path.join(scratch, 'counting-qemu-img');
    writeFileSync(wrapper, `#!/bin/sh\necho "$1" >> '${log}'\nexec qemu-img "$@"\n`);
    chmodSync(wrapper, 0o755);
    const image = path.join(scratch, 'cached.raw');
    writeFileSync(image, Buffer.alloc(1024 * 1024));
    const disks = new Qcow2Disks({ instanceRoot: root, qemuImg: wrapper });
    for (const name of ['c1', 'c2', 'c3']) {
      await disks.create({ path: path.join(root, name, 'disk'), sizeGiB: 0, backingFile: image });
    }
    writeFileSync(image, Buffer.alloc(2 * 1024 * 1024));
    await disks.create({ path: path.join(root, 'c4', 'disk'), sizeGiB: 0, backingFile: image });
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    // One inspection (one `info`) per version of the image; never `create`: vpmu writes the qcow2
    // itself.
    assert.deepEqual(calls, ['info', 'info']);
    assert.equal(info(path.join(root, 'c4', 'disk'))['virtual-size'], 2 * 1024 * 1024);
  });
});
