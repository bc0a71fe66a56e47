import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, boot, flavor, image, message } from '../testing/server-calls.js';

const MV = (version: string) => ({ 'OpenStack-API-Version': `compute ${version}` });

async function act(
  api: TestApi,
  id: string,
  body: unknown,
  version = '2.1',
  as: 'admin' | 'member' = 'admin',
) {
  return api.request('POST', `/compute/v2.1/servers/${id}/action`, {
    as,
    headers: MV(version),
    body,
  });
}

/** Two or three hosts with a server booted on compute1 (the roomiest); returns its id. */
async function setup(
  options: {
    extra?: { name: string; vcpus: number; traits?: readonly string[] }[];
    specs?: Record<string, string>;
    hostTraits?: readonly string[];
  } = {},
) {
  const api = await makeTestApi({
    hostVcpus: 16,
    extraHosts: options.extra ?? [{ name: 'compute2', vcpus: 8 }],
    ...(options.hostTraits === undefined ? {} : { hostTraits: options.hostTraits }),
  });
  const small = await flavor(api, 'small', options.specs ?? {});
  const img = await image(api, 'cirros');
  const vm = await boot(api, small, img);
  assert.equal(vm.status, 202, JSON.stringify(vm.body));
  await api.servers.idle();
  const record = await api.store.getServer(vm.id);
  assert.equal(record?.status, 'ACTIVE');
  assert.equal(record.host, 'compute1');
  return { api, id: vm.id };
}

async function record(api: TestApi, id: string) {
  const found = await api.store.getServer(id);
  assert.ok(found !== undefined);
  return found;
}

async function domainState(api: TestApi, host: string, id: string) {
  return api.hypervisors
    .get(host)
    ?.state(id)
    .catch(() => undefined);
}

async function claimedHosts(api: TestApi): Promise<string[]> {
  return (await api.store.listAllocations()).map((a) => a.host).sort();
}

