import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

// id, name, ram, disk, public. f2 and f4 are private; f2 is shared with project demo (member's).
// As in Nova, creating a private flavor does not share it with the creator's project.
const FLAVORS: [string, string, number, number, boolean][] = [
  ['f1', 'tiny', 512, 1, true],
  ['f2', 'small', 2048, 20, false],
  ['f3', 'medium', 4096, 40, true],
  ['f4', 'large', 8192, 80, false],
  ['f5', 'xlarge', 16384, 160, true],
];

async function seeded(): Promise<TestApi> {
  const api = await makeTestApi();
  for (const [id, name, ram, disk, isPublic] of FLAVORS) {
    const res = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { id, name, ram, disk, vcpus: 1, 'os-flavor-access:is_public': isPublic } },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    api.clock.set(new Date(api.clock.now().getTime() + 1000));
  }
  const share = await api.request('POST', '/compute/v2.1/flavors/f2/action', {
    body: { addTenantAccess: { tenant: (await api.store.findProject('demo', 'default'))?.id } },
  });
  assert.equal(share.status, 200);
  return api;
}

interface Listing {
  flavors: { id: string }[];
  flavors_links?: { rel: string; href: string }[];
}

function message(body: unknown): string {
  const [fault] = Object.values(body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

describe('GET /compute/v2.1/flavors: filters, sorting and paging', () => {
  // prettier-ignore
  const CASES: { name: string; query: string; as?: 'admin' | 'member'; mv?: string; want: string[] }[] = [
    { name: 'admin default: public (plus private ones shared with the admin project: none)', query: '', want: ['f1', 'f3', 'f5'] },
    { name: 'member default: public plus shared with its project', query: '', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'admin is_public=false', query: '?is_public=false', want: ['f2', 'f4'] },
    { name: 'admin is_public=None', query: '?is_public=None', want: ['f1', 'f2', 'f3', 'f4', 'f5'] },
    { name: 'admin is_public=none', query: '?is_public=none', want: ['f1', 'f2', 'f3', 'f4', 'f5'] },
    { name: 'admin is_public=yes', query: '?is_public=yes', want: ['f1', 'f3', 'f5'] },
    { name: 'member is_public=false is ignored', query: '?is_public=false', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'member is_public=none is ignored', query: '?is_public=none', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'member invalid is_public is ignored', query: '?is_public=maybe', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'minRam', query: '?is_public=none&minRam=4096', want: ['f3', 'f4', 'f5'] },
    { name: 'minDisk', query: '?is_public=none&minDisk=41', want: ['f4', 'f5'] },
    { name: 'minRam and minDisk', query: '?is_public=none&minRam=2048&minDisk=80', want: ['f4', 'f5'] },
    { name: 'negative minRam is a plain number', query: '?minRam=-1', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'limit', query: '?is_public=none&limit=2', want: ['f1', 'f2'] },
    { name: 'limit=0 gives nothing', query: '?limit=0', want: [] },
    { name: 'marker', query: '?is_public=none&marker=f2&limit=2', want: ['f3', 'f4'] },
    { name: 'marker of a filtered-out flavor', query: '?is_public=false&marker=f3', want: ['f4'] },
    { name: 'sort_key=name', query: '?is_public=none&sort_key=name', want: ['f4', 'f3', 'f2', 'f1', 'f5'] },
    { name: 'sort_key=memory_mb desc', query: '?is_public=none&sort_key=memory_mb&sort_dir=desc', want: ['f5', 'f4', 'f3', 'f2', 'f1'] },
    { name: 'sort_key=id is creation order', query: '?is_public=none&sort_key=id&sort_dir=desc', want: ['f5', 'f4', 'f3', 'f2', 'f1'] },
    { name: 'sort_key=is_public', query: '?is_public=none&sort_key=is_public', want: ['f2', 'f4', 'f1', 'f3', 'f5'] },
    { name: 'sort_key=vcpu_weight leaves creation order', query: '?is_public=none&sort_key=vcpu_weight', want: ['f1', 'f2', 'f3', 'f4', 'f5'] },
    { name: 'the last sort_key wins', query: '?is_public=none&sort_key=memory_mb&sort_key=name', want: ['f4', 'f3', 'f2', 'f1', 'f5'] },
    { name: 'sorted page after a marker', query: '?is_public=none&sort_key=name&marker=f3', want: ['f2', 'f1', 'f5'] },
    { name: 'unknown parameters are ignored before 2.75', query: '?flavor_name=x', mv: '2.74', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
    { name: 'name is not a filter before 2.102 (stripped)', query: '?name=tiny', mv: '2.74', as: 'member', want: ['f1', 'f2', 'f3', 'f5'] },
  ];
  for (const row of CASES) {
    it(row.name, async () => {
      const api = await seeded();
      for (const path of ['/compute/v2.1/flavors', '/compute/v2.1/flavors/detail']) {
        const res = await api.request('GET', `${path}${row.query}`, {
          as: row.as ?? 'admin',
          headers: MV(row.mv ?? '2.61'),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(
          (res.body as Listing).flavors.map((f) => f.id),
          row.want,
          path,
        );
      }
    });
  }

  // prettier-ignore
  const REFUSALS: { name: string; query: string; mv?: string; want: string }[] = [
    { name: 'a bad is_public (admin)', query: '?is_public=maybe', want: 'Invalid is_public filter [maybe]' },
    { name: 'a bad minRam', query: '?minRam=lots', want: 'Invalid minRam filter [lots]' },
    { name: 'a bad minDisk', query: '?minDisk=1.5', want: 'Invalid minDisk filter [1.5]' },
    { name: 'a negative limit', query: '?limit=-1', want: "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'" },
    { name: 'a word for limit', query: '?limit=ten', want: "Invalid input for query parameters limit. Value: ten. 'ten' does not match '^[0-9]*$'" },
    { name: 'an unknown marker', query: '?marker=nope', want: 'marker [nope] not found' },
    { name: 'a bad sort_key', query: '?sort_key=ram', want: "Invalid input for query parameters sort_key. Value: ram. 'ram' is not one of [" },
    { name: 'a bad sort_dir', query: '?sort_dir=up', want: "Invalid input for query parameters sort_dir. Value: up. 'up' is not one of ['asc', 'desc']" },
    { name: 'an unknown parameter from 2.75', query: '?foo=1', mv: '2.75', want: "Additional properties are not allowed ('foo' was unexpected)" },
  ];
  for (const row of REFUSALS) {
    it(`refuses ${row.name} with 400`, async () => {
      const api = await seeded();
      const res = await api.request('GET', `/compute/v2.1/flavors${row.query}`, {
        headers: MV(row.mv ?? '2.61'),
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.ok(message(res.body).startsWith(row.want), message(res.body));
    });
  }

  it('refuses a marker naming a private flavor the member cannot see', async () => {
    const api = await seeded();
    const res = await api.request('GET', '/compute/v2.1/flavors?marker=f4', { as: 'member' });
    assert.equal(res.status, 400);
    assert.equal(message(res.body), 'marker [f4] not found');
  });

  it('pages through every flavor with the next links, and stops when a page is short', async () => {
    const api = await seeded();
    const seen: string[] = [];
    let path = '/compute/v2.1/flavors/detail?is_public=None&limit=2';
    const hrefs: string[] = [];
    for (let pages = 0; pages < 10; pages++) {
      const res = await api.request('GET', path);
      assert.equal(res.status, 200);
      const body = res.body as Listing;
      seen.push(...body.flavors.map((f) => f.id));
      const next = body.flavors_links?.find((l) => l.rel === 'next')?.href;
      if (next === undefined) break;
      hrefs.push(next);
      path = next.replace('http://vpmu.test', '');
    }
    assert.deepEqual(seen, ['f1', 'f2', 'f3', 'f4', 'f5']);
    assert.deepEqual(hrefs, [
      'http://vpmu.test/compute/v2.1/flavors/detail?is_public=None&limit=2&marker=f2',
      'http://vpmu.test/compute/v2.1/flavors/detail?is_public=None&limit=2&marker=f4',
    ]);
  });

  it('adds a next link when a full page ends exactly at the last flavor, and none without a limit', async () => {
    const api = await seeded();
    const full = await api.request('GET', '/compute/v2.1/flavors?limit=3');
    assert.deepEqual((full.body as Listing).flavors_links, [
      { rel: 'next', href: 'http://vpmu.test/compute/v2.1/flavors?limit=3&marker=f5' },
    ]);
    const after = await api.request('GET', '/compute/v2.1/flavors?limit=3&marker=f5');
    assert.deepEqual(after.body, { flavors: [] });
    const all = await api.request('GET', '/compute/v2.1/flavors');
    assert.equal((all.body as Listing).flavors_links, undefined);
  });
});

describe('POST /compute/v2.1/flavors: os-flavor-access:is_public as Nova parameter_types.boolean', () => {
  // prettier-ignore
  const ACCEPTED: [unknown, boolean][] = [
    [true, true], [false, false],
    ['True', true], ['TRUE', true], ['true', true], ['1', true], ['ON', true], ['On', true], ['on', true], ['YES', true], ['Yes', true], ['yes', true],
    ['False', false], ['FALSE', false], ['false', false], ['0', false], ['OFF', false], ['Off', false], ['off', false], ['NO', false], ['No', false], ['no', false],
  ];
  for (const [given, want] of ACCEPTED) {
    it(`takes ${JSON.stringify(given)} as ${want}`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/compute/v2.1/flavors', {
        body: {
          flavor: { name: 'b', ram: 64, vcpus: 1, disk: 0, 'os-flavor-access:is_public': given },
        },
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const flavor = (res.body as { flavor: Record<string, unknown> }).flavor;
      assert.equal(flavor['os-flavor-access:is_public'], want);
    });
  }
  for (const given of [1, 0, 'tRUE', 't', 'y', 'n', '', null, 'maybe']) {
    it(`refuses ${JSON.stringify(given)}`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/compute/v2.1/flavors', {
        body: {
          flavor: { name: 'b', ram: 64, vcpus: 1, disk: 0, 'os-flavor-access:is_public': given },
        },
      });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(message(res.body), /os-flavor-access:is_public/u);
    });
  }
});
