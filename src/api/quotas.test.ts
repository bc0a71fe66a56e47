/** os-quota-sets, os-quota-class-sets and quota enforcement through the HTTP API. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import type { Store } from '../ports/store.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor, image } from '../testing/server-calls.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

const ALL_KEYS = [
  'cores',
  'fixed_ips',
  'floating_ips',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
  'instances',
  'key_pairs',
  'metadata_items',
  'ram',
  'security_group_rules',
  'security_groups',
  'server_group_members',
  'server_groups',
];
const NETWORK = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];
const PERSONALITY = ['injected_file_content_bytes', 'injected_file_path_bytes', 'injected_files'];
const GROUPS = ['server_group_members', 'server_groups'];
const minus = (gone: readonly string[]) => ALL_KEYS.filter((k) => !gone.includes(k));

const DEFAULTS: Record<string, number> = {
  cores: 20,
  fixed_ips: -1,
  floating_ips: 10,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  injected_files: 5,
  instances: 10,
  key_pairs: 100,
  metadata_items: 128,
  ram: 51200,
  security_group_rules: 20,
  security_groups: 10,
  server_group_members: 10,
  server_groups: 10,
};

async function projectId(api: TestApi, name: string): Promise<string> {
  const found = (await api.store.listProjects()).find((p) => p.name === name);
  assert.ok(found !== undefined, name);
  return found.id;
}

async function userId(api: TestApi, name: string): Promise<string> {
  const found = await api.store.findUser(name, 'default');
  assert.ok(found !== undefined, name);
  return found.id;
}

async function setQuota(api: TestApi, project: string, quota: Record<string, unknown>) {
  const res = await api.request('PUT', `/compute/v2.1/os-quota-sets/${project}`, {
    body: { quota_set: quota },
  });
  assert.equal(res.status, 200, res.text);
}

/**
 * A store whose every call first yields to the event loop, so concurrent requests interleave
 * between any two store calls, as they would with a store on another process.
 */
