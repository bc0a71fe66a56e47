import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { flavor, image, message, show } from '../testing/server-calls.js';

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

async function createGroup(
  api: TestApi,
  body: Record<string, unknown>,
  version = '2.64',
  as: 'member' | 'reader' | 'other' | 'admin' = 'member',
) {
  return api.request('POST', '/compute/v2.1/os-server-groups', {
    as,
    headers: mv(version),
    body: { server_group: body },
  });
}

function groupOf(res: { status: number; body: unknown }): Record<string, unknown> {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { server_group: Record<string, unknown> }).server_group;
}

/** A test API with a small flavor and an active image to boot with. */
async function withRefs(): Promise<TestApi & { refs: { flavorRef: string; imageRef: string } }> {
  const api = await makeTestApi();
  const refs = { flavorRef: await flavor(api, 'small'), imageRef: await image(api, 'plain') };
  return Object.assign(api, { refs });
}

async function bootIn(
  api: TestApi & { refs: { flavorRef: string; imageRef: string } },
  group: string,
  name: string,
  hints?: unknown,
) {
  return api.request('POST', '/compute/v2.1/servers', {
    as: 'member',
    body: {
      server: { name, ...api.refs, networks: 'none' },
      'os:scheduler_hints': hints ?? { group },
    },
  });
}

