/**
 * Qcow2Disks and the image data a disk holds (docs/hypervisor.md, "Root disks and image data"):
 * the base is a hard link to the image file (a copy across filesystems), the overlay is backed on
 * it, deleting the image loses nothing, the link count is the reference count, and crashes and
 * races leave nothing half-made. Held to the real qemu-img.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ComputeError } from '../../errors/index.js';
import { RUN_TIMEOUT_MS } from '../../testing/processes.js';
import { scratchDir } from '../../testing/scratch.js';
import { requireQemuImg } from '../../testing/tools.js';
import { Qcow2Disks } from './qcow2-disks.js';

const skip = requireQemuImg();
const scratch = scratchDir('vpmu-image-data-');

interface ChainLink {
  filename: string;
  format: string;
  'backing-filename'?: string;
}

/** `qemu-img info --backing-chain` of a disk: fails when any file of the chain is missing. */
function chain(file: string): ChainLink[] {
  return JSON.parse(
    execFileSync('qemu-img', ['info', '--backing-chain', '--output=json', file], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    }),
  ) as ChainLink[];
}

function qemuImgCheck(file: string): void {
  execFileSync('qemu-img', ['check', '-q', file], { timeout: RUN_TIMEOUT_MS });
}

/** A fresh instance root and a 64 MiB qcow2 image holding a recognisable first cluster. */
function setting(imagesDir?: string): { disks: Qcow2Disks; root: string; image: string } {
  const dir = mkdtempSync(path.join(scratch, 'x-'));
  const images = imagesDir ?? path.join(dir, 'images');
  mkdirSync(images, { recursive: true });
  const image = path.join(images, 'cirros');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M'], {
    timeout: RUN_TIMEOUT_MS,
  });
  execFileSync('qemu-io', ['-c', 'write -P 0x5a 0 64k', image], { timeout: RUN_TIMEOUT_MS });
  const root = path.join(dir, 'instances');
  return { disks: new Qcow2Disks({ instanceRoot: root }), root, image };
}

/** Reads the first 64 KiB the guest would see through the disk's whole chain. */
function guestBytes(disk: string): Buffer {
  const out = path.join(path.dirname(disk), '..', `${path.basename(path.dirname(disk))}.raw`);
  execFileSync(
    'qemu-img',
    ['dd', '-f', 'qcow2', '-O', 'raw', 'bs=65536', 'count=1', `if=${disk}`, `of=${out}`],
    {
      timeout: RUN_TIMEOUT_MS,
    },
  );
  const bytes = readFileSync(out);
  rmSync(out);
  return bytes.subarray(0, 65536);
}

const UUIDS = Array.from(
  { length: 8 },
  (_, n) => `${String(n).repeat(8)}-0000-4000-8000-${String(n).repeat(12)}`,
);

