import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aFlavorRecord, aServerRecord } from '../ports/store.contract.js';
import type { ServerRecord } from '../ports/store.js';
import { makeTestApi, type TestApi } from '../testing/api.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const uuid = (n: number) => `a0000000-0000-4000-8000-00000000000${n}`;

// Six servers of project demo (member's) and one of project other, written straight to the store
// so each field is exactly what the filter reads. s1 is the oldest.
async function seeded(): Promise<TestApi> {
  const api = await makeTestApi();
  const demo = (await api.store.findProject('demo', 'default'))?.id ?? '';
  const other = (await api.store.findProject('other', 'default'))?.id ?? '';
  const at = (n: number) => `2026-01-01T00:00:0${n}.000Z`;
  const rows: Partial<ServerRecord>[] = [
    { name: 'web-1', vmState: 'active', taskState: null, status: 'ACTIVE', host: 'compute1' },
    { name: 'web-2', vmState: 'stopped', taskState: null, status: 'SHUTOFF', host: 'compute2' },
    {
      name: 'db-1',
      vmState: 'active',
      taskState: 'rebuilding',
      status: 'REBUILD',
      host: 'compute1',
    },
    {
      name: 'aaaaaaaaaaaaaaaaaaaaaaaaaa',
      vmState: 'error',
      taskState: null,
      status: 'ERROR',
      host: null,
    },
    { name: 'Web-3', vmState: 'building', taskState: 'scheduling', status: 'BUILD', host: null },
    { name: 'cache', vmState: 'active', taskState: null, status: 'ACTIVE', host: 'compute2' },
  ];
  for (const [i, row] of rows.entries()) {
    const n = i + 1;
    await api.store.createServer(
      aServerRecord({
        ...row,
        id: uuid(n),
        projectId: demo,
        flavor: aFlavorRecord({ id: n % 2 === 0 ? 'even' : 'odd' }),
        image: {
          id: n <= 3 ? 'img-a' : 'img-b',
          name: 'i',
          owner: demo,
          properties: {},
          dataLocation: null,
        },
        createdAt: at(n),
        updatedAt: at(n),
      }),
    );
  }
  await api.store.createServer(
    aServerRecord({
      id: uuid(7),
      name: 'theirs',
      projectId: other,
      vmState: 'active',
      taskState: null,
      status: 'ACTIVE',
      createdAt: at(7),
      updatedAt: at(7),
    }),
  );
  return api;
}

interface Listing {
  servers: { id: string; name: string }[];
  servers_links?: { rel: string; href: string }[];
}

const ids = (body: unknown) => (body as Listing).servers.map((s) => Number(s.id.at(-1)));

