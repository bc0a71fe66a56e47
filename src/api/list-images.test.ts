import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anImageRecord } from '../ports/store.contract.js';
import type { ImageRecord } from '../ports/store.js';
import { makeTestApi, type TestApi } from '../testing/api.js';

const id = (n: number) => `11111111-2222-4333-8444-00000000000${n}`;

// Images 1..6 of project demo (member's) unless said otherwise; 1 is the oldest.
async function seeded(): Promise<TestApi> {
  const api = await makeTestApi();
  const demo = (await api.store.findProject('demo', 'default'))?.id ?? '';
  const other = (await api.store.findProject('other', 'default'))?.id ?? '';
  const rows: Partial<ImageRecord>[] = [
    {
      name: 'cirros',
      status: 'active',
      diskFormat: 'qcow2',
      size: 100,
      tags: ['a', 'b'],
      visibility: 'public',
    },
    {
      name: 'ubuntu',
      status: 'active',
      diskFormat: 'raw',
      size: 300,
      tags: ['a'],
      visibility: 'private',
    },
    {
      name: 'fedora',
      status: 'queued',
      diskFormat: 'qcow2',
      size: null,
      tags: [],
      visibility: 'shared',
      properties: { os_distro: 'fedora' },
    },
    {
      name: 'debian',
      status: 'active',
      diskFormat: 'raw',
      containerFormat: 'ovf',
      size: 200,
      tags: ['b'],
      visibility: 'community',
    },
    {
      name: 'hidden',
      status: 'active',
      diskFormat: 'raw',
      size: 50,
      osHidden: true,
      visibility: 'private',
    },
    {
      name: 'theirs',
      status: 'active',
      diskFormat: 'raw',
      size: 10,
      visibility: 'private',
      owner: other,
    },
    {
      name: 'their-pub',
      status: 'active',
      diskFormat: 'raw',
      size: 20,
      visibility: 'public',
      owner: other,
      protected: true,
    },
  ];
  for (const [i, row] of rows.entries()) {
    const at = `2026-01-01T00:00:0${i + 1}Z`;
    await api.store.createImage(
      anImageRecord({ owner: demo, ...row, id: id(i + 1), createdAt: at, updatedAt: at }),
    );
  }
  return api;
}

interface Listing {
  images: { id: string }[];
  first: string;
  next?: string;
  schema: string;
}
const nums = (body: unknown) => (body as Listing).images.map((i) => Number(i.id.at(-1)));

