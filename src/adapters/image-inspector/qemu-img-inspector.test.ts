import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  craftOversizeQcow2,
  craftQcow2,
  craftQcow2WithBacking,
  craftQcow2WithDataFile,
  craftRaw,
  craftVmdkDescriptor,
  craftVmdkMonolithicFlat,
  craftVmdkSparse,
} from '../../testing/crafted-images.js';
import { requireTool } from '../../testing/tools.js';
import { inspectImageFile } from './qemu-img-inspector.js';

const skip = requireTool('qemu-img', ['--version'], 'apt-get install qemu-utils');
const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-inspect-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const LIMITS = { maxVirtualSize: 1024 ** 4 };

describe('qemu-img image inspection', { skip }, () => {
  const cases: { name: string; make: (d: string) => string; declared: string; says: RegExp }[] = [
    {
      name: 'a qcow2 with a host backing file',
      make: craftQcow2WithBacking,
      declared: 'qcow2',
      says: /qcow2 image with a backing file/u,
    },
    {
      name: 'a qcow2 with an external data file',
      make: craftQcow2WithDataFile,
      declared: 'qcow2',
      says: /external data file/u,
    },
    {
      name: 'a VMDK descriptor declared raw',
      make: craftVmdkDescriptor,
      declared: 'raw',
      says: /VMDK descriptor/u,
    },
    {
      name: 'a VMDK descriptor declared vmdk',
      make: craftVmdkDescriptor,
      declared: 'vmdk',
      says: /VMDK descriptor/u,
    },
    {
      name: 'a monolithicFlat VMDK',
      make: craftVmdkMonolithicFlat,
      declared: 'vmdk',
      says: /VMDK descriptor/u,
    },
    {
      name: 'qcow2 data declared raw',
      make: craftQcow2,
      declared: 'raw',
      says: /its data is qcow2, not raw/u,
    },
    {
      name: 'qcow2 data declared iso',
      make: craftQcow2,
      declared: 'iso',
      says: /its data is qcow2, not raw/u,
    },
    {
      name: 'raw data declared qcow2',
      make: craftRaw,
      declared: 'qcow2',
      says: /its data is raw, not qcow2/u,
    },
    {
      name: 'a virtual size above the cap',
      make: (d) => craftOversizeQcow2(d),
      declared: 'qcow2',
      says: /virtual size, 2199023255552 bytes, is above the limit of 1099511627776 bytes/u,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming no host path`, async () => {
      const sub = mkdtempSync(path.join(dir, 'c-'));
      const outcome = await inspectImageFile(c.make(sub), c.declared, LIMITS);
      assert.equal(outcome.ok, false);
      assert.ok(!outcome.ok);
      assert.match(outcome.reason, c.says);
      assert.doesNotMatch(outcome.reason, /\/etc\/passwd|\/tmp\//u);
    });
  }

  it('refuses a backing file even when the header check is bypassed by the declared format', async () => {
    // qcow2 declared vmdk: the header check refuses it before any format comparison.
    const sub = mkdtempSync(path.join(dir, 'c-'));
    const outcome = await inspectImageFile(craftQcow2WithBacking(sub), 'vmdk', LIMITS);
    assert.deepEqual(outcome, { ok: false, reason: 'it is a qcow2 image with a backing file' });
  });

  const good: { name: string; make: (d: string) => string; declared: string; size: number }[] = [
    { name: 'a plain qcow2', make: (d) => craftQcow2(d), declared: 'qcow2', size: 1024 * 1024 },
    { name: 'raw bytes as raw', make: (d) => craftRaw(d), declared: 'raw', size: 64 * 1024 },
    { name: 'raw bytes as iso', make: (d) => craftRaw(d), declared: 'iso', size: 64 * 1024 },
    { name: 'a monolithicSparse VMDK', make: craftVmdkSparse, declared: 'vmdk', size: 1024 * 1024 },
  ];
  for (const g of good) {
    it(`accepts ${g.name} with its virtual size`, async () => {
      const sub = mkdtempSync(path.join(dir, 'g-'));
      const outcome = await inspectImageFile(g.make(sub), g.declared, LIMITS);
      assert.deepEqual(outcome, {
        ok: true,
        format: outcome.ok ? outcome.format : '',
        virtualSize: g.size,
      });
    });
  }

  it('refuses a disk format qemu-img cannot check', async () => {
    const sub = mkdtempSync(path.join(dir, 'g-'));
    const outcome = await inspectImageFile(craftRaw(sub), 'docker', LIMITS);
    assert.equal(outcome.ok, false);
  });
});
