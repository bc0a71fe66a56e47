import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFlavorDocument, parseImageDocument } from './documents.js';

describe('parseFlavorDocument()', () => {
  const expected = {
    id: 'f2',
    name: 'vran',
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 10,
    extraSpecs: { 'hw:pmu': 'false' },
  };

  it('reads Nova’s flavor representation, wrapped or bare', () => {
    const bare = {
      id: 'f2',
      name: 'vran',
      vcpus: 2,
      ram: 2048,
      disk: 10,
      extra_specs: { 'hw:pmu': 'false' },
    };
    assert.deepEqual(parseFlavorDocument({ flavor: bare }, 'f.json'), {
      ok: true,
      value: expected,
    });
    assert.deepEqual(parseFlavorDocument(bare, 'f.json'), { ok: true, value: expected });
  });

  it('reads `openstack flavor show -f json`, with properties as an object or the older string', () => {
    const osc = {
      id: 'f2',
      name: 'vran',
      vcpus: 2,
      ram: 2048,
      disk: 10,
      'OS-FLV-EXT-DATA:ephemeral': 0,
    };
    assert.deepEqual(parseFlavorDocument({ ...osc, properties: { 'hw:pmu': 'false' } }, 'f.json'), {
      ok: true,
      value: expected,
    });
    const specs = { 'hw:pmu': 'false', 'hw:cpu_sockets': '2' };
    const got = parseFlavorDocument(
      { ...osc, properties: "hw:pmu='false', hw:cpu_sockets='2'" },
      'f.json',
    );
    assert.deepEqual(got, { ok: true, value: { ...expected, extraSpecs: specs } });
  });

  it('turns numeric extra specs into strings, as Nova does', () => {
    const got = parseFlavorDocument(
      { name: 'n', vcpus: 1, ram: 64, disk: 0, extra_specs: { 'hw:cpu_sockets': 1 } },
      'f.json',
    );
    assert.ok(got.ok);
    assert.deepEqual(got.value.extraSpecs, { 'hw:cpu_sockets': '1' });
  });

  it('reports every missing or mistyped field, naming the file', () => {
    const got = parseFlavorDocument(
      { name: 7, ram: '64', extra_specs: { 'hw:pmu': false } },
      'bad.json',
    );
    assert.ok(!got.ok);
    assert.deepEqual(
      got.issues.map((issue) => issue.path.join('.')),
      ['flavor.name', 'flavor.vcpus', 'flavor.ram', 'flavor.disk', 'flavor.extra_specs.hw:pmu'],
    );
    assert.match(
      got.issues[0].message,
      /^Cannot read flavor document bad\.json: 'name' must be a string$/u,
    );
    assert.match(got.issues[4]?.message ?? '', /the value must be a string, not false$/u);
  });

  it('refuses a document that is not an object', () => {
    const got = parseFlavorDocument([1, 2], 'list.json');
    assert.ok(!got.ok);
    assert.equal(
      got.issues[0].message,
      'Cannot read flavor document list.json: expected a JSON object',
    );
  });
});

describe('parseImageDocument()', () => {
  it('reads Glance’s flat image: properties beside the core fields', () => {
    const glance = {
      id: 'i1',
      name: 'perf',
      owner: 'p1',
      status: 'active',
      visibility: 'public',
      disk_format: 'qcow2',
      container_format: 'bare',
      size: 13287936,
      tags: [],
      min_ram: 0,
      hw_pmu: 'true',
      hw_disk_bus: 'virtio',
      locations: [],
      os_hidden: false,
      checksum: null,
    };
    assert.deepEqual(parseImageDocument(glance, 'i.json'), {
      ok: true,
      value: {
        id: 'i1',
        name: 'perf',
        owner: 'p1',
        properties: { hw_pmu: 'true', hw_disk_bus: 'virtio' },
      },
    });
  });

  it('reads `openstack image show -f json`, whose properties are nested', () => {
    const osc = {
      id: 'i1',
      name: 'perf',
      owner: 'p1',
      properties: { hw_pmu: 'true', os_hidden: false },
    };
    assert.deepEqual(parseImageDocument(osc, 'i.json'), {
      ok: true,
      value: {
        id: 'i1',
        name: 'perf',
        owner: 'p1',
        properties: { hw_pmu: 'true', os_hidden: false },
      },
    });
  });

  it('keeps a Glance image without a name as an empty name', () => {
    const got = parseImageDocument({ id: 'i1', name: null }, 'i.json');
    assert.ok(got.ok);
    assert.equal(got.value.name, '');
  });

  it('refuses a property that is not a scalar', () => {
    const got = parseImageDocument({ name: 'x', properties: { hw_pmu: ['true'] } }, 'i.json');
    assert.ok(!got.ok);
    assert.deepEqual(got.issues[0].path, ['image', 'properties', 'hw_pmu']);
  });
});
