import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, boot, flavor, image, message, show, type Who } from '../testing/server-calls.js';

const UNKNOWN = 'f0000000-0000-4000-8000-0000000000ff';

/** An ACTIVE server of project demo (user member). */
async function activeServer(api: TestApi): Promise<string> {
  const res = await boot(api, await flavor(api, 'small'), await image(api, 'plain'));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await api.servers.idle();
  return res.id;
}

function at(version: string): { 'OpenStack-API-Version': string } {
  return { 'OpenStack-API-Version': `compute ${version}` };
}

describe('server actions: os-resetState', () => {
  it('sets vm_state and clears task_state for admins only, after the visibility check', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const cases: { who: Who; server: string; body: unknown; status: number; says?: RegExp }[] = [
      { who: 'member', server: id, body: { state: 'error' }, status: 403, says: /reset_state/u },
      {
        who: 'other',
        server: id,
        body: { state: 'error' },
        status: 404,
        says: /could not be found/u,
      },
      { who: 'admin', server: UNKNOWN, body: { state: 'error' }, status: 404 },
      {
        who: 'admin',
        server: id,
        body: { state: 'paused' },
        status: 400,
        says: /os-resetState\/state\. Value: paused\. "paused" is not one of \['active', 'error'\]/u,
      },
      { who: 'admin', server: id, body: {}, status: 400, says: /'state' is a required property/u },
      {
        who: 'admin',
        server: id,
        body: { state: 'error', x: 1 },
        status: 400,
        says: /'x' was unexpected/u,
      },
      { who: 'admin', server: id, body: 'error', status: 400, says: /is not of type 'object'/u },
    ];
    for (const c of cases) {
      const res = await action(api, c.server, { 'os-resetState': c.body }, c.who);
      assert.equal(res.status, c.status, `${c.who} ${JSON.stringify(c.body)}: ${res.text}`);
      if (c.says) assert.match(message(res), c.says);
    }
    assert.equal((await show(api, id)).status, 'ACTIVE', 'refused resets change nothing');
    for (const [state, status] of [
      ['error', 'ERROR'],
      ['active', 'ACTIVE'],
    ] as const) {
      const res = await action(api, id, { 'os-resetState': { state } }, 'admin');
      assert.equal(res.status, 202, res.text);
      assert.equal(res.text, '');
      const server = await show(api, id, 'admin');
      assert.equal(server.status, status);
      assert.equal(server['OS-EXT-STS:vm_state'], state);
      assert.equal(server['OS-EXT-STS:task_state'], null);
      assert.equal(server['OS-EXT-STS:power_state'], 1, 'the power state stays');
    }
    // A server reset to error is listed by the ERROR status filter.
    await action(api, id, { 'os-resetState': { state: 'error' } }, 'admin');
    const listed = await api.request('GET', '/compute/v2.1/servers?status=ERROR&all_tenants=1', {
      as: 'admin',
    });
    assert.deepEqual(
      (listed.body as { servers: { id: string }[] }).servers.map((s) => s.id),
      [id],
    );
  });
});

