import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostSettings } from '../domain/index.js';
import { makeTestApi } from '../testing/api.js';
import { action, boot, flavor, image, message, show } from '../testing/server-calls.js';

const PPC64_KVM: Partial<HostSettings> = { arch: 'ppc64le', virtType: 'kvm' };

/**
 * Hosts that cannot run a guest, told apart by the settings their records hold: a refusal every
 * host makes the same way is a 400 up front; one only some hosts make leaves those hosts out;
 * refusals that differ per host end the build in No valid host with each host's reason.
 */
describe('host-dependent refusals are scheduling filters', () => {
  it('places hw:pmu=false on the x86 host beside a roomier ppc64 one', async () => {
    const api = await makeTestApi({
      hostVcpus: 2,
      extraHosts: [{ name: 'compute2', vcpus: 64, settings: PPC64_KVM }],
    });
    const off = await flavor(api, 'pmu-off', { 'hw:pmu': 'false' });
    const plain = await flavor(api, 'plain');
    const img = await image(api, 'cirros');
    const vm = await boot(api, off, img, 'member', 'quiet');
    assert.equal(vm.status, 202, JSON.stringify(vm.body));
    await api.servers.idle();
    const record = await api.store.getServer(vm.id);
    assert.equal(record?.status, 'ACTIVE');
    assert.equal(
      record.host,
      'compute1',
      'the ppc64 host, though emptier, cannot turn the PMU off',
    );
    // Without the refusal the weigher prefers the roomier host: the filter did the choosing.
    const other = await boot(api, plain, img, 'member', 'any');
    await api.servers.idle();
    assert.equal((await api.store.getServer(other.id))?.host, 'compute2');
  });

  it('refuses with a 400 up front when every host refuses the same way, recording nothing', async () => {
    const api = await makeTestApi({
      hostSettings: PPC64_KVM,
      extraHosts: [{ name: 'compute2', vcpus: 8, settings: PPC64_KVM }],
    });
    const off = await flavor(api, 'pmu-off', { 'hw:pmu': 'false' });
    const img = await image(api, 'cirros');
    const res = await boot(api, off, img, 'member', 'quiet');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(message(res), /hw:pmu=false.*ppc64le guests/su);
    assert.deepEqual(await api.store.listServers(), []);
  });

  it('ends in ERROR with No valid host naming each host when they refuse differently', async () => {
    const api = await makeTestApi({
      extraHosts: [{ name: 'compute2', vcpus: 8, settings: PPC64_KVM }],
    });
    const plain = await flavor(api, 'plain');
    const arm = await image(api, 'arm', { hw_architecture: 'aarch64' });
    const res = await boot(api, plain, arm, 'member', 'arm-on-kvm');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await api.servers.idle();
    const body = (await show(api, res.id, 'admin')) as {
      status: string;
      fault: { message: string };
    };
    assert.equal(body.status, 'ERROR');
    assert.match(body.fault.message, /^No valid host was found\. No host can run this guest\./u);
    assert.match(body.fault.message, /compute1: .*on a x86_64 host/u);
    assert.match(body.fault.message, /compute2: .*on a ppc64le host/u);
    assert.deepEqual(await api.store.listAllocations(), [], 'no claim is left behind');
  });

  it("rebuilds and resizes against the server's own host only", async () => {
    const api = await makeTestApi({
      extraHosts: [{ name: 'compute2', vcpus: 1, settings: PPC64_KVM }],
    });
    const plain = await flavor(api, 'plain');
    const img = await image(api, 'cirros');
    const offImage = await image(api, 'quiet', { hw_pmu: 'false' });
    const vm = await boot(api, plain, img, 'member', 'vm');
    await api.servers.idle();
    assert.equal((await api.store.getServer(vm.id))?.host, 'compute1');
    // compute2 (ppc64) would refuse hw_pmu=false, but the server stays on compute1, which can.
    const rebuilt = await action(api, vm.id, { rebuild: { imageRef: offImage } });
    assert.equal(rebuilt.status, 202, JSON.stringify(rebuilt.body));
    await api.servers.idle();
    const record = await api.store.getServer(vm.id);
    assert.equal(record?.status, 'ACTIVE');
    assert.equal(record.pmu?.resolved, false);
  });
});
