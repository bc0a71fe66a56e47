import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { HypervisorError } from '../errors/index.js';
import { loadHostFixture } from '../testing/host-fixtures.js';
import { describeLocalHost, type ComputeHostConfig } from './compute-host.js';

const CONFIG: ComputeHostConfig = {
  name: 'c1',
  instanceDir: '/nonexistent/instances',
  virtType: undefined,
  cpuMode: undefined,
  cpuModel: undefined,
  vcpus: undefined,
  memoryMiB: undefined,
  diskGiB: 100,
  cpuAllocationRatio: undefined,
  ramAllocationRatio: undefined,
  diskAllocationRatio: undefined,
  hostIp: '192.0.2.7',
};
const INTEL_KVM = { facts: () => Promise.resolve(loadHostFixture('intel-kvm')) };
const NOW = new Date('2026-01-01T00:00:00Z');

describe('describeLocalHost()', () => {
  it('reports the hypervisor, its version, the host address and the CPU as Nova shows them', async () => {
    const local = await describeLocalHost(new FakeHypervisor(), INTEL_KVM, CONFIG, NOW);
    const { hypervisorType, hypervisorVersion, hostIp, cpuInfo } = local.record;
    assert.deepEqual([hypervisorType, hypervisorVersion, hostIp], ['QEMU', 7_002_000, '192.0.2.7']);
    assert.deepEqual(JSON.parse(cpuInfo), {
      arch: 'x86_64',
      model: 'Skylake-Client-IBRS',
      vendor: 'Intel',
      topology: { cells: 1, sockets: 1, cores: 4, threads: 1 },
    });
    assert.equal(local.probeError, undefined);
  });

  it('says why when the hypervisor version cannot be read, and reports 0 for it', async () => {
    const hypervisor = new FakeHypervisor();
    hypervisor.hypervisorVersion = () =>
      Promise.reject(
        new HypervisorError('hypervisor.operation_failed', {
          operation: 'read the hypervisor version of fake:///default',
          detail: 'virsh is not installed',
        }),
      );
    const local = await describeLocalHost(hypervisor, INTEL_KVM, CONFIG, NOW);
    assert.equal(local.record.hypervisorVersion, 0);
    assert.match(local.probeError ?? '', /hypervisor version .*virsh is not installed/u);
  });
});
