/** Behaviour every InstanceDisks adapter shares: the qcow2 files on disk and the in-memory fake. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import { BASE_NAME, type InstanceDisks } from './instance-disks.js';

/** An adapter under test, with its instance directory and one image file it can back disks on. */
export interface DisksUnderTest {
  readonly disks: InstanceDisks;
  /** The instance directory the adapter was made for (absolute). */
  readonly root: string;
  /** An image file outside `root` that exists. */
  readonly image: string;
  /** Deletes `image`, as an image delete does. */
  readonly deleteImage: () => Promise<void>;
  /** Makes a disk as vpmu did before disks kept their image data: an overlay on `image` itself. */
  readonly makeLegacyDisk: (path: string) => Promise<void>;
}

const UUID_A = '0a6c7b52-4d4b-4c0e-9c36-6a1f2b3c4d5e';
const UUID_B = '1b7d8c63-5e5c-4d1f-8d47-7b2a3c4d5e6f';

/** A `disk.operation_failed` whose message names `file` and matches `reason`. */
function diskFailure(file: string, reason: RegExp): (err: unknown) => boolean {
  return (err) =>
    err instanceof ComputeError &&
    err.code === 'disk.operation_failed' &&
    err.message.includes(file) &&
    reason.test(err.message);
}

/** Runs the InstanceDisks contract against adapters made by `make` (a fresh one per test). */
export function instanceDisksContract(name: string, make: () => Promise<DisksUnderTest>): void {
  describe(`InstanceDisks contract: ${name}`, () => {
    it('creates a blank disk and its directory; remove takes the directory, once', async () => {
      const { disks, root } = await make();
      const disk = path.join(root, 'a', 'disk');
      await disks.create({ path: disk, sizeGiB: 1 });
      assert.equal(await disks.exists(disk), true);
      assert.equal(await disks.remove(path.join(root, 'a')), true);
      assert.equal(await disks.exists(disk), false);
      assert.equal(await disks.remove(path.join(root, 'a')), false);
    });

    it('creates an overlay on an image file, and removing the instance leaves the image', async () => {
      const { disks, root, image } = await make();
      const disk = path.join(root, 'b', 'disk');
      await disks.create({ path: disk, sizeGiB: 0, backingFile: image });
      assert.equal(await disks.exists(disk), true);
      assert.equal(await disks.remove(path.join(root, 'b')), true);
      assert.equal(await disks.exists(image), true);
    });

    it('refuses to create over an existing disk, and keeps that disk', async () => {
      const { disks, root } = await make();
      const disk = path.join(root, 'c', 'disk');
      await disks.create({ path: disk, sizeGiB: 1 });
      await assert.rejects(
        disks.create({ path: disk, sizeGiB: 2 }),
        diskFailure(disk, /^Cannot create disk \S+: the file already exists$/u),
      );
      assert.equal(await disks.exists(disk), true);
    });

    it('refuses an image file that does not exist, and creates nothing', async () => {
      const { disks, root, image } = await make();
      const missing = path.join(path.dirname(image), 'missing.img');
      const disk = path.join(root, 'd', 'disk');
      await assert.rejects(
        disks.create({ path: disk, sizeGiB: 1, backingFile: missing }),
        diskFailure(missing, /the image file does not exist$/u),
      );
      assert.equal(await disks.exists(disk), false);
      assert.equal(await disks.remove(path.join(root, 'd')), false);
    });

    it('refuses a size that is not a whole number of GiB, and a blank disk of 0 GiB', async () => {
      const { disks, root } = await make();
      const disk = path.join(root, 'e', 'disk');
      for (const sizeGiB of [-1, 1.5, Number.NaN]) {
        await assert.rejects(
          disks.create({ path: disk, sizeGiB }),
          diskFailure(disk, /the size must be a whole number of GiB, not /u),
          String(sizeGiB),
        );
      }
      await assert.rejects(
        disks.create({ path: disk, sizeGiB: 0 }),
        diskFailure(disk, /a blank disk needs a size above 0 GiB/u),
      );
      assert.equal(await disks.exists(disk), false);
      assert.equal(await disks.remove(path.join(root, 'e')), false);
    });

    it('refuses paths outside its instance directory, and removing the directory itself', async () => {
      const { disks, root, image } = await make();
      const outside = path.join(path.dirname(image), 'elsewhere', 'disk');
      await assert.rejects(
        disks.create({ path: outside, sizeGiB: 1 }),
        diskFailure(outside, /it is outside the instance directory/u),
      );
      await assert.rejects(
        disks.create({ path: path.join(root, '..', 'escape', 'disk'), sizeGiB: 1 }),
        diskFailure('escape', /it is outside the instance directory/u),
      );
      await assert.rejects(
        disks.remove(path.dirname(image)),
        diskFailure(path.dirname(image), /it is outside the instance directory/u),
      );
      await assert.rejects(
        disks.remove(root),
        diskFailure(root, /refusing to remove the instance root itself/u),
      );
      assert.equal(await disks.exists(image), true);
      assert.equal(await disks.exists(outside), false);
    });

    it('a disk on an image keeps its data when the image file is deleted, in its own directory', async () => {
      const { disks, root, image, deleteImage } = await make();
      const first = path.join(root, 'g', 'disk');
      const second = path.join(root, 'h', 'disk');
      await Promise.all([
        disks.create({ path: first, sizeGiB: 0, backingFile: image }),
        disks.create({ path: second, sizeGiB: 1, backingFile: image }),
      ]);
      for (const disk of [first, second]) {
        const backing = await disks.backing(disk);
        assert.equal(backing, path.join(path.dirname(disk), BASE_NAME));
      }
      await deleteImage();
      assert.equal(await disks.exists(image), false);
      assert.equal(await disks.backing(first), path.join(root, 'g', BASE_NAME));
      assert.equal(await disks.remove(path.join(root, 'g')), true);
      assert.equal(await disks.backing(second), path.join(root, 'h', BASE_NAME));
      assert.equal(await disks.exists(path.join(root, 'h', BASE_NAME)), true);
      assert.equal(await disks.remove(path.join(root, 'h')), true);
      await assert.rejects(
        disks.create({ path: path.join(root, 'i', 'disk'), sizeGiB: 1, backingFile: image }),
        diskFailure(image, /the image file does not exist$/u),
      );
      assert.equal(await disks.remove(path.join(root, 'i')), false);
    });

    it('receive() copies an instance directory handed over, its disk backed on its own copy', async () => {
      const { disks, root, image, deleteImage } = await make();
      const from = path.join(root, 'm');
      const to = path.join(root, 'n');
      await disks.create({ path: path.join(from, 'disk'), sizeGiB: 1, backingFile: image });
      await disks.receive(from, to);
      assert.equal(await disks.backing(path.join(to, 'disk')), path.join(to, BASE_NAME));
      await deleteImage();
      assert.equal(await disks.remove(from), true);
      assert.equal(await disks.backing(path.join(to, 'disk')), path.join(to, BASE_NAME));
      await assert.rejects(disks.receive(from, path.join(root, 'o')), diskFailure(from, /./u));
      assert.equal(await disks.exists(path.join(root, 'o', 'disk')), false);
      await disks.create({ path: path.join(root, 'p', 'disk'), sizeGiB: 1 });
      await assert.rejects(
        disks.receive(to, path.join(root, 'p')),
        diskFailure(path.join(root, 'p'), /already exists/u),
      );
    });

    it('backing() is undefined for a blank disk and refuses a disk that does not exist', async () => {
      const { disks, root } = await make();
      const disk = path.join(root, 'j', 'disk');
      await assert.rejects(disks.backing(disk), diskFailure(disk, /the disk does not exist$/u));
      await disks.create({ path: disk, sizeGiB: 1 });
      assert.equal(await disks.backing(disk), undefined);
    });

    it('sweep() removes instance directories not kept, and nothing else', async () => {
      const { disks, root, image } = await make();
      const kept = path.join(root, UUID_A, 'disk');
      const stray = path.join(root, UUID_B, 'disk');
      const other = path.join(root, 'not-an-instance', 'disk');
      await disks.create({ path: kept, sizeGiB: 0, backingFile: image });
      await disks.create({ path: stray, sizeGiB: 0, backingFile: image });
      await disks.create({ path: other, sizeGiB: 1 });
      assert.deepEqual(await disks.sweep(new Set([UUID_A.toUpperCase()])), [
        path.join(root, UUID_B),
      ]);
      assert.deepEqual(
        await Promise.all([kept, stray, other, image].map((file) => disks.exists(file))),
        [true, false, true, true],
      );
      assert.equal(await disks.backing(kept), path.join(root, UUID_A, BASE_NAME));
      assert.deepEqual(await disks.sweep(new Set([UUID_A])), []);
    });

    it('adopt() makes an overlay on the image file itself hold the image data', async () => {
      const { disks, root, image, deleteImage, makeLegacyDisk } = await make();
      const legacy = path.join(root, 'k', 'disk');
      await makeLegacyDisk(legacy);
      assert.equal(await disks.backing(legacy), image);
      assert.equal(await disks.adopt(legacy), true);
      assert.equal(await disks.backing(legacy), path.join(root, 'k', BASE_NAME));
      await deleteImage();
      assert.equal(await disks.backing(legacy), path.join(root, 'k', BASE_NAME));
      assert.equal(await disks.adopt(legacy), true, 'a second adopt() has nothing to do');
      assert.equal(await disks.remove(path.join(root, 'k')), true);
    });

    it('adopt() leaves other disks as they are, and names a backing file already gone', async () => {
      const { disks, root, image, deleteImage, makeLegacyDisk } = await make();
      const blank = path.join(root, 'l', 'disk');
      const own = path.join(root, 'm', 'disk');
      await disks.create({ path: blank, sizeGiB: 1 });
      await disks.create({ path: own, sizeGiB: 0, backingFile: image });
      for (const disk of [blank, own, path.join(root, 'never', 'disk')]) {
        assert.equal(await disks.adopt(disk), true, disk);
      }
      assert.equal(await disks.backing(blank), undefined);
      assert.equal(await disks.backing(own), path.join(root, 'm', BASE_NAME));
      const legacy = path.join(root, 'n', 'disk');
      await makeLegacyDisk(legacy);
      await deleteImage();
      await assert.rejects(
        disks.adopt(legacy),
        diskFailure(legacy, /^Cannot use disk \S+: its backing file \S+ is missing$/u),
      );
      await assert.rejects(
        disks.adopt(path.join(path.dirname(image), 'disk')),
        diskFailure(path.dirname(image), /it is outside the instance directory/u),
      );
    });

    it('exists() is true for files only: not for a path never created, nor a directory', async () => {
      const { disks, root } = await make();
      const disk = path.join(root, 'f', 'disk');
      assert.equal(await disks.exists(disk), false);
      await disks.create({ path: disk, sizeGiB: 1 });
      assert.equal(await disks.exists(path.join(root, 'f')), false);
      assert.equal(await disks.exists(root), false);
    });
  });
}
