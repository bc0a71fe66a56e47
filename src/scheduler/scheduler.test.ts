import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PmuResolution } from '../specs/index.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { aHostState, syntheticHosts } from '../testing/hosts.js';
import { freeCapacity } from './host-state.js';
import { buildRequestSpec, VPMU_TRAIT, type RequestSpec } from './request-spec.js';
import { checkHost, HostIndex, selectHosts } from './select-hosts.js';

const UNSET: PmuResolution = {
  requested: { flavor: null, image: null },
  resolved: null,
  source: 'unset',
};
const ON: PmuResolution = {
  requested: { flavor: null, image: 'true' },
  resolved: true,
  source: 'image',
};
const OFF: PmuResolution = {
  requested: { flavor: 'false', image: null },
  resolved: false,
  source: 'flavor',
};

function request(overrides: Partial<RequestSpec> = {}): RequestSpec {
  return {
    resources: { VCPU: 2, MEMORY_MB: 2048, DISK_GB: 10 },
    requiredTraits: new Set(),
    forbiddenTraits: new Set(),
    ...overrides,
  };
}

describe('buildRequestSpec()', () => {
  // prettier-ignore
  const CASES: readonly { name: string; pmu: PmuResolution; prefilter: boolean; specs?: Record<string, string>; props?: Record<string, string>; required: string[]; forbidden: string[] }[] = [
    { name: 'prefilter off: vPMU on requires nothing',  pmu: ON,    prefilter: false, required: [], forbidden: [] },
    { name: 'prefilter on: vPMU on requires the trait', pmu: ON,    prefilter: true,  required: [VPMU_TRAIT], forbidden: [] },
    { name: 'prefilter on: vPMU off requires nothing',  pmu: OFF,   prefilter: true,  required: [], forbidden: [] },
    { name: 'prefilter on: unset requires nothing',     pmu: UNSET, prefilter: true,  required: [], forbidden: [] },
    { name: 'flavor and image trait: keys',             pmu: UNSET, prefilter: false, specs: { 'trait:HW_CPU_X86_AVX2': 'required' }, props: { 'trait:CUSTOM_GPU': 'forbidden' }, required: ['HW_CPU_X86_AVX2'], forbidden: ['CUSTOM_GPU'] },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const got = buildRequestSpec(
        aFlavor({ extraSpecs: c.specs ?? {} }),
        anImage({ properties: c.props ?? {} }),
        c.pmu,
        { vpmuPrefilter: c.prefilter },
      );
      assert.ok(got.ok);
      assert.deepEqual([...got.value.requiredTraits], c.required);
      assert.deepEqual([...got.value.forbiddenTraits], c.forbidden);
      assert.deepEqual(got.value.resources, { VCPU: 2, MEMORY_MB: 2048, DISK_GB: 10 });
    });
  }

  it('refuses a trait value other than required or forbidden', () => {
    const got = buildRequestSpec(
      aFlavor({ extraSpecs: { 'trait:CUSTOM_X': 'yes' } }),
      anImage(),
      UNSET,
      { vpmuPrefilter: false },
    );
    assert.ok(!got.ok);
    assert.equal(got.issues[0].code, 'spec.invalid_value');
  });

  it('refuses a vPMU request on a flavor that forbids the vPMU trait', () => {
    const got = buildRequestSpec(
      aFlavor({ extraSpecs: { [`trait:${VPMU_TRAIT}`]: 'forbidden' } }),
      anImage(),
      ON,
      { vpmuPrefilter: true },
    );
    assert.ok(!got.ok);
    assert.match(got.issues[0].message, /both require and forbid trait CUSTOM_HW_VPMU/u);
  });
});