describe('server actions: lock and unlock', () => {
  it('refuses actions and delete by non-admins on a locked server with Nova 409', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const locked9 = async () =>
      (
        (
          await api.request('GET', `/compute/v2.1/servers/${id}`, {
            as: 'member',
            headers: at('2.9'),
          })
        ).body as { server: { locked: boolean } }
      ).server.locked;
    assert.equal((await action(api, id, { lock: null })).status, 202);
    assert.equal(await locked9(), true);
    const locked = `Instance ${id} is locked`;
    for (const body of [{ 'os-stop': null }, { reboot: { type: 'HARD' } }, { forceDelete: null }]) {
      const res = await action(api, id, body);
      assert.equal(res.status, 409, JSON.stringify(body));
      assert.equal(message(res), locked);
    }
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 409);
    assert.equal(message(del), locked);
    // Locking again as the owner changes nothing; an admin may still act.
    assert.equal((await action(api, id, { lock: {} })).status, 202);
    assert.equal((await action(api, id, { 'os-stop': null }, 'admin')).status, 202);
    await api.servers.idle();
    assert.equal((await show(api, id)).status, 'SHUTOFF');
    assert.equal((await action(api, id, { unlock: null })).status, 202);
    assert.equal(await locked9(), false);
    assert.equal((await action(api, id, { 'os-start': null })).status, 202);
    await api.servers.idle();
    assert.equal((await show(api, id)).status, 'ACTIVE');
  });

  it('applies the policy: readers cannot lock, an admin lock needs an admin to unlock', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const steps: { who: Who; body: unknown; status: number; says?: RegExp }[] = [
      { who: 'reader', body: { lock: null }, status: 403, says: /reader role/u },
      { who: 'other', body: { lock: null }, status: 404 },
      { who: 'member', body: { lock: null }, status: 202 },
      // The admin's lock takes over the owner's.
      { who: 'admin', body: { lock: null }, status: 202 },
      { who: 'member', body: { unlock: null }, status: 403, says: /unlock:unlock_override/u },
      { who: 'admin', body: { unlock: null }, status: 202 },
      { who: 'member', body: { unlock: null }, status: 202 },
    ];
    for (const s of steps) {
      const res = await action(api, id, s.body, s.who);
      assert.equal(res.status, s.status, `${s.who} ${JSON.stringify(s.body)}: ${res.text}`);
      if (s.says) assert.match(message(res), s.says);
    }
    assert.equal((await action(api, UNKNOWN, { lock: null })).status, 404);
  });

  it('keeps locked_reason from 2.73 and checks it', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const v273 = { headers: at('2.73') };
    const lock = (body: unknown) =>
      api.request('POST', `/compute/v2.1/servers/${id}/action`, {
        ...v273,
        as: 'member',
        body: { lock: body },
      });
    for (const [body, says] of [
      [{ locked_reason: '' }, /lock\/locked_reason/u],
      [{ locked_reason: 'x'.repeat(256) }, /1 to 255 characters/u],
      [{ reason: 'x' }, /'reason' was unexpected/u],
      ['because', /is not of type 'object', 'null'/u],
    ] as const) {
      const res = await lock(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(message(res), says);
    }
    assert.equal((await lock({ locked_reason: 'maintenance' })).status, 202);
    const get = async (version: string) =>
      (
        (
          await api.request('GET', `/compute/v2.1/servers/${id}`, {
            as: 'member',
            headers: at(version),
          })
        ).body as { server: Record<string, unknown> }
      ).server;
    const server = await get('2.73');
    assert.equal(server.locked, true);
    assert.equal(server.locked_reason, 'maintenance');
    assert.equal('locked_reason' in (await get('2.72')), false);
    assert.equal('locked' in (await get('2.8')), false);
    assert.equal((await action(api, id, { unlock: null })).status, 202);
    assert.equal((await get('2.73')).locked_reason, null);
  });
});

describe('server actions: restore and forceDelete (no soft delete)', () => {
  it('answers restore with 409 on any server, 404 on an unknown one', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const res = await action(api, id, { restore: null });
    assert.equal(res.status, 409);
    assert.equal(message(res), `Cannot 'restore' instance ${id} while it is in vm_state active`);
    assert.equal((await action(api, UNKNOWN, { restore: null })).status, 404);
    // Nova's schema leaves the value open: Tempest sends {}.
    assert.equal((await action(api, id, { restore: {} })).status, 409);
    assert.equal((await action(api, id, { restore: null }, 'reader')).status, 403);
  });

  it('deletes at once on forceDelete, 404 on an unknown server', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    assert.equal((await action(api, UNKNOWN, { forceDelete: {} })).status, 404);
    assert.equal((await action(api, id, { forceDelete: null }, 'reader')).status, 403);
    assert.equal((await action(api, id, { forceDelete: null })).status, 202);
    await api.servers.idle();
    const gone = await api.request('GET', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(gone.status, 404);
  });
});

