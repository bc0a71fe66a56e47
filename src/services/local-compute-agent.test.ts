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
  return {
    agent,
    request,
    resized: (serverId) => request(serverId, 2),
    hasDisk: async (serverId) => disks.exists(`/srv/instances/${serverId}/disk`),
    dropDomain: async (serverId) => {
      if ((await hypervisor.state(serverId)) !== 'shutoff') await hypervisor.destroy(serverId);
      await hypervisor.undefine(serverId);
    },
  };
});