describe('checkHost()', () => {
  // prettier-ignore
  const CASES: readonly { name: string; host: ReturnType<typeof aHostState>; req?: Partial<RequestSpec>; want: string | undefined }[] = [
    { name: 'a roomy host passes',                 host: aHostState('a'), want: undefined },
    { name: 'a disabled host',                      host: aHostState('a', { enabled: false }), want: 'disabled' },
    { name: 'a host whose service is down',         host: { ...aHostState('a'), down: true }, want: 'down' },
    { name: 'disabled is said before down',         host: { ...aHostState('a', { enabled: false }), down: true }, want: 'disabled' },
    { name: 'vCPUs overcommitted 4x fit',           host: aHostState('a', { vcpus: 2, used: { VCPU: 6 } }), want: undefined },
    { name: 'vCPUs beyond 4x',                      host: aHostState('a', { vcpus: 2, used: { VCPU: 7 } }), want: 'VCPU' },
    { name: 'RAM is not overcommitted',             host: aHostState('a', { memoryMiB: 4096, used: { MEMORY_MB: 2049 } }), want: 'MEMORY_MB' },
    { name: 'reserved host RAM counts',             host: aHostState('a', { memoryMiB: 2560, reservedMemoryMiB: 512 }), want: undefined },
    { name: 'reserved host RAM counts, one more',   host: aHostState('a', { memoryMiB: 2559, reservedMemoryMiB: 512 }), want: 'MEMORY_MB' },
    { name: 'disk too small',                       host: aHostState('a', { diskGiB: 9 }), want: 'DISK_GB' },
    { name: 'a required trait is missing',          host: aHostState('a'), req: { requiredTraits: new Set([VPMU_TRAIT]) }, want: 'traits' },
    { name: 'a required trait is present',          host: aHostState('a', { traits: [VPMU_TRAIT] }), req: { requiredTraits: new Set([VPMU_TRAIT]) }, want: undefined },
    { name: 'a forbidden trait is present',         host: aHostState('a', { traits: ['CUSTOM_GPU'] }), req: { forbiddenTraits: new Set(['CUSTOM_GPU']) }, want: 'traits' },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      assert.equal(checkHost(c.host, request(c.req)), c.want);
    });
  }
});

describe('selectHosts()', () => {
  it('spreads by free RAM and vCPUs: the emptier host wins', () => {
    const got = selectHosts(
      [aHostState('busy', { used: { MEMORY_MB: 60000, VCPU: 40 } }), aHostState('idle')],
      request(),
    );
    assert.ok(got.ok);
    assert.deepEqual(
      got.value.hosts.map((h) => h.name),
      ['idle'],
    );
  });

  it('breaks ties by host name, whatever the input order', () => {
    const hosts = ['c', 'a', 'b'].map((name) => aHostState(name));
    for (const order of [hosts, [...hosts].reverse()]) {
      const got = selectHosts(order, request(), { count: 3 });
      assert.ok(got.ok);
      assert.deepEqual(
        got.value.hosts.map((h) => h.name),
        ['a', 'b', 'c'],
      );
    }
  });

  it('packs instead with negative multipliers', () => {
    const got = selectHosts(
      [aHostState('busy', { used: { MEMORY_MB: 60000 } }), aHostState('idle')],
      request(),
      { multipliers: { ram: -1, cpu: 0, disk: 0 } },
    );
    assert.ok(got.ok);
    assert.equal(got.value.hosts[0]?.name, 'busy');
  });

  it('with the prefilter, places a vPMU guest only on a host with the trait', () => {
    const pmuRequest = buildRequestSpec(aFlavor(), anImage(), ON, { vpmuPrefilter: true });
    assert.ok(pmuRequest.ok);
    const got = selectHosts(
      [
        aHostState('tcg-roomy'),
        aHostState('kvm-busy', { traits: [VPMU_TRAIT], used: { MEMORY_MB: 60000 } }),
      ],
      pmuRequest.value,
    );
    assert.ok(got.ok);
    assert.equal(got.value.hosts[0]?.name, 'kvm-busy');
    assert.equal(got.value.rejected.traits, 1);
  });

  it('says "No valid host was found." and why', () => {
    const got = selectHosts(
      [
        aHostState('a', { enabled: false }),
        aHostState('b', { memoryMiB: 1024 }),
        { ...aHostState('c'), down: true },
      ],
      request(),
    );
    assert.ok(!got.ok);
    assert.equal(got.issues[0].code, 'scheduler.no_valid_host');
    assert.equal(
      got.issues[0].message,
      'No valid host was found. 3 hosts checked: 1 disabled, 1 with the compute service down, 1 without enough MEMORY_MB.',
    );
  });

  it('says so when there are no hosts at all', () => {
    const got = selectHosts([], request());
    assert.ok(!got.ok);
    assert.equal(got.issues[0].message, 'No valid host was found. There are no compute hosts.');
  });

  it('returns the same best hosts as a plain sort by weight, then name', () => {
    const hosts = syntheticHosts(2000);
    const req = request({ requiredTraits: new Set([VPMU_TRAIT]) });
    const got = selectHosts(hosts, req, { count: 5 });
    assert.ok(got.ok);
    // Oracle: weight = normalised free RAM + normalised free vCPUs, sorted the obvious way.
    const passing = hosts.filter((h) => checkHost(h, req) === undefined);
    const norm = (values: number[]) => {
      const [min, max] = [Math.min(...values), Math.max(...values)];
      return values.map((v) => (max === min ? 0 : (v - min) / (max - min)));
    };
    const ram = norm(passing.map((h) => freeCapacity(h, 'MEMORY_MB')));
    const cpu = norm(passing.map((h) => freeCapacity(h, 'VCPU')));
    const expected = passing
      .map((h, i) => ({ name: h.name, weight: (ram[i] ?? 0) + (cpu[i] ?? 0) }))
      .sort((a, b) => b.weight - a.weight || (a.name < b.name ? -1 : 1))
      .slice(0, 5)
      .map((h) => h.name);
    assert.deepEqual(
      got.value.hosts.map((h) => h.name),
      expected,
    );
  });
});