describe('os-server-groups API', () => {
  it("answers Nova's view for each microversion: policies and metadata, then owner, then policy and rules", async () => {
    const api = await makeTestApi();
    const cases: { version: string; body: Record<string, unknown>; keys: string[] }[] = [
      {
        version: '2.1',
        body: { name: 'g', policies: ['affinity'] },
        keys: ['id', 'members', 'metadata', 'name', 'policies'],
      },
      {
        version: '2.13',
        body: { name: 'g', policies: ['anti-affinity'] },
        keys: ['id', 'members', 'metadata', 'name', 'policies', 'project_id', 'user_id'],
      },
      {
        version: '2.64',
        body: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: 2 } },
        keys: ['id', 'members', 'name', 'policy', 'project_id', 'rules', 'user_id'],
      },
    ];
    for (const t of cases) {
      const created = groupOf(await createGroup(api, t.body, t.version));
      assert.deepEqual(Object.keys(created).sort(), t.keys, t.version);
      const shown = await api.request(
        'GET',
        `/compute/v2.1/os-server-groups/${String(created.id)}`,
        {
          as: 'member',
          headers: mv(t.version),
        },
      );
      assert.deepEqual(groupOf(shown), created);
    }
    const latest = groupOf(
      await api
        .request('GET', `/compute/v2.1/os-server-groups`, { as: 'member', headers: mv('2.64') })
        .then((r) => ({
          status: r.status,
          body: { server_group: (r.body as { server_groups: unknown[] }).server_groups[2] },
        })),
    );
    assert.deepEqual(latest.rules, { max_server_per_host: 2 });
    assert.equal(latest.policy, 'anti-affinity');
  });

  it('refuses bad bodies with a 400 naming the field, and records nothing', async () => {
    const api = await makeTestApi();
    const cases: { version: string; body: Record<string, unknown>; says: RegExp }[] = [
      { version: '2.64', body: { policy: 'affinity' }, says: /field\/attribute name\./u },
      {
        version: '2.64',
        body: { name: 'g', policy: 'together' },
        says: /field\/attribute policy\. Value: together/u,
      },
      {
        version: '2.64',
        body: { name: 'g', policies: ['affinity'] },
        says: /'policies' was unexpected/u,
      },
      {
        version: '2.63',
        body: { name: 'g', policy: 'affinity' },
        says: /'policy' was unexpected/u,
      },
      {
        version: '2.1',
        body: { name: 'g', policies: ['affinity', 'anti-affinity'] },
        says: /exactly one/u,
      },
      {
        version: '2.14',
        body: { name: 'g', policies: ['soft-affinity'] },
        says: /field\/attribute policies\./u,
      },
      {
        version: '2.64',
        body: { name: 'g', policy: 'affinity', rules: { max_server_per_host: 2 } },
        says: /Only anti-affinity policy supports "max_server_per_host"/u,
      },
      {
        version: '2.64',
        body: { name: 'g', policy: 'anti-affinity', rules: { max_server_per_host: 0 } },
        says: /rules\.max_server_per_host\. Value: 0/u,
      },
      {
        version: '2.64',
        body: { name: 'g', policy: 'anti-affinity', rules: { spread: 1 } },
        says: /'spread' was unexpected/u,
      },
    ];
    for (const t of cases) {
      const res = await createGroup(api, t.body, t.version);
      assert.equal(
        res.status,
        400,
        `${t.version} ${JSON.stringify(t.body)}: ${JSON.stringify(res.body)}`,
      );
      assert.match(message(res), t.says);
    }
    assert.deepEqual(await api.store.listServerGroups(), []);
    // Soft policies exist from 2.15.
    assert.equal(
      (await createGroup(api, { name: 'g', policies: ['soft-affinity'] }, '2.15')).status,
      200,
    );
  });

  it('keeps groups per project: readers cannot write, others see a 404, admins list all projects', async () => {
    const api = await makeTestApi();
    const id = String(groupOf(await createGroup(api, { name: 'g', policy: 'affinity' })).id);
    assert.equal(
      (await createGroup(api, { name: 'r', policy: 'affinity' }, '2.64', 'reader')).status,
      403,
    );
    const path = `/compute/v2.1/os-server-groups/${id}`;
    assert.equal((await api.request('GET', path, { as: 'other' })).status, 404);
    assert.equal((await api.request('DELETE', path, { as: 'other' })).status, 404);
    assert.equal((await api.request('DELETE', path, { as: 'reader' })).status, 403);
    const list = async (as: 'other' | 'admin' | 'member', query = '') =>
      (
        (await api.request('GET', `/compute/v2.1/os-server-groups${query}`, { as })).body as {
          server_groups: { id: string }[];
        }
      ).server_groups.map((g) => g.id);
    assert.deepEqual(await list('other'), []);
    assert.deepEqual(await list('admin'), [], "the admin's own project has none");
    assert.deepEqual(await list('admin', '?all_projects=True'), [id]);
    const refused = await api.request('GET', '/compute/v2.1/os-server-groups?all_projects=1', {
      as: 'member',
    });
    assert.equal(refused.status, 403);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/os-server-groups?limit=x', { as: 'member' })).status,
      400,
    );
    assert.equal((await api.request('DELETE', path, { as: 'member' })).status, 204);
    assert.equal((await api.request('GET', path, { as: 'member' })).status, 404);
  });

  it('places members by policy: anti-affinity fills one host per member, affinity shares it', async () => {
    const api = await withRefs();
    const anti = String(
      groupOf(await createGroup(api, { name: 'spread', policy: 'anti-affinity' })).id,
    );
    const first = await bootIn(api, anti, 'a1');
    const second = await bootIn(api, anti, 'a2');
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(second.status, 202, JSON.stringify(second.body));
    await api.servers.idle();
    const ids = [first, second].map((r) => (r.body as { server: { id: string } }).server.id);
    const [a1, a2] = await Promise.all(ids.map((id) => show(api, id)));
    assert.equal(a1?.status, 'ACTIVE');
    assert.ok(a2 !== undefined);
    assert.equal(a2.status, 'ERROR');
    assert.match(
      (a2.fault as { message: string }).message,
      /^No valid host was found\. Server group 'spread' has policy anti-affinity/u,
    );
    assert.deepEqual(
      (await api.store.listAllocations()).map((a) => a.consumerId),
      [ids[0]],
    );
    const shown = groupOf(
      await api.request('GET', `/compute/v2.1/os-server-groups/${anti}`, { as: 'member' }),
    );
    assert.deepEqual(shown.members, ids);
    // 2.71 shows the group in the server's own view.
    const v271 = await api.request('GET', `/compute/v2.1/servers/${ids[0] ?? ''}`, {
      as: 'member',
      headers: mv('2.71'),
    });
    assert.deepEqual((v271.body as { server: { server_groups: string[] } }).server.server_groups, [
      anti,
    ]);
    // A deleted member leaves the group.
    assert.equal(
      (await api.request('DELETE', `/compute/v2.1/servers/${ids[1] ?? ''}`, { as: 'member' }))
        .status,
      204,
    );
    await api.servers.idle();
    assert.deepEqual((await api.store.getServerGroup(anti))?.members, [ids[0]]);

    const together = String(
      groupOf(await createGroup(api, { name: 'pack', policy: 'affinity' })).id,
    );
    const pair = [await bootIn(api, together, 'b1'), await bootIn(api, together, 'b2')];
    await api.servers.idle();
    for (const res of pair) {
      assert.equal(
        (await show(api, (res.body as { server: { id: string } }).server.id)).status,
        'ACTIVE',
      );
    }
  });

  it('lets anti-affinity hold max_server_per_host members on one host', async () => {
    const api = await withRefs();
    const group = String(
      groupOf(
        await createGroup(api, {
          name: 'two',
          policy: 'anti-affinity',
          rules: { max_server_per_host: 2 },
        }),
      ).id,
    );
    const booted = [];
    for (const name of ['c1', 'c2', 'c3']) booted.push(await bootIn(api, group, name));
    await api.servers.idle();
    const statuses = [];
    for (const res of booted) {
      statuses.push((await show(api, (res.body as { server: { id: string } }).server.id)).status);
    }
    assert.deepEqual(statuses, ['ACTIVE', 'ACTIVE', 'ERROR']);
  });

  it('refuses hints it does not serve, unknown groups and stray top-level keys, creating nothing', async () => {
    const api = await withRefs();
    const mine = String(groupOf(await createGroup(api, { name: 'g', policy: 'affinity' })).id);
    const theirs = String(
      groupOf(await createGroup(api, { name: 'x', policy: 'affinity' }, '2.64', 'other')).id,
    );
    const cases: { hints: unknown; top?: Record<string, unknown>; says: RegExp }[] = [
      {
        hints: { group: theirs },
        says: /os:scheduler_hints\.group\. Value: .*could not be found/u,
      },
      { hints: { group: 'not-a-uuid' }, says: /os:scheduler_hints\.group\. Value: not-a-uuid/u },
      {
        hints: { group: mine, query: '[">=", "$free_ram_mb", 1024]' },
        says: /'query' hint is not supported/u,
      },
      { hints: { same_host: ['x'] }, says: /same_host\. Value: \["x"\]\. It must be a server id/u },
      { hints: { colour: 'blue' }, says: /'colour' is not a scheduler hint/u },
      { hints: [mine], says: /must be an object/u },
    ];
    for (const t of cases) {
      const res = await bootIn(api, mine, 'vm', t.hints);
      assert.equal(res.status, 400, JSON.stringify(t.hints));
      assert.match(message(res), t.says);
    }
    const stray = await api.request('POST', '/compute/v2.1/servers', {
      as: 'member',
      body: {
        server: { name: 'vm', ...api.refs, networks: 'none' },
        scheduler_hints: { group: mine },
      },
    });
    assert.equal(stray.status, 400);
    assert.match(message(stray), /'scheduler_hints' was unexpected/u);
    assert.deepEqual(await api.store.listServers(), []);
    assert.deepEqual((await api.store.getServerGroup(mine))?.members, []);
  });

  it('honours same_host and different_host with the hosts the named servers run on', async () => {
    const api = await withRefs();
    const first = await bootIn(api, '', 'anchor', {});
    await api.servers.idle();
    const anchor = (first.body as { server: { id: string } }).server.id;
    const beside = await bootIn(api, '', 'beside', { same_host: anchor });
    const away = await bootIn(api, '', 'away', { different_host: [anchor] });
    await api.servers.idle();
    const status = async (res: { body: unknown }) =>
      show(api, (res.body as { server: { id: string } }).server.id);
    assert.equal((await status(beside)).status, 'ACTIVE');
    const refused = await status(away);
    assert.equal(refused.status, 'ERROR');
    assert.match(
      (refused.fault as { message: string }).message,
      /^No valid host was found\. different_host rules out every host/u,
    );
    // A server the caller cannot see is not a place to aim at.
    const others = await api.request('POST', '/compute/v2.1/servers', {
      as: 'other',
      body: {
        server: { name: 'elsewhere', ...api.refs, networks: 'none' },
        'os:scheduler_hints': { same_host: anchor },
      },
    });
    assert.equal(others.status, 400, JSON.stringify(others.body));
    assert.match(message(others), /os:scheduler_hints\.same_host\. Value: .*could not be found/u);
  });
});
