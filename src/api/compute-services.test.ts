import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostUuid } from '../services/index.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor, image } from '../testing/server-calls.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const C1 = hostUuid('compute1', 'service');

async function twoHosts(): Promise<TestApi> {
  return makeTestApi({ hostVcpus: 8, extraHosts: [{ name: 'compute2', vcpus: 4 }] });
}

async function services(api: TestApi, mv = '2.1', query = '', as: 'admin' | 'member' = 'admin') {
  return api.request('GET', `/compute/v2.1/os-services${query}`, { headers: MV(mv), as });
}

async function put(
  api: TestApi,
  mv: string,
  id: string,
  body: unknown,
  as: 'admin' | 'member' = 'admin',
) {
  return api.request('PUT', `/compute/v2.1/os-services/${id}`, { headers: MV(mv), as, body });
}

async function placedOn(api: TestApi, name: string): Promise<string | null | undefined> {
  const f = await flavor(api, `f-${name}`);
  const img = await image(api, `i-${name}`);
  const vm = await boot(api, f, img, 'member', name);
  assert.equal(vm.status, 202, JSON.stringify(vm.body));
  await api.servers.idle();
  return (await api.store.getServer(vm.id))?.host;
}

describe('os-services', () => {
  it("lists one nova-compute per host, with Nova's keys for each microversion", async () => {
    const api = await twoHosts();
    const cases = [
      { mv: '2.1', id: 1, forced: false },
      { mv: '2.11', id: 1, forced: true },
      { mv: '2.53', id: C1, forced: true },
    ];
    for (const c of cases) {
      const res = await services(api, c.mv);
      assert.equal(res.status, 200, c.mv);
      const list = (res.body as { services: Record<string, unknown>[] }).services;
      assert.deepEqual(
        list.map((s) => s.host),
        ['compute1', 'compute2'],
        c.mv,
      );
      const [first] = list;
      assert.deepEqual(
        first,
        {
          id: c.id,
          binary: 'nova-compute',
          host: 'compute1',
          zone: 'nova',
          status: 'enabled',
          state: 'up',
          updated_at: first?.updated_at,
          disabled_reason: null,
          ...(c.forced ? { forced_down: false } : {}),
        },
        c.mv,
      );
    }
  });

  it('filters by host and binary, refuses unknown filters from 2.75, and is for admins', async () => {
    const api = await twoHosts();
    const count = async (query: string, mv = '2.1') =>
      ((await services(api, mv, query)).body as { services: unknown[] }).services.length;
    assert.equal(await count('?host=compute2'), 1);
    assert.equal(await count('?binary=nova-compute'), 2);
    assert.equal(await count('?binary=nova-scheduler'), 0);
    assert.equal(await count('?host=compute1&binary=nova-compute&other=1', '2.74'), 1);
    const refused = await services(api, '2.75', '?other=1');
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /'other' was unexpected/u);
    const member = await services(api, '2.1', '', 'member');
    assert.equal(member.status, 403);
    assert.match(JSON.stringify(member.body), /os_compute_api:os-services:list/u);
  });

  it('disables a host with a reason (2.53): new servers go elsewhere, and it outlives a re-registration', async () => {
    const api = await twoHosts();
    const res = await put(api, '2.53', C1, { status: 'disabled', disabled_reason: 'BIOS update' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const service = (res.body as { service: Record<string, unknown> }).service;
    assert.equal(service.status, 'disabled');
    assert.equal(service.disabled_reason, 'BIOS update');
    assert.equal(service.id, C1);
    assert.equal(await placedOn(api, 'a'), 'compute2', 'compute1 is roomier but disabled');
    const hypervisors = await api.request('GET', '/compute/v2.1/os-hypervisors/detail', {
      headers: MV('2.53'),
      as: 'admin',
    });
    const [h1] = (hypervisors.body as { hypervisors: Record<string, unknown>[] }).hypervisors;
    assert.equal(h1?.status, 'disabled');
    assert.deepEqual((h1.service as Record<string, unknown>).disabled_reason, 'BIOS update');
    // A compute that starts again registers its host anew; the operator's decision stays.
    const record = await api.store.getComputeHost('compute1');
    assert.ok(record);
    await api.servers.registerHost({ ...record, enabled: true, disabledReason: null });
    assert.equal((await api.store.getComputeHost('compute1'))?.enabled, false);
    const enabled = await put(api, '2.53', C1, { status: 'enabled' });
    assert.equal(
      (enabled.body as { service: Record<string, unknown> }).service.disabled_reason,
      null,
    );
    assert.equal(await placedOn(api, 'b'), 'compute1');
  });

  it('forces a host down: its state is down and the scheduler avoids it', async () => {
    const api = await twoHosts();
    const res = await put(api, '2.53', C1, { forced_down: true });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body as { service: Record<string, unknown> }).service.state, 'down');
    assert.equal(await placedOn(api, 'a'), 'compute2');
    const legacy = await put(api, '2.11', 'force-down', {
      host: 'compute1',
      binary: 'nova-compute',
      forced_down: 'false',
    });
    assert.deepEqual(legacy.body, {
      service: { host: 'compute1', binary: 'nova-compute', forced_down: false },
    });
    assert.equal(await placedOn(api, 'b'), 'compute1');
  });

  it('takes the forms before 2.53: enable, disable, disable-log-reason, force-down from 2.11', async () => {
    const api = await twoHosts();
    const who = { host: 'compute2', binary: 'nova-compute' };
    assert.deepEqual((await put(api, '2.1', 'disable', who)).body, {
      service: { ...who, status: 'disabled' },
    });
    assert.deepEqual(
      (await put(api, '2.1', 'disable-log-reason', { ...who, disabled_reason: 'fans' })).body,
      { service: { ...who, status: 'disabled', disabled_reason: 'fans' } },
    );
    assert.equal((await api.store.getComputeHost('compute2'))?.disabledReason, 'fans');
    assert.deepEqual((await put(api, '2.1', 'enable', who)).body, {
      service: { ...who, status: 'enabled' },
    });
    assert.equal((await api.store.getComputeHost('compute2'))?.disabledReason, null);
  });

  const refusals: {
    name: string;
    mv: string;
    id: string;
    body: unknown;
    status: number;
    text: RegExp;
  }[] = [
    {
      name: 'no change asked',
      mv: '2.53',
      id: C1,
      body: {},
      status: 400,
      text: /No updates were requested/u,
    },
    {
      name: 'only a reason',
      mv: '2.53',
      id: C1,
      body: { disabled_reason: 'x' },
      status: 400,
      text: /No updates were requested/u,
    },
    {
      name: 'a reason to enable',
      mv: '2.53',
      id: C1,
      body: { status: 'enabled', disabled_reason: 'x' },
      status: 400,
      text: /Specifying 'disabled_reason' with status 'enabled' is invalid/u,
    },
    {
      name: 'an unknown status',
      mv: '2.53',
      id: C1,
      body: { status: 'paused' },
      status: 400,
      text: /status.*paused/u,
    },
    {
      name: 'a forced_down that is not a boolean',
      mv: '2.53',
      id: C1,
      body: { forced_down: 'maybe' },
      status: 400,
      text: /forced_down.*maybe/u,
    },
    {
      name: 'an unknown key',
      mv: '2.53',
      id: C1,
      body: { status: 'disabled', zone: 'x' },
      status: 400,
      text: /zone/u,
    },
    {
      name: 'a reason too long',
      mv: '2.53',
      id: C1,
      body: { status: 'disabled', disabled_reason: 'r'.repeat(256) },
      status: 400,
      text: /disabled_reason/u,
    },
    {
      name: 'an id that is no uuid',
      mv: '2.53',
      id: '1',
      body: { status: 'disabled' },
      status: 400,
      text: /Invalid uuid 1/u,
    },
    {
      name: 'an unknown uuid',
      mv: '2.53',
      id: hostUuid('nowhere', 'service'),
      body: { status: 'disabled' },
      status: 404,
      text: /could not be found/u,
    },
    {
      name: 'an unknown host',
      mv: '2.1',
      id: 'disable',
      body: { host: 'nowhere', binary: 'nova-compute' },
      status: 404,
      text: /Could not find binary nova-compute on host nowhere\./u,
    },
    {
      name: 'another binary',
      mv: '2.1',
      id: 'disable',
      body: { host: 'compute1', binary: 'nova-scheduler' },
      status: 400,
      text: /Updating a nova-scheduler service is not supported\. Only nova-compute services can be updated\./u,
    },
    {
      name: 'disable-log-reason without a reason',
      mv: '2.1',
      id: 'disable-log-reason',
      body: { host: 'compute1', binary: 'nova-compute' },
      status: 400,
      text: /Missing disabled reason field/u,
    },
    {
      name: 'force-down before 2.11',
      mv: '2.10',
      id: 'force-down',
      body: { host: 'compute1', binary: 'nova-compute', forced_down: true },
      status: 404,
      text: /Unknown action/u,
    },
    {
      name: 'a legacy key it does not take',
      mv: '2.1',
      id: 'enable',
      body: { host: 'compute1', binary: 'nova-compute', status: 'x' },
      status: 400,
      text: /status/u,
    },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} with ${r.status}, changing nothing`, async () => {
      const api = await twoHosts();
      const before = await api.store.listComputeHosts();
      const res = await put(api, r.mv, r.id, r.body);
      assert.equal(res.status, r.status, JSON.stringify(res.body));
      assert.match(JSON.stringify(res.body), r.text);
      assert.deepEqual(await api.store.listComputeHosts(), before);
    });
  }

  it('refuses updates from members', async () => {
    const api = await twoHosts();
    const res = await put(api, '2.53', C1, { status: 'disabled' }, 'member');
    assert.equal(res.status, 403);
    assert.equal((await api.store.getComputeHost('compute1'))?.enabled, true);
  });

  it('deletes the service of a host that runs nothing, and refuses while a server is on it', async () => {
    const api = await twoHosts();
    assert.equal(await placedOn(api, 'a'), 'compute1');
    const del = (id: string, mv = '2.53') =>
      api.request('DELETE', `/compute/v2.1/os-services/${id}`, { headers: MV(mv), as: 'admin' });
    const busy = await del(C1);
    assert.equal(busy.status, 409);
    assert.match(
      JSON.stringify(busy.body),
      /Unable to delete compute service that is hosting instances/u,
    );
    assert.equal((await del('abc', '2.1')).status, 400);
    const gone = await del('2', '2.1'); // compute2, by its integer id
    assert.equal(gone.status, 204);
    const left = ((await services(api)).body as { services: { host: string }[] }).services;
    assert.deepEqual(
      left.map((s) => s.host),
      ['compute1'],
    );
    assert.equal((await del(hostUuid('compute2', 'service'))).status, 404);
  });
});
