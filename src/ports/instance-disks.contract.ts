/** Behaviour every InstanceDisks adapter shares: the qcow2 files on disk and the in-memory fake. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import type { InstanceDisks } from './instance-disks.js';

/** An adapter under test, with its instance directory and one image file it can back disks on. */
export interface DisksUnderTest {
  readonly disks: InstanceDisks;
  /** The instance directory the adapter was made for (absolute). */
  readonly root: string;
  /** An image file outside `root` that exists. */
  readonly image: string;
}

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
