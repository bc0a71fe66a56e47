/** os-simple-tenant-usage through the HTTP API, with Nova's bodies. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, START, type TestApi } from '../testing/api.js';
import { boot, flavor, image } from '../testing/server-calls.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const HOUR = 3_600_000;

/** Two servers in demo (launched at START), one in other; the clock then moves 2 hours on. */
async function cloud(): Promise<{ api: TestApi; demo: string; other: string; ids: string[] }> {
  const api = await makeTestApi({ tokenTtlSeconds: 86_400 });
  const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 1 });
  const img = await image(api, 'plain');
  const ids = [
    (await boot(api, f, img, 'member', 'a')).id,
    (await boot(api, f, img, 'member', 'b')).id,
    (await boot(api, f, img, 'other', 'c')).id,
  ];
  await api.servers.idle();
  api.clock.set(new Date(START.getTime() + 2 * HOUR));
  const projects = await api.store.listProjects();
  const id = (name: string) => projects.find((p) => p.name === name)?.id ?? '';
  return { api, demo: id('demo'), other: id('other'), ids };
}

const PERIOD = 'start=2025-12-31T23:00:00&end=2026-01-01T01:00:00.000000';

describe('os-simple-tenant-usage', () => {
  it("shows a project's usage over the period, per server, in Nova's body", async () => {
    const { api, demo, ids } = await cloud();
    const res = await api.request('GET', `/compute/v2.1/os-simple-tenant-usage/${demo}?${PERIOD}`, {
      as: 'member',
    });
    assert.equal(res.status, 200, res.text);
    const server = (id: string | undefined, name: string) => ({
      ended_at: null,
      flavor: 'small',
      hours: 1,
      instance_id: id,
      local_gb: 1,
      memory_mb: 512,
      name,
      started_at: '2026-01-01T00:00:00.000000',
      state: 'active',
      tenant_id: demo,
      uptime: 7200,
      vcpus: 2,
    });
    assert.deepEqual(res.body, {
      tenant_usage: {
        server_usages: [server(ids[0], 'a'), server(ids[1], 'b')],
        start: '2025-12-31T23:00:00.000000',
        stop: '2026-01-01T01:00:00.000000',
        tenant_id: demo,
        total_hours: 2,
        total_local_gb_usage: 2,
        total_memory_mb_usage: 1024,
        total_vcpus_usage: 4,
      },
    });
  });

  it('lists every project for admins, with servers only when detailed', async () => {
    const { api, demo, other } = await cloud();
    const brief = await api.request('GET', `/compute/v2.1/os-simple-tenant-usage?${PERIOD}`);
    assert.equal(brief.status, 200, brief.text);
    const usages = (brief.body as { tenant_usages: Record<string, unknown>[] }).tenant_usages;
    assert.deepEqual(
      usages.map((u) => [u.tenant_id, u.total_hours, Object.keys(u).length]),
      [
        [demo, 2, 7],
        [other, 1, 7],
      ],
    );
    const detailed = await api.request(
      'GET',
      `/compute/v2.1/os-simple-tenant-usage?${PERIOD}&detailed=1`,
    );
    const [first] = (detailed.body as { tenant_usages: Record<string, unknown>[] }).tenant_usages;
    assert.equal(Object.keys(first ?? {}).length, 8);
  });

  // prettier-ignore
  const REFUSED = [
    { path: '', as: 'member', status: 403, text: "Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed." },
    { path: '/OTHER', as: 'member', status: 403, text: "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed." },
    { path: '/DEMO?start=2026-01-02T00:00:00&end=2026-01-01T00:00:00', as: 'member', status: 400, text: 'Invalid start time. The start time cannot occur after the end time.' },
    { path: '/DEMO?start=yesterday', as: 'member', status: 400, text: 'Invalid datetime string: Datetime is in invalid format' },
    { path: '/DEMO?start=2026-02-30T00:00:00', as: 'member', status: 400, text: 'Invalid datetime string: Datetime is in invalid format' },
  ];
  for (const { path, as, status, text } of REFUSED) {
    it(`refuses ${path || 'the index'} as ${as}: ${status}`, async () => {
      const { api, demo, other } = await cloud();
      const url = `/compute/v2.1/os-simple-tenant-usage${path.replace('DEMO', demo).replace('OTHER', other)}`;
      const res = await api.request('GET', url, { as: as as 'member' });
      assert.equal(res.status, status, res.text);
      const [fault] = Object.values(res.body as Record<string, { message: string }>);
      assert.equal(fault?.message, text);
    });
  }

  it('answers 404 for an empty tenant id (a trailing slash), as Nova does', async () => {
    const { api } = await cloud();
    const res = await api.request('GET', `/compute/v2.1/os-simple-tenant-usage/?${PERIOD}`);
    assert.equal(res.status, 404);
  });

  it('shows {} for a project without servers in the period', async () => {
    const { api, demo } = await cloud();
    const res = await api.request(
      'GET',
      `/compute/v2.1/os-simple-tenant-usage/${demo}?start=2025-01-01T00:00:00&end=2025-01-02T00:00:00`,
    );
    assert.deepEqual(res.body, { tenant_usage: {} });
  });

  it('pages over servers with limit and marker from 2.40, with a next link', async () => {
    const { api, demo, ids } = await cloud();
    const page = async (query: string) =>
      (
        await api.request(
          'GET',
          `/compute/v2.1/os-simple-tenant-usage?${PERIOD}&detailed=1${query}`,
          {
            headers: MV('2.40'),
          },
        )
      ).body as {
        tenant_usages: { tenant_id: string; server_usages: { instance_id: string }[] }[];
        tenant_usages_links?: { rel: string; href: string }[];
      };
    const first = await page('&limit=2');
    assert.deepEqual(
      first.tenant_usages.map((u) => [u.tenant_id, u.server_usages.map((s) => s.instance_id)]),
      [[demo, [ids[0], ids[1]]]],
    );
    assert.deepEqual(first.tenant_usages_links, [
      {
        rel: 'next',
        href: `http://vpmu.test/compute/v2.1/os-simple-tenant-usage?detailed=1&end=2026-01-01T01%3A00%3A00.000000&limit=2&start=2025-12-31T23%3A00%3A00&marker=${ids[1] ?? ''}`,
      },
    ]);
    const second = await page(`&limit=2&marker=${ids[1] ?? ''}`);
    assert.equal(second.tenant_usages.length, 1);
    assert.equal(second.tenant_usages_links, undefined);
    const unknown = await api.request(
      'GET',
      `/compute/v2.1/os-simple-tenant-usage?${PERIOD}&marker=nope`,
      { headers: MV('2.40') },
    );
    assert.equal(unknown.status, 400);
    // Before 2.40 there is no paging: limit is not read.
    const old = await api.request('GET', `/compute/v2.1/os-simple-tenant-usage?${PERIOD}&limit=1`);
    assert.equal((old.body as { tenant_usages: unknown[] }).tenant_usages.length, 2);
  });

  it('refuses unknown query parameters from 2.75', async () => {
    const { api, demo } = await cloud();
    const at = async (mv: string) =>
      (
        await api.request('GET', `/compute/v2.1/os-simple-tenant-usage/${demo}?bogus=1`, {
          headers: MV(mv),
        })
      ).status;
    assert.equal(await at('2.74'), 200);
    assert.equal(await at('2.75'), 400);
  });
});
