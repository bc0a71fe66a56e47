import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { makeTestApi, type TestApi } from '../testing/api.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

const NEW_FLAVOR = {
  name: 'vran',
  ram: 64,
  vcpus: 1,
  disk: 0,
  id: null,
  swap: 0,
  'OS-FLV-EXT-DATA:ephemeral': 0,
  rxtx_factor: 1.0,
  'os-flavor-access:is_public': true,
};

async function createFlavor(
  api: TestApi,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const res = await api.request('POST', '/compute/v2.1/flavors', {
    body: { flavor: { ...NEW_FLAVOR, ...overrides } },
    headers: MV('2.61'),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { flavor: { id: string } }).flavor.id;
}

function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

function extraSpecs(res: { body: unknown }): unknown {
  return (res.body as { extra_specs: unknown }).extra_specs;
}

describe('compute API: versions and microversions', () => {
  it('serves the version documents the openstack client needs, without a token', async () => {
    const api = await makeTestApi();
    const root = await api.request('GET', '/compute/', { as: null });
    assert.equal(root.status, 200);
    // Nova's build_versions: v2.0 first, each entry with its self link only.
    assert.deepEqual(root.body, {
      versions: [
        {
          id: 'v2.0',
          status: 'SUPPORTED',
          version: '',
          min_version: '',
          updated: '2011-01-21T11:33:21Z',
          links: [{ rel: 'self', href: 'http://vpmu.test/compute/v2/' }],
        },
        {
          id: 'v2.1',
          status: 'CURRENT',
          version: '2.96',
          min_version: '2.1',
          updated: '2013-07-23T11:33:21Z',
          links: [{ rel: 'self', href: 'http://vpmu.test/compute/v2.1/' }],
        },
      ],
    });
    // prettier-ignore
    const DOCS = [
      { path: '/compute/v2.1', id: 'v2.1', status: 'CURRENT', version: '2.96', min: '2.1', updated: '2013-07-23T11:33:21Z', self: 'http://vpmu.test/compute/v2.1/', type: 'application/vnd.openstack.compute+json;version=2.1' },
      { path: '/compute/v2.1/', id: 'v2.1', status: 'CURRENT', version: '2.96', min: '2.1', updated: '2013-07-23T11:33:21Z', self: 'http://vpmu.test/compute/v2.1/', type: 'application/vnd.openstack.compute+json;version=2.1' },
      { path: '/compute/v2', id: 'v2.0', status: 'SUPPORTED', version: '', min: '', updated: '2011-01-21T11:33:21Z', self: 'http://vpmu.test/compute/v2/', type: 'application/vnd.openstack.compute+json;version=2' },
      { path: '/compute/v2/', id: 'v2.0', status: 'SUPPORTED', version: '', min: '', updated: '2011-01-21T11:33:21Z', self: 'http://vpmu.test/compute/v2/', type: 'application/vnd.openstack.compute+json;version=2' },
    ];
    for (const doc of DOCS) {
      const res = await api.request('GET', doc.path, { as: null });
      assert.equal(res.status, 200, doc.path);
      // Nova's build_version: the self link first, then describedby, and the media types.
      assert.deepEqual(
        res.body,
        {
          version: {
            id: doc.id,
            status: doc.status,
            version: doc.version,
            min_version: doc.min,
            updated: doc.updated,
            links: [
              { rel: 'self', href: doc.self },
              { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
            ],
            'media-types': [{ base: 'application/json', type: doc.type }],
          },
        },
        doc.path,
      );
    }
  });

  // prettier-ignore
  const NEGOTIATION = [
    { name: 'no header', headers: {}, want: '2.1' },
    { name: 'OpenStack-API-Version', headers: { 'OpenStack-API-Version': 'compute 2.61' }, want: '2.61' },
    { name: 'a list naming compute second', headers: { 'OpenStack-API-Version': 'volume 3.0, compute 2.75' }, want: '2.75' },
    { name: 'X-OpenStack-Nova-API-Version', headers: { 'X-OpenStack-Nova-API-Version': '2.92' }, want: '2.92' },
    { name: 'latest', headers: { 'OpenStack-API-Version': 'compute latest' }, want: '2.96' },
    { name: 'both (the generic header wins)', headers: { 'OpenStack-API-Version': 'compute 2.60', 'X-OpenStack-Nova-API-Version': '2.90' }, want: '2.60' },
  ];
  for (const row of NEGOTIATION) {
    it(`negotiates ${row.want} from ${row.name} and echoes both headers`, async () => {
      const api = await makeTestApi();
      const res = await api.request('GET', '/compute/v2.1/flavors', { headers: row.headers });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('OpenStack-API-Version'), `compute ${row.want}`);
      assert.equal(res.headers.get('X-OpenStack-Nova-API-Version'), row.want);
      assert.match(res.headers.get('Vary') ?? '', /OpenStack-API-Version/u);
    });
  }

  it('answers an out-of-range microversion with 406 and a malformed one with 400', async () => {
    const api = await makeTestApi();
    const high = await api.request('GET', '/compute/v2.1/flavors', { headers: MV('2.97') });
    assert.equal(high.status, 406);
    assert.deepEqual(high.body, {
      computeFault: {
        code: 406,
        message: 'Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96.',
      },
    });
    assert.equal(high.headers.get('X-Compute-Error-Code'), 'request.not_acceptable');
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { headers: MV('3.0') })).status,
      406,
    );
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { headers: MV('2.0') })).status,
      406,
    );
    const bad = await api.request('GET', '/compute/v2.1/flavors', { headers: MV('two') });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /API Version String two is of invalid format/u);
  });

  it('refuses a JSON body over 1 MiB with 413 overLimit, storing nothing', async () => {
    const api = await makeTestApi();
    const huge = {
      flavor: { name: 'big', ram: 64, vcpus: 1, disk: 0, description: 'x'.repeat(1024 * 1024) },
    };
    const res = await api.request('POST', '/compute/v2.1/flavors', {
      body: huge,
      headers: { 'OpenStack-API-Version': 'compute 2.55' },
    });
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'request.too_large');
    assert.ok('overLimit' in (res.body as object));
    assert.deepEqual(await api.store.listFlavors(), []);
  });

  it('answers unknown paths with a Nova itemNotFound fault', async () => {
    const api = await makeTestApi();
    const res = await api.request('GET', '/compute/v2.1/nothing-here');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'route.not_found');
    assert.ok('itemNotFound' in (res.body as object));
  });

  it('answers an unexpected failure with 500 computeFault, logs the stack and leaks nothing', async () => {
    const store = new MemoryStore();
    const api = await makeTestApi({ store });
    await api.token('admin');
    store.queryFlavors = () => Promise.reject(new Error('disk on fire at /secret/path'));
    const res = await api.request('GET', '/compute/v2.1/flavors');
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'internal.unexpected');
    const requestId = res.headers.get('X-OpenStack-Request-ID') ?? '';
    assert.match(requestId, /^req-/u);
    assert.deepEqual(res.body, {
      computeFault: {
        code: 500,
        message: `Unexpected API Error. The service log has the details under request ${requestId}.`,
      },
    });
    assert.doesNotMatch(res.text, /secret|fire|at /u);
    const logged = api.logged.find((l) => l.level === 'error');
    assert.ok(logged !== undefined);
    assert.equal(logged.fields.requestId, requestId);
    assert.match(JSON.stringify(logged.fields.err), /disk on fire/u);
  });
});

