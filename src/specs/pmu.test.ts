import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Architecture, CpuMode, PropertyValue, VirtType } from '../domain/index.js';
import type { ErrorCode } from '../errors/index.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { checkPmuForGuest, explainPmu, resolvePmu, type PmuResolution } from './pmu.js';

interface Case {
  readonly name: string;
  readonly flavor?: string; // raw hw:pmu
  readonly image?: PropertyValue; // raw hw_pmu
  readonly want: boolean | null | ErrorCode;
  readonly source?: PmuResolution['source'];
}

// Rows of reference/nova-pmu.md §0, §1.4 and §9, with our stricter handling of unrecognised values.
// prettier-ignore
const CASES: readonly Case[] = [
  { name: 'unset in both leaves it to the hypervisor',         want: null, source: 'unset' },
  { name: 'flavor true',                 flavor: 'true',       want: true, source: 'flavor' },
  { name: 'flavor True',                 flavor: 'True',       want: true, source: 'flavor' },
  { name: 'flavor " YES " (trimmed)',    flavor: ' YES ',      want: true, source: 'flavor' },
  { name: 'flavor on',                   flavor: 'on',         want: true, source: 'flavor' },
  { name: 'flavor t',                    flavor: 't',          want: true, source: 'flavor' },
  { name: 'flavor y',                    flavor: 'y',          want: true, source: 'flavor' },
  { name: 'flavor 1',                    flavor: '1',          want: true, source: 'flavor' },
  { name: 'flavor TRUE',                 flavor: 'TRUE',       want: true, source: 'flavor' },
  { name: 'flavor false',                flavor: 'false',      want: false, source: 'flavor' },
  { name: 'flavor 0',                    flavor: '0',          want: false, source: 'flavor' },
  { name: 'flavor off',                  flavor: 'off',        want: false, source: 'flavor' },
  { name: 'flavor no',                   flavor: 'no',         want: false, source: 'flavor' },
  { name: 'image true string',                                 image: 'true',  want: true, source: 'image' },
  { name: 'image yes (Nova PMUEnabledTest image only)',        image: 'yes',   want: true, source: 'image' },
  { name: 'image JSON true',                                   image: true,    want: true, source: 'image' },
  { name: 'image number 1',                                    image: 1,       want: true, source: 'image' },
  { name: 'image false string',                                image: 'false', want: false, source: 'image' },
  { name: 'image JSON false',                                  image: false,   want: false, source: 'image' },
  { name: 'agreeing: true and JSON true (Nova same value)', flavor: 'true', image: true, want: true, source: 'both' },
  { name: 'agreeing: yes and true',      flavor: 'yes',   image: 'true',  want: true,  source: 'both' },
  { name: 'agreeing: no and off',        flavor: 'no',    image: 'off',   want: false, source: 'both' },
  { name: 'conflicting: true and JSON false', flavor: 'true', image: false, want: 'spec.flavor_image_conflict' },
  { name: 'conflicting: false and true', flavor: 'false', image: 'true',  want: 'spec.flavor_image_conflict' },
  // Nova turns these into False (emitting pmu off, or a confusing conflict); we refuse them.
  { name: 'malformed flavor maybe',      flavor: 'maybe',                 want: 'spec.invalid_value' },
  { name: 'malformed flavor empty',      flavor: '',                      want: 'spec.invalid_value' },
  { name: 'malformed flavor 2',          flavor: '2',                     want: 'spec.invalid_value' },
  { name: 'malformed flavor 1.0',        flavor: '1.0',                   want: 'spec.invalid_value' },
  { name: 'malformed image maybe',                         image: 'maybe', want: 'spec.invalid_value' },
  { name: 'malformed image empty',                         image: '',      want: 'spec.invalid_value' },
  { name: 'malformed image number 2',                      image: 2,       want: 'spec.invalid_value' },
  { name: 'malformed flavor maybe with image true', flavor: 'maybe', image: 'true', want: 'spec.invalid_value' },
  { name: 'malformed flavor maybe with image false', flavor: 'maybe', image: false, want: 'spec.invalid_value' },
];

