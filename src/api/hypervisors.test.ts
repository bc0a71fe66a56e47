/** os-hypervisors through the HTTP API: Nova's bodies at each microversion that changes them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostUptimeLine, makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor, image } from '../testing/server-calls.js';
import { hostUuid } from '../services/index.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const CPU_INFO =
  '{"arch":"x86_64","model":"EPYC","vendor":"AMD","topology":{"cells":1,"sockets":1,"cores":2,"threads":1}}';
const UPTIME = hostUptimeLine;
const C1 = hostUuid('compute1', 'compute-node');
const C1_SERVICE = hostUuid('compute1', 'service');
const C2 = hostUuid('compute2', 'compute-node');

/** compute1 (16 vCPUs) with one 2-vCPU, 512 MiB, 3 GiB server; compute2 (4 vCPUs) empty. */
async function cloud(): Promise<{ api: TestApi; server: string; domain: string }> {
  const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 4 }] });
  const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 3 });
  const img = await image(api, 'plain');
  // The scheduler spreads by free capacity: compute1 has the most.
  const { id } = await boot(api, f, img);
  await api.servers.idle();
  const record = await api.store.getServer(id);
  assert.equal(record?.host, 'compute1');
  return { api, server: id, domain: record.domainName };
}

const USAGE_C1 = {
  vcpus: 16,
  memory_mb: 65536,
  local_gb: 1000,
  vcpus_used: 2,
  memory_mb_used: 512,
  local_gb_used: 3,
  free_ram_mb: 65024,
  free_disk_gb: 997,
  current_workload: 0,
  running_vms: 1,
  disk_available_least: 997,
};

async function get(api: TestApi, path: string, mv = '2.1', as: 'admin' | 'member' = 'admin') {
  return api.request('GET', `/compute/v2.1/os-hypervisors${path}`, { headers: MV(mv), as });
}

