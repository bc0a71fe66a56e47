/**
 * Compute heartbeats through the HTTP API: a compute whose last heartbeat is older than
 * service_down_time is down everywhere Nova says so (os-services, os-hypervisors, availability
 * zones), takes no new server, and may be evacuated from; a fresh one is up. Time is the test
 * API's injected clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, START, type TestApi } from '../testing/api.js';
import { boot, flavor, image, message } from '../testing/server-calls.js';

const MV = (version: string) => ({ 'OpenStack-API-Version': `compute ${version}` });
const at = (s: number) => new Date(START.getTime() + s * 1000);

/** compute1 (16 vCPUs) and compute2 (8), compute1 having reported at START. */
async function twoHosts(serviceDownTime?: number): Promise<TestApi> {
  const api = await makeTestApi({
    hostVcpus: 16,
    extraHosts: [{ name: 'compute2', vcpus: 8 }],
    ...(serviceDownTime === undefined ? {} : { serviceDownTime }),
  });
  assert.equal(await api.store.reportHeartbeat('compute1', START.toISOString()), true);
  return api;
}

/** Each view's word on compute1: os-services, os-hypervisors and the zone detail. */
async function compute1Seen(api: TestApi) {
  const services = await api.request('GET', '/compute/v2.1/os-services?host=compute1', {
    headers: MV('2.11'),
  });
  assert.equal(services.status, 200, services.text);
  const [service] = (services.body as { services: Record<string, unknown>[] }).services;
  const hypervisors = await api.request('GET', '/compute/v2.1/os-hypervisors/detail', {
    headers: MV('2.53'),
  });
  assert.equal(hypervisors.status, 200, hypervisors.text);
  const hypervisor = (
    hypervisors.body as { hypervisors: { hypervisor_hostname: string; state: string }[] }
  ).hypervisors.find((h) => h.hypervisor_hostname === 'compute1');
  const zones = await api.request('GET', '/compute/v2.1/os-availability-zone/detail');
  assert.equal(zones.status, 200, zones.text);
  const [zone] = (
    zones.body as {
      availabilityZoneInfo: {
        hosts: Record<string, Record<string, { available: boolean; updated_at: string }>>;
      }[];
    }
  ).availabilityZoneInfo;
  const inZone = zone?.hosts.compute1?.['nova-compute'];
  return {
    service: service?.state,
    forcedDown: service?.forced_down,
    updatedAt: service?.updated_at,
    hypervisor: hypervisor?.state,
    zoneAvailable: inZone?.available,
    zoneUpdatedAt: inZone?.updated_at,
  };
}

