import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuTopology, Flavor, HostSettings, Image } from '../domain/index.js';
import type { ErrorCode } from '../errors/index.js';
import { aFlavor, aHost, anImage, IDS } from '../testing/fixtures.js';
import { designGuest } from './design-guest.js';

function design(
  flavor: Partial<Flavor>,
  image: Partial<Image> = {},
  host: Partial<HostSettings> = {},
) {
  return designGuest({ flavor: aFlavor(flavor), image: anImage(image), host: aHost(host), ...IDS });
}

describe('designGuest() CPU topology', () => {
  // prettier-ignore
  const CASES: readonly { name: string; vcpus: number; specs?: Record<string, string>; props?: Record<string, string>; want: CpuTopology | ErrorCode }[] = [
    { name: 'nothing set: one socket per vCPU',   vcpus: 4, want: { sockets: 4, cores: 1, threads: 1 } },
    { name: 'flavor sockets, cores derived',      vcpus: 4, specs: { 'hw:cpu_sockets': '2' }, want: { sockets: 2, cores: 2, threads: 1 } },
    { name: 'flavor threads, sockets derived',    vcpus: 8, specs: { 'hw:cpu_threads': '2' }, want: { sockets: 4, cores: 1, threads: 2 } },
    { name: 'flavor sets all three',              vcpus: 8, specs: { 'hw:cpu_sockets': '1', 'hw:cpu_cores': '4', 'hw:cpu_threads': '2' }, want: { sockets: 1, cores: 4, threads: 2 } },
    { name: 'image preference replaces flavor’s', vcpus: 4, specs: { 'hw:cpu_sockets': '4' }, props: { hw_cpu_cores: '4' }, want: { sockets: 1, cores: 4, threads: 1 } },
    { name: 'image sets sockets only',            vcpus: 6, props: { hw_cpu_sockets: '3' }, want: { sockets: 3, cores: 2, threads: 1 } },
    { name: 'sockets that do not divide vCPUs',   vcpus: 3, specs: { 'hw:cpu_sockets': '2' }, want: 'spec.invalid_topology' },
    { name: 'all three multiply to too few',      vcpus: 4, specs: { 'hw:cpu_sockets': '1', 'hw:cpu_cores': '1', 'hw:cpu_threads': '1' }, want: 'spec.invalid_topology' },
    { name: 'all three multiply to too many',     vcpus: 2, props: { hw_cpu_cores: '2', hw_cpu_threads: '2' }, want: 'spec.invalid_topology' },
    { name: 'a malformed count',                  vcpus: 2, props: { hw_cpu_threads: 'two' }, want: 'spec.invalid_value' },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const got = design(
        { vcpus: c.vcpus, extraSpecs: c.specs ?? {} },
        { properties: c.props ?? {} },
      );
      if (typeof c.want === 'string') {
        assert.ok(!got.ok);
        assert.deepEqual(
          got.issues.map((issue) => issue.code),
          [c.want],
        );
      } else {
        assert.ok(got.ok, got.ok ? '' : got.issues[0].message);
        assert.deepEqual(got.value.spec.cpu?.topology, c.want);
      }
    });
  }

  it('names the flavor, the vCPUs and the requested parts in a topology error', () => {
    const got = design({ name: 'odd', vcpus: 3, extraSpecs: { 'hw:cpu_sockets': '2' } });
    assert.ok(!got.ok);
    assert.equal(
      got.issues[0].message,
      "Cannot lay out the 3 vCPUs of flavor 'odd' as requested by flavor 'odd': sockets=2, cores=unset, threads=unset cannot multiply to 3",
    );
  });
});