describe('os-hypervisors', () => {
  it('is for admins only, on every route', async () => {
    const { api } = await cloud();
    // prettier-ignore
    const paths = [['', '2.1'], ['/detail', '2.1'], ['/1', '2.1'], ['/statistics', '2.1'], ['/1/uptime', '2.1'], ['/compute/search', '2.1'], ['/compute/servers', '2.1'], [`/${C1}`, '2.53']];
    for (const [path = '', mv] of paths) {
      assert.equal((await get(api, path, mv, 'member')).status, 403, path);
    }
  });

  it('2.1: integer ids, cpu_info as JSON text, usage fields, no vpmu: extension keys', async () => {
    const { api } = await cloud();
    assert.deepEqual((await get(api, '')).body, {
      hypervisors: [
        { id: 1, hypervisor_hostname: 'compute1', state: 'up', status: 'enabled' },
        { id: 2, hypervisor_hostname: 'compute2', state: 'up', status: 'enabled' },
      ],
    });
    const detail = (await get(api, '/detail')).body as { hypervisors: unknown[] };
    const c1 = {
      id: 1,
      hypervisor_hostname: 'compute1',
      state: 'up',
      status: 'enabled',
      hypervisor_type: 'QEMU',
      hypervisor_version: 7_002_000,
      host_ip: '192.0.2.10',
      service: { id: 1, host: 'compute1', disabled_reason: null },
      ...USAGE_C1,
      cpu_info: CPU_INFO,
    };
    assert.deepEqual(detail.hypervisors[0], c1);
    assert.deepEqual((await get(api, '/1')).body, { hypervisor: c1 });
  });

  it('2.28: cpu_info is an object', async () => {
    const { api } = await cloud();
    const shown = (await get(api, '/1', '2.28')).body as { hypervisor: { cpu_info: unknown } };
    assert.deepEqual(shown.hypervisor.cpu_info, JSON.parse(CPU_INFO));
    const before = (await get(api, '/1', '2.27')).body as { hypervisor: { cpu_info: unknown } };
    assert.equal(before.hypervisor.cpu_info, CPU_INFO);
  });

  it('2.33: pages with limit and marker and links the next page', async () => {
    const { api } = await cloud();
    const first = await get(api, '?limit=1', '2.33');
    assert.deepEqual(first.body, {
      hypervisors: [{ id: 1, hypervisor_hostname: 'compute1', state: 'up', status: 'enabled' }],
      hypervisors_links: [
        { rel: 'next', href: 'http://vpmu.test/compute/v2.1/os-hypervisors?limit=1&marker=1' },
      ],
    });
    const second = await get(api, '/detail?limit=1&marker=1', '2.33');
    const hyps = (second.body as { hypervisors: { id: number }[] }).hypervisors;
    assert.deepEqual(
      hyps.map((h) => h.id),
      [2],
    );
    assert.deepEqual((await get(api, '?limit=1&marker=2', '2.33')).body, {
      hypervisors: [],
    });
    // Before 2.33 paging is not there: the parameters are ignored.
    assert.equal(
      ((await get(api, '?limit=1', '2.32')).body as { hypervisors: unknown[] }).hypervisors.length,
      2,
    );
  });

  it('2.53: UUID ids, with_servers, hypervisor_hostname_pattern', async () => {
    const { api, server, domain } = await cloud();
    assert.deepEqual((await get(api, '?with_servers=true', '2.53')).body, {
      hypervisors: [
        {
          id: C1,
          hypervisor_hostname: 'compute1',
          state: 'up',
          status: 'enabled',
          servers: [{ name: domain, uuid: server }],
        },
        { id: C2, hypervisor_hostname: 'compute2', state: 'up', status: 'enabled' },
      ],
    });
    const shown = (await get(api, `/${C1}?with_servers=1`, '2.53')).body as {
      hypervisor: Record<string, unknown>;
    };
    assert.deepEqual(shown.hypervisor.service, {
      id: C1_SERVICE,
      host: 'compute1',
      disabled_reason: null,
    });
    assert.deepEqual(shown.hypervisor.servers, [{ name: domain, uuid: server }]);
    assert.deepEqual((await get(api, '?hypervisor_hostname_pattern=PUTE2', '2.53')).body, {
      hypervisors: [{ id: C2, hypervisor_hostname: 'compute2', state: 'up', status: 'enabled' }],
    });
    // The ids never change: they are derived from the host name.
    assert.equal(hostUuid('compute1', 'compute-node'), C1);
    assert.match(C1, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u);
  });

  it('2.75: with_servers shows an empty list for a host without servers', async () => {
    const { api } = await cloud();
    const listed = (await get(api, '?with_servers=true', '2.75')).body as {
      hypervisors: { servers?: unknown }[];
    };
    assert.deepEqual(listed.hypervisors[1]?.servers, []);
  });

  it('2.88: the detail drops the usage fields and shows the uptime', async () => {
    const { api } = await cloud();
    assert.deepEqual((await get(api, `/${C1}`, '2.88')).body, {
      hypervisor: {
        id: C1,
        hypervisor_hostname: 'compute1',
        state: 'up',
        status: 'enabled',
        hypervisor_type: 'QEMU',
        hypervisor_version: 7_002_000,
        host_ip: '192.0.2.10',
        service: { id: C1_SERVICE, host: 'compute1', disabled_reason: null },
        cpu_info: JSON.parse(CPU_INFO) as unknown,
        uptime: UPTIME('compute1'),
      },
    });
  });

  it('statistics sums the enabled hosts (before 2.88)', async () => {
    const { api } = await cloud();
    assert.deepEqual((await get(api, '/statistics')).body, {
      hypervisor_statistics: {
        count: 2,
        vcpus: 20,
        memory_mb: 131072,
        local_gb: 2000,
        vcpus_used: 2,
        memory_mb_used: 512,
        local_gb_used: 3,
        free_ram_mb: 131072 - 512,
        free_disk_gb: 1997,
        current_workload: 0,
        running_vms: 1,
        disk_available_least: 1997,
      },
    });
  });

  it('uptime is what the host agent reads from `uptime` (before 2.88)', async () => {
    const { api } = await cloud();
    assert.deepEqual((await get(api, '/2/uptime')).body, {
      hypervisor: {
        id: 2,
        hypervisor_hostname: 'compute2',
        state: 'up',
        status: 'enabled',
        uptime: UPTIME('compute2'),
      },
    });
    const v253 = (await get(api, `/${C1}/uptime`, '2.53')).body as { hypervisor: { id: string } };
    assert.equal(v253.hypervisor.id, C1);
  });

  it('search and servers match host names like SQL LIKE (before 2.53)', async () => {
    const { api, server, domain } = await cloud();
    assert.deepEqual((await get(api, '/pute1/search')).body, {
      hypervisors: [{ id: 1, hypervisor_hostname: 'compute1', state: 'up', status: 'enabled' }],
    });
    assert.deepEqual((await get(api, '/compute/servers')).body, {
      hypervisors: [
        {
          id: 1,
          hypervisor_hostname: 'compute1',
          state: 'up',
          status: 'enabled',
          servers: [{ name: domain, uuid: server }],
        },
        { id: 2, hypervisor_hostname: 'compute2', state: 'up', status: 'enabled' },
      ],
    });
    assert.equal(
      ((await get(api, '/comp_te%25/search')).body as { hypervisors: unknown[] }).hypervisors
        .length,
      2,
    );
  });

  // prettier-ignore
  const REFUSED = [
    { name: 'an unknown integer id', path: '/9', mv: '2.1', status: 404, message: "Hypervisor with ID '9' could not be found." },
    { name: 'a host name as the id', path: '/compute1', mv: '2.1', status: 404, message: "Hypervisor with ID 'compute1' could not be found." },
    { name: 'an integer id from 2.53', path: '/1', mv: '2.53', status: 400, message: 'Invalid uuid 1' },
    { name: 'an unknown UUID', path: `/${hostUuid('nowhere', 'compute-node')}`, mv: '2.53', status: 404 },
    { name: 'a pattern nothing matches (search)', path: '/nothing/search', mv: '2.1', status: 404, message: "No hypervisor matching 'nothing' could be found." },
    { name: 'a pattern nothing matches (servers)', path: '/nothing/servers', mv: '2.52', status: 404, message: "No hypervisor matching 'nothing' could be found." },
    { name: 'search from 2.53', path: '/compute/search', mv: '2.53', status: 404 },
    { name: 'servers from 2.53', path: '/compute/servers', mv: '2.53', status: 404 },
    { name: 'a pattern nothing matches (query)', path: '?hypervisor_hostname_pattern=nothing', mv: '2.53', status: 404, message: "No hypervisor matching 'nothing' could be found." },
    { name: 'paging with a pattern', path: '?hypervisor_hostname_pattern=c&limit=1', mv: '2.53', status: 400, message: 'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.' },
    { name: 'an unknown marker', path: '?marker=7', mv: '2.33', status: 400, message: 'marker [7] not found' },
    { name: 'a marker that is no UUID from 2.53', path: '?marker=1', mv: '2.53', status: 400 },
    { name: 'a negative limit', path: '?limit=-1', mv: '2.33', status: 400 },
    { name: 'an unknown query parameter from 2.53', path: '?bogus=1', mv: '2.53', status: 400 },
    { name: 'with_servers not a boolean', path: '?with_servers=maybe', mv: '2.53', status: 400 },
    { name: 'statistics from 2.88', path: '/statistics', mv: '2.88', status: 404 },
    { name: 'uptime from 2.88', path: `/${C1}/uptime`, mv: '2.88', status: 404 },
  ];
  for (const { name, path, mv, status, message } of REFUSED) {
    it(`refuses ${name} with ${status}`, async () => {
      const { api } = await cloud();
      const res = await get(api, path, mv);
      assert.equal(res.status, status, JSON.stringify(res.body));
      if (message !== undefined) {
        const [fault] = Object.values(res.body as Record<string, { message: string }>);
        assert.equal(fault?.message, message);
      }
    });
  }
});
