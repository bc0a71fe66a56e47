/**
 * Behaviour every ImageInspector adapter shares, on crafted images (see src/testing/
 * crafted-images.ts: the fixture makes them with the real qemu-img and stores them).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImageInspector } from './image-inspector.js';

/** The crafted images the contract asks for, by name. */
export type CraftedImage =
  | 'qcow2'
  | 'raw'
  | 'qcow2WithBacking'
  | 'qcow2WithDataFile'
  | 'vmdkDescriptor'
  | 'vmdkMonolithicFlat'
  | 'vmdkSparse'
  | 'oversizeQcow2';

/** An inspector, and how to store a crafted image where it reads (returning its location). */
export interface InspectorFixture {
  readonly inspector: ImageInspector;
  /** Largest virtual size the inspector was made to accept. */
  readonly maxVirtualSize: number;
  /**
   * Stores a crafted image: `qcow2` is 1 MiB, `raw` 64 KiB, `vmdkSparse` 1 MiB, and
   * `oversizeQcow2` claims `virtualSize` bytes.
   */
  store(image: CraftedImage, virtualSize?: number): Promise<string>;
}

// prettier-ignore
const REFUSED: readonly { name: string; image: CraftedImage; declared: string; says: RegExp }[] = [
  { name: 'a qcow2 with a host backing file', image: 'qcow2WithBacking', declared: 'qcow2', says: /qcow2 image with a backing file/u },
  { name: 'a qcow2 with an external data file', image: 'qcow2WithDataFile', declared: 'qcow2', says: /external data file/u },
  { name: 'a VMDK descriptor declared raw', image: 'vmdkDescriptor', declared: 'raw', says: /VMDK descriptor/u },
  { name: 'a VMDK descriptor declared vmdk', image: 'vmdkDescriptor', declared: 'vmdk', says: /VMDK descriptor/u },
  { name: 'a monolithicFlat VMDK', image: 'vmdkMonolithicFlat', declared: 'vmdk', says: /VMDK descriptor/u },
  { name: 'qcow2 data declared raw', image: 'qcow2', declared: 'raw', says: /its data is qcow2, not raw/u },
  { name: 'qcow2 data declared iso', image: 'qcow2', declared: 'iso', says: /its data is qcow2, not raw/u },
  { name: 'raw data declared qcow2', image: 'raw', declared: 'qcow2', says: /its data is raw, not qcow2/u },
  { name: 'a qcow2 declared vmdk', image: 'qcow2', declared: 'vmdk', says: /its data is qcow2, not vmdk/u },
  { name: 'a disk format qemu-img cannot check', image: 'raw', declared: 'docker', says: /disk_format docker cannot be checked/u },
];

// prettier-ignore
const ACCEPTED: readonly { name: string; image: CraftedImage; declared: string; virtualSize: number }[] = [
  { name: 'a plain qcow2', image: 'qcow2', declared: 'qcow2', virtualSize: 1024 * 1024 },
  { name: 'raw bytes as raw', image: 'raw', declared: 'raw', virtualSize: 64 * 1024 },
  { name: 'raw bytes as iso', image: 'raw', declared: 'iso', virtualSize: 64 * 1024 },
  { name: 'a monolithicSparse VMDK', image: 'vmdkSparse', declared: 'vmdk', virtualSize: 1024 * 1024 },
];

/** Runs the ImageInspector contract against fixtures made by `make`. */
export function imageInspectorContract(
  name: string,
  make: () => Promise<InspectorFixture>,
  options: { skip: false | string },
): void {
  describe(`ImageInspector contract: ${name}`, { skip: options.skip }, () => {
    for (const c of REFUSED) {
      it(`refuses ${c.name}, naming no host path`, async () => {
        const fixture = await make();
        const outcome = await fixture.inspector.inspect(await fixture.store(c.image), c.declared);
        assert.ok(!outcome.ok, JSON.stringify(outcome));
        assert.match(outcome.reason, c.says);
        assert.doesNotMatch(outcome.reason, /\/etc\/passwd|\/tmp\//u);
      });
    }

    it('refuses a virtual size above its limit, saying both', async () => {
      const fixture = await make();
      const size = fixture.maxVirtualSize + 1024 * 1024;
      const outcome = await fixture.inspector.inspect(
        await fixture.store('oversizeQcow2', size),
        'qcow2',
      );
      assert.deepEqual(outcome, {
        ok: false,
        reason: `its virtual size, ${size} bytes, is above the limit of ${fixture.maxVirtualSize} bytes`,
      });
    });

    for (const c of ACCEPTED) {
      it(`accepts ${c.name}, with its virtual size`, async () => {
        const fixture = await make();
        const outcome = await fixture.inspector.inspect(await fixture.store(c.image), c.declared);
        assert.deepEqual(outcome, { ok: true, virtualSize: c.virtualSize });
      });
    }
  });
}
