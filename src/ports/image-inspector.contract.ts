/** Behaviour every ImageInspector adapter shares, on crafted images made by the real qemu-img. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  craftOversizeQcow2,
  craftQcow2,
  craftQcow2WithBacking,
  craftQcow2WithDataFile,
  craftRaw,
  craftVmdkDescriptor,
  craftVmdkMonolithicFlat,
  craftVmdkSparse,
} from '../testing/crafted-images.js';
import type { ImageInspector } from './image-inspector.js';

/** An inspector, and how to put a file where it reads (returning the file's location). */
export interface InspectorFixture {
  readonly inspector: ImageInspector;
  /** Largest virtual size the inspector was made to accept. */
  readonly maxVirtualSize: number;
  store(file: string): Promise<string>;
}

type Craft = (dir: string) => string;

// prettier-ignore
const REFUSED: readonly { name: string; craft: Craft; declared: string; says: RegExp }[] = [
  { name: 'a qcow2 with a host backing file', craft: craftQcow2WithBacking, declared: 'qcow2', says: /qcow2 image with a backing file/u },
  { name: 'a qcow2 with an external data file', craft: craftQcow2WithDataFile, declared: 'qcow2', says: /external data file/u },
  { name: 'a VMDK descriptor declared raw', craft: craftVmdkDescriptor, declared: 'raw', says: /VMDK descriptor/u },
  { name: 'a VMDK descriptor declared vmdk', craft: craftVmdkDescriptor, declared: 'vmdk', says: /VMDK descriptor/u },
  { name: 'a monolithicFlat VMDK', craft: craftVmdkMonolithicFlat, declared: 'vmdk', says: /VMDK descriptor/u },
  { name: 'qcow2 data declared raw', craft: (d) => craftQcow2(d), declared: 'raw', says: /its data is qcow2, not raw/u },
  { name: 'qcow2 data declared iso', craft: (d) => craftQcow2(d), declared: 'iso', says: /its data is qcow2, not raw/u },
  { name: 'raw data declared qcow2', craft: (d) => craftRaw(d), declared: 'qcow2', says: /its data is raw, not qcow2/u },
  { name: 'a qcow2 declared vmdk', craft: (d) => craftQcow2(d), declared: 'vmdk', says: /its data is qcow2, not vmdk/u },
  { name: 'a disk format qemu-img cannot check', craft: (d) => craftRaw(d), declared: 'docker', says: /disk_format docker cannot be checked/u },
];

// prettier-ignore
const ACCEPTED: readonly { name: string; craft: Craft; declared: string; virtualSize: number }[] = [
  { name: 'a plain qcow2', craft: (d) => craftQcow2(d), declared: 'qcow2', virtualSize: 1024 * 1024 },
  { name: 'raw bytes as raw', craft: (d) => craftRaw(d), declared: 'raw', virtualSize: 64 * 1024 },
  { name: 'raw bytes as iso', craft: (d) => craftRaw(d), declared: 'iso', virtualSize: 64 * 1024 },
  { name: 'a monolithicSparse VMDK', craft: craftVmdkSparse, declared: 'vmdk', virtualSize: 1024 * 1024 },
];

/** Runs the ImageInspector contract against fixtures made by `make`. */
export function imageInspectorContract(
  name: string,
  make: () => Promise<InspectorFixture>,
  options: { skip: false | string },
): void {
  describe(`ImageInspector contract: ${name}`, { skip: options.skip }, () => {
    const crafted = (craft: Craft) => craft(mkdtempSync(path.join(tmpdir(), 'vpmu-crafted-')));

    for (const c of REFUSED) {
      it(`refuses ${c.name}, naming no host path`, async () => {
        const fixture = await make();
        const outcome = await fixture.inspector.inspect(
          await fixture.store(crafted(c.craft)),
          c.declared,
        );
        assert.ok(!outcome.ok, JSON.stringify(outcome));
        assert.match(outcome.reason, c.says);
        assert.doesNotMatch(outcome.reason, /\/etc\/passwd|\/tmp\//u);
      });
    }

    it('refuses a virtual size above its limit, saying both', async () => {
      const fixture = await make();
      const size = fixture.maxVirtualSize + 1024 * 1024;
      const outcome = await fixture.inspector.inspect(
        await fixture.store(crafted((d) => craftOversizeQcow2(d, size))),
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
        const outcome = await fixture.inspector.inspect(
          await fixture.store(crafted(c.craft)),
          c.declared,
        );
        assert.deepEqual(outcome, { ok: true, virtualSize: c.virtualSize });
      });
    }
  });
}