async function migrations(api: TestApi, version = '2.23') {
  const res = await api.request('GET', '/compute/v2.1/os-migrations', { headers: MV(version) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { migrations: Record<string, unknown>[] }).migrations;
}

async function forceDown(api: TestApi, host: string, down: boolean) {
  const list = await api.request('GET', '/compute/v2.1/os-services', { headers: MV('2.53') });
  const services = (list.body as { services: { id: string; host: string }[] }).services;
  const service = services.find((s) => s.host === host);
  assert.ok(service !== undefined);
  const res = await api.request('PUT', `/compute/v2.1/os-services/${service.id}`, {
    headers: MV('2.53'),
    body: { forced_down: down },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

describe('cold migrate', () => {
  it('moves the server to another host, waits in VERIFY_RESIZE, and confirm removes the source', async () => {
    const { api, id } = await setup();
    const before = api.notifier.delivered.length;
    const res = await act(api, id, { migrate: null });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(
      api.notifier.delivered
        .slice(before)
        .map((n) => n.eventType)
        .filter((t) => t.startsWith('instance.')),
      ['instance.resize.start', 'instance.resize.end'],
    );
    const moved = await record(api, id);
    assert.equal(moved.status, 'VERIFY_RESIZE');
    assert.equal(moved.host, 'compute2');
    assert.equal(await domainState(api, 'compute2', id), 'running');
    assert.equal(await domainState(api, 'compute1', id), 'shutoff', 'kept on the source');
    assert.deepEqual(await claimedHosts(api), ['compute1', 'compute2']);
    assert.equal(await api.disks.exists(`/instances-compute2/${id}/disk`), true);
    const [listed] = await migrations(api);
    assert.deepEqual(
      [listed?.migration_type, listed?.status, listed?.source_compute, listed?.dest_compute],
      ['migration', 'finished', 'compute1', 'compute2'],
    );

    const confirmed = await act(api, id, { confirmResize: null });
    assert.equal(confirmed.status, 204, JSON.stringify(confirmed.body));
    const done = await record(api, id);
    assert.deepEqual([done.status, done.host, done.resize], ['ACTIVE', 'compute2', null]);
    assert.equal(await domainState(api, 'compute1', id), undefined);
    assert.equal(await api.disks.exists(`/instances/${id}/disk`), false);
    assert.deepEqual(await claimedHosts(api), ['compute2']);
    assert.equal((await migrations(api))[0]?.status, 'confirmed');
    const actions = await api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions`);
    assert.deepEqual(
      (actions.body as { instanceActions: { action: string }[] }).instanceActions
        .map((a) => a.action)
        .sort(),
      ['confirmResize', 'create', 'migrate'],
    );
  });

  it('revert brings the server back to its source, running, and frees the destination', async () => {
    const { api, id } = await setup();
    assert.equal((await act(api, id, { migrate: null })).status, 202);
    const reverted = await act(api, id, { revertResize: null });
    assert.equal(reverted.status, 202, JSON.stringify(reverted.body));
    const back = await record(api, id);
    assert.deepEqual([back.status, back.host, back.resize], ['ACTIVE', 'compute1', null]);
    assert.equal(await domainState(api, 'compute1', id), 'running');
    assert.equal(await domainState(api, 'compute2', id), undefined);
    assert.equal(await api.disks.exists(`/instances-compute2/${id}/disk`), false);
    assert.deepEqual(await claimedHosts(api), ['compute1']);
    assert.equal((await migrations(api))[0]?.status, 'reverted');
  });

  it('moves a stopped server stopped, and deleting it in VERIFY_RESIZE clears both hosts', async () => {
    const { api, id } = await setup();
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    assert.equal((await act(api, id, { migrate: null })).status, 202);
    assert.equal(await domainState(api, 'compute2', id), 'shutoff');
    assert.equal((await record(api, id)).status, 'VERIFY_RESIZE');
    const deleted = await api.request('DELETE', `/compute/v2.1/servers/${id}`);
    assert.equal(deleted.status, 204);
    await api.servers.idle();
    assert.equal(await domainState(api, 'compute1', id), undefined);
    assert.equal(await domainState(api, 'compute2', id), undefined);
    assert.deepEqual(await claimedHosts(api), []);
  });

  it('goes to the host an admin names at 2.56', async () => {
    const { api, id } = await setup({
      extra: [
        { name: 'compute2', vcpus: 8 },
        { name: 'compute3', vcpus: 4 },
      ],
    });
    const res = await act(api, id, { migrate: { host: 'compute3' } }, '2.56');
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal((await record(api, id)).host, 'compute3');
  });

  it('refuses with Nova statuses and texts, changing nothing', async () => {
    const { api, id } = await setup({
      extra: [
        { name: 'compute2', vcpus: 8 },
        { name: 'compute3', vcpus: 4 },
      ],
    });
    await forceDown(api, 'compute3', true);
    const cases: [string, unknown, string, number, RegExp, ('admin' | 'member')?][] = [
      [
        'unknown host',
        { migrate: { host: 'nope' } },
        '2.56',
        400,
        /^Compute host nope could not be found\.$/u,
      ],
      [
        'same host',
        { migrate: { host: 'compute1' } },
        '2.56',
        400,
        /^Cannot migrate to the host where the server exists\.$/u,
      ],
      [
        'host forced down',
        { migrate: { host: 'compute3' } },
        '2.56',
        400,
        /^No valid host was found\./u,
      ],
      [
        'host before 2.56',
        { migrate: { host: 'compute2' } },
        '2.55',
        400,
        /^Invalid input for field\/attribute migrate\. .*2\.56/u,
      ],
      [
        'unknown key',
        { migrate: { host: 'compute2', x: 1 } },
        '2.56',
        400,
        /Additional properties are not allowed \('x' was unexpected\)/u,
      ],
      [
        'bad host',
        { migrate: { host: 7 } },
        '2.56',
        400,
        /^Invalid input for field\/attribute migrate\/host\. Value: 7\./u,
      ],
      ['not admin', { migrate: null }, '2.1', 403, /os-migrate-server:migrate/u, 'member'],
    ];
    for (const [name, body, version, status, says, as] of cases) {
      const res = await act(api, id, body, version, as);
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.match(message(res), says, name);
    }
    await forceDown(api, 'compute1', true);
    const down = await act(api, id, { migrate: null });
    assert.equal(down.status, 409, JSON.stringify(down.body));
    assert.equal(message(down), 'Service is unavailable at this time.');
    await forceDown(api, 'compute1', false);
    const unknown = await act(api, '00000000-0000-4000-8000-00000000ffff', { migrate: null });
    assert.equal(unknown.status, 404);
    const server = await record(api, id);
    assert.deepEqual([server.status, server.host], ['ACTIVE', 'compute1']);
    assert.deepEqual(await claimedHosts(api), ['compute1']);
    // A server waiting for its confirm cannot move again: Nova's 409.
    assert.equal((await act(api, id, { migrate: null })).status, 202);
    const again = await act(api, id, { migrate: null });
    assert.equal(again.status, 409, JSON.stringify(again.body));
  });

  it('is No valid host (400) when the server is on the only host', async () => {
    const api = await makeTestApi();
    const small = await flavor(api, 'small');
    const vm = await boot(api, small, await image(api, 'cirros'));
    await api.servers.idle();
    const res = await act(api, vm.id, { migrate: null });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(
      message(res),
      /^No valid host was found\. Host compute1 is the only compute host/u,
    );
    assert.equal((await record(api, vm.id)).status, 'ACTIVE');
  });
});

describe('the vPMU promise when servers move', () => {
  const extra = [
    { name: 'compute2', vcpus: 12, traits: [] },
    { name: 'compute3', vcpus: 2, traits: ['CUSTOM_HW_VPMU'] },
  ];

  it('moves a vPMU-on server from a CUSTOM_HW_VPMU host only to such hosts, prefilter off', async () => {
    const { api, id } = await setup({ extra, specs: { 'hw:pmu': 'true' } });
    assert.equal((await act(api, id, { migrate: null })).status, 202);
    assert.equal((await record(api, id)).host, 'compute3', 'not the roomier compute2');
    const named = await setup({ extra, specs: { 'hw:pmu': 'true' } });
    const res = await act(named.api, named.id, { migrate: { host: 'compute2' } }, '2.56');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(
      message(res),
      /^No valid host was found\..*moves only to hosts with trait CUSTOM_HW_VPMU\.$/su,
    );
  });

  it('refuses the move naming the trait when no other host has it', async () => {
    const { api, id } = await setup({
      extra: [{ name: 'compute2', vcpus: 12, traits: [] }],
      specs: { 'hw:pmu': 'true' },
    });
    const res = await act(api, id, { migrate: null });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(message(res), /CUSTOM_HW_VPMU/u);
    assert.deepEqual(
      [(await record(api, id)).host, (await record(api, id)).status],
      ['compute1', 'ACTIVE'],
    );
    await forceDown(api, 'compute1', true);
    const evacuated = await act(api, id, { evacuate: {} }, '2.14');
    assert.equal(evacuated.status, 400, JSON.stringify(evacuated.body));
    assert.match(message(evacuated), /CUSTOM_HW_VPMU/u);
  });

  it('lets servers without that promise go anywhere', async () => {
    for (const specs of [{}, { 'hw:pmu': 'false' }]) {
      const { api, id } = await setup({ extra, specs });
      assert.equal((await act(api, id, { migrate: null })).status, 202);
      assert.equal((await record(api, id)).host, 'compute2');
    }
  });
});

describe('evacuate', () => {
  it('is refused while the source compute service is up', async () => {
    const { api, id } = await setup();
    const res = await act(api, id, { evacuate: {} }, '2.14');
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(message(res), 'Compute service of compute1 is still in use.');
    assert.equal((await record(api, id)).host, 'compute1');
    assert.deepEqual(await migrations(api), []);
  });

  it('rebuilds the server elsewhere once its host is forced down; the host cleans up when back', async () => {
    const { api, id } = await setup();
    await forceDown(api, 'compute1', true);
    const before = api.notifier.delivered.length;
    const res = await act(api, id, { evacuate: { adminPass: 'moved-pw' } }, '2.14');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.text, '');
    // The password goes on the rebuilt guest's config drive, which it gets for it.
    const meta = api.guestFiles.file(
      `/instances-compute2/${id}/disk.config`,
      'openstack/latest/meta_data.json',
    );
    assert.equal((JSON.parse(meta ?? '{}') as { admin_pass?: string }).admin_pass, 'moved-pw');
    assert.deepEqual(
      api.notifier.delivered
        .slice(before)
        .map((n) => n.eventType)
        .filter((t) => t.startsWith('instance.')),
      ['instance.evacuate', 'instance.rebuild.start', 'instance.rebuild.end'],
    );
    const moved = await record(api, id);
    assert.deepEqual([moved.status, moved.host], ['ACTIVE', 'compute2']);
    assert.equal(await domainState(api, 'compute2', id), 'running');
    assert.equal(await domainState(api, 'compute1', id), 'running', 'a down host is not touched');
    assert.deepEqual(await claimedHosts(api), ['compute1', 'compute2']);
    let [listed] = await migrations(api);
    assert.deepEqual(
      [listed?.migration_type, listed?.status, listed?.source_compute, listed?.dest_compute],
      ['evacuation', 'done', 'compute1', 'compute2'],
    );
    // A heal does not take the claim the evacuation still holds on the down source.
    assert.deepEqual(await api.servers.healClaims(), []);

    await forceDown(api, 'compute1', false);
    assert.equal(await domainState(api, 'compute1', id), undefined);
    assert.equal(await api.disks.exists(`/instances/${id}/disk`), false);
    assert.deepEqual(await claimedHosts(api), ['compute2']);
    [listed] = await migrations(api);
    assert.equal(listed?.status, 'completed');
    assert.equal(await domainState(api, 'compute2', id), 'running');
  });

  it('moves a server created without a zone into another zone; one created in a zone stays in it', async () => {
    const { api, id } = await setup({
      extra: [
        { name: 'compute2', vcpus: 8 },
        { name: 'compute3', vcpus: 8 },
      ],
    });
    const made = await api.request('POST', '/compute/v2.1/os-aggregates', {
      body: { aggregate: { name: 'edge', availability_zone: 'az1' } },
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const aggregate = (made.body as { aggregate: { id: number } }).aggregate.id;
    for (const host of ['compute2', 'compute3']) {
      const added = await api.request('POST', `/compute/v2.1/os-aggregates/${aggregate}/action`, {
        body: { add_host: { host } },
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
    }
    // Booted in `nova` with no zone asked: free to go to compute2, now in az1.
    const moved = await act(api, id, { migrate: { host: 'compute2' } }, '2.56');
    assert.equal(moved.status, 202, JSON.stringify(moved.body));
    assert.equal((await record(api, id)).host, 'compute2');
    // One asked into az1 moves only within az1.
    const refs = { flavorRef: await flavor(api, 'zoned'), imageRef: await image(api, 'zoned') };
    const res = await api.request('POST', '/compute/v2.1/servers', {
      as: 'member',
      body: { server: { name: 'z', ...refs, networks: 'none', availability_zone: 'az1' } },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await api.servers.idle();
    const zoned = (res.body as { server: { id: string } }).server.id;
    const from = (await record(api, zoned)).host;
    assert.ok(from === 'compute2' || from === 'compute3', String(from));
    assert.equal((await act(api, zoned, { migrate: null })).status, 202);
    const to = (await record(api, zoned)).host;
    assert.ok(to !== from && (to === 'compute2' || to === 'compute3'), String(to));
  });

  it("keeps to the server group's anti-affinity when the scheduler picks the destination", async () => {
    const api = await makeTestApi({
      hostVcpus: 16,
      extraHosts: [
        { name: 'compute2', vcpus: 12 },
        { name: 'compute3', vcpus: 4 },
      ],
    });
    const made = await api.request('POST', '/compute/v2.1/os-server-groups', {
      as: 'member',
      headers: MV('2.64'),
      body: { server_group: { name: 'apart', policy: 'anti-affinity' } },
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const group = (made.body as { server_group: { id: string } }).server_group.id;
    const refs = { flavorRef: await flavor(api, 'small'), imageRef: await image(api, 'cirros') };
    const ids: string[] = [];
    for (const name of ['a', 'b']) {
      const res = await api.request('POST', '/compute/v2.1/servers', {
        as: 'member',
        body: { server: { name, ...refs, networks: 'none' }, 'os:scheduler_hints': { group } },
      });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.push((res.body as { server: { id: string } }).server.id);
      await api.servers.idle();
    }
    const [a = '', b = ''] = ids;
    assert.deepEqual(
      [(await record(api, a)).host, (await record(api, b)).host],
      ['compute1', 'compute2'],
    );
    // compute2 is the roomier, but it runs the other member.
    const res = await act(api, a, { migrate: null });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal((await record(api, a)).host, 'compute3');
  });

  it('after a restart mid-migrate, keeps the source guest and disk, drops the copy, and errors', async () => {
    const { api, id } = await setup();
    const server = await record(api, id);
    // The state a kill -9 leaves between migrateOut and the save after migrateIn.
    await api.store.saveServer({ ...server, status: 'RESIZE', taskState: 'resize_prep' });
    const move = await api.store.createMigration({
      uuid: '0c6f0a3e-5d55-4d39-9d63-7d1c6c1f0a01',
      serverId: id,
      projectId: server.projectId,
      userId: server.userId,
      migrationType: 'migration',
      status: 'migrating',
      sourceCompute: 'compute1',
      destCompute: 'compute2',
      oldFlavorId: server.flavor.id,
      newFlavorId: server.flavor.id,
      sourceClaimId: null,
      createdAt: server.createdAt,
      updatedAt: null,
    });
    assert.ok(
      await api.store.claim({
        consumerId: `${id}/migrate/${move.uuid}`,
        host: 'compute2',
        resources: { VCPU: 1, MEMORY_MB: 1, DISK_GB: 1 },
      }),
    );
    const report = await api.servers.reconcile();
    assert.deepEqual(report.errored, [id]);
    const after = await record(api, id);
    assert.equal(after.status, 'ERROR');
    assert.match(after.fault?.message ?? '', /was being migrated; its guest stays on/u);
    assert.notEqual(await domainState(api, 'compute1', id), undefined, 'the source guest stays');
    assert.equal(await api.disks.exists(`/instances/${id}/disk`), true, 'its disk stays');
    const [listed] = await migrations(api);
    assert.equal(listed?.status, 'error');
    await api.servers.healClaims();
    assert.deepEqual(await claimedHosts(api), ['compute1']);
  });

  it('cleans up at reconcile when the source comes back with the service', async () => {
    const { api, id } = await setup();
    await forceDown(api, 'compute1', true);
    assert.equal((await act(api, id, { evacuate: { host: 'compute2' } }, '2.29')).status, 200);
    const host = await api.store.getComputeHost('compute1');
    assert.ok(host !== undefined);
    await api.store.putComputeHost({ ...host, forcedDown: false });
    await api.servers.reconcile();
    assert.equal(await domainState(api, 'compute1', id), undefined);
    assert.deepEqual(await claimedHosts(api), ['compute2']);
  });

  it('takes the body of each microversion and refuses the rest by name', async () => {
    const { api, id } = await setup();
    const cases: [unknown, string, number, RegExp][] = [
      [{ evacuate: {} }, '2.1', 400, /'onSharedStorage' is a required property/u],
      [
        { evacuate: { onSharedStorage: true } },
        '2.1',
        400,
        /onSharedStorage\. Value: true\. vpmu's hosts share no instance storage/u,
      ],
      [{ evacuate: { onSharedStorage: false } }, '2.14', 400, /'onSharedStorage' was unexpected/u],
      [{ evacuate: { adminPass: '' } }, '2.14', 400, /adminPass\. Value: \. An empty password/u],
      [{ evacuate: { force: true } }, '2.29', 400, /^Can't force to a non-provided destination$/u],
      [{ evacuate: { host: 'compute2', force: true } }, '2.68', 400, /'force' was unexpected/u],
      [{ evacuate: { host: 'nope' } }, '2.14', 404, /^Compute host nope not found\.$/u],
      [
        { evacuate: { host: 'compute1' } },
        '2.14',
        400,
        /^The target host can't be the same one\.$/u,
      ],
      [{ evacuate: {} }, '2.14', 400, /still in use/u],
    ];
    for (const [body, version, status, says] of cases) {
      const res = await act(api, id, body, version);
      assert.equal(
        res.status,
        status,
        `${JSON.stringify(body)}@${version}: ${JSON.stringify(res.body)}`,
      );
      assert.match(message(res), says, JSON.stringify(body));
    }
    await forceDown(api, 'compute1', true);
    const member = await act(api, id, { evacuate: {} }, '2.14', 'member');
    assert.equal(member.status, 403);
    const ok = await act(api, id, { evacuate: { onSharedStorage: 'False' } }, '2.1');
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await record(api, id)).host, 'compute2');
  });
});

describe('os-migrations', () => {
  it('lists resizes, migrations and evacuations with the keys of the microversion', async () => {
    const { api, id } = await setup();
    const bigger = await flavor(api, 'bigger', {}, { vcpus: 2 });
    assert.equal((await act(api, id, { resize: { flavorRef: bigger } })).status, 202);
    assert.equal((await act(api, id, { confirmResize: null })).status, 204);
    assert.equal((await act(api, id, { migrate: null })).status, 202);
    const base = [
      'created_at',
      'dest_compute',
      'dest_host',
      'dest_node',
      'id',
      'instance_uuid',
      'new_instance_type_id',
      'old_instance_type_id',
      'source_compute',
      'source_node',
      'status',
      'updated_at',
    ];
    const old = await migrations(api, '2.1');
    assert.deepEqual(Object.keys(old[0] ?? {}).sort(), base);
    const latest = await migrations(api, '2.80');
    assert.deepEqual(
      Object.keys(latest[0] ?? {}).sort(),
      [...base, 'migration_type', 'project_id', 'user_id', 'uuid'].sort(),
    );
    assert.deepEqual(
      latest.map((m) => [m.id, m.migration_type, m.status]),
      [
        [2, 'migration', 'finished'],
        [1, 'resize', 'confirmed'],
      ],
    );
    const filtered = await api.request('GET', '/compute/v2.1/os-migrations?migration_type=resize', {
      headers: MV('2.23'),
    });
    assert.deepEqual(
      (filtered.body as { migrations: { id: number }[] }).migrations.map((m) => m.id),
      [1],
    );
    // `host` matches either end of a move, `source_compute` only the host it left.
    for (const [query, want] of [
      ['host=compute2', [2]],
      ['source_compute=compute2', []],
      ['source_compute=compute1', [2, 1]],
    ] as const) {
      const res = await api.request('GET', `/compute/v2.1/os-migrations?${query}`, {
        headers: MV('2.23'),
      });
      assert.deepEqual(
        (res.body as { migrations: { id: number }[] }).migrations.map((m) => m.id),
        want,
        query,
      );
    }
    const bad = await api.request('GET', '/compute/v2.1/os-migrations?limit=1', {
      headers: MV('2.23'),
    });
    assert.equal(bad.status, 400);
    const member = await api.request('GET', '/compute/v2.1/os-migrations', { as: 'member' });
    assert.equal(member.status, 403);
    const live = await api.request('GET', `/compute/v2.1/servers/${id}/migrations`, {
      headers: MV('2.23'),
    });
    assert.deepEqual([live.status, live.body], [200, { migrations: [] }]);
  });
});