describe('server tags', () => {
  it('adds, checks, replaces and removes tags with Nova status codes', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const v = { headers: at('2.26'), as: 'member' as const };
    const tagsUrl = `/compute/v2.1/servers/${id}/tags`;
    const call = (method: string, path: string, extra: { as?: Who; body?: unknown } = {}) =>
      api.request(method, `${tagsUrl}${path}`, { ...v, ...extra });
    const steps: {
      method: string;
      path: string;
      as?: Who;
      body?: unknown;
      status: number;
      reply?: unknown;
      says?: RegExp;
    }[] = [
      { method: 'GET', path: '', status: 200, reply: { tags: [] } },
      { method: 'PUT', path: '/red', status: 201 },
      { method: 'PUT', path: '/red', status: 204 },
      { method: 'PUT', path: '/blue', status: 201 },
      { method: 'GET', path: '', as: 'reader', status: 200, reply: { tags: ['red', 'blue'] } },
      { method: 'GET', path: '/red', as: 'reader', status: 204 },
      {
        method: 'GET',
        path: '/green',
        status: 404,
        says: new RegExp(`^Server ${id} has no tag 'green'$`, 'u'),
      },
      { method: 'PUT', path: '/green', as: 'reader', status: 403 },
      { method: 'PUT', path: '/green', as: 'other', status: 404 },
      {
        method: 'PUT',
        path: `/${'x'.repeat(61)}`,
        status: 400,
        says: /^Tag 'x+' is invalid\. It must be a non empty string without characters '\/' and ','\. Validation error message: 'x+' is too long$/u,
      },
      { method: 'PUT', path: '/a%2Cb', status: 400, says: /does not match/u },
      {
        method: 'PUT',
        path: '/green',
        body: { tag: 'green' },
        status: 400,
        says: /is not of type 'null'/u,
      },
      {
        method: 'PUT',
        path: '',
        body: { tags: ['blue', 'new', 'new'] },
        status: 200,
        reply: { tags: ['blue', 'new'] },
      },
      {
        method: 'PUT',
        path: '',
        body: { tags: 'blue' },
        status: 400,
        says: /field\/attribute tags/u,
      },
      {
        method: 'PUT',
        path: '',
        body: { tags: ['a,b'] },
        status: 400,
        says: /tags\/0\. Value: a,b/u,
      },
      {
        method: 'PUT',
        path: '',
        body: { tags: [], more: 1 },
        status: 400,
        says: /'more' was unexpected/u,
      },
      {
        method: 'PUT',
        path: '',
        body: { tags: Array.from({ length: 51 }, (_, i) => `t${i}`) },
        status: 400,
        says: /at most 50/u,
      },
      {
        method: 'DELETE',
        path: '/red',
        status: 404,
        says: new RegExp(`^Instance ${id} has no tag 'red'$`, 'u'),
      },
      { method: 'DELETE', path: '/new', status: 204 },
      { method: 'GET', path: '', status: 200, reply: { tags: ['blue'] } },
      { method: 'DELETE', path: '', as: 'reader', status: 403 },
      { method: 'DELETE', path: '', status: 204 },
      { method: 'GET', path: '', status: 200, reply: { tags: [] } },
    ];
    for (const s of steps) {
      const res = await call(s.method, s.path, {
        ...(s.as === undefined ? {} : { as: s.as }),
        ...(s.body === undefined ? {} : { body: s.body }),
      });
      const what = `${s.method} tags${s.path} as ${s.as ?? 'member'}: ${res.text}`;
      assert.equal(res.status, s.status, what);
      if (s.reply !== undefined) assert.deepEqual(res.body, s.reply, what);
      if (s.says) assert.match(message(res), s.says, what);
    }
  });

  it('limits a server to 50 tags and shows them in the server from 2.26', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const v = { headers: at('2.26'), as: 'member' as const };
    const fifty = Array.from({ length: 50 }, (_, i) => `t${i}`);
    const put = await api.request('PUT', `/compute/v2.1/servers/${id}/tags`, {
      ...v,
      body: { tags: fifty },
    });
    assert.equal(put.status, 200, put.text);
    const more = await api.request('PUT', `/compute/v2.1/servers/${id}/tags/t50`, v);
    assert.equal(more.status, 400);
    assert.equal(message(more), 'The number of tags exceeded the per-server limit 50');
    const server = await api.request('GET', `/compute/v2.1/servers/${id}`, v);
    assert.deepEqual((server.body as { server: { tags: string[] } }).server.tags, fifty);
    const old = await api.request('GET', `/compute/v2.1/servers/${id}/tags`, {
      headers: at('2.25'),
    });
    assert.equal(old.status, 404);
  });

  it('refuses tag changes while the server is not active or stopped', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    await action(api, id, { 'os-resetState': { state: 'error' } }, 'admin');
    const res = await api.request('PUT', `/compute/v2.1/servers/${id}/tags/red`, {
      headers: at('2.26'),
    });
    assert.equal(res.status, 409);
    assert.equal(message(res), `Cannot 'update tag' instance ${id} while it is in vm_state error`);
    const list = await api.request('GET', `/compute/v2.1/servers/${id}/tags`, {
      headers: at('2.26'),
    });
    assert.equal(list.status, 200, 'reading stays allowed');
  });
});