describe('compute API: flavors', () => {
  it('creates a flavor the way `openstack flavor create` asks, and shows it by microversion', async () => {
    const api = await makeTestApi();
    const id = await createFlavor(api);
    assert.match(id, /^[0-9a-f-]{36}$/u);
    const at261 = await api.request('GET', `/compute/v2.1/flavors/${id}`, { headers: MV('2.61') });
    assert.deepEqual(at261.body, {
      flavor: {
        id,
        name: 'vran',
        ram: 64,
        disk: 0,
        swap: '',
        'OS-FLV-EXT-DATA:ephemeral': 0,
        'OS-FLV-DISABLED:disabled': false,
        vcpus: 1,
        'os-flavor-access:is_public': true,
        rxtx_factor: 1,
        links: [
          { rel: 'self', href: `http://vpmu.test/compute/v2.1/flavors/${id}` },
          { rel: 'bookmark', href: `http://vpmu.test/compute/flavors/${id}` },
        ],
        description: null,
        extra_specs: {},
      },
    });
    const at21 = (await api.request('GET', `/compute/v2.1/flavors/${id}`)).body as {
      flavor: Record<string, unknown>;
    };
    assert.equal('extra_specs' in at21.flavor, false);
    assert.equal('description' in at21.flavor, false);
    const at275 = (await api.request('GET', `/compute/v2.1/flavors/${id}`, { headers: MV('2.75') }))
      .body as { flavor: Record<string, unknown> };
    assert.equal(at275.flavor.swap, 0);
  });

  it('lists flavors (summary and detail) and looks them up by id', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f2', name: 'b' });
    await createFlavor(api, { id: 'f1', name: 'a', ram: '128', vcpus: '2' });
    const summary = await api.request('GET', '/compute/v2.1/flavors');
    assert.deepEqual(
      (summary.body as { flavors: { id: string; name: string }[] }).flavors.map((f) => [
        f.id,
        f.name,
        Object.keys(f).length,
      ]),
      [
        ['f1', 'a', 3],
        ['f2', 'b', 3],
      ],
    );
    const detail = await api.request('GET', '/compute/v2.1/flavors/detail?is_public=True', {
      headers: MV('2.61'),
    });
    assert.deepEqual(
      (detail.body as { flavors: { ram: number; vcpus: number }[] }).flavors.map((f) => [
        f.ram,
        f.vcpus,
      ]),
      [
        [128, 2],
        [64, 1],
      ],
    );
    const missing = await api.request('GET', '/compute/v2.1/flavors/m1.tiny');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, {
      itemNotFound: { code: 404, message: 'Flavor m1.tiny could not be found.' },
    });
    assert.equal(missing.headers.get('X-Compute-Error-Code'), 'flavor.not_found');
  });

  it('keeps private flavors to admins and projects on the access list', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'pub', name: 'pub' });
    await createFlavor(api, { id: 'priv', name: 'priv', 'os-flavor-access:is_public': false });
    const ids = async (as: 'admin' | 'member' | 'other', query = '') =>
      (
        (await api.request('GET', `/compute/v2.1/flavors${query}`, { as })).body as {
          flavors: { id: string }[];
        }
      ).flavors.map((f) => f.id);
    assert.deepEqual(await ids('admin'), ['pub']);
    assert.deepEqual(await ids('admin', '?is_public=false'), ['priv']);
    assert.deepEqual(await ids('admin', '?is_public=None'), ['priv', 'pub']);
    assert.deepEqual(await ids('member'), ['pub']);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors/priv', { as: 'member' })).status,
      404,
    );
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors/priv/os-extra_specs', { as: 'member' }))
        .status,
      404,
    );
    const demo = (await api.store.findProject('demo', 'default'))?.id ?? '';
    const grant = await api.request('POST', '/compute/v2.1/flavors/priv/action', {
      body: { addTenantAccess: { tenant: demo } },
    });
    assert.equal(grant.status, 200);
    assert.deepEqual(await ids('member'), ['priv', 'pub']);
    assert.deepEqual(await ids('other'), ['pub']);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors/priv', { as: 'member' })).status,
      200,
    );
    const again = await api.request('POST', '/compute/v2.1/flavors/priv/action', {
      body: { addTenantAccess: { tenant: demo } },
    });
    assert.equal(again.status, 409);
    for (const as of ['member', 'other'] as const) {
      const share = await api.request('POST', '/compute/v2.1/flavors/priv/action', {
        as,
        body: { addTenantAccess: { tenant: demo } },
      });
      assert.equal(share.status, 403, `addTenantAccess as ${as}`);
      const list = await api.request('GET', '/compute/v2.1/flavors/priv/os-flavor-access', { as });
      assert.equal(list.status, 403, `os-flavor-access as ${as}`);
    }
    const access = await api.request('GET', '/compute/v2.1/flavors/priv/os-flavor-access');
    assert.deepEqual(
      (access.body as { flavor_access: { tenant_id: string }[] }).flavor_access
        .map((a) => a.tenant_id)
        .sort(),
      // As in Nova, the creating (admin) project is not put on the list (bug 1209101).
      [demo],
    );
    assert.equal(
      (
        await api.request('POST', '/compute/v2.1/flavors/pub/action', {
          body: { addTenantAccess: { tenant: demo } },
        })
      ).status,
      409,
    );
    assert.equal((await api.request('GET', '/compute/v2.1/flavors?is_public=maybe')).status, 400);
  });

  it('lets only admins create, delete or change flavors (403, nothing changes)', async () => {
    const api = await makeTestApi();
    const id = await createFlavor(api, { id: 'f1' });
    for (const as of ['member', 'reader', 'other'] as const) {
      const attempts = [
        await api.request('POST', '/compute/v2.1/flavors', {
          as,
          body: { flavor: { ...NEW_FLAVOR, name: 'x' } },
        }),
        await api.request('DELETE', `/compute/v2.1/flavors/${id}`, { as }),
        await api.request('POST', `/compute/v2.1/flavors/${id}/os-extra_specs`, {
          as,
          body: { extra_specs: { 'hw:pmu': 'true' } },
        }),
        await api.request('PUT', `/compute/v2.1/flavors/${id}/os-extra_specs/hw:pmu`, {
          as,
          body: { 'hw:pmu': 'true' },
        }),
        await api.request('DELETE', `/compute/v2.1/flavors/${id}/os-extra_specs/hw:pmu`, { as }),
      ];
      for (const res of attempts) {
        assert.equal(res.status, 403, JSON.stringify(res.body));
        assert.equal(res.headers.get('X-Compute-Error-Code'), 'auth.forbidden');
        assert.match(
          JSON.stringify(res.body),
          /"forbidden":\{"code":403,"message":"Policy doesn't allow os_compute_api:/u,
        );
      }
    }
    assert.equal((await api.store.listFlavors()).length, 1);
    assert.deepEqual((await api.store.getFlavor('f1'))?.extraSpecs, {});
  });

  it('deletes a flavor with 202; deleting it again is a 404', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1' });
    assert.equal((await api.request('DELETE', '/compute/v2.1/flavors/f1')).status, 202);
    assert.equal((await api.request('DELETE', '/compute/v2.1/flavors/f1')).status, 404);
  });

  it('refuses a duplicate flavor id or name with 409 conflictingRequest', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1', name: 'a' });
    const sameId = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { ...NEW_FLAVOR, id: 'f1', name: 'b' } },
    });
    assert.deepEqual(sameId.body, {
      conflictingRequest: { code: 409, message: 'Flavor with ID f1 already exists.' },
    });
    const sameName = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { ...NEW_FLAVOR, id: 'f2', name: 'a' } },
    });
    assert.deepEqual(sameName.body, {
      conflictingRequest: { code: 409, message: 'Flavor with name a already exists.' },
    });
  });

  // prettier-ignore
  const BAD_FLAVORS = [
    { name: 'ram 0', flavor: { ram: 0 }, field: 'ram' },
    { name: 'ram text', flavor: { ram: 'lots' }, field: 'ram' },
    { name: 'vcpus missing', flavor: { vcpus: undefined }, field: 'vcpus' },
    { name: 'negative disk', flavor: { disk: -1 }, field: 'disk' },
    { name: 'a name with leading space', flavor: { name: ' x' }, field: 'name' },
    { name: 'an unknown field', flavor: { colour: 'red' }, field: 'flavor' },
    { name: 'is_public as text Nova does not take', flavor: { 'os-flavor-access:is_public': 'y' }, field: 'os-flavor-access:is_public' },
    { name: 'is_public as a number', flavor: { 'os-flavor-access:is_public': 1 }, field: 'os-flavor-access:is_public' },
    { name: 'rxtx_factor 0', flavor: { rxtx_factor: 0 }, field: 'rxtx_factor' },
    { name: 'a bad id', flavor: { id: 'a/b' }, field: 'id' },
  ];
  for (const row of BAD_FLAVORS) {
    it(`refuses a flavor with ${row.name}: 400 naming the field, nothing created`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/compute/v2.1/flavors', {
        body: { flavor: { ...NEW_FLAVOR, ...row.flavor } },
      });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('X-Compute-Error-Code'), 'request.invalid');
      assert.match(
        (res.body as { badRequest: { message: string } }).badRequest.message,
        new RegExp(`Invalid input for field/attribute ${row.field}\\.`, 'u'),
      );
      assert.deepEqual(await api.store.listFlavors(), []);
    });
  }

  it('accepts description only from 2.55', async () => {
    const api = await makeTestApi();
    const old = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { ...NEW_FLAVOR, description: 'd' } },
      headers: MV('2.54'),
    });
    assert.equal(old.status, 400);
    const res = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { ...NEW_FLAVOR, description: 'd' } },
      headers: MV('2.55'),
    });
    assert.equal((res.body as { flavor: { description: string } }).flavor.description, 'd');
  });
});

