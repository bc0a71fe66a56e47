import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { flavor, image, message, show } from '../testing/server-calls.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const AGGREGATES = '/compute/v2.1/os-aggregates';

async function twoHosts(): Promise<TestApi> {
  return makeTestApi({ hostVcpus: 8, extraHosts: [{ name: 'compute2', vcpus: 4 }] });
}

type Who = 'admin' | 'member';

async function create(api: TestApi, aggregate: unknown, as: Who = 'admin', mv = '2.1') {
  return api.request('POST', AGGREGATES, { as, body: { aggregate }, headers: MV(mv) });
}

async function act(api: TestApi, id: number | string, body: unknown, as: Who = 'admin') {
  return api.request('POST', `${AGGREGATES}/${id}/action`, { as, body });
}

/** Creates an aggregate (asserting it worked) and returns its id. */
async function aggregate(api: TestApi, name: string, zone?: string): Promise<number> {
  const res = await create(api, {
    name,
    ...(zone === undefined ? {} : { availability_zone: zone }),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { aggregate: { id: number } }).aggregate.id;
}

async function addHost(api: TestApi, id: number, host: string): Promise<void> {
  const res = await act(api, id, { add_host: { host } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

function body(res: { body: unknown }): Record<string, unknown> {
  return (res.body as { aggregate: Record<string, unknown> }).aggregate;
}

describe('os-aggregates', () => {
  it("creates, shows, lists, updates and deletes with Nova's keys for each microversion", async () => {
    const api = await twoHosts();
    const made = await create(api, { name: 'agg1', availability_zone: 'az1' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    // Nova's create answers without hosts and metadata.
    assert.deepEqual(body(made), {
      availability_zone: 'az1',
      created_at: '2026-01-01T00:00:00.000000',
      deleted: false,
      deleted_at: null,
      id: 1,
      name: 'agg1',
      updated_at: null,
    });
    const full = {
      availability_zone: 'az1',
      created_at: '2026-01-01T00:00:00.000000',
      deleted: false,
      deleted_at: null,
      hosts: [],
      id: 1,
      metadata: { availability_zone: 'az1' },
      name: 'agg1',
      updated_at: null,
    };
    for (const c of [
      { mv: '2.1', extra: {} },
      { mv: '2.40', extra: {} },
      { mv: '2.41', extra: { uuid: (await api.store.getAggregate(1))?.uuid } },
    ]) {
      const got = await api.request('GET', `${AGGREGATES}/1`, { headers: MV(c.mv) });
      assert.equal(got.status, 200, c.mv);
      assert.deepEqual(body(got), { ...full, ...c.extra }, c.mv);
      const list = await api.request('GET', AGGREGATES, { headers: MV(c.mv) });
      assert.deepEqual(list.body, { aggregates: [{ ...full, ...c.extra }] }, c.mv);
    }
    api.clock.set(new Date('2026-01-01T00:30:00.000Z'));
    const updated = await api.request('PUT', `${AGGREGATES}/1`, {
      body: { aggregate: { name: ' agg1b ', availability_zone: 'az2' } },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(body(updated), {
      ...full,
      name: 'agg1b',
      availability_zone: 'az2',
      metadata: { availability_zone: 'az2' },
      updated_at: '2026-01-01T00:30:00.000000',
    });
    const gone = await api.request('DELETE', `${AGGREGATES}/1`);
    assert.equal(gone.status, 200);
    assert.equal((await api.request('GET', `${AGGREGATES}/1`)).status, 404);
  });

  it('adds and removes hosts, and keeps set_metadata and availability_zone in step', async () => {
    const api = await twoHosts();
    const id = await aggregate(api, 'agg1');
    const added = await act(api, id, { add_host: { host: 'compute2' } });
    assert.equal(added.status, 200);
    assert.deepEqual(body(added).hosts, ['compute2']);
    assert.equal(body(added).availability_zone, null);
    const cases: { metadata: Record<string, string | null>; want: Record<string, string> }[] = [
      {
        metadata: { a: '1', availability_zone: 'az1' },
        want: { a: '1', availability_zone: 'az1' },
      },
      { metadata: { b: '2', a: null }, want: { b: '2', availability_zone: 'az1' } },
      { metadata: { nothing: null }, want: { b: '2', availability_zone: 'az1' } },
    ];
    for (const c of cases) {
      const res = await act(api, id, { set_metadata: { metadata: c.metadata } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(body(res).metadata, c.want, JSON.stringify(c.metadata));
      assert.equal(body(res).availability_zone, 'az1');
    }
    const renamed = await api.request('PUT', `${AGGREGATES}/${id}`, {
      body: { aggregate: { availability_zone: 'az9' } },
    });
    assert.deepEqual(body(renamed).metadata, { b: '2', availability_zone: 'az9' });
    const removed = await act(api, id, { remove_host: { host: 'compute2' } });
    assert.equal(removed.status, 200);
    assert.deepEqual(body(removed).hosts, []);
  });

  it("refuses what Nova refuses, with Nova's status and message", async () => {
    const api = await twoHosts();
    const az1 = await aggregate(api, 'in-az1', 'az1');
    const az2 = await aggregate(api, 'in-az2', 'az2');
    const plain = await aggregate(api, 'plain');
    await addHost(api, az1, 'compute1');
    await addHost(api, az2, 'compute2');
    const cases: {
      name: string;
      method?: string;
      path?: string;
      body?: unknown;
      as?: Who;
      status: number;
      message: RegExp;
    }[] = [
      {
        name: 'duplicate name',
        body: { aggregate: { name: 'plain' } },
        status: 409,
        message: /^Aggregate plain already exists\.$/u,
      },
      {
        name: 'a member creates',
        body: { aggregate: { name: 'x' } },
        as: 'member',
        status: 403,
        message: /os_compute_api:os-aggregates:create/u,
      },
      {
        name: 'no name',
        body: { aggregate: { availability_zone: 'az' } },
        status: 400,
        message: /field\/attribute name\. Value: null/u,
      },
      {
        name: 'a name with surrounding spaces',
        body: { aggregate: { name: ' x ' } },
        status: 400,
        message: /field\/attribute name\. Value: {2}x \. .*whitespace/u,
      },
      {
        name: 'a zone with a colon',
        body: { aggregate: { name: 'x', availability_zone: 'a:b' } },
        status: 400,
        message: /field\/attribute availability_zone\. Value: a:b\. .*':'/u,
      },
      {
        name: 'an unknown key',
        body: { aggregate: { name: 'x', hosts: [] } },
        status: 400,
        message: /'hosts' was unexpected/u,
      },
      {
        name: 'an unknown aggregate',
        method: 'GET',
        path: `${AGGREGATES}/99`,
        status: 404,
        message: /^Aggregate 99 could not be found\.$/u,
      },
      {
        name: 'a negative id',
        method: 'DELETE',
        path: `${AGGREGATES}/-1`,
        status: 404,
        message: /^Aggregate -1 could not be found\.$/u,
      },
      {
        name: 'a non-integer id',
        method: 'GET',
        path: `${AGGREGATES}/abc`,
        status: 400,
        message: /id must be an integer/u,
      },
      {
        name: 'an update with nothing',
        method: 'PUT',
        path: `${AGGREGATES}/${plain}`,
        body: { aggregate: {} },
        status: 400,
        message: /'name' or 'availability_zone'/u,
      },
      {
        name: 'a rename to a taken name',
        method: 'PUT',
        path: `${AGGREGATES}/${plain}`,
        body: { aggregate: { name: 'in-az1' } },
        status: 409,
        message: /^Aggregate in-az1 already exists\.$/u,
      },
      {
        name: 'an update to a null zone',
        method: 'PUT',
        path: `${AGGREGATES}/${az1}`,
        body: { aggregate: { availability_zone: null } },
        status: 400,
        message:
          /^Cannot update aggregate 1\. Reason: Aggregate in-az1 does not support empty named availability zone\.$/u,
      },
      {
        name: 'deleting an aggregate with hosts',
        method: 'DELETE',
        path: `${AGGREGATES}/${az1}`,
        status: 400,
        message: /^Cannot remove aggregate 1\. Reason: Host aggregate is not empty\.$/u,
      },
      {
        name: 'adding an unknown host',
        path: `${AGGREGATES}/${plain}/action`,
        body: { add_host: { host: 'nohost' } },
        status: 404,
        message: /^Compute host nohost could not be found\.$/u,
      },
      {
        name: 'adding a host twice',
        path: `${AGGREGATES}/${az1}/action`,
        body: { add_host: { host: 'compute1' } },
        status: 409,
        message: /^Aggregate 1 already has host compute1\.$/u,
      },
      {
        name: 'adding a host in another zone',
        path: `${AGGREGATES}/${az2}/action`,
        body: { add_host: { host: 'compute1' } },
        status: 409,
        message:
          /^Cannot add host to aggregate 2\. Reason: One or more hosts already in availability zone\(s\) \['az1'\]\.$/u,
      },
      {
        name: 'removing a host not in the aggregate',
        path: `${AGGREGATES}/${plain}/action`,
        body: { remove_host: { host: 'compute1' } },
        status: 404,
        message: /^Cannot remove host compute1 in aggregate 3$/u,
      },
      {
        name: 'a bad host name',
        path: `${AGGREGATES}/${plain}/action`,
        body: { add_host: { host: 'a/b' } },
        status: 400,
        message: /field\/attribute host\. Value: a\/b/u,
      },
      {
        name: 'a bad metadata value',
        path: `${AGGREGATES}/${plain}/action`,
        body: { set_metadata: { metadata: { k: 1 } } },
        status: 400,
        message: /field\/attribute metadata\.k\. Value: 1/u,
      },
      {
        name: 'an unknown action',
        path: `${AGGREGATES}/${plain}/action`,
        body: { cache_images: {} },
        status: 400,
        message: /no such action: cache_images/u,
      },
      {
        name: 'image pre-caching',
        path: `${AGGREGATES}/${plain}/images`,
        body: { cache: [] },
        status: 404,
        message: /./u,
      },
    ];
    for (const c of cases) {
      const res = await api.request(c.method ?? 'POST', c.path ?? AGGREGATES, {
        as: c.as ?? 'admin',
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      assert.equal(res.status, c.status, `${c.name}: ${JSON.stringify(res.body)}`);
      assert.match(message(res), c.message, c.name);
    }
    // A zone change that would put compute1 in two zones: 400 on update and set_metadata.
    await addHost(api, plain, 'compute1');
    const update = await api.request('PUT', `${AGGREGATES}/${plain}`, {
      body: { aggregate: { availability_zone: 'az3' } },
    });
    assert.equal(update.status, 400);
    assert.equal(
      message(update),
      "Cannot update aggregate 3. Reason: One or more hosts already in availability zone(s) ['az1'].",
    );
    const meta = await act(api, plain, {
      set_metadata: { metadata: { availability_zone: 'az3' } },
    });
    assert.equal(meta.status, 400);
    assert.match(message(meta), /^Cannot update metadata of aggregate 3\. Reason: One or more/u);
    // The same zone is no conflict.
    const same = await act(api, plain, {
      set_metadata: { metadata: { availability_zone: 'az1' } },
    });
    assert.equal(same.status, 200, JSON.stringify(same.body));
  });
});

describe('availability zones from aggregates', () => {
  it('lists the zones of the hosts, with details for admins and in os-services', async () => {
    const api = await twoHosts();
    const zones = async () =>
      (
        (await api.request('GET', '/compute/v2.1/os-availability-zone', { as: 'member' })).body as {
          availabilityZoneInfo: unknown[];
        }
      ).availabilityZoneInfo;
    assert.deepEqual(await zones(), [
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
    ]);
    const id = await aggregate(api, 'agg1', 'az1');
    // A zone without hosts is not listed.
    assert.equal((await zones()).length, 1);
    await addHost(api, id, 'compute2');
    assert.deepEqual(await zones(), [
      { zoneName: 'az1', zoneState: { available: true }, hosts: null },
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
    ]);
    const detail = await api.request('GET', '/compute/v2.1/os-availability-zone/detail');
    const info = (detail.body as { availabilityZoneInfo: { zoneName: string; hosts: unknown }[] })
      .availabilityZoneInfo;
    assert.deepEqual(
      info.map((z) => [z.zoneName, Object.keys(z.hosts as object)]),
      [
        ['az1', ['compute2']],
        ['nova', ['compute1']],
      ],
    );
    const services = await api.request('GET', '/compute/v2.1/os-services');
    assert.deepEqual(
      (services.body as { services: { host: string; zone: string }[] }).services.map((s) => [
        s.host,
        s.zone,
      ]),
      [
        ['compute1', 'nova'],
        ['compute2', 'az1'],
      ],
    );
    // A zone whose hosts are all disabled is listed as not available, without hosts.
    const off = await api.request('PUT', '/compute/v2.1/os-services/disable', {
      body: { host: 'compute2', binary: 'nova-compute' },
    });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    // Nova lists the available zones first.
    assert.deepEqual(await zones(), [
      { zoneName: 'nova', zoneState: { available: true }, hosts: null },
      { zoneName: 'az1', zoneState: { available: false }, hosts: null },
    ]);
  });
});

describe('availability_zone on server create', () => {
  async function bootIn(api: TestApi, zone: string | number, as: Who = 'member', name = 'vm') {
    const f = await flavor(api, `f-${name}`);
    const img = await image(api, `i-${name}`);
    const res = await api.request('POST', '/compute/v2.1/servers', {
      as,
      body: {
        server: {
          name,
          flavorRef: f,
          imageRef: img,
          networks: 'none',
          availability_zone: zone,
          config_drive: true,
        },
      },
    });
    const id = (res.body as { server?: { id: string } }).server?.id ?? '';
    return { res, id };
  }

  it('places only on hosts of the zone and shows the zone, in the view and the config drive', async () => {
    const api = await twoHosts();
    const id = await aggregate(api, 'agg1', 'az1');
    await addHost(api, id, 'compute2');
    // compute1 has more room, so without a zone it would be chosen.
    for (const [zone, host] of [
      ['az1', 'compute2'],
      ['nova', 'compute1'],
    ] as const) {
      const { res, id: server } = await bootIn(api, zone, 'member', `vm-${zone}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await api.servers.idle();
      const view = await show(api, server, 'admin');
      assert.equal(view['OS-EXT-SRV-ATTR:host'], host, zone);
      assert.equal(view['OS-EXT-AZ:availability_zone'], zone);
      const record = await api.store.getServer(server);
      assert.equal(record?.availabilityZone, zone);
      // Each extra test host has its own instance directory (src/testing/api.ts).
      const dir = host === 'compute1' ? '/instances' : `/instances-${host}`;
      const drive = api.guestFiles.file(
        `${dir}/${server}/disk.config`,
        'openstack/latest/meta_data.json',
      );
      assert.equal((JSON.parse(drive ?? '{}') as Record<string, unknown>).availability_zone, zone);
    }
  });

  it('refuses an unknown zone, forced hosts for members, and bad forms', async () => {
    const api = await twoHosts();
    const cases: { zone: string | number; as?: Who; status: number; message: RegExp }[] = [
      {
        zone: 'nowhere',
        status: 400,
        message: /^The requested availability zone is not available: "nowhere"/u,
      },
      { zone: 'nova:compute2', status: 403, message: /create:forced_host/u },
      {
        zone: 'nova:nohost',
        as: 'admin',
        status: 400,
        message: /^Compute host nohost could not be found\.$/u,
      },
      { zone: 'a:b:c:d', as: 'admin', status: 400, message: /Unable to parse availability_zone/u },
      { zone: 'nova:compute1:compute2', as: 'admin', status: 400, message: /differ/u },
      { zone: 7, status: 400, message: /field\/attribute availability_zone\. Value: 7/u },
    ];
    for (const c of cases) {
      const { res } = await bootIn(
        api,
        c.zone,
        c.as ?? 'member',
        `vm${String(c.zone).replace(/\W/gu, '')}`,
      );
      assert.equal(res.status, c.status, `${String(c.zone)}: ${JSON.stringify(res.body)}`);
      assert.match(message(res), c.message, String(c.zone));
    }
  });

  it('lets an admin force a host with zone:host and zone::node', async () => {
    const api = await twoHosts();
    for (const [n, zone] of ['nova:compute2', 'nova::compute2', ':compute2'].entries()) {
      const { res, id } = await bootIn(api, zone, 'admin', `vm${n}`);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await api.servers.idle();
      const view = await show(api, id, 'admin');
      assert.equal(view['OS-EXT-SRV-ATTR:host'], 'compute2', zone);
      assert.equal(view.status, 'ACTIVE', zone);
    }
  });

  it('ends in ERROR with No valid host when no host of the zone has room', async () => {
    const api = await twoHosts();
    const id = await aggregate(api, 'agg1', 'az1');
    await addHost(api, id, 'compute2');
    const f = await flavor(api, 'big', {}, { vcpus: 6 });
    const img = await image(api, 'img');
    const res = await api.request('POST', '/compute/v2.1/servers', {
      body: {
        server: {
          name: 'big',
          flavorRef: f,
          imageRef: img,
          networks: 'none',
          availability_zone: 'az1',
        },
      },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await api.servers.idle();
    const view = await show(api, (res.body as { server: { id: string } }).server.id, 'admin');
    assert.equal(view.status, 'ERROR');
    assert.match((view.fault as { message: string }).message, /No valid host was found/u);
  });
});