function message(body: unknown): string {
  const [fault] = Object.values(body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

describe('GET /compute/v2.1/servers: filters, sorting and paging', () => {
  // Servers by number (the uuid's last digit); the default order is newest first.
  // prettier-ignore
  const CASES: { name: string; query: string; as?: 'admin' | 'member'; mv?: string; want: number[] }[] = [
    { name: 'default: the project, newest first', query: '', want: [6, 5, 4, 3, 2, 1] },
    { name: 'name is a regex, searched anywhere', query: '?name=web', want: [2, 1] },
    { name: 'name regex is case-sensitive (Python re)', query: '?name=^[Ww]eb-', want: [5, 2, 1] },
    { name: 'name alternation', query: '?name=db|cache', want: [6, 3] },
    { name: 'name anchored at the end', query: '?name=-1$', want: [3, 1] },
    { name: 'a catastrophic name pattern answers, correctly', query: '?name=(a%2B)%2B$', want: [4] },
    { name: 'a catastrophic pattern that cannot match', query: '?name=(a%2B)%2Bb$', want: [] },
    { name: 'status ACTIVE (any task state, as Nova)', query: '?status=ACTIVE', want: [6, 3, 1] },
    { name: 'status is case-insensitive', query: '?status=shutoff', want: [2] },
    { name: 'status REBUILD', query: '?status=REBUILD', want: [3] },
    { name: 'two statuses', query: '?status=ERROR&status=BUILD', want: [5, 4] },
    { name: 'flavor', query: '?flavor=even', want: [6, 4, 2] },
    { name: 'unknown flavor: nothing', query: '?flavor=nope', want: [] },
    { name: 'image', query: '?image=img-b', want: [6, 5, 4] },
    { name: 'host (admin)', query: '?host=compute2', as: 'admin', mv: '2.61', want: [] },
    { name: 'host is ignored for members', query: '?host=compute2', want: [6, 5, 4, 3, 2, 1] },
    { name: 'ip: vpmu servers have no addresses', query: '?ip=10.0.0.1', want: [] },
    { name: 'ip6: no addresses either', query: '?ip6=fe80::1', want: [] },
    { name: 'changes-since', query: '?changes-since=2026-01-01T00:00:04Z', want: [6, 5, 4] },
    { name: 'changes-since with an offset', query: '?changes-since=2026-01-01T01:00:05%2B01:00', want: [6, 5] },
    { name: 'changes-before (2.66)', query: '?changes-before=2026-01-01T00:00:02Z', mv: '2.66', want: [2, 1] },
    { name: 'limit', query: '?limit=2', want: [6, 5] },
    { name: 'marker', query: '?marker=a0000000-0000-4000-8000-000000000005&limit=2', want: [4, 3] },
    { name: 'marker outside the filter', query: '?marker=a0000000-0000-4000-8000-000000000005&status=ACTIVE', want: [3, 1] },
    { name: 'sort by name asc', query: '?sort_key=display_name&sort_dir=asc', want: [5, 4, 6, 3, 1, 2] },
    { name: 'sort by vm_state then name', query: '?sort_key=vm_state&sort_dir=asc&sort_key=display_name&sort_dir=desc', want: [1, 3, 6, 5, 4, 2] },
    { name: 'a second key takes the first direction', query: '?sort_key=image_ref&sort_key=display_name&sort_dir=asc', want: [3, 1, 2, 5, 4, 6] },
    { name: 'created_at asc', query: '?sort_key=created_at&sort_dir=asc', want: [1, 2, 3, 4, 5, 6] },
    { name: 'ignored sort keys are dropped', query: '?sort_key=vcpus&sort_dir=asc', want: [6, 5, 4, 3, 2, 1] },
    { name: 'host sort for admins', query: '?all_tenants=1&sort_key=host&sort_dir=desc&limit=2', as: 'admin', want: [6, 2] },
    { name: 'all_tenants (admin)', query: '?all_tenants=1', as: 'admin', want: [7, 6, 5, 4, 3, 2, 1] },
    { name: 'all_tenants with an empty value', query: '?all_tenants', as: 'admin', want: [7, 6, 5, 4, 3, 2, 1] },
    { name: 'all_tenants=0 is the admin project only', query: '?all_tenants=0', as: 'admin', want: [] },
    { name: 'all_tenants=false as a member is no error', query: '?all_tenants=false', want: [6, 5, 4, 3, 2, 1] },
    { name: 'host for admins', query: '?all_tenants=1&host=compute2', as: 'admin', want: [6, 2] },
    { name: 'node is the host', query: '?all_tenants=1&node=compute1', as: 'admin', want: [3, 1] },
    { name: 'tenant_id needs all_tenants', query: '?tenant_id=x', as: 'admin', want: [] },
    { name: 'unknown parameters are ignored before 2.75', query: '?foo=bar', mv: '2.74', want: [6, 5, 4, 3, 2, 1] },
    { name: 'unknown status before 2.38: nothing', query: '?status=nosuch', mv: '2.37', want: [] },
    { name: 'vm_state is ignored for members before 2.83', query: '?vm_state=error', mv: '2.82', want: [6, 5, 4, 3, 2, 1] },
    { name: 'joined-table and underscore filters are dropped for members', query: '?metadata=x&_secret=1', mv: '2.74', want: [6, 5, 4, 3, 2, 1] },
    { name: 'vm_state for members from 2.83', query: '?vm_state=error', mv: '2.83', want: [4] },
    { name: 'deleted=true: vpmu keeps no deleted servers', query: '?all_tenants=1&deleted=true', as: 'admin', want: [] },
  ];
  for (const row of CASES) {
    it(row.name, async () => {
      const api = await seeded();
      for (const path of ['/compute/v2.1/servers', '/compute/v2.1/servers/detail']) {
        const res = await api.request('GET', `${path}${row.query}`, {
          as: row.as ?? 'member',
          headers: MV(row.mv ?? '2.61'),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(ids(res.body), row.want, path);
      }
    });
  }

  it('filters by project_id with all_tenants (admin), by id', async () => {
    const api = await seeded();
    const other = (await api.store.findProject('other', 'default'))?.id ?? '';
    for (const key of ['project_id', 'tenant_id']) {
      const res = await api.request('GET', `/compute/v2.1/servers?all_tenants=1&${key}=${other}`);
      assert.deepEqual(ids(res.body), [7], key);
    }
    const ignored = await api.request('GET', `/compute/v2.1/servers?project_id=${other}`, {
      as: 'member',
    });
    assert.deepEqual(ids(ignored.body), [6, 5, 4, 3, 2, 1]);
  });

  // prettier-ignore
  const REFUSALS: { name: string; query: string; mv?: string; status?: number; as?: 'admin'; want: string }[] = [
    { name: 'a bad limit', query: '?limit=-1', want: "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'" },
    { name: 'an unknown marker', query: '?marker=nope', want: 'marker [nope] not found' },
    { name: "a marker in another project", query: `?marker=${uuid(7)}`, want: `marker [${uuid(7)}] not found` },
    { name: 'a bad sort_key', query: '?sort_key=colour', want: "Invalid input for query parameters sort_key. Value: colour. 'colour' is not one of [" },
    { name: 'a bad sort_dir', query: '?sort_dir=up', want: "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'" },
    { name: 'more sort_dirs than sort_keys', query: '?sort_key=uuid&sort_dir=asc&sort_dir=desc', want: 'Invalid input received: Sort direction size exceeds sort key size' },
    { name: 'a host sort by a member', query: '?sort_key=host', status: 403, want: 'Only administrators can sort servers by host' },
    { name: 'a bad changes-since', query: '?changes-since=yesterday', want: "Invalid input for query parameters changes-since. Value: yesterday. 'yesterday' is not a 'date-time'" },
    { name: 'an impossible date', query: '?changes-since=2026-02-30T00:00:00Z', want: "Invalid input for query parameters changes-since. Value: 2026-02-30T00:00:00Z. '2026-02-30T00:00:00Z' is not a 'date-time'" },
    { name: 'changes-before before changes-since', query: '?changes-since=2026-01-02T00:00:00Z&changes-before=2026-01-01T00:00:00Z', mv: '2.66', want: 'The value of changes-since must be less than or equal to changes-before.' },
    { name: 'an invalid name regex', query: '?name=(', want: "Invalid input for query parameters name. Value: (. '(' is not a 'regex'" },
    { name: 'an invalid ip regex', query: '?ip=[', want: "Invalid input for query parameters ip. Value: [. '[' is not a 'regex'" },
    { name: 'a name regex that needs backtracking', query: '?name=(a)%5C1', want: 'Invalid input for query parameters name. Value: (a)\\1. vpmu matches names in linear time' },
    { name: 'an unknown status from 2.38', query: '?status=nosuch', want: 'Invalid status value' },
    { name: 'deleted servers for a member', query: '?status=DELETED', status: 403, want: 'Only administrators may list deleted instances' },
    { name: 'a bad all_tenants', query: '?all_tenants=maybe', want: "Invalid input received: Unrecognized value 'maybe'" },
    { name: 'all_tenants for a member', query: '?all_tenants=1', status: 403, want: '' },
    { name: 'an unknown parameter from 2.75', query: '?foo=bar', mv: '2.75', want: "Additional properties are not allowed ('foo' was unexpected)" },
    { name: 'a joined-table filter (admin; stripped for members)', query: '?metadata=x', mv: '2.74', as: 'admin', want: 'Invalid filter field: metadata.' },
    { name: 'an underscore filter (admin)', query: '?_secret=1', as: 'admin', want: 'Invalid filter field: _secret.' },
  ];
  for (const row of REFUSALS) {
    it(`refuses ${row.name} with ${row.status ?? 400}`, async () => {
      const api = await seeded();
      const res = await api.request('GET', `/compute/v2.1/servers${row.query}`, {
        as: row.as ?? 'member',
        headers: MV(row.mv ?? '2.61'),
      });
      assert.equal(res.status, row.status ?? 400, JSON.stringify(res.body));
      assert.ok(message(res.body).startsWith(row.want), message(res.body));
    });
  }

  it('pages with servers_links across pages until a short page', async () => {
    const api = await seeded();
    const seen: number[] = [];
    const hrefs: string[] = [];
    let path = '/compute/v2.1/servers/detail?limit=4&sort_key=display_name&sort_dir=asc';
    for (let pages = 0; pages < 10; pages++) {
      const res = await api.request('GET', path, { as: 'member' });
      assert.equal(res.status, 200);
      seen.push(...ids(res.body));
      const next = (res.body as Listing).servers_links?.find((l) => l.rel === 'next')?.href;
      if (next === undefined) break;
      hrefs.push(next);
      path = next.replace('http://vpmu.test', '');
    }
    assert.deepEqual(seen, [5, 4, 6, 3, 1, 2]);
    assert.deepEqual(hrefs, [
      `http://vpmu.test/compute/v2.1/servers/detail?limit=4&sort_dir=asc&sort_key=display_name&marker=${uuid(3)}`,
    ]);
  });

  it('answers a catastrophic name pattern promptly over long names (linear-time matching)', async () => {
    const api = await seeded();
    const demo = (await api.store.findProject('demo', 'default'))?.id ?? '';
    await api.store.createServer(
      aServerRecord({
        id: uuid(8),
        name: `${'a'.repeat(2000)}!`,
        projectId: demo,
        createdAt: '2026-01-01T00:00:08.000Z',
      }),
    );
    // With a backtracking engine each of these takes longer than the universe has existed.
    for (const [pattern, want] of [
      ['(a%2B)%2B$', [4]],
      ['(a|aa)*!$', [8]],
      ['(.*a){12}x', []],
    ] as const) {
      const res = await api.request('GET', `/compute/v2.1/servers?name=${pattern}`, {
        as: 'member',
      });
      assert.equal(res.status, 200);
      assert.deepEqual(ids(res.body), want, pattern);
    }
  });
});