function interleavingStore(): Store {
  const inner = new MemoryStore();
  return new Proxy(inner, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await new Promise((resolve) => setImmediate(resolve));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function message(body: unknown): string {
  const [fault] = Object.values(body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

describe('os-quota-sets: views by microversion', () => {
  // prettier-ignore
  const CASES = [
    { mv: '2.1', keys: ALL_KEYS },
    { mv: '2.35', keys: ALL_KEYS },
    { mv: '2.36', keys: minus(NETWORK) },
    { mv: '2.56', keys: minus(NETWORK) },
    { mv: '2.57', keys: minus([...NETWORK, ...PERSONALITY]) },
    { mv: '2.96', keys: minus([...NETWORK, ...PERSONALITY]) },
  ];
  for (const { mv, keys } of CASES) {
    it(`at ${mv}: show, defaults and detail carry Nova's keys`, async () => {
      const api = await makeTestApi();
      const demo = await projectId(api, 'demo');
      const expected = Object.fromEntries(keys.map((k) => [k, DEFAULTS[k]]));
      for (const path of ['', '/defaults']) {
        const res = await api.request('GET', `/compute/v2.1/os-quota-sets/${demo}${path}`, {
          as: 'member',
          headers: MV(mv),
        });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.body, { quota_set: { id: demo, ...expected } }, path);
      }
      const detail = await api.request('GET', `/compute/v2.1/os-quota-sets/${demo}/detail`, {
        as: 'reader',
        headers: MV(mv),
      });
      assert.equal(detail.status, 200, detail.text);
      const set = (detail.body as { quota_set: Record<string, unknown> }).quota_set;
      assert.deepEqual(Object.keys(set), ['id', ...keys]);
      assert.deepEqual(set.cores, { limit: 20, in_use: 0, reserved: 0 });
      const update = await api.request('PUT', `/compute/v2.1/os-quota-sets/${demo}`, {
        headers: MV(mv),
        body: { quota_set: { cores: 30 } },
      });
      assert.equal(update.status, 200, update.text);
      assert.deepEqual(update.body, { quota_set: { ...expected, cores: 30 } });
    });
  }

  it('counts what the project uses in detail; key pairs only in a user view', async () => {
    const api = await makeTestApi();
    const demo = await projectId(api, 'demo');
    const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 1 });
    const img = await image(api, 'plain');
    await boot(api, f, img, 'member', 'a');
    await boot(api, f, img, 'other', 'b');
    await api.request('POST', '/compute/v2.1/os-keypairs', {
      as: 'member',
      body: { keypair: { name: 'k' } },
    });
    await api.servers.idle();
    const detail = async (query: string) =>
      (
        (await api.request('GET', `/compute/v2.1/os-quota-sets/${demo}/detail${query}`)).body as {
          quota_set: Record<string, { in_use: number }>;
        }
      ).quota_set;
    const project = await detail('');
    assert.deepEqual(
      ['instances', 'cores', 'ram', 'key_pairs'].map((k) => project[k]?.in_use),
      [1, 2, 512, 0],
    );
    const user = await detail(`?user_id=${await userId(api, 'member')}`);
    assert.equal(user.key_pairs?.in_use, 1);
  });
});

describe('os-quota-sets: policy', () => {
  // prettier-ignore
  const CASES = [
    { method: 'GET', path: '', as: 'member', own: true, status: 200 },
    { method: 'GET', path: '', as: 'reader', own: true, status: 200 },
    { method: 'GET', path: '', as: 'member', own: false, status: 403 },
    { method: 'GET', path: '/detail', as: 'member', own: false, status: 403 },
    { method: 'GET', path: '', as: 'admin', own: false, status: 200 },
    { method: 'GET', path: '/defaults', as: 'member', own: false, status: 200 },
    { method: 'PUT', path: '', as: 'member', own: true, status: 403 },
    { method: 'PUT', path: '', as: 'admin', own: false, status: 200 },
    { method: 'DELETE', path: '', as: 'member', own: true, status: 403 },
    { method: 'DELETE', path: '', as: 'admin', own: false, status: 202 },
  ] as const;
  for (const { method, path, as, own, status } of CASES) {
    it(`${method} os-quota-sets/{${own ? 'own' : 'other'}}${path} as ${as}: ${status}`, async () => {
      const api = await makeTestApi();
      const project = await projectId(api, own ? 'demo' : 'other');
      const res = await api.request(method, `/compute/v2.1/os-quota-sets/${project}${path}`, {
        as,
        ...(method === 'PUT' ? { body: { quota_set: { cores: 5 } } } : {}),
      });
      assert.equal(res.status, status, res.text);
      if (status === 403) {
        assert.match(message(res.body), /^Policy doesn't allow os_compute_api:os-quota-sets:/u);
      }
    });
  }

  it('refuses a project Keystone does not know, as Nova does', async () => {
    const api = await makeTestApi();
    const res = await api.request('GET', '/compute/v2.1/os-quota-sets/nope');
    assert.equal(res.status, 400);
    assert.equal(message(res.body), 'Project ID nope is not a valid project.');
  });
});

describe('os-quota-sets: update', () => {
  // prettier-ignore
  const REFUSED = [
    { mv: '2.1', body: { cores: -2 }, text: 'Invalid input for field/attribute cores. Value: -2. -2 is less than the minimum of -1' },
    { mv: '2.1', body: { cores: 'abc' }, text: "Invalid input for field/attribute cores. Value: abc. 'abc' does not match '^-?[0-9]+$'" },
    { mv: '2.1', body: { cores: 1.5 }, text: "Invalid input for field/attribute cores. Value: 1.5. 1.5 is not of type 'integer', 'string'" },
    { mv: '2.1', body: { cores: 2147483648 }, text: 'Invalid input for field/attribute cores. Value: 2147483648. 2147483648 is greater than the maximum of 2147483647' },
    { mv: '2.1', body: { bogus: 1 }, text: 'Invalid input for field/attribute quota_set. Value: {"bogus":1}. Additional properties are not allowed (\'bogus\' was unexpected)' },
    { mv: '2.36', body: { floating_ips: 1 }, text: 'Invalid input for field/attribute quota_set. Value: {"floating_ips":1}. Additional properties are not allowed (\'floating_ips\' was unexpected)' },
    { mv: '2.57', body: { injected_files: 1 }, text: 'Invalid input for field/attribute quota_set. Value: {"injected_files":1}. Additional properties are not allowed (\'injected_files\' was unexpected)' },
    { mv: '2.1', body: { cores: 1, force: 'maybe' }, text: 'Invalid input for field/attribute force. Value: maybe. "maybe" is not of type \'boolean\', \'string\'' },
  ];
  for (const { mv, body, text } of REFUSED) {
    it(`refuses ${JSON.stringify(body)} at ${mv} and changes nothing`, async () => {
      const api = await makeTestApi();
      const demo = await projectId(api, 'demo');
      const res = await api.request('PUT', `/compute/v2.1/os-quota-sets/${demo}`, {
        headers: MV(mv),
        body: { quota_set: body },
      });
      assert.equal(res.status, 400, res.text);
      assert.equal(message(res.body), text);
      assert.deepEqual(await api.store.getQuotaLimits({ kind: 'project', projectId: demo }), {});
    });
  }

  it('accepts numbers as strings, and -1 for unlimited', async () => {
    const api = await makeTestApi();
    const demo = await projectId(api, 'demo');
    await setQuota(api, demo, { ram: '5120', instances: -1 });
    const res = await api.request('GET', `/compute/v2.1/os-quota-sets/${demo}`);
    const set = (res.body as { quota_set: Record<string, number> }).quota_set;
    assert.deepEqual([set.ram, set.instances], [5120, -1]);
  });

  it('refuses a limit below what is used unless forced', async () => {
    const api = await makeTestApi();
    const demo = await projectId(api, 'demo');
    const f = await flavor(api, 'small', {}, { vcpus: 4, ram: 512, disk: 1 });
    await boot(api, f, await image(api, 'plain'));
    await api.servers.idle();
    const put = (quota: Record<string, unknown>) =>
      api.request('PUT', `/compute/v2.1/os-quota-sets/${demo}`, { body: { quota_set: quota } });
    const low = await put({ cores: 3, ram: 1024 });
    assert.equal(low.status, 400);
    assert.equal(
      message(low.body),
      'Quota limit 3 for cores must be greater than or equal to already used and reserved 4.',
    );
    assert.deepEqual(await api.store.getQuotaLimits({ kind: 'project', projectId: demo }), {});
    const forced = await put({ cores: 3, force: true });
    assert.equal(forced.status, 200, forced.text);
    assert.equal((forced.body as { quota_set: { cores: number } }).quota_set.cores, 3);
  });

  it("sets a user's own limits, at most the project's, and reverts them", async () => {
    const api = await makeTestApi();
    const demo = await projectId(api, 'demo');
    const member = await userId(api, 'member');
    const base = `/compute/v2.1/os-quota-sets/${demo}`;
    await setQuota(api, demo, { ram: 4096 });
    const over = await api.request('PUT', `${base}?user_id=${member}`, {
      body: { quota_set: { ram: 8192 } },
    });
    assert.equal(over.status, 400);
    assert.equal(
      message(over.body),
      'Quota limit 8192 for ram must be less than or equal to 4096.',
    );
    const set = await api.request('PUT', `${base}?user_id=${member}`, {
      body: { quota_set: { ram: 2048 } },
    });
    assert.equal(set.status, 200, set.text);
    const ram = async (query: string) =>
      ((await api.request('GET', `${base}${query}`)).body as { quota_set: { ram: number } })
        .quota_set.ram;
    assert.equal(await ram(`?user_id=${member}`), 2048);
    assert.equal(await ram(''), 4096);
    assert.equal((await api.request('DELETE', `${base}?user_id=${member}`)).status, 202);
    assert.equal(await ram(`?user_id=${member}`), 4096);
    // Deleting the project's quotas takes its users' with them.
    await api.request('PUT', `${base}?user_id=${member}`, { body: { quota_set: { ram: 1 } } });
    assert.equal((await api.request('DELETE', base)).status, 202);
    assert.equal(await ram(`?user_id=${member}`), 51200);
  });
});

describe('os-quota-class-sets', () => {
  // prettier-ignore
  const CASES = [
    { mv: '2.1', keys: minus(GROUPS) },
    { mv: '2.49', keys: minus(GROUPS) },
    { mv: '2.50', keys: minus(NETWORK) },
    { mv: '2.57', keys: minus([...NETWORK, ...PERSONALITY]) },
  ];
  for (const { mv, keys } of CASES) {
    it(`at ${mv}: shows and updates the default class with Nova's keys`, async () => {
      const api = await makeTestApi();
      const show = await api.request('GET', '/compute/v2.1/os-quota-class-sets/default', {
        headers: MV(mv),
      });
      assert.equal(show.status, 200, show.text);
      const expected = Object.fromEntries(keys.map((k) => [k, DEFAULTS[k]]));
      assert.deepEqual(show.body, { quota_class_set: { id: 'default', ...expected } });
      const raised = Object.fromEntries(keys.map((k) => [k, (DEFAULTS[k] ?? 0) + 100]));
      const update = await api.request('PUT', '/compute/v2.1/os-quota-class-sets/default', {
        headers: MV(mv),
        body: { quota_class_set: raised },
      });
      assert.equal(update.status, 200, update.text);
      assert.deepEqual(update.body, { quota_class_set: raised });
      const demo = await projectId(api, 'demo');
      const defaults = await api.request('GET', `/compute/v2.1/os-quota-sets/${demo}/defaults`, {
        as: 'member',
      });
      assert.equal(
        (defaults.body as { quota_set: { cores: number } }).quota_set.cores,
        raised.cores,
      );
    });
  }

  it('is for admins only', async () => {
    const api = await makeTestApi();
    for (const method of ['GET', 'PUT']) {
      const res = await api.request(method, '/compute/v2.1/os-quota-class-sets/default', {
        as: 'member',
        ...(method === 'PUT' ? { body: { quota_class_set: { cores: 1 } } } : {}),
      });
      assert.equal(res.status, 403, method);
    }
  });

  it('refuses the server group quotas before 2.50 and the network ones from 2.50', async () => {
    const api = await makeTestApi();
    for (const [mv, key] of [
      ['2.49', 'server_groups'],
      ['2.50', 'security_groups'],
    ] as const) {
      const res = await api.request('PUT', '/compute/v2.1/os-quota-class-sets/default', {
        headers: MV(mv),
        body: { quota_class_set: { [key]: 1 } },
      });
      assert.equal(res.status, 400, `${mv} ${key}`);
      assert.match(message(res.body), new RegExp(`'${key}' was unexpected`, 'u'));
    }
  });
});

describe('quota enforcement', () => {
  async function withQuota(quota: Record<string, unknown>, store?: Store) {
    const api = await makeTestApi({ hostVcpus: 64, ...(store === undefined ? {} : { store }) });
    const demo = await projectId(api, 'demo');
    await setQuota(api, demo, quota);
    const img = await image(api, 'plain');
    return { api, demo, img };
  }
  const create = (api: TestApi, body: Record<string, unknown>) =>
    api.request('POST', '/compute/v2.1/servers', {
      as: 'member',
      body: { server: { name: 'vm', networks: 'none', ...body } },
    });

  // prettier-ignore
  const CREATE = [
    { quota: { cores: 10 }, size: { vcpus: 4 }, before: 2, count: {}, text: 'Quota exceeded for cores: Requested 4, but already used 8 of 10 cores' },
    { quota: { ram: 1024 }, size: { ram: 512 }, before: 2, count: {}, text: 'Quota exceeded for ram: Requested 512, but already used 1024 of 1024 ram' },
    { quota: { instances: 2 }, size: {}, before: 2, count: {}, text: 'Quota exceeded for instances: Requested 1, but already used 2 of 2 instances' },
    { quota: { instances: 3 }, size: {}, before: 1, count: { min_count: 3, max_count: 5 }, text: 'Quota exceeded for instances: Requested 3-5, but already used 1 of 3 instances' },
    { quota: { instances: 2, cores: 3 }, size: { vcpus: 2 }, before: 1, count: { min_count: 2 }, text: 'Quota exceeded for instances,cores: Requested 2, but already used 1 of 2 instances,cores' },
  ];
  for (const { quota, size, before, count, text } of CREATE) {
    it(`refuses a create over ${JSON.stringify(quota)} with Nova's 403`, async () => {
      const { api, img } = await withQuota(quota);
      const f = await flavor(api, 'f', {}, { vcpus: 1, ram: 256, ...size });
      for (let i = 0; i < before; i += 1) {
        assert.equal((await boot(api, f, img, 'member', `b${i}`)).status, 202);
      }
      const res = await create(api, { flavorRef: f, imageRef: img, ...count });
      assert.equal(res.status, 403, res.text);
      assert.equal(message(res.body), text);
      assert.equal(res.headers.get('x-compute-error-code'), 'quota.exceeded');
      await api.servers.idle();
      assert.equal((await api.store.listServers()).length, before);
    });
  }

  it('trims a multiple create to what the quota allows, down to min_count (Nova)', async () => {
    const { api, img } = await withQuota({ instances: 4 });
    const f = await flavor(api, 'f');
    await boot(api, f, img);
    const res = await create(api, {
      flavorRef: f,
      imageRef: img,
      min_count: 2,
      max_count: 5,
      return_reservation_id: true,
    });
    assert.equal(res.status, 202, res.text);
    await api.servers.idle();
    assert.equal((await api.store.listServers()).length, 4);
  });

  it("counts only the project's servers, and a user's own quota too", async () => {
    const { api, demo, img } = await withQuota({ instances: 1 });
    const f = await flavor(api, 'f');
    assert.equal((await boot(api, f, img, 'other')).status, 202);
    assert.equal((await boot(api, f, img, 'member')).status, 202);
    assert.equal((await boot(api, f, img, 'member')).status, 403);
    await setQuota(api, demo, { instances: 5 });
    const member = await userId(api, 'member');
    await api.request('PUT', `/compute/v2.1/os-quota-sets/${demo}?user_id=${member}`, {
      body: { quota_set: { instances: 1 } },
    });
    const res = await boot(api, f, img, 'member');
    assert.equal(res.status, 403);
    assert.equal(
      message(res.body),
      'Quota exceeded for instances: Requested 1, but already used 1 of 1 instances',
    );
    assert.equal((await boot(api, f, img, 'admin')).status, 202);
  });

  it('frees the quota when a server is deleted', async () => {
    const { api, img } = await withQuota({ instances: 1 });
    const f = await flavor(api, 'f');
    const first = await boot(api, f, img);
    await api.servers.idle();
    assert.equal((await boot(api, f, img)).status, 403);
    await api.request('DELETE', `/compute/v2.1/servers/${first.id}`, { as: 'member' });
    await api.servers.idle();
    assert.equal((await boot(api, f, img)).status, 202);
  });

  it('lets one of four concurrent creates through when the quota has room for one', async () => {
    const { api, img } = await withQuota({ instances: 1 }, interleavingStore());
    const f = await flavor(api, 'f');
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => boot(api, f, img, 'member', `c${i}`)),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [202, 403, 403, 403]);
    await api.servers.idle();
    assert.equal((await api.store.listServers()).length, 1);
  });

  it('refuses a resize that grows past the cores or ram quota; shrinking always fits', async () => {
    const { api, img } = await withQuota({ cores: 4, ram: 2048 });
    const small = await flavor(api, 'small', {}, { vcpus: 2, ram: 512 });
    const wide = await flavor(api, 'wide', {}, { vcpus: 4, ram: 512 });
    const big = await flavor(api, 'big', {}, { vcpus: 2, ram: 4096 });
    const a = await boot(api, small, img, 'member', 'a');
    await boot(api, small, img, 'member', 'b');
    await api.servers.idle();
    const resize = (flavorRef: string) =>
      api.request('POST', `/compute/v2.1/servers/${a.id}/action`, {
        as: 'member',
        body: { resize: { flavorRef } },
      });
    for (const [to, text] of [
      [wide, 'Quota exceeded for cores: Requested 2, but already used 4 of 4 cores'],
      [big, 'Quota exceeded for ram: Requested 3584, but already used 1024 of 2048 ram'],
    ] as const) {
      const res = await resize(to);
      assert.equal(res.status, 403, res.text);
      assert.equal(message(res.body), text);
    }
    const tiny = await flavor(api, 'tiny', {}, { vcpus: 1, ram: 256 });
    assert.equal((await resize(tiny)).status, 202);
  });

  it('enforces metadata_items on create, on the metadata API and on rebuild', async () => {
    const { api, img } = await withQuota({ metadata_items: 2 });
    const f = await flavor(api, 'f');
    const three = { a: '1', b: '2', c: '3' };
    const res = await create(api, { flavorRef: f, imageRef: img, metadata: three });
    assert.equal(res.status, 403);
    assert.equal(message(res.body), 'Maximum number of metadata items exceeds 2');
    const ok = await create(api, { flavorRef: f, imageRef: img, metadata: { a: '1' } });
    assert.equal(ok.status, 202, ok.text);
    const id = (ok.body as { server: { id: string } }).server.id;
    await api.servers.idle();
    const post = await api.request('POST', `/compute/v2.1/servers/${id}/metadata`, {
      as: 'member',
      body: { metadata: { b: '2', c: '3' } },
    });
    assert.equal(post.status, 403);
    assert.equal(message(post.body), 'Maximum number of metadata items exceeds 2');
  });

  it('enforces key_pairs per user', async () => {
    const { api } = await withQuota({ key_pairs: 1 });
    const add = (name: string, as: 'member' | 'other') =>
      api.request('POST', '/compute/v2.1/os-keypairs', {
        as,
        body: { keypair: { name } },
      });
    assert.equal((await add('a', 'member')).status, 200);
    const refused = await add('b', 'member');
    assert.equal(refused.status, 403);
    assert.equal(message(refused.body), 'Quota exceeded, too many key pairs.');
    assert.equal((await add('b', 'other')).status, 200);
  });

  it('enforces server_groups, also against concurrent creates', async () => {
    const { api } = await withQuota({ server_groups: 1 }, interleavingStore());
    const results = await Promise.all(
      ['a', 'b', 'c'].map((name) =>
        api.request('POST', '/compute/v2.1/os-server-groups', {
          as: 'member',
          body: { server_group: { name, policies: ['affinity'] } },
        }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 403, 403]);
    const refused = results.find((r) => r.status === 403);
    assert.equal(message(refused?.body), 'Quota exceeded, too many server groups.');
  });

  it('enforces server_group_members', async () => {
    const { api, img } = await withQuota({ server_group_members: 2 });
    const f = await flavor(api, 'f');
    const group = await api.request('POST', '/compute/v2.1/os-server-groups', {
      as: 'member',
      body: { server_group: { name: 'g', policies: ['affinity'] } },
    });
    const groupId = (group.body as { server_group: { id: string } }).server_group.id;
    const join = (count: number) =>
      api.request('POST', '/compute/v2.1/servers', {
        as: 'member',
        body: {
          server: { name: 'm', flavorRef: f, imageRef: img, networks: 'none', max_count: count },
          'os:scheduler_hints': { group: groupId },
        },
      });
    assert.equal((await join(1)).status, 202);
    const refused = await join(2);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(message(refused.body), 'Quota exceeded, too many servers in group');
    assert.equal((await join(1)).status, 202);
  });
});