describe('server password and addresses', () => {
  it('has no password to show and clears for writers only', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const url = `/compute/v2.1/servers/${id}/os-server-password`;
    const cases: { method: string; as: Who; url: string; status: number; body?: unknown }[] = [
      { method: 'GET', as: 'member', url, status: 200, body: { password: '' } },
      { method: 'GET', as: 'reader', url, status: 200, body: { password: '' } },
      { method: 'GET', as: 'other', url, status: 404 },
      { method: 'DELETE', as: 'reader', url, status: 403 },
      { method: 'DELETE', as: 'member', url, status: 204 },
      {
        method: 'GET',
        as: 'member',
        url: `/compute/v2.1/servers/${UNKNOWN}/os-server-password`,
        status: 404,
      },
    ];
    for (const c of cases) {
      const res = await api.request(c.method, c.url, { as: c.as });
      assert.equal(res.status, c.status, `${c.method} as ${c.as}: ${res.text}`);
      if (c.body !== undefined) assert.deepEqual(res.body, c.body);
    }
  });

  it('lists no addresses and no network', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const all = await api.request('GET', `/compute/v2.1/servers/${id}/ips`, { as: 'reader' });
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, { addresses: {} });
    const one = await api.request('GET', `/compute/v2.1/servers/${id}/ips/public`);
    assert.equal(one.status, 404);
    assert.equal(message(one), 'Instance is not a member of specified network');
    const unknown = await api.request('GET', `/compute/v2.1/servers/${UNKNOWN}/ips`);
    assert.equal(unknown.status, 404);
  });
});

describe('server action dispatcher', () => {
  it('looks the server up first for Nova actions vpmu does not serve', async () => {
    const api = await makeTestApi();
    const id = await activeServer(api);
    const cases: { server: string; body: unknown; status: number; says: RegExp }[] = [
      {
        server: UNKNOWN,
        body: { 'os-getVNCConsole': { type: 'novnc' } },
        status: 404,
        says: /could not be found/u,
      },
      {
        server: id,
        body: { 'os-getVNCConsole': { type: 'novnc' } },
        status: 400,
        says: /vpmu does not serve Nova's 'os-getVNCConsole' action; it serves os-start, .*os-getConsoleOutput, .*createBackup, migrate, evacuate, shelve, shelveOffload, unshelve, lock, unlock, os-resetState, restore and forceDelete$/u,
      },
      { server: UNKNOWN, body: { rescue: null }, status: 404, says: /could not be found/u },
      {
        server: id,
        body: { frobnicate: null },
        status: 400,
        says: /^There is no such action: frobnicate; vpmu serves /u,
      },
      {
        server: UNKNOWN,
        body: { frobnicate: null },
        status: 400,
        says: /^There is no such action: frobnicate/u,
      },
    ];
    for (const c of cases) {
      const res = await action(api, c.server, c.body);
      assert.equal(res.status, c.status, `${JSON.stringify(c.body)}: ${res.text}`);
      assert.match(message(res), c.says);
    }
  });
});
