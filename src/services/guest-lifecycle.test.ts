import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import type { GuestSpec } from '../domain/index.js';
import { ComputeError, HypervisorError } from '../errors/index.js';
import { aFlavor, aHost, anImage, IDS } from '../testing/fixtures.js';
import { MemoryDisks } from '../testing/memory-disks.js';
import { guestDown, guestUp } from './guest-lifecycle.js';
import { renderGuest, type DesignInput } from './guest-config.js';
import { compareReadback } from './readback.js';

const HOST = aHost({
  virtType: 'qemu',
  cpuMode: 'custom',
  cpuModel: 'qemu64',
  network: { type: 'none' },
  instanceDir: '/srv/instances',
});

function input(overrides: Partial<DesignInput> = {}): DesignInput {
  return { flavor: aFlavor({ diskGiB: 1 }), image: anImage(), host: HOST, ...IDS, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<ComputeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ComputeError, String(error));
    return error;
  }
  assert.fail('expected a rejection');
}

describe('guestUp()', () => {
  it('creates the disk, defines and starts the guest, and reports its effective vPMU', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    disks.images.add('/images/cirros.qcow2');
    const up = await guestUp(
      {
        ...input({ flavor: aFlavor({ diskGiB: 1, extraSpecs: { 'hw:pmu': 'false' } }) }),
        imageFile: '/images/cirros.qcow2',
      },
      { hypervisor: hv, disks },
    );
    assert.deepEqual(
      [up.name, up.uuid, up.disk],
      [IDS.name, IDS.uuid, `/srv/instances/${IDS.uuid}/disk`],
    );
    assert.deepEqual([up.pmu.resolved, up.pmu.effective, up.pmu.source], [false, 'off', 'flavor']);
    assert.deepEqual(hv.domains, [{ name: IDS.name, uuid: IDS.uuid, state: 'running' }]);
    assert.deepEqual(disks.files.get(`/srv/instances/${IDS.uuid}/disk`), {
      sizeGiB: 1,
      backingFile: `/srv/instances/${IDS.uuid}/base`,
    });
    assert.deepEqual(disks.imagesInUse(), new Set(['/images/cirros.qcow2']));
    assert.match(await hv.domainXml(IDS.uuid), /<pmu state="off"\/>/u);
  });

  it('defines a guest again around its own disk when its image file is gone', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    disks.images.add('/images/cirros.qcow2');
    const guest = { ...input(), imageFile: '/images/cirros.qcow2' };
    await guestUp(guest, { hypervisor: hv, disks });
    disks.images.delete('/images/cirros.qcow2');
    await hv.destroy(IDS.uuid);
    await hv.undefine(IDS.uuid);
    const again = await guestUp({ ...guest, reuseDisk: true }, { hypervisor: hv, disks });
    assert.equal(again.disk, `/srv/instances/${IDS.uuid}/disk`);
    assert.deepEqual(hv.domains, [{ name: IDS.name, uuid: IDS.uuid, state: 'running' }]);
    assert.equal(await disks.backing(again.disk), `/srv/instances/${IDS.uuid}/base`);
    // Without its disk, the guest needs the image file, and says so.
    await hv.destroy(IDS.uuid);
    await hv.undefine(IDS.uuid);
    await disks.remove(`/srv/instances/${IDS.uuid}`);
    const error = await rejection(
      guestUp({ ...guest, reuseDisk: true }, { hypervisor: hv, disks }),
    );
    assert.match(error.message, /Cannot use image file \/images\/cirros\.qcow2 .*does not exist/u);
    assert.deepEqual([hv.domains, disks.files.size], [[], 0]);
  });

  it('creates nothing when the flavor and image conflict', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    const error = await rejection(
      guestUp(
        input({
          flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'true' } }),
          image: anImage({ properties: { hw_pmu: 'false' } }),
        }),
        { hypervisor: hv, disks },
      ),
    );
    assert.equal(error.code, 'spec.flavor_image_conflict');
    assert.deepEqual([hv.calls.includes('define'), disks.files.size], [false, 0]);
  });

  it('creates nothing when the image file is missing, and names it', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    const error = await rejection(
      guestUp({ ...input(), imageFile: '/nope.qcow2' }, { hypervisor: hv, disks }),
    );
    assert.equal(error.code, 'input.invalid');
    assert.match(
      error.message,
      /Cannot use image file \/nope\.qcow2 for guest 'instance-00000001': the file does not exist/u,
    );
    assert.deepEqual([hv.calls.includes('define'), disks.files.size], [false, 0]);
  });

  it('refuses to replace a guest that is already defined', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    await guestUp(input(), { hypervisor: hv, disks });
    const error = await rejection(guestUp(input(), { hypervisor: hv, disks }));
    assert.match(error.message, /already defined/u);
    assert.equal(hv.domains.length, 1);
  });

  it('undoes define and disk when libvirt reads back a different vPMU, naming both values', async () => {
    const hv = new FakeHypervisor({
      transformXml: (xml) => xml.replace(/\s*<pmu state="on"\/>/u, ''),
    });
    const disks = new MemoryDisks();
    const error = await rejection(
      guestUp(input({ image: anImage({ properties: { hw_pmu: 'yes' } }) }), {
        hypervisor: hv,
        disks,
      }),
    );
    assert.ok(error instanceof HypervisorError);
    assert.equal(error.code, 'hypervisor.readback_mismatch');
    assert.equal(
      error.message,
      `Cannot verify domain XML after define domain '${IDS.name}': pmu is unset (no <pmu> element) in libvirt but <pmu state="on"> in the designed guest`,
    );
    assert.deepEqual(hv.domains, []);
    assert.deepEqual([disks.files.size, disks.removed], [0, [`/srv/instances/${IDS.uuid}`]]);
  });

  it('destroys, undefines and removes the disk when the running guest reads back another vPMU', async () => {
    const hv = new FakeHypervisor();
    // libvirt expanding the running domain differently from its definition.
    const defined = hv.domainXml.bind(hv);
    hv.domainXml = async (ref) => {
      const xml = await defined(ref);
      const running = hv.domains.some((d) => d.state === 'running');
      return running ? xml.replace('<pmu state="on"/>', '<pmu state="off"/>') : xml;
    };
    const disks = new MemoryDisks();
    const error = await rejection(
      guestUp(input({ image: anImage({ properties: { hw_pmu: 'yes' } }) }), {
        hypervisor: hv,
        disks,
      }),
    );
    assert.equal(error.code, 'hypervisor.readback_mismatch');
    assert.equal(
      error.message,
      `Cannot verify domain XML after start domain '${IDS.name}': pmu is <pmu state="off"> in libvirt but <pmu state="on"> in the designed guest`,
    );
    assert.ok(hv.calls.includes('start'), 'the guest was started before the check');
    assert.deepEqual([hv.domains, disks.files.size], [[], 0]);
  });
});