describe('compute heartbeats', () => {
  // prettier-ignore
  const CASES: readonly { name: string; downTime?: number; after: number; want: 'up' | 'down' }[] = [
    { name: 'fresh: reported 10 s ago',                          after: 10,  want: 'up' },
    { name: 'at service_down_time (60 s): still up',             after: 60,  want: 'up' },
    { name: 'stale: silent 61 s',                                after: 61,  want: 'down' },
    { name: 'a longer service_down_time keeps it up at 61 s',    downTime: 120, after: 61, want: 'up' },
    { name: 'and down past it',                                  downTime: 120, after: 121, want: 'down' },
  ];
  for (const c of CASES) {
    it(`os-services, os-hypervisors and zones: ${c.name}`, async () => {
      const api = await twoHosts(c.downTime);
      api.clock.set(at(c.after));
      assert.deepEqual(await compute1Seen(api), {
        service: c.want,
        forcedDown: false,
        // Nova's service updated_at: the last heartbeat.
        updatedAt: '2026-01-01T00:00:00.000000',
        hypervisor: c.want,
        zoneAvailable: c.want === 'up',
        zoneUpdatedAt: '2026-01-01T00:00:00.000000',
      });
    });
  }

  it('a new heartbeat brings a stale host up again, and os-services shows its time', async () => {
    const api = await twoHosts();
    api.clock.set(at(600));
    assert.equal((await compute1Seen(api)).service, 'down');
    await api.store.reportHeartbeat('compute1', at(600).toISOString());
    const seen = await compute1Seen(api);
    assert.deepEqual([seen.service, seen.hypervisor, seen.zoneAvailable], ['up', 'up', true]);
    assert.equal(seen.updatedAt, '2026-01-01T00:10:00.000000');
  });

  it('a host that never reported is up (records made before heartbeats)', async () => {
    const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 8 }] });
    api.clock.set(at(86_400));
    const res = await api.request('GET', '/compute/v2.1/os-services?host=compute2');
    const [service] = (res.body as { services: { state: string }[] }).services;
    assert.equal(service?.state, 'up');
  });

  it('a stale host gets no new server; NoValidHost says why', async () => {
    const api = await makeTestApi({ hostVcpus: 16 });
    await api.store.reportHeartbeat('compute1', START.toISOString());
    api.clock.set(at(61));
    const vm = await boot(api, await flavor(api, 'small'), await image(api, 'cirros'));
    assert.equal(vm.status, 202, JSON.stringify(vm.body));
    await api.servers.idle();
    const shown = await api.request('GET', `/compute/v2.1/servers/${vm.id}`);
    const server = (shown.body as { server: { status: string; fault?: { message: string } } })
      .server;
    assert.equal(server.status, 'ERROR');
    assert.equal(
      server.fault?.message,
      'No valid host was found. 1 host checked: 1 with the compute service down.',
    );
    assert.deepEqual(await api.store.listAllocations(), []);
  });

  it('places on the fresh host when the other is stale', async () => {
    const api = await twoHosts();
    api.clock.set(at(61));
    await api.store.reportHeartbeat('compute2', at(61).toISOString());
    // compute1 is the roomier host: it would win, were it up.
    const vm = await boot(api, await flavor(api, 'small'), await image(api, 'cirros'));
    await api.servers.idle();
    const placed = await api.store.getServer(vm.id);
    assert.deepEqual([placed?.status, placed?.host], ['ACTIVE', 'compute2']);
  });
});

describe('compute heartbeats: moves', () => {
  async function serverOnCompute1() {
    const api = await twoHosts();
    const vm = await boot(api, await flavor(api, 'small'), await image(api, 'cirros'));
    await api.servers.idle();
    assert.equal((await api.store.getServer(vm.id))?.host, 'compute1');
    return { api, id: vm.id };
  }
  const act = (api: TestApi, id: string, body: unknown, version: string) =>
    api.request('POST', `/compute/v2.1/servers/${id}/action`, { headers: MV(version), body });

  it("refuses to evacuate while the source's heartbeat is fresh, with Nova's message", async () => {
    const { api, id } = await serverOnCompute1();
    api.clock.set(at(30));
    const res = await act(api, id, { evacuate: {} }, '2.14');
    assert.equal(res.status, 400, res.text);
    assert.equal(message(res), 'Compute service of compute1 is still in use.');
    assert.equal((await api.store.getServer(id))?.host, 'compute1');
  });

  it('evacuates from a host whose heartbeat is stale, not forced down', async () => {
    const { api, id } = await serverOnCompute1();
    api.clock.set(at(61));
    const res = await act(api, id, { evacuate: {} }, '2.14');
    assert.equal(res.status, 200, res.text);
    const moved = await api.store.getServer(id);
    assert.deepEqual([moved?.status, moved?.host], ['ACTIVE', 'compute2']);
  });

  it('refuses to migrate from a host whose heartbeat is stale', async () => {
    const { api, id } = await serverOnCompute1();
    api.clock.set(at(61));
    await api.store.reportHeartbeat('compute2', at(61).toISOString());
    const res = await act(api, id, { migrate: null }, '2.1');
    assert.equal(res.status, 409, res.text);
    assert.equal(message(res), 'Service is unavailable at this time.');
    assert.equal((await api.store.getServer(id))?.host, 'compute1');
  });

  it('does not migrate to a host whose heartbeat is stale', async () => {
    const { api, id } = await serverOnCompute1();
    await api.store.reportHeartbeat('compute2', START.toISOString());
    api.clock.set(at(61));
    await api.store.reportHeartbeat('compute1', at(61).toISOString());
    const res = await act(api, id, { migrate: { host: 'compute2' } }, '2.56');
    assert.equal(res.status, 400, res.text);
    assert.match(message(res), /^No valid host was found\. .*with the compute service down/u);
    assert.equal((await api.store.getServer(id))?.host, 'compute1');
  });
});