describe('resolvePmu()', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const flavor = aFlavor({
        name: 'foo',
        extraSpecs: c.flavor === undefined ? {} : { 'hw:pmu': c.flavor },
      });
      const image = anImage({
        name: 'bar',
        properties: c.image === undefined ? {} : { hw_pmu: c.image },
      });

      const got = resolvePmu(flavor, image);

      if (typeof c.want === 'string') {
        assert.ok(!got.ok, 'expected issues');
        assert.deepEqual(
          got.issues.map((issue) => issue.code),
          [c.want],
        );
      } else {
        assert.ok(got.ok, got.ok ? '' : got.issues[0].message);
        assert.equal(got.value.resolved, c.want);
        assert.equal(got.value.source, c.source);
        assert.deepEqual(got.value.requested, {
          flavor: c.flavor ?? null,
          image: c.image === undefined ? null : String(c.image),
        });
      }
    });
  }

  it('reports a conflict with Nova’s exact message', () => {
    const got = resolvePmu(
      aFlavor({ name: 'foo', extraSpecs: { 'hw:pmu': 'true' } }),
      anImage({ name: 'bar', properties: { hw_pmu: false } }),
    );
    assert.ok(!got.ok);
    assert.equal(
      got.issues[0].message,
      'Flavor foo has hw:pmu extra spec explicitly set to True, conflicting with image bar which has hw_pmu explicitly set to False.',
    );
  });

  it('names the key, the value, the object and the grammar for a malformed value', () => {
    const got = resolvePmu(aFlavor({ name: 'vran', extraSpecs: { 'hw:pmu': 'maybe' } }), anImage());
    assert.ok(!got.ok);
    assert.deepEqual(got.issues[0].path, ['flavor', 'extra_specs', 'hw:pmu']);
    assert.match(
      got.issues[0].message,
      /^Validation failed; 'maybe' is not a valid boolean-like value\./u,
    );
    assert.match(got.issues[0].message, /extra spec 'hw:pmu' of flavor 'vran'.*yes\/no/u);
  });

  it('reports both malformed sides at once', () => {
    const got = resolvePmu(
      aFlavor({ extraSpecs: { 'hw:pmu': 'ture' } }),
      anImage({ properties: { hw_pmu: 'flase' } }),
    );
    assert.ok(!got.ok);
    assert.deepEqual(
      got.issues.map((issue) => issue.path.join('.')),
      ['flavor.extra_specs.hw:pmu', 'image.properties.hw_pmu'],
    );
  });

  it('ignores a differently cased key, as Nova does (hw:PMU is not hw:pmu)', () => {
    const got = resolvePmu(aFlavor({ extraSpecs: { 'hw:PMU': 'true' } }), anImage());
    assert.ok(got.ok);
    assert.equal(got.value.resolved, null);
  });
});

const OFF: PmuResolution = {
  requested: { flavor: 'false', image: null },
  resolved: false,
  source: 'flavor',
};
const ON: PmuResolution = {
  requested: { flavor: null, image: 'true' },
  resolved: true,
  source: 'image',
};
const UNSET: PmuResolution = {
  requested: { flavor: null, image: null },
  resolved: null,
  source: 'unset',
};