describe('designGuest() refuses what cannot be built', () => {
  // prettier-ignore
  const CASES: readonly { name: string; flavor?: Partial<Flavor>; image?: Partial<Image>; host?: Partial<HostSettings>; uuid?: string; guestName?: string; want: readonly ErrorCode[] }[] = [
    { name: 'hw:pmu=false on ppc64',        flavor: { extraSpecs: { 'hw:pmu': 'false' } }, host: { arch: 'ppc64le', virtType: 'qemu' }, want: ['spec.unsupported_for_guest'] },
    { name: 'hw_pmu=false on a ppc64 image', image: { properties: { hw_pmu: 'no', hw_architecture: 'ppc64' } }, host: { virtType: 'qemu' }, want: ['spec.unsupported_for_guest'] },
    { name: 'a foreign architecture on kvm', image: { properties: { hw_architecture: 'aarch64' } }, want: ['spec.unsupported_for_guest'] },
    { name: 'an IDE disk on q35',            image: { properties: { hw_disk_bus: 'ide' } }, want: ['spec.unsupported_for_guest'] },
    { name: 'CPU mode custom without model', host: { cpuMode: 'custom' }, want: ['input.invalid'] },
    { name: 'a CPU model without custom',    host: { cpuModel: 'Nehalem' }, want: ['input.invalid'] },
    { name: 'a UUID that is not one',        uuid: 'not-a-uuid', want: ['input.invalid'] },
    { name: 'a name libvirt would mangle',   guestName: 'my guest/1', want: ['input.invalid'] },
    { name: 'a flavor with no vCPUs',        flavor: { vcpus: 0 }, want: ['input.invalid'] },
    { name: 'a flavor with fractional RAM',  flavor: { memoryMiB: 1.5 }, want: ['input.invalid'] },
    { name: 'every problem at once',         flavor: { extraSpecs: { 'hw:pmu': 'maybe', 'hw:bogus': '1' } }, image: { properties: { hw_disk_bus: 'floppy' } }, uuid: 'x', want: ['input.invalid', 'spec.unknown_key', 'spec.invalid_value', 'spec.invalid_value'] },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const got = designGuest({
        flavor: aFlavor(c.flavor),
        image: anImage(c.image),
        host: aHost(c.host),
        name: c.guestName ?? IDS.name,
        uuid: c.uuid ?? IDS.uuid,
      });
      assert.ok(!got.ok, 'expected issues');
      assert.deepEqual(
        got.issues.map((issue) => issue.code),
        c.want,
      );
    });
  }

  it('explains a ppc64 refusal with the architecture and the request', () => {
    const got = design(
      { extraSpecs: { 'hw:pmu': 'false' } },
      {},
      { arch: 'ppc64', virtType: 'kvm' },
    );
    assert.ok(!got.ok);
    assert.equal(
      got.issues[0].message,
      'Cannot honour hw:pmu=false from the flavor for a ppc64 guest: ppc64 guests always have a PMU, and libvirt refuses to start them with it off',
    );
  });
});

describe('designGuest() decisions', () => {
  it('emits no <pmu> when nothing asks, and says the guest gets no vPMU with host-model', () => {
    const got = design({});
    assert.ok(got.ok);
    assert.equal(got.value.spec.features.pmu, undefined);
    assert.equal(got.value.explanation.effective, 'off');
  });

  it('validates but drops hw:pmu and hide_hypervisor_id for lxc', () => {
    const got = design(
      { extraSpecs: { 'hw:pmu': 'true', 'hw:hide_hypervisor_id': 'true' } },
      {},
      { virtType: 'lxc' },
    );
    assert.ok(got.ok);
    assert.equal(got.value.spec.features.pmu, undefined);
    assert.equal(got.value.spec.features.kvmHidden, false);
    assert.equal(got.value.pmu.resolved, true);
  });

  // nova-pmu.md §9, test_get_guest_config_with_pmu_non_qemu_kvm: every source, no <pmu> for lxc.
  // prettier-ignore
  const LXC_CASES = [
    { name: 'flavor true',  flavor: { 'hw:pmu': 'true' },  image: {},                   resolved: true },
    { name: 'flavor false', flavor: { 'hw:pmu': 'false' }, image: {},                   resolved: false },
    { name: 'image true',   flavor: {},                    image: { hw_pmu: 'true' },   resolved: true },
    { name: 'image false',  flavor: {},                    image: { hw_pmu: 'false' },  resolved: false },
    { name: 'both false',   flavor: { 'hw:pmu': 'false' }, image: { hw_pmu: 'false' },  resolved: false },
  ] as const;
  for (const c of LXC_CASES) {
    it(`emits no <pmu> for lxc with ${c.name}, keeping the resolution`, () => {
      const got = design({ extraSpecs: c.flavor }, { properties: c.image }, { virtType: 'lxc' });
      assert.ok(got.ok, got.ok ? '' : got.issues[0].message);
      assert.equal(got.value.spec.features.pmu, undefined);
      assert.equal(got.value.pmu.resolved, c.resolved);
      assert.equal(got.value.explanation.effective, 'off');
    });
  }

  it('still refuses a malformed hw:pmu for lxc', () => {
    const got = design({ extraSpecs: { 'hw:pmu': 'maybe' } }, {}, { virtType: 'lxc' });
    assert.ok(!got.ok);
    assert.equal(got.issues[0].code, 'spec.invalid_value');
  });

  it('hides the hypervisor when either side asks (Nova’s rule), even if the other says no', () => {
    const got = design(
      { extraSpecs: { 'hw:hide_hypervisor_id': 'false' } },
      { properties: { img_hide_hypervisor_id: 'true' } },
    );
    assert.ok(got.ok);
    assert.equal(got.value.spec.features.kvmHidden, true);
  });

  it('takes the machine type from the image, then the host, then the default', () => {
    const fromImage = design(
      {},
      { properties: { hw_machine_type: 'pc' } },
      { machineTypes: { x86_64: 'pc-q35-7.2' } },
    );
    const fromHost = design({}, {}, { machineTypes: { x86_64: 'pc-q35-7.2' } });
    const fallback = design({});
    assert.ok(fromImage.ok && fromHost.ok && fallback.ok);
    assert.deepEqual(
      [fromImage.value.spec.os, fromHost.value.spec.os, fallback.value.spec.os].map(
        (os) => os.kind === 'hvm' && os.machine,
      ),
      ['pc', 'pc-q35-7.2', 'q35'],
    );
  });
});