function message(body: unknown): string {
  const [fault] = Object.values(body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

describe('GET /image/v2/images: filters, sorting and paging', () => {
  // prettier-ignore
  const CASES: { name: string; query: string; as?: 'admin' | 'member' | 'other'; want: number[] }[] = [
    { name: 'default: visible, newest first, no community or hidden ones of others', query: '', want: [7, 4, 3, 2, 1] },
    { name: 'another project sees the public ones', query: '', as: 'other', want: [7, 6, 1] },
    { name: 'community images only when asked for', query: '?visibility=community', as: 'other', want: [4] },
    { name: 'visibility=all', query: '?visibility=all', as: 'other', want: [7, 6, 4, 1] },
    { name: 'visibility=private', query: '?visibility=private', want: [2] },
    { name: 'visibility=shared', query: '?visibility=shared', want: [3] },
    { name: 'name', query: '?name=ubuntu', want: [2] },
    { name: 'name in:', query: '?name=in:ubuntu,cirros', want: [2, 1] },
    { name: 'name in: with quotes', query: '?name=in:"cirros","x,y"', want: [1] },
    { name: 'id in:', query: `?id=in:${id(1)},${id(3)}`, want: [3, 1] },
    { name: 'status', query: '?status=queued', want: [3] },
    { name: 'status in:', query: '?status=in:queued,active', want: [7, 4, 3, 2, 1] },
    { name: 'unknown status: nothing (Glance does not check it)', query: '?status=nosuch', want: [] },
    { name: 'disk_format', query: '?disk_format=qcow2', want: [3, 1] },
    { name: 'container_format', query: '?container_format=ovf', want: [4] },
    { name: 'owner', query: '?owner=nobody', want: [] },
    { name: 'size_min', query: '?size_min=150', want: [4, 2] },
    { name: 'size_max', query: '?size_max=100', want: [7, 1] },
    { name: 'size range', query: '?size_min=100&size_max=250', want: [4, 1] },
    { name: 'tag', query: '?tag=a', want: [2, 1] },
    { name: 'every tag', query: '?tag=a&tag=b', want: [1] },
    { name: 'protected', query: '?protected=true', want: [7] },
    { name: 'os_hidden=true lists only hidden ones', query: '?os_hidden=true', want: [5] },
    { name: 'a property filter', query: '?os_distro=fedora', want: [3] },
    { name: 'size is a column: equality', query: '?size=300', want: [2] },
    { name: 'min_disk is a column', query: '?min_disk=0&size=200', want: [4] },
    { name: 'member_status=all changes nothing (no members)', query: '?member_status=all', want: [7, 4, 3, 2, 1] },
    { name: 'member_status=pending changes nothing', query: '?member_status=pending', want: [7, 4, 3, 2, 1] },
    { name: 'limit', query: '?limit=2', want: [7, 4] },
    { name: 'marker', query: `?marker=${id(4)}&limit=2`, want: [3, 2] },
    { name: 'sort=name:asc', query: '?sort=name:asc', want: [1, 4, 3, 7, 2] },
    { name: 'sort with a default direction', query: '?sort=name', want: [2, 7, 3, 4, 1] },
    { name: 'sort by two keys', query: '?sort=disk_format:asc,size:desc', want: [1, 3, 2, 4, 7] },
    { name: 'sort_key and sort_dir', query: '?sort_key=size&sort_dir=asc', want: [3, 7, 1, 4, 2] },
    { name: 'one sort_dir for every sort_key', query: '?sort_key=disk_format&sort_key=name&sort_dir=asc', want: [1, 3, 4, 7, 2] },
    { name: 'a sort_dir per sort_key', query: '?sort_key=disk_format&sort_dir=asc&sort_key=name&sort_dir=desc', want: [3, 1, 2, 7, 4] },
  ];
  for (const row of CASES) {
    it(row.name, async () => {
      const api = await seeded();
      const res = await api.request('GET', `/image/v2/images${row.query}`, {
        as: row.as ?? 'member',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(nums(res.body), row.want);
    });
  }

  // prettier-ignore
  const REFUSALS: { name: string; query: string; status?: number; want: string }[] = [
    { name: 'a word for limit', query: '?limit=ten', want: 'limit param must be an integer' },
    { name: 'a negative limit', query: '?limit=-1', want: 'limit param must be positive' },
    { name: 'an unknown marker', query: '?marker=nope', want: 'No image found with ID nope' },
    { name: "a marker the caller cannot see", query: `?marker=${id(6)}`, status: 403, want: `Forbidding request, image ${id(6)} not visible` },
    { name: 'a bad sort key', query: '?sort_key=colour', want: 'Invalid sort key: colour. It must be one of the following: name, status, container_format, disk_format, size, id, created_at, updated_at.' },
    { name: 'a bad sort key in sort', query: '?sort=colour:asc', want: 'Invalid sort key: colour.' },
    { name: 'a bad sort direction', query: '?sort_dir=up', want: 'Invalid sort direction: up' },
    { name: 'a bad direction in sort', query: '?sort=name:up', want: 'Invalid sort direction: up' },
    { name: 'both sorting syntaxes', query: '?sort=name&sort_key=size', want: 'Old and new sorting syntax cannot be combined' },
    { name: 'mismatched sort_dirs', query: '?sort_key=name&sort_dir=asc&sort_dir=desc&sort_key=size&sort_key=id', want: 'Number of sort dirs does not match the number of sort keys' },
    { name: 'a bad visibility', query: '?visibility=everyone', want: 'Invalid visibility value: everyone' },
    { name: 'a bad member_status', query: '?member_status=maybe', want: 'Invalid status: maybe' },
    { name: 'a bad size_min', query: '?size_min=big', want: 'Unable to filter on a range with a non-numeric value.' },
    { name: 'a bad size_max', query: '?size_max=1.5', want: 'Unable to filter on a range with a non-numeric value.' },
    { name: 'an unknown operator', query: '?name=like:cir', want: "Unable to filter by unknown operator 'like'." },
    { name: 'a bad os_hidden', query: '?os_hidden=maybe', want: "Invalid value 'maybe' for 'os_hidden' filter. Valid values are 'true' or 'false'." },
    { name: 'a bad protected', query: '?protected=True', want: "Invalid value 'True' for 'protected' filter. Valid values are 'true' or 'false'." },
    { name: 'changes-since', query: '?changes-since=2026-01-01', want: 'The "changes-since" filter is no longer available on v2.' },
  ];
  for (const row of REFUSALS) {
    it(`refuses ${row.name} with ${row.status ?? 400}`, async () => {
      const api = await seeded();
      const res = await api.request('GET', `/image/v2/images${row.query}`, { as: 'member' });
      assert.equal(res.status, row.status ?? 400, JSON.stringify(res.body));
      assert.ok(message(res.body).startsWith(row.want), message(res.body));
    });
  }

  it("pages with Glance's next link until a short page, and keeps the query in first", async () => {
    const api = await seeded();
    const seen: number[] = [];
    const links: [string, string | undefined][] = [];
    let path = '/v2/images?sort=name:asc&limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const res = await api.request('GET', `/image${path}`, { as: 'member' });
      assert.equal(res.status, 200);
      const body = res.body as Listing;
      assert.equal(body.schema, '/v2/schemas/images');
      seen.push(...nums(body));
      links.push([body.first, body.next]);
      if (body.next === undefined) break;
      path = body.next;
    }
    assert.deepEqual(seen, [1, 4, 3, 7, 2]);
    assert.deepEqual(links, [
      ['/v2/images?sort=name%3Aasc&limit=2', `/v2/images?sort=name%3Aasc&limit=2&marker=${id(4)}`],
      ['/v2/images?sort=name%3Aasc&limit=2', `/v2/images?sort=name%3Aasc&limit=2&marker=${id(7)}`],
      ['/v2/images?sort=name%3Aasc&limit=2', undefined],
    ]);
  });

  it('lists at most 25 images by default (Glance limit_param_default) with a next link', async () => {
    const api = await makeTestApi();
    const demo = (await api.store.findProject('demo', 'default'))?.id ?? '';
    for (let i = 0; i < 27; i++) {
      await api.store.createImage(
        anImageRecord({
          id: `11111111-2222-4333-8444-5555555555${String(i).padStart(2, '0')}`,
          owner: demo,
        }),
      );
    }
    const res = await api.request('GET', '/image/v2/images', { as: 'member' });
    const body = res.body as Listing;
    assert.equal(body.images.length, 25);
    assert.equal(body.first, '/v2/images');
    assert.match(body.next ?? '', /^\/v2\/images\?marker=11111111-2222-4333-8444-555555555502$/u);
  });
});
