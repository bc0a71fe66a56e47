import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import type { Flavor, HostSettings, Image } from '../domain/index.js';
import {
  designPerHost,
  hostsThatCanRun,
  NO_HOST_SETTINGS,
  precheckGuest,
} from './server-design.js';

const X86: HostSettings = { ...NO_HOST_SETTINGS, virtType: 'kvm', arch: 'x86_64' };
const PPC: HostSettings = { ...NO_HOST_SETTINGS, virtType: 'kvm', arch: 'ppc64le' };
const ARM_HOST: HostSettings = { ...NO_HOST_SETTINGS, virtType: 'kvm', arch: 'aarch64' };

function guest(extraSpecs: Record<string, string> = {}, properties: Record<string, string> = {}) {
  const flavor: Flavor = { id: 'f', name: 'f', vcpus: 1, memoryMiB: 512, diskGiB: 1, extraSpecs };
  const image: Image = { id: 'i', name: 'i', properties };
  return {
    flavor,
    image,
    name: 'instance-1',
    uuid: '00000000-0000-4000-8000-000000000001',
  };
}

describe('precheckGuest', () => {
  const cases: {
    name: string;
    specs?: Record<string, string>;
    props?: Record<string, string>;
    hosts: HostSettings[];
    want: boolean | null | RegExp;
  }[] = [
    { name: 'unset, no host known', hosts: [], want: null },
    { name: 'flavor on, one x86 host', specs: { 'hw:pmu': 'true' }, hosts: [X86], want: true },
    {
      name: 'image off, x86 and ppc64',
      props: { hw_pmu: 'false' },
      hosts: [X86, PPC],
      want: false,
    },
    { name: 'image off, ppc64 only', props: { hw_pmu: 'false' }, hosts: [PPC], want: /ppc64le/u },
    {
      name: 'off, two ppc64 hosts: one refusal',
      specs: { 'hw:pmu': 'false' },
      hosts: [PPC, PPC],
      want: /ppc64le/u,
    },
    {
      name: 'conflict: refused whatever the host',
      specs: { 'hw:pmu': 'true' },
      props: { hw_pmu: 'false' },
      hosts: [X86, PPC],
      want: /hw:pmu/u,
    },
    {
      name: 'malformed: refused whatever the host',
      specs: { 'hw:pmu': 'maybe' },
      hosts: [X86],
      want: /maybe/u,
    },
    // Refused by both hosts, for different reasons: recorded, and scheduling tells them apart.
    {
      name: 'aarch64 image on x86 and ppc64 kvm hosts',
      props: { hw_architecture: 'aarch64' },
      hosts: [X86, PPC],
      want: null,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const hosts = c.hosts.map((settings, i) => ({ name: `h${i}`, settings }));
      const run = () => precheckGuest(guest(c.specs, c.props), hosts);
      if (c.want instanceof RegExp) {
        assert.throws(
          run,
          (e: unknown) =>
            e instanceof ComputeError && c.want instanceof RegExp && c.want.test(e.message),
        );
      } else {
        const pmu = run();
        assert.equal(pmu.resolved, c.want);
        assert.equal(pmu.effective, null, 'the host decides the effective state at build');
      }
    });
  }
});

describe('hostsThatCanRun', () => {
  it('keeps the order of the hosts that can run the guest, and passes hosts with no settings', () => {
    const hosts = [{ name: 'ppc' }, { name: 'x86' }, { name: 'unknown' }, { name: 'arm' }];
    const settings = new Map([
      ['ppc', PPC],
      ['x86', X86],
      ['arm', ARM_HOST],
    ]);
    const result = hostsThatCanRun(guest({ 'hw:pmu': 'false' }), hosts, (h) => settings.get(h));
    assert.deepEqual(result.ok && result.value.map((h) => h.name), ['x86', 'unknown', 'arm']);
  });

  it('names every host and its reason when none can', () => {
    const settings = new Map([
      ['ppc', PPC],
      ['x86', X86],
    ]);
    const result = hostsThatCanRun(
      guest({}, { hw_architecture: 'aarch64' }),
      [{ name: 'x86' }, { name: 'ppc' }],
      (h) => settings.get(h),
    );
    assert.ok(!result.ok);
    const text = result.issues[0].message;
    assert.match(
      text,
      /^No valid host was found\. No host can run this guest\. x86: .*x86_64 host.*; ppc: .*ppc64le host/u,
    );
  });

  it('designs once per distinct settings', () => {
    const hosts = Array.from({ length: 500 }, (_, i) => ({
      name: `h${i}`,
      settings: i % 2 ? X86 : PPC,
    }));
    const outcomes = designPerHost(guest(), hosts);
    assert.equal(outcomes.size, 500);
    assert.equal(new Set(outcomes.values()).size, 2, 'one design per distinct settings');
  });
});