describe('Qcow2Disks image data', { skip }, () => {
  it('links the image into the instance directory; deleting the image loses nothing', async () => {
    const { disks, root, image } = setting();
    const made = UUIDS.slice(0, 3).map((id) => path.join(root, id, 'disk'));
    for (const disk of made) await disks.create({ path: disk, sizeGiB: 1, backingFile: image });
    const imageStats = statSync(image);
    assert.equal(imageStats.nlink, 4, 'the image file and three bases');
    for (const disk of made) {
      const base = path.join(path.dirname(disk), 'base');
      assert.equal(statSync(base).ino, imageStats.ino, 'a hard link, not a copy');
      assert.deepEqual(
        chain(disk).map((c) => [c.filename, c.format, c['backing-filename']]),
        [
          [disk, 'qcow2', base],
          [base, 'qcow2', undefined],
        ],
      );
    }
    await unlink(image);
    for (const disk of made) {
      qemuImgCheck(disk);
      assert.equal(chain(disk).length, 2);
      assert.equal(guestBytes(disk)[0], 0x5a, 'the guest still reads the image data');
      assert.equal(await disks.backing(disk), path.join(path.dirname(disk), 'base'));
    }
    await disks.remove(path.dirname(made[0] ?? ''));
    await disks.remove(path.dirname(made[1] ?? ''));
    const last = path.join(path.dirname(made[2] ?? ''), 'base');
    assert.equal(statSync(last).nlink, 1, 'the last disk holds the last link');
    await disks.remove(path.dirname(made[2] ?? ''));
    assert.deepEqual(readdirSync(root), [], 'nothing is left once the last disk is removed');
  });

  it('builds concurrently on one image while the image is deleted: each disk whole or absent', async () => {
    const { disks, root, image } = setting();
    const ino = statSync(image).ino;
    const builds = UUIDS.map((id) =>
      disks.create({ path: path.join(root, id, 'disk'), sizeGiB: 0, backingFile: image }),
    );
    // The delete lands while the other builds are somewhere between their checks and their link.
    const outcomes = await Promise.allSettled([...builds, builds[0]?.then(() => unlink(image))]);
    const built = UUIDS.filter((_, n) => outcomes[n]?.status === 'fulfilled');
    for (const [n, outcome] of outcomes.slice(0, UUIDS.length).entries()) {
      const dir = path.join(root, UUIDS[n] ?? '');
      if (outcome.status === 'fulfilled') {
        qemuImgCheck(path.join(dir, 'disk'));
        assert.equal(statSync(path.join(dir, 'base')).ino, ino);
        continue;
      }
      const error: unknown = outcome.reason;
      assert.ok(error instanceof ComputeError, String(error));
      assert.match(error.message, /the image file does not exist$/u);
      assert.equal(existsSync(dir), false, `a failed build leaves no ${dir}`);
    }
    assert.ok(built.length >= 1, 'the first build finished before the delete');
    assert.equal(statSync(path.join(root, built[0] ?? '', 'base')).nlink, built.length);
    for (const id of built) await disks.remove(path.join(root, id));
    assert.deepEqual(readdirSync(root), []);
  });

  it('copies the image where it cannot link it (another filesystem), and syncs the copy', async (t) => {
    const shm = '/dev/shm';
    if (!existsSync(shm) || statSync(shm).dev === statSync(scratch).dev) {
      t.skip('no second filesystem at /dev/shm');
      return;
    }
    const images = mkdtempSync(path.join(shm, 'vpmu-image-data-'));
    after(() => {
      rmSync(images, { recursive: true, force: true });
    });
    const { disks, root, image } = setting(images);
    const disk = path.join(root, UUIDS[0] ?? '', 'disk');
    await disks.create({ path: disk, sizeGiB: 0, backingFile: image });
    const base = path.join(root, UUIDS[0] ?? '', 'base');
    assert.notEqual(statSync(base).ino, statSync(image).ino);
    assert.equal(statSync(image).nlink, 1);
    await unlink(image);
    qemuImgCheck(disk);
    assert.equal(guestBytes(disk)[0], 0x5a);
    await disks.remove(path.dirname(disk));
    assert.deepEqual(readdirSync(root), []);
  });

  it('after a crash: a half-taken base is swept, a base without its disk is taken again', async () => {
    const { disks, root, image } = setting();
    const dir = path.join(root, UUIDS[1] ?? '');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '.base-0123456789ab.tmp'), 'half a copy');
    writeFileSync(path.join(dir, 'base'), 'a base whose disk was never written');
    await disks.create({ path: path.join(dir, 'disk'), sizeGiB: 0, backingFile: image });
    assert.equal(statSync(path.join(dir, 'base')).ino, statSync(image).ino);
    qemuImgCheck(path.join(dir, 'disk'));
    assert.deepEqual(await disks.sweep(new Set([UUIDS[1] ?? ''])), [
      path.join(dir, '.base-0123456789ab.tmp'),
    ]);
    assert.deepEqual(readdirSync(dir).sort(), ['base', 'disk']);
  });

  it('never replaces the base of a disk that exists, and names the image it refuses', async () => {
    const { disks, root, image } = setting();
    const dir = path.join(root, UUIDS[2] ?? '');
    await disks.create({ path: path.join(dir, 'disk'), sizeGiB: 0, backingFile: image });
    const other = path.join(path.dirname(image), 'other');
    writeFileSync(other, Buffer.alloc(1024 * 1024));
    await assert.rejects(
      disks.create({ path: path.join(dir, 'disk'), sizeGiB: 0, backingFile: other }),
      /the file already exists$/u,
    );
    assert.equal(statSync(path.join(dir, 'base')).ino, statSync(image).ino);
    const wrong = path.join(root, UUIDS[3] ?? '', 'disk');
    await assert.rejects(
      disks.create({ path: wrong, sizeGiB: 1, backingFile: other, backingFormat: 'qcow2' }),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.code === 'image.invalid_data' &&
        error.message.startsWith('Cannot build a disk on image other: '),
    );
    assert.equal(existsSync(path.dirname(wrong)), false, 'a refused image leaves no directory');
    assert.equal(statSync(other).nlink, 1);
  });

  it('takes the file a symbolic link names, never the link itself', async () => {
    const { disks, root, image } = setting();
    const alias = path.join(path.dirname(image), 'alias');
    symlinkSync('cirros', alias);
    const dir = path.join(root, UUIDS[5] ?? '');
    await disks.create({ path: path.join(dir, 'disk'), sizeGiB: 0, backingFile: alias });
    const base = lstatSync(path.join(dir, 'base'));
    assert.deepEqual([base.isFile(), base.ino], [true, statSync(image).ino]);
    await unlink(image);
    qemuImgCheck(path.join(dir, 'disk'));
    assert.deepEqual(readdirSync(dir).sort(), ['base', 'disk']);
  });

  it('backing() names a missing backing file', async () => {
    const { disks, root, image } = setting();
    const dir = path.join(root, UUIDS[4] ?? '');
    await disks.create({ path: path.join(dir, 'disk'), sizeGiB: 0, backingFile: image });
    await unlink(path.join(dir, 'base'));
    await assert.rejects(
      disks.backing(path.join(dir, 'disk')),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.message ===
          `Cannot read disk ${path.join(dir, 'disk')}: its backing file ${path.join(dir, 'base')} is missing`,
    );
  });
});