describe('guestDown()', () => {
  it('stops, undefines and removes the instance directory, by name or UUID', async () => {
    for (const key of [IDS.name, IDS.uuid]) {
      const hv = new FakeHypervisor();
      const disks = new MemoryDisks();
      await guestUp(input(), { hypervisor: hv, disks });
      const down = await guestDown(
        { guest: key, instanceDir: '/srv/instances/', stopTimeoutMs: 100 },
        { hypervisor: hv, disks },
      );
      assert.deepEqual(down, {
        name: IDS.name,
        uuid: IDS.uuid,
        stop: 'shutdown',
        removedDirectory: `/srv/instances/${IDS.uuid}`,
      });
      assert.deepEqual([hv.domains, disks.files.size], [[], 0]);
    }
  });

  it('says so when the guest had no instance directory left', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    await guestUp(input(), { hypervisor: hv, disks });
    disks.files.clear();
    const down = await guestDown(
      { guest: IDS.name, instanceDir: '/srv/instances', stopTimeoutMs: 100 },
      { hypervisor: hv, disks },
    );
    assert.equal(down.removedDirectory, undefined);
    assert.deepEqual(hv.domains, []);
  });

  it('refuses, touching nothing, a guest whose disks are in another instance directory', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    await guestUp(input(), { hypervisor: hv, disks });
    const error = await rejection(
      guestDown(
        { guest: IDS.name, instanceDir: '/var/lib/vpmu/instances', stopTimeoutMs: 100 },
        { hypervisor: hv, disks },
      ),
    );
    assert.equal(error.code, 'input.invalid');
    assert.equal(
      error.message,
      `Cannot take guest '${IDS.name}' (${IDS.uuid}) down: its disks are in /srv/instances/${IDS.uuid}, not under the instance directory /var/lib/vpmu/instances; use /srv/instances`,
    );
    assert.deepEqual(hv.domains, [{ name: IDS.name, uuid: IDS.uuid, state: 'running' }]);
    assert.deepEqual([disks.removed, disks.files.size], [[], 1]);
  });

  it('says not found for an unknown guest, and touches nothing', async () => {
    const disks = new MemoryDisks();
    const error = await rejection(
      guestDown(
        { guest: 'ghost', instanceDir: '/srv/instances', stopTimeoutMs: 100 },
        { hypervisor: new FakeHypervisor(), disks },
      ),
    );
    assert.equal(error.code, 'hypervisor.not_found');
    assert.deepEqual(disks.removed, []);
  });
});

describe('compareReadback()', () => {
  const rendered = renderGuest(input({ flavor: aFlavor({ extraSpecs: { 'hw:pmu': 'on' } }) }));
  assert.ok(rendered.ok);
  const spec: GuestSpec = rendered.value.design.spec;

  // prettier-ignore
  const CASES = [
    { name: 'agreement', actual: { virtType: 'qemu', name: IDS.name, uuid: IDS.uuid, pmu: true }, want: [] },
    { name: 'UUID case is not a difference', actual: { virtType: 'qemu', name: IDS.name, uuid: IDS.uuid.toUpperCase(), pmu: true }, want: [] },
    { name: 'pmu off instead of on', actual: { virtType: 'qemu', name: IDS.name, uuid: IDS.uuid, pmu: false }, want: [{ field: 'pmu', designed: '<pmu state="on">', actual: '<pmu state="off">' }] },
    { name: 'another name and uuid', actual: { virtType: 'qemu', name: 'other', uuid: '00000000-0000-4000-8000-000000000000', pmu: true }, want: [{ field: 'name', designed: IDS.name, actual: 'other' }, { field: 'uuid', designed: IDS.uuid, actual: '00000000-0000-4000-8000-000000000000' }] },
  ] as const;
  for (const c of CASES) {
    it(c.name, () => {
      assert.deepEqual(compareReadback(spec, { ...c.actual, diskFiles: [] }), c.want);
    });
  }
});
