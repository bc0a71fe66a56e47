import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostCapabilities, HostFacts } from '../domain/index.js';
import { assertGolden } from '../testing/golden.js';
import { hostFixtureNames, loadHostFixture } from '../testing/host-fixtures.js';
import { parseCpuinfo } from './cpuinfo.js';
import { decideHostCapabilities } from './host-capabilities.js';

function decide(facts: HostFacts): HostCapabilities {
  const result = decideHostCapabilities(facts);
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

interface FixtureCase {
  readonly host: string;
  readonly vpmu: boolean;
  readonly reason: RegExp;
  readonly kvm: boolean;
  readonly traits: readonly string[];
  readonly absent: readonly string[];
}

// prettier-ignore
const FIXTURES: readonly FixtureCase[] = [
  { host: 'this-machine-tcg', vpmu: false, kvm: false, reason: /^KVM is not usable \(\/dev\/kvm is missing.*\); x86 guests under TCG \(virt type qemu\) have no working vPMU\.$/u, traits: ['HW_ARCH_X86_64', 'COMPUTE_ARCH_X86_64', 'COMPUTE_ARCH_I686', 'HW_CPU_X86_AVX2'], absent: ['CUSTOM_HW_VPMU'] },
  { host: 'intel-kvm', vpmu: true, kvm: true, reason: /enable_pmu is Y, and \/proc\/cpuinfo \(GenuineIntel\) has the arch_perfmon and pdcm flags\.$/u, traits: ['CUSTOM_HW_VPMU', 'HW_ARCH_X86_64', 'HW_CPU_X86_VMX', 'HW_CPU_X86_AVX2'], absent: ['HW_CPU_X86_SVM'] },
  { host: 'amd-kvm', vpmu: true, kvm: true, reason: /has the perfctr_core flag\.$/u, traits: ['CUSTOM_HW_VPMU', 'HW_ARCH_X86_64', 'HW_CPU_X86_SVM', 'HW_CPU_X86_SHA'], absent: ['HW_CPU_X86_VMX'] },
  { host: 'aarch64-kvm', vpmu: true, kvm: true, reason: /no enable_pmu switch \(always on\), and the Arm PMUv3 perf device armv8_pmuv3_0 is present\.$/u, traits: ['CUSTOM_HW_VPMU', 'HW_ARCH_AARCH64', 'COMPUTE_ARCH_AARCH64'], absent: ['HW_ARCH_X86_64', 'HW_CPU_X86_AVX'] },
];

describe('decideHostCapabilities() on captured hosts', () => {
  it('has a case for every fixture directory', () => {
    assert.deepEqual(FIXTURES.map((c) => c.host).sort(), hostFixtureNames());
  });

  for (const c of FIXTURES) {
    it(`${c.host}: vPMU ${c.vpmu ? 'available' : 'unavailable'}, with the reason and traits`, async () => {
      const caps = decide(loadHostFixture(c.host));
      assert.equal(caps.vpmu.available, c.vpmu);
      assert.match(caps.vpmu.reason, c.reason);
      assert.equal(caps.virtTypes.find((v) => v.virtType === 'kvm')?.usable, c.kvm);
      for (const trait of c.traits)
        assert.ok(caps.traits.includes(trait), `${trait} in ${caps.traits.join(' ')}`);
      for (const trait of c.absent)
        assert.ok(!caps.traits.includes(trait), `${trait} not expected`);
      assert.deepEqual([...caps.traits], [...caps.traits].sort());
      await assertGolden(`host-capabilities/${c.host}.json`, `${JSON.stringify(caps, null, 2)}\n`);
    });
  }

  it('reads this machine as TCG-only: qemu usable, named models listed, EPYC as host-model', () => {
    const caps = decide(loadHostFixture('this-machine-tcg'));
    assert.deepEqual(
      caps.virtTypes.map((v) => [v.virtType, v.usable]),
      [
        ['kvm', false],
        ['qemu', true],
      ],
    );
    assert.ok(caps.cpuModels.includes('qemu64'));
    assert.equal(caps.hostPmu.present, false);
    assert.match(caps.hostPmu.evidence, /no perfctr_core flag/u);
  });
});

describe('decideHostCapabilities() decisions', () => {
  const intel = loadHostFixture('intel-kvm');
  const aarch64 = loadHostFixture('aarch64-kvm');

  // prettier-ignore
  const CASES: readonly { name: string; facts: HostFacts; want: boolean; reason: RegExp }[] = [
    { name: 'KVM with PMU virtualisation switched off', facts: { ...intel, kvmEnablePmu: 'N\n' }, want: false, reason: /enable_pmu is N/u },
    { name: 'a kernel without the enable_pmu switch', facts: { ...intel, kvmEnablePmu: undefined }, want: true, reason: /no enable_pmu switch \(always on\)/u },
    { name: 'capabilities offer kvm but /dev/kvm does not open', facts: { ...intel, kvmDevice: false }, want: false, reason: /^KVM is not usable \(\/dev\/kvm is missing or cannot be opened\)/u },
    { name: 'an Intel CPU without arch_perfmon', facts: { ...intel, cpuinfo: intel.cpuinfo?.replace(' arch_perfmon', '') }, want: false, reason: /no PMU to virtualise: \/proc\/cpuinfo \(GenuineIntel\) has no arch_perfmon flag/u },
    { name: 'no readable /proc/cpuinfo', facts: { ...intel, cpuinfo: undefined }, want: false, reason: /\/proc\/cpuinfo could not be read/u },
    { name: 'libvirt refusing kvm domain capabilities', facts: { ...intel, domainCapabilities: [{ virtType: 'kvm', error: 'no accel' }] }, want: false, reason: /libvirt refuses kvm domain capabilities: no accel/u },
    { name: 'an aarch64 host without a PMUv3 perf device', facts: { ...aarch64, perfEventDevices: ['software'] }, want: false, reason: /no Arm PMUv3 perf device/u },
  ];
  for (const c of CASES) {
    it(`${c.name}: vPMU ${c.want ? 'available' : 'unavailable'}`, () => {
      const caps = decide(c.facts);
      assert.equal(caps.vpmu.available, c.want);
      assert.match(caps.vpmu.reason, c.reason);
      assert.equal(caps.traits.includes('CUSTOM_HW_VPMU'), c.want);
    });
  }

  it('returns an issue, not a throw, for malformed capabilities XML', () => {
    const result = decideHostCapabilities({ ...intel, capabilitiesXml: '<capabilities><host>' });
    assert.ok(!result.ok);
    assert.equal(result.issues[0].code, 'host.probe_failed');
    assert.match(result.issues[0].message, /^Cannot read libvirt capabilities XML: /u);
  });

  it('returns an issue when the capabilities lack a host architecture', () => {
    const result = decideHostCapabilities({
      ...intel,
      capabilitiesXml: '<capabilities><host/></capabilities>',
    });
    assert.equal(result.ok, false);
  });
});

describe('parseCpuinfo()', () => {
  it('reads the vendor and the flags of the first x86 processor', () => {
    const info = parseCpuinfo(
      'processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu arch_perfmon pdcm\n\nprocessor\t: 1\nvendor_id\t: Other\nflags\t: none\n',
    );
    assert.equal(info.vendorId, 'GenuineIntel');
    assert.deepEqual([...info.flags], ['fpu', 'arch_perfmon', 'pdcm']);
  });

  it('reads Arm Features and the implementer', () => {
    const info = parseCpuinfo('processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n');
    assert.equal(info.vendorId, '0x41');
    assert.ok(info.flags.has('asimd'));
  });

  it('gives an empty result for text it does not recognise', () => {
    const info = parseCpuinfo('garbage');
    assert.equal(info.vendorId, undefined);
    assert.equal(info.flags.size, 0);
  });
});