describe('checkPmuForGuest()', () => {
  // prettier-ignore
  const GUARDS: readonly { arch: Architecture; virtType: VirtType; pmu: PmuResolution; ok: boolean }[] = [
    { arch: 'ppc64',   virtType: 'kvm',  pmu: OFF,   ok: false },
    { arch: 'ppc64le', virtType: 'qemu', pmu: OFF,   ok: false },
    { arch: 'ppc64',   virtType: 'kvm',  pmu: ON,    ok: true },
    { arch: 'ppc64',   virtType: 'kvm',  pmu: UNSET, ok: true },
    { arch: 'ppc64',   virtType: 'lxc',  pmu: OFF,   ok: true }, // lxc emits nothing, so nothing fails
    { arch: 'x86_64',  virtType: 'kvm',  pmu: OFF,   ok: true },
    { arch: 'aarch64', virtType: 'kvm',  pmu: OFF,   ok: true },
  ];
  for (const g of GUARDS) {
    it(`${g.ok ? 'accepts' : 'refuses'} pmu ${String(g.pmu.resolved)} for ${g.arch} ${g.virtType}`, () => {
      const got = checkPmuForGuest(g.pmu, g);
      assert.equal(got.ok, g.ok);
      if (!got.ok) {
        assert.equal(got.issues[0].code, 'spec.unsupported_for_guest');
        assert.match(
          got.issues[0].message,
          /^Cannot honour hw:pmu=false from the flavor for a ppc64(le)? guest/u,
        );
      }
    });
  }
});

describe('explainPmu()', () => {
  // DESIGN §2.6: unset is not "on".
  // prettier-ignore
  const EXPLAIN: readonly { pmu: PmuResolution; arch: Architecture; virtType: VirtType; cpuMode: CpuMode; cpuModel?: string; want: 'on' | 'off'; reason: RegExp }[] = [
    { pmu: UNSET, arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'host-passthrough', want: 'on',  reason: /Not requested.*host-passthrough/u },
    { pmu: UNSET, arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'maximum',          want: 'on',  reason: /maximum/u },
    { pmu: UNSET, arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'host-model',       want: 'off', reason: /off by default for host-model/u },
    { pmu: UNSET, arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'custom', cpuModel: 'Nehalem', want: 'off', reason: /named CPU model Nehalem/u },
    { pmu: ON,    arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'host-model',       want: 'on',  reason: /^Requested by hw_pmu=true from the image; libvirt passes pmu=on to QEMU\.$/u },
    { pmu: OFF,   arch: 'x86_64',  virtType: 'kvm',  cpuMode: 'host-passthrough', want: 'off', reason: /^Requested by hw:pmu=false from the flavor; libvirt passes pmu=off/u },
    { pmu: ON,    arch: 'x86_64',  virtType: 'qemu', cpuMode: 'maximum',          want: 'off', reason: /TCG.*cannot take effect/u },
    { pmu: UNSET, arch: 'x86_64',  virtType: 'qemu', cpuMode: 'maximum',          want: 'off', reason: /TCG/u },
    { pmu: UNSET, arch: 'i686',    virtType: 'qemu', cpuMode: 'host-model',       want: 'off', reason: /TCG/u },
    { pmu: UNSET, arch: 'aarch64', virtType: 'kvm',  cpuMode: 'host-passthrough', want: 'on',  reason: /aarch64/u },
    { pmu: UNSET, arch: 'aarch64', virtType: 'qemu', cpuMode: 'maximum',          want: 'on',  reason: /aarch64/u },
    { pmu: OFF,   arch: 'aarch64', virtType: 'kvm',  cpuMode: 'host-passthrough', want: 'off', reason: /hw:pmu=false/u },
    { pmu: UNSET, arch: 'ppc64le', virtType: 'kvm',  cpuMode: 'host-model',       want: 'on',  reason: /always have a PMU/u },
    { pmu: ON,    arch: 'x86_64',  virtType: 'lxc',  cpuMode: 'host-model',       want: 'off', reason: /^lxc guests have no virtual PMU; hw_pmu=true from the image is checked but has no effect\.$/u },
    { pmu: UNSET, arch: 'x86_64',  virtType: 'lxc',  cpuMode: 'host-model',       want: 'off', reason: /^lxc guests have no virtual PMU\.$/u },
  ];
  for (const e of EXPLAIN) {
    it(`${e.arch} ${e.virtType} ${e.cpuMode} with pmu ${String(e.pmu.resolved)} is ${e.want}`, () => {
      const got = explainPmu(e.pmu, e);
      assert.equal(got.effective, e.want);
      assert.match(got.reason, e.reason);
    });
  }
});
