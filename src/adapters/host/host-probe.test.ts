import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { HypervisorError } from '../../errors/index.js';
import { loadHostFixture } from '../../testing/host-fixtures.js';
import { FakeHypervisor } from '../fake/fake-hypervisor.js';
import { LocalHostProbe } from './host-probe.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'vpmu-probe-'));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** A fake file-system root laid out like /proc, /sys and /dev. */
function fakeRoot(name: string, files: Readonly<Record<string, string>>): string {
  const root = path.join(scratch, name);
  for (const [relative, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
    writeFileSync(path.join(root, relative), text);
  }
  return root;
}

describe('LocalHostProbe', () => {
  const intel = loadHostFixture('intel-kvm');
  const kvmCaps = intel.domainCapabilities[0]?.xml ?? '';

  it('reads capabilities through the hypervisor and the kernel facts from the file system', async () => {
    const root = fakeRoot('intel', {
      'proc/cpuinfo': intel.cpuinfo ?? '',
      'dev/kvm': '',
      'sys/module/kvm/parameters/enable_pmu': 'Y\n',
      'sys/bus/event_source/devices/cpu': '',
      'sys/bus/event_source/devices/msr': '',
    });
    const hv = new FakeHypervisor({
      capabilitiesXml: intel.capabilitiesXml,
      domainCapabilitiesXml: kvmCaps,
    });
    const facts = await new LocalHostProbe(hv, { root }).facts();
    assert.equal(facts.capabilitiesXml, intel.capabilitiesXml);
    assert.deepEqual(
      facts.domainCapabilities.map((d) => d.virtType),
      ['kvm', 'qemu'],
    );
    assert.equal(facts.cpuinfo, intel.cpuinfo);
    assert.equal(facts.kvmDevice, true);
    assert.equal(facts.kvmEnablePmu, 'Y');
    assert.deepEqual(facts.perfEventDevices, ['cpu', 'msr']);
  });

  it("reports what is missing as absent, and a refused domcapabilities as that virt type's error", async () => {
    const root = fakeRoot('bare', { 'proc/version': 'Linux' });
    const facts = await new LocalHostProbe(new FakeHypervisor(), { root }).facts();
    assert.equal(facts.cpuinfo, undefined);
    assert.equal(facts.kvmDevice, false);
    assert.equal(facts.kvmEnablePmu, undefined);
    assert.equal(facts.perfEventDevices, undefined);
    assert.match(
      facts.domainCapabilities[0]?.error ?? '',
      /not supported by the connection driver/u,
    );
  });

  it('fails with the hypervisor error when libvirt is unreachable', async () => {
    const hv = new FakeHypervisor();
    hv.capabilitiesXml = () =>
      Promise.reject(
        new HypervisorError('hypervisor.unavailable', {
          operation: 'connect to qemu:///system',
          detail: 'down',
        }),
      );
    await assert.rejects(
      new LocalHostProbe(hv, { root: scratch }).facts(),
      /Cannot connect to qemu:\/\/\/system: down/u,
    );
  });
});