describe('compute API: os-extra_specs', () => {
  it('refuses more than 128 extra specs on a flavor with a 400 naming the limit (12,000 were a 500)', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1' });
    const some = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v']));
    const first = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: some },
    });
    assert.equal(first.status, 200);
    const more = Object.fromEntries(Array.from({ length: 29 }, (_, i) => [`m${i}`, 'v']));
    const over = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: more },
    });
    assert.equal(over.status, 400);
    assert.deepEqual(over.body, {
      badRequest: {
        code: 400,
        message:
          'Cannot set extra specs on flavor f1: it would have 129 extra specs, and a flavor may have at most 128',
      },
    });
    const many = Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`x${i}`, 'v']));
    const huge = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: many },
    });
    assert.equal(huge.status, 400);
    const kept = await api.request('GET', '/compute/v2.1/flavors/f1/os-extra_specs');
    assert.equal(Object.keys((kept.body as { extra_specs: object }).extra_specs).length, 100);
  });

  it('sets, lists, shows, updates and deletes extra specs', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1' });
    const set = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: { 'hw:pmu': 'false', 'trait:CUSTOM_X': 'required' } },
      headers: MV('2.61'),
    });
    assert.equal(set.status, 200);
    assert.deepEqual(extraSpecs(set), { 'hw:pmu': 'false', 'trait:CUSTOM_X': 'required' });
    const put = await api.request('PUT', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu', {
      body: { 'hw:pmu': 'on' },
    });
    assert.deepEqual(put.body, { 'hw:pmu': 'on' });
    assert.deepEqual(
      extraSpecs(
        await api.request('GET', '/compute/v2.1/flavors/f1/os-extra_specs', { as: 'member' }),
      ),
      { 'hw:pmu': 'on', 'trait:CUSTOM_X': 'required' },
    );
    assert.deepEqual(
      (await api.request('GET', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu', { as: 'reader' }))
        .body,
      { 'hw:pmu': 'on' },
    );
    const flavor = await api.request('GET', '/compute/v2.1/flavors/f1', { headers: MV('2.61') });
    assert.deepEqual((flavor.body as { flavor: { extra_specs: unknown } }).flavor.extra_specs, {
      'hw:pmu': 'on',
      'trait:CUSTOM_X': 'required',
    });
    const del = await api.request('DELETE', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu');
    assert.equal(del.status, 200);
    const gone = await api.request('GET', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu');
    assert.deepEqual(gone.body, {
      itemNotFound: { code: 404, message: 'Flavor f1 has no extra specs with key hw:pmu.' },
    });
    assert.equal(
      (await api.request('DELETE', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu')).status,
      404,
    );
    assert.equal(
      (
        await api.request('POST', '/compute/v2.1/flavors/nope/os-extra_specs', {
          body: { extra_specs: { a: 'b' } },
        })
      ).status,
      404,
    );
  });

  // Known keys: bad values refused at every microversion (DESIGN §2.4); unknown keys in a
  // validated namespace refused from 2.86 (Nova); other namespaces always pass.
  // prettier-ignore
  const CASES = [
    { name: 'hw:pmu=maybe at 2.61', mv: '2.61', specs: { 'hw:pmu': 'maybe' }, want: 'spec.invalid_value' },
    { name: 'hw:pmu=maybe at 2.1', mv: '2.1', specs: { 'hw:pmu': 'maybe' }, want: 'spec.invalid_value' },
    { name: 'hw:pmu=maybe at 2.86', mv: '2.86', specs: { 'hw:pmu': 'maybe' }, want: 'spec.invalid_value' },
    { name: 'hw:pmu="" at 2.61', mv: '2.61', specs: { 'hw:pmu': '' }, want: 'spec.invalid_value' },
    { name: 'hw:pmu=1 (a JSON number) at 2.61', mv: '2.61', specs: { 'hw:pmu': 1 }, want: 'ok' },
    { name: 'hw:pmu=2 (a JSON number) at 2.61', mv: '2.61', specs: { 'hw:pmu': 2 }, want: 'spec.invalid_value' },
    { name: 'hw:pmu=true (a JSON boolean)', mv: '2.61', specs: { 'hw:pmu': true }, want: 'request.invalid' },
    { name: 'hw:pmu=" YES " at 2.61', mv: '2.61', specs: { 'hw:pmu': ' YES ' }, want: 'ok' },
    { name: 'hw:pmuu at 2.85', mv: '2.85', specs: { 'hw:pmuu': 'true' }, want: 'ok' },
    { name: 'hw:pmuu at 2.86', mv: '2.86', specs: { 'hw:pmuu': 'true' }, want: 'spec.unknown_key' },
    { name: 'trait:CUSTOM_X at 2.86', mv: '2.86', specs: { 'trait:CUSTOM_X': 'required' }, want: 'ok' },
    { name: 'hw_pmu (no namespace) at 2.86', mv: '2.86', specs: { hw_pmu: 'whatever' }, want: 'ok' },
    { name: 'a value of 256 characters', mv: '2.61', specs: { 'trait:X': 'a'.repeat(256) }, want: 'request.invalid' },
    { name: 'a key with a bad character', mv: '2.61', specs: { 'hw:pmu!': 'true' }, want: 'request.invalid' },
    { name: 'one good and one bad key', mv: '2.61', specs: { 'hw:cpu_cores': '2', 'hw:pmu': 'maybe' }, want: 'spec.invalid_value' },
  ];
  for (const row of CASES) {
    it(`${row.want === 'ok' ? 'accepts' : 'refuses'} ${row.name}${row.want === 'ok' ? '' : ` (${row.want}, nothing stored)`}`, async () => {
      const api = await makeTestApi();
      await createFlavor(api, { id: 'f1' });
      for (const method of ['POST', 'PUT'] as const) {
        const [key = ''] = Object.keys(row.specs);
        const res =
          method === 'POST'
            ? await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
                body: { extra_specs: row.specs },
                headers: MV(row.mv),
              })
            : Object.keys(row.specs).length === 1
              ? await api.request('PUT', `/compute/v2.1/flavors/f1/os-extra_specs/${key}`, {
                  body: row.specs,
                  headers: MV(row.mv),
                })
              : undefined;
        if (res === undefined) continue;
        if (row.want === 'ok') {
          assert.equal(res.status, 200, JSON.stringify(res.body));
          continue;
        }
        assert.equal(res.status, 400, `${method} ${JSON.stringify(res.body)}`);
        assert.equal(res.headers.get('X-Compute-Error-Code'), row.want);
        assert.deepEqual((await api.store.getFlavor('f1'))?.extraSpecs, {});
      }
    });
  }

  it('words a bad hw:pmu value as Nova does, then names the key, the flavor and the grammar', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1', name: 'vran' });
    const res = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: { 'hw:pmu': 'maybe' } },
    });
    assert.deepEqual(res.body, {
      badRequest: {
        code: 400,
        message:
          "Validation failed; 'maybe' is not a valid boolean-like value. The extra spec 'hw:pmu' of flavor 'vran' accepts true/false, yes/no, on/off, 1/0, t/f, y/n (any case).",
      },
    });
    const unknown = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      body: { extra_specs: { 'hw:pmuu': 'true' } },
      headers: MV('2.86'),
    });
    assert.match(
      (unknown.body as { badRequest: { message: string } }).badRequest.message,
      /^Validation failed; extra spec 'hw:pmuu' does not appear to be a valid extra spec\..*Did you mean 'hw:pmu'\?$/u,
    );
  });

  it('str()s JSON numbers as Nova does: 1 is "1", 1.0 is "1.0" (not a boolean), strings untouched', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1' });
    const post = (raw: string) =>
      api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
        rawBody: raw,
        headers: { 'Content-Type': 'application/json', ...MV('2.61') },
      });
    const float = await post('{"extra_specs": {"hw:pmu": 1.0}}');
    assert.equal(float.status, 400);
    assert.match(message(float), /^Validation failed; '1\.0' is not a valid boolean-like value\./u);
    const cores = await post('{"extra_specs": {"hw:cpu_cores": 2.0}}');
    assert.match(message(cores), /^Validation failed; '2\.0' is not a valid integer value\./u);
    const huge = await post('{"extra_specs": {"trait:X": 1e20, "trait:Y": -2.5E-7}}');
    assert.deepEqual(extraSpecs(huge), { 'trait:X': '1e+20', 'trait:Y': '-2.5e-07' });
    const int = await post('{"extra_specs": {"hw:pmu": 1, "trait:Z": "1.0 \\" 2.5e3"}}');
    assert.deepEqual(extraSpecs(int), { 'hw:pmu': '1', 'trait:Z': '1.0 " 2.5e3' });
    const put = await api.request('PUT', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu', {
      rawBody: '{"hw:pmu": 0.0}',
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(put.status, 400);
    assert.deepEqual((await api.store.getFlavor('f1'))?.extraSpecs, {
      'hw:pmu': '1',
      'trait:X': '1e+20',
      'trait:Y': '-2.5e-07',
      'trait:Z': '1.0 " 2.5e3',
    });
  });

  it('checks that a PUT body names exactly the key in the URL', async () => {
    const api = await makeTestApi();
    await createFlavor(api, { id: 'f1' });
    const mismatch = await api.request('PUT', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu', {
      body: { 'hw:cpu_cores': '2' },
    });
    assert.deepEqual(mismatch.body, {
      badRequest: { code: 400, message: 'Request body and URI mismatch' },
    });
    const many = await api.request('PUT', '/compute/v2.1/flavors/f1/os-extra_specs/hw:pmu', {
      body: { 'hw:pmu': 'on', 'hw:cpu_cores': '2' },
    });
    assert.deepEqual(many.body, {
      badRequest: { code: 400, message: 'Request body contains too many items' },
    });
    const notJson = await api.request('POST', '/compute/v2.1/flavors/f1/os-extra_specs', {
      rawBody: 'hw:pmu=on',
    });
    assert.equal(notJson.status, 400);
    assert.deepEqual((await api.store.getFlavor('f1'))?.extraSpecs, {});
  });
});
