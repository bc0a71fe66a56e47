import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { computeAgentContract } from '../ports/compute-agent.contract.js';
import { aFlavor, aHost, anImage } from '../testing/fixtures.js';
import { MemoryDisks } from '../testing/memory-disks.js';
import { LocalComputeAgent } from './local-compute-agent.js';

const SETTINGS = aHost({
  virtType: 'qemu',
  cpuMode: 'custom',
  cpuModel: 'qemu64',
  network: { type: 'none' },
  instanceDir: '/srv/instances',
});

computeAgentContract('local, over the fake hypervisor and memory disks', async () => {
  const disks = new MemoryDisks({ instanceRoot: '/srv/instances' });
  const hypervisor = new FakeHypervisor();
  const agent = new LocalComputeAgent({
    host: 'compute1',
    hypervisor,
    disks,
    settings: SETTINGS,
  });
  const request = (serverId: string, vcpus = 1) => ({
    serverId,
    name: `instance-${serverId}`,
    flavor: aFlavor({ diskGiB: 1, vcpus }),
    image: anImage(),
    owner: { projectId: 'p1', userId: 'u1' },
  });
  const elsewhere = '/srv/instances-compute2';
  const destination = new LocalComputeAgent({
    host: 'compute2',
    hypervisor: new FakeHypervisor({ uri: 'fake:///compute2' }),
    disks: new MemoryDisks({ instanceRoot: elsewhere, machine: disks }),
    settings: { ...SETTINGS, instanceDir: elsewhere },
  });
  return {
    agent,
    request,
    destination: {
      agent: destination,
      hasDisk: async (serverId) => disks.exists(`${elsewhere}/${serverId}/disk`),
    },
    resized: (serverId) => request(serverId, 2),
    hasDisk: async (serverId) => disks.exists(`/srv/instances/${serverId}/disk`),
    dropDomain: async (serverId) => {
      if ((await hypervisor.state(serverId)) !== 'shutoff') await hypervisor.destroy(serverId);
      await hypervisor.undefine(serverId);
    },
  };
});

describe('LocalComputeAgent and disks from before disks kept their image data', () => {
  const ID = '7d5f3c1a-4b2e-4c8d-9a6f-0e1b2c3d4e5f';
  const disk = `/srv/instances/${ID}/disk`;
  const base = `/srv/instances/${ID}/base`;
  const image = '/srv/images/cirros';

  async function legacyGuest() {
    const disks = new MemoryDisks({ instanceRoot: '/srv/instances' });
    const hypervisor = new FakeHypervisor();
    const agent = new LocalComputeAgent({
      host: 'compute1',
      hypervisor,
      disks,
      settings: SETTINGS,
    });
    await agent.build({
      serverId: ID,
      name: `instance-${ID}`,
      flavor: aFlavor({ diskGiB: 1 }),
      image: anImage(),
      owner: { projectId: 'p1', userId: 'u1' },
    });
    disks.images.add(image);
    disks.files.clear();
    disks.addLegacyDisk(disk, image);
    return { disks, agent };
  }

  it('takes the image data before every start, and at sweep time', async () => {
    for (const action of ['on', 'reboot-soft', 'reboot-hard'] as const) {
      const { disks, agent } = await legacyGuest();
      if (action === 'on') await agent.power(ID, 'off', { stopTimeoutMs: 100 });
      assert.equal(await agent.power(ID, action, { stopTimeoutMs: 100 }), 'done');
      assert.equal(await disks.backing(disk), base, action);
    }
    const { disks, agent } = await legacyGuest();
    assert.deepEqual(await agent.sweepDisks(new Set()), []);
    assert.equal(await disks.backing(disk), base);
  });

  it('keeps the data of a running guest it cannot rewrite, and rewrites it at the next start', async () => {
    const { disks, agent } = await legacyGuest();
    disks.busy.add(disk);
    await agent.sweepDisks(new Set([ID]));
    assert.equal(await disks.backing(disk), image, 'the running guest keeps its overlay');
    assert.deepEqual(disks.imagesInUse(), new Set([image]));
    disks.images.delete(image);
    disks.busy.delete(disk);
    await agent.power(ID, 'reboot-hard', { stopTimeoutMs: 100 });
    assert.equal(await disks.backing(disk), base);
  });

  it('refuses to start a guest whose image data is already gone, naming the file', async () => {
    const { disks, agent } = await legacyGuest();
    disks.images.delete(image);
    await agent.power(ID, 'off', { stopTimeoutMs: 100 });
    await assert.rejects(
      agent.power(ID, 'on', { stopTimeoutMs: 100 }),
      new RegExp(
        `^ComputeError: Cannot use disk ${disk}: its backing file ${image} is missing`,
        'u',
      ),
    );
  });
});