describe('HostIndex', () => {
  it('returns the same order whether it keeps a few best hosts or sorts them all', () => {
    const hosts = syntheticHosts(3000);
    const index = new HostIndex(hosts);
    const req = request({ requiredTraits: new Set([VPMU_TRAIT]) });
    const all = index.select(req, { count: hosts.length });
    const few = index.select(req, { count: 40 });
    assert.ok(all.ok && few.ok);
    assert.ok(all.value.hosts.length > 500);
    assert.deepEqual(
      few.value.hosts.map((h) => h.name),
      all.value.hosts.slice(0, 40).map((h) => h.name),
    );
    const some = index.select(req, { count: 300 });
    assert.ok(some.ok);
    assert.deepEqual(some.value.hosts, all.value.hosts.slice(0, 300));
  });

  it('leaves excluded hosts out of a decision, as if absent', () => {
    const index = new HostIndex([
      aHostState('a'),
      aHostState('b', { memoryMiB: 32768 }),
      aHostState('c', { enabled: false }),
    ]);
    const got = index.select(request(), { count: 3, excluded: new Set(['a', 'nowhere']) });
    assert.ok(got.ok);
    assert.deepEqual(
      got.value.hosts.map((h) => h.name),
      ['b'],
    );
    const none = index.select(request(), { excluded: new Set(['a', 'b']) });
    assert.ok(!none.ok);
    assert.equal(none.issues[0].message, 'No valid host was found. 1 host checked: 1 disabled.');
    assert.equal(index.size, 3);
    assert.equal(index.get('b')?.name, 'b');
    assert.equal(index.get('x'), undefined);
  });

  it('follows updates: a host filled by claims stops being chosen', () => {
    const index = new HostIndex([aHostState('a'), aHostState('b', { memoryMiB: 32768 })]);
    const first = index.select(request());
    assert.ok(first.ok);
    assert.equal(first.value.hosts[0]?.name, 'a');
    index.update(aHostState('a', { used: { MEMORY_MB: 65536 } }));
    const second = index.select(request());
    assert.ok(second.ok);
    assert.equal(second.value.hosts[0]?.name, 'b');
    assert.equal(second.value.rejected.MEMORY_MB, 1);
  });

  it('follows trait changes on update', () => {
    const index = new HostIndex([aHostState('a', { traits: [VPMU_TRAIT] })]);
    const req = request({ requiredTraits: new Set([VPMU_TRAIT]) });
    assert.ok(index.select(req).ok);
    index.update(aHostState('a', { traits: [] }));
    assert.ok(!index.select(req).ok);
  });

  it('refuses duplicate host names and unknown hosts', () => {
    assert.throws(() => new HostIndex([aHostState('a'), aHostState('a')]), RangeError);
    assert.throws(() => {
      new HostIndex([]).update(aHostState('x'));
    }, RangeError);
  });
});
