import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, passwordAuth, type TestApi } from '../testing/api.js';
import { boot, flavor, image } from '../testing/server-calls.js';

const V3 = '/identity/v3';
type Body = Record<string, unknown>;

async function ok(api: TestApi, method: string, path: string, body?: unknown, status = 200) {
  const res = await api.request(method, path, {
    as: 'admin',
    ...(body === undefined ? {} : { body }),
  });
  assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
  return res.body as Body;
}

async function idOf(api: TestApi, kind: 'projects' | 'users', name: string): Promise<string> {
  const list = await ok(api, 'GET', `${V3}/${kind}?name=${name}`);
  const found = (list[kind] as Body[])[0];
  assert.ok(found !== undefined, `${kind} ${name}`);
  return found.id as string;
}

async function login(api: TestApi, user: string, password: string, project?: string) {
  const body = passwordAuth(user, password, project ?? 'x');
  if (project === undefined) delete (body.auth as Body).scope;
  return api.request('POST', `${V3}/auth/tokens`, { as: null, body });
}

async function tokenOf(api: TestApi, user: string, password: string, project: string) {
  const res = await login(api, user, password, project);
  assert.equal(res.status, 201, res.text);
  return res.headers.get('X-Subject-Token') ?? '';
}

/** A user `name` with `password` holding `role` on project demo. */
async function newMember(api: TestApi, name: string, password: string, role = 'member') {
  const demo = await idOf(api, 'projects', 'demo');
  const user = (await ok(api, 'POST', `${V3}/users`, { user: { name, password } }, 201))
    .user as Body;
  await ok(
    api,
    'PUT',
    `${V3}/projects/${demo}/users/${user.id as string}/roles/${role}`,
    undefined,
    204,
  );
  return { demo, userId: user.id as string };
}

describe('identity administration: projects', () => {
  it("creates, shows, lists, updates and deletes a project in Keystone's shape", async () => {
    const api = await makeTestApi();
    const created = await ok(
      api,
      'POST',
      `${V3}/projects`,
      { project: { name: 'blue', description: 'Blue team', domain_id: 'default', owner: 'ops' } },
      201,
    );
    const project = created.project as Body;
    const id = project.id as string;
    assert.deepEqual(project, {
      id,
      name: 'blue',
      domain_id: 'default',
      description: 'Blue team',
      enabled: true,
      parent_id: 'default',
      is_domain: false,
      tags: [],
      options: {},
      owner: 'ops',
      links: { self: `http://vpmu.test${V3}/projects/${id}` },
    });
    assert.deepEqual((await ok(api, 'GET', `${V3}/projects/${id}`)).project, project);
    const names = ((await ok(api, 'GET', `${V3}/projects`)).projects as Body[]).map((p) => p.name);
    assert.deepEqual(names, ['admin', 'blue', 'demo', 'other']);
    const patched = (
      await ok(api, 'PATCH', `${V3}/projects/${id}`, {
        project: { name: 'navy', enabled: false, owner: 'dev' },
      })
    ).project as Body;
    assert.deepEqual([patched.name, patched.enabled, patched.owner], ['navy', false, 'dev']);
    const disabled = (await ok(api, 'GET', `${V3}/projects?enabled=false`)).projects as Body[];
    assert.deepEqual(
      disabled.map((p) => p.name),
      ['navy'],
    );
    await ok(api, 'DELETE', `${V3}/projects/${id}`, undefined, 204);
    const gone = await api.request('GET', `${V3}/projects/${id}`, { as: 'admin' });
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, {
      error: { code: 404, title: 'Not Found', message: `Could not find project: ${id}.` },
    });
  });

  // prettier-ignore
  const BAD = [
    { name: 'no name', project: { description: 'x' }, field: 'project.name' },
    { name: 'a blank name', project: { name: '  ' }, field: 'project.name' },
    { name: 'enabled as a string', project: { name: 'p', enabled: 'yes' }, field: 'project.enabled' },
    { name: 'a domain id that is not a string', project: { name: 'p', domain_id: 7 }, field: 'project.domain_id' },
    { name: 'tags', project: { name: 'p', tags: ['a'] }, field: 'project.tags' },
    { name: 'a project acting as a domain', project: { name: 'p', is_domain: true }, field: 'project.is_domain' },
    { name: 'options', project: { name: 'p', options: { immutable: true } }, field: 'project.options' },
  ];
  for (const row of BAD) {
    it(`refuses a project with ${row.name} (400 naming ${row.field})`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', `${V3}/projects`, {
        as: 'admin',
        body: { project: row.project },
      });
      assert.equal(res.status, 400, res.text);
      assert.match(
        (res.body as { error: { message: string } }).error.message,
        new RegExp(`field/attribute ${row.field}\\. Value: `, 'u'),
      );
    });
  }

  it('answers 404 for a project in a domain other than Default (vpmu has one)', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', `${V3}/projects`, {
      as: 'admin',
      body: { project: { name: 'p', domain_id: 'elsewhere' } },
    });
    assert.equal(res.status, 404);
    assert.match(res.text, /Could not find domain: elsewhere\./u);
  });

  it('refuses a second project of the same name with 409', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', `${V3}/projects`, {
      as: 'admin',
      body: { project: { name: 'demo' } },
    });
    assert.equal(res.status, 409);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'identity.conflict');
    assert.match(res.text, /Duplicate entry found with name demo/u);
  });

  it('refuses to delete a project that has servers (409, naming them); its images outlive it', async () => {
    const api = await makeTestApi();
    const demo = await idOf(api, 'projects', 'demo');
    const f = await flavor(api, 'small');
    const img = await image(api, 'public');
    const mine = await api.request('POST', '/image/v2/images', {
      as: 'member',
      body: { name: 'mine' },
    });
    assert.equal(mine.status, 201, mine.text);
    const mineId = (mine.body as Body).id as string;
    const vm = await boot(api, f, img, 'member', 'vm');
    assert.equal(vm.status, 202, JSON.stringify(vm.body));
    await api.servers.idle();
    const refused = await api.request('DELETE', `${V3}/projects/${demo}`, { as: 'admin' });
    assert.equal(refused.status, 409);
    assert.equal(refused.headers.get('X-Compute-Error-Code'), 'project.in_use');
    assert.equal(
      (refused.body as { error: { message: string } }).error.message,
      `Cannot delete project demo (${demo}): it still has 1 server (${vm.id}). Delete them first.`,
    );
    assert.equal((await ok(api, 'GET', `${V3}/projects/${demo}`)).project !== undefined, true);
    const gone = await api.request('DELETE', `/compute/v2.1/servers/${vm.id}`, { as: 'member' });
    assert.equal(gone.status, 204);
    await api.servers.idle();
    assert.equal(
      (await api.request('DELETE', `${V3}/projects/${demo}`, { as: 'admin' })).status,
      204,
    );
    // As in Keystone and Glance, the image stays, owned by the deleted project: an admin finds it.
    const kept = await api.request('GET', `/image/v2/images/${mineId}`, { as: 'admin' });
    assert.equal(kept.status, 200);
    assert.equal((kept.body as Body).owner, demo);
  });

  it('deleting a project ends its tokens at once', async () => {
    const api = await makeTestApi();
    const blue = (await ok(api, 'POST', `${V3}/projects`, { project: { name: 'blue' } }, 201))
      .project as Body;
    const user = (
      await ok(api, 'POST', `${V3}/users`, { user: { name: 'b', password: 'b-pw' } }, 201)
    ).user as Body;
    await ok(
      api,
      'PUT',
      `${V3}/projects/${blue.id as string}/users/${user.id as string}/roles/member`,
      undefined,
      204,
    );
    const token = await tokenOf(api, 'b', 'b-pw', 'blue');
    const before = await api.request('GET', '/compute/v2.1/servers', { as: { token } });
    assert.equal(before.status, 200);
    await ok(api, 'DELETE', `${V3}/projects/${blue.id as string}`, undefined, 204);
    const after = await api.request('GET', '/compute/v2.1/servers', { as: { token } });
    assert.equal(after.status, 401);
  });
});

describe('identity administration: policy (Keystone defaults)', () => {
  // prettier-ignore
  const ROWS: { method: string; path: (ids: { demo: string; other: string; self: string; admin: string }) => string; member: number; reader: number }[] = [
    { method: 'GET', path: () => `${V3}/projects`, member: 403, reader: 403 },
    { method: 'GET', path: (i) => `${V3}/projects/${i.demo}`, member: 200, reader: 200 },
    { method: 'GET', path: (i) => `${V3}/projects/${i.other}`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/users`, member: 403, reader: 403 },
    { method: 'GET', path: (i) => `${V3}/users/${i.self}`, member: 200, reader: 403 },
    { method: 'GET', path: (i) => `${V3}/users/${i.admin}`, member: 403, reader: 403 },
    { method: 'GET', path: (i) => `${V3}/users/${i.self}/projects`, member: 200, reader: 403 },
    { method: 'GET', path: () => `${V3}/roles`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/role_assignments`, member: 403, reader: 403 },
    { method: 'PUT', path: (i) => `${V3}/projects/${i.demo}/users/${i.self}/roles/admin`, member: 403, reader: 403 },
    { method: 'DELETE', path: (i) => `${V3}/projects/${i.demo}`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/services`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/endpoints`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/regions`, member: 200, reader: 200 },
    { method: 'GET', path: () => `${V3}/domains/default`, member: 200, reader: 200 },
    { method: 'GET', path: () => `${V3}/domains`, member: 403, reader: 403 },
    { method: 'GET', path: () => `${V3}/auth/projects`, member: 200, reader: 200 },
    { method: 'GET', path: () => `${V3}/auth/catalog`, member: 200, reader: 200 },
  ];
  it("answers each identity rule as Keystone's default policy does, for a member and a reader", async () => {
    const api = await makeTestApi();
    const ids = {
      demo: await idOf(api, 'projects', 'demo'),
      other: await idOf(api, 'projects', 'other'),
      self: await idOf(api, 'users', 'member'),
      admin: await idOf(api, 'users', 'admin'),
    };
    for (const row of ROWS) {
      for (const who of ['member', 'reader'] as const) {
        // The reader's own user id differs from the member's: `self` is the member.
        const res = await api.request(row.method, row.path(ids), { as: who });
        assert.equal(res.status, row[who], `${who} ${row.method} ${row.path(ids)}: ${res.text}`);
        if (res.status === 403) {
          assert.match(
            res.text,
            /You are not authorized to perform the requested action: identity:/u,
          );
        }
      }
      if (row.method === 'GET') {
        const admin = await api.request(row.method, row.path(ids), { as: 'admin' });
        assert.equal(admin.status, 200, `admin ${row.method} ${row.path(ids)}: ${admin.text}`);
      }
    }
  });
});

describe('identity administration: users', () => {
  it('creates a user with a hashed password it never returns, and keeps extra attributes', async () => {
    const api = await makeTestApi();
    const demo = await idOf(api, 'projects', 'demo');
    const user = (
      await ok(
        api,
        'POST',
        `${V3}/users`,
        {
          user: {
            name: 'carol',
            password: 'carol-pw',
            email: 'carol@example.org',
            default_project_id: demo,
          },
        },
        201,
      )
    ).user as Body;
    const id = user.id as string;
    assert.deepEqual(user, {
      id,
      name: 'carol',
      domain_id: 'default',
      enabled: true,
      password_expires_at: null,
      options: {},
      email: 'carol@example.org',
      default_project_id: demo,
      links: { self: `http://vpmu.test${V3}/users/${id}` },
    });
    const stored = await api.store.getUser(id);
    assert.match(stored?.passwordHash ?? '', /^scrypt\$/u);
    assert.ok(!JSON.stringify(await ok(api, 'GET', `${V3}/users`)).includes('password"'));
    // No role yet: login to demo is refused; the default project gives nothing either.
    assert.equal((await login(api, 'carol', 'carol-pw', 'demo')).status, 401);
    await ok(api, 'PUT', `${V3}/projects/${demo}/users/${id}/roles/reader`, undefined, 204);
    // Unscoped request: scoped to the default project, as Keystone does.
    const unscoped = await login(api, 'carol', 'carol-pw');
    assert.equal(unscoped.status, 201);
    assert.equal(((unscoped.body as { token: Body }).token.project as Body).id, demo);
  });

  it('disabling a user ends its tokens at once and refuses its logins', async () => {
    const api = await makeTestApi();
    const { userId } = await newMember(api, 'dave', 'dave-pw');
    const token = await tokenOf(api, 'dave', 'dave-pw', 'demo');
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token } })).status,
      200,
    );
    await ok(api, 'PATCH', `${V3}/users/${userId}`, { user: { enabled: false } });
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token } })).status,
      401,
    );
    assert.equal((await login(api, 'dave', 'dave-pw', 'demo')).status, 401);
    await ok(api, 'PATCH', `${V3}/users/${userId}`, { user: { enabled: true } });
    assert.equal((await login(api, 'dave', 'dave-pw', 'demo')).status, 201);
    await ok(api, 'DELETE', `${V3}/users/${userId}`, undefined, 204);
    assert.equal((await login(api, 'dave', 'dave-pw', 'demo')).status, 401);
  });

  it('lets a user change its own password with the original one, ending its tokens', async () => {
    const api = await makeTestApi();
    const { userId } = await newMember(api, 'erin', 'old-pw');
    const token = await tokenOf(api, 'erin', 'old-pw', 'demo');
    const path = `${V3}/users/${userId}/password`;
    const wrong = await api.request('POST', path, {
      as: null,
      body: { user: { original_password: 'nope', password: 'new-pw' } },
    });
    assert.equal(wrong.status, 401);
    const right = await api.request('POST', path, {
      as: null,
      body: { user: { original_password: 'old-pw', password: 'new-pw' } },
    });
    assert.equal(right.status, 204, right.text);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token } })).status,
      401,
    );
    assert.equal((await login(api, 'erin', 'old-pw', 'demo')).status, 401);
    assert.equal((await login(api, 'erin', 'new-pw', 'demo')).status, 201);
  });
});

describe('identity administration: roles and assignments', () => {
  it("revoking a role ends the user's tokens on that project at once", async () => {
    const api = await makeTestApi();
    const { demo, userId } = await newMember(api, 'frank', 'frank-pw');
    const token = await tokenOf(api, 'frank', 'frank-pw', 'demo');
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token } })).status,
      200,
    );
    const grant = `${V3}/projects/${demo}/users/${userId}/roles/member`;
    await ok(api, 'HEAD', grant, undefined, 204);
    await ok(api, 'DELETE', grant, undefined, 204);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token } })).status,
      401,
    );
    assert.equal((await api.request('HEAD', grant, { as: 'admin' })).status, 404);
    assert.equal((await api.request('DELETE', grant, { as: 'admin' })).status, 404);
  });

  it('creates roles for admins only, never deletes the built-in ones, and lists assignments with their filters and names', async () => {
    const api = await makeTestApi();
    const role = (await ok(api, 'POST', `${V3}/roles`, { role: { name: 'auditor' } }, 201))
      .role as Body;
    assert.deepEqual(Object.keys(role).sort(), [
      'description',
      'domain_id',
      'id',
      'links',
      'name',
      'options',
    ]);
    const denied = await api.request('POST', `${V3}/roles`, {
      as: 'member',
      body: { role: { name: 'x' } },
    });
    assert.equal(denied.status, 403);
    assert.equal((await api.request('DELETE', `${V3}/roles/admin`, { as: 'admin' })).status, 403);
    const { demo, userId } = await newMember(api, 'gina', 'gina-pw');
    await ok(
      api,
      'PUT',
      `${V3}/projects/${demo}/users/${userId}/roles/${role.id as string}`,
      undefined,
      204,
    );
    const issued = await login(api, 'gina', 'gina-pw', 'demo');
    const roles = (issued.body as { token: { roles: Body[] } }).token.roles.map((r) => r.name);
    assert.deepEqual(roles, ['member', 'auditor']);
    const listed = await ok(
      api,
      'GET',
      `${V3}/role_assignments?user.id=${userId}&scope.project.id=${demo}&include_names`,
    );
    assert.deepEqual(
      (listed.role_assignments as Body[])
        .map(
          (a) =>
            `${(a.role as Body).name as string} ${(a.user as Body).name as string} ${((a.scope as Body).project as Body).name as string}`,
        )
        .sort(),
      ['auditor gina demo', 'member gina demo'],
    );
    const byRole = await ok(api, 'GET', `${V3}/role_assignments?role.id=${role.id as string}`);
    assert.deepEqual(byRole.role_assignments, [
      {
        role: { id: role.id },
        user: { id: userId },
        scope: { project: { id: demo } },
        links: {
          assignment: `http://vpmu.test${V3}/projects/${demo}/users/${userId}/roles/${role.id as string}`,
        },
      },
    ]);
    const groups = await ok(api, 'GET', `${V3}/role_assignments?group.id=g`);
    assert.deepEqual(groups.role_assignments, []);
    await ok(api, 'DELETE', `${V3}/roles/${role.id as string}`, undefined, 204);
    const after = await ok(api, 'GET', `${V3}/role_assignments?user.id=${userId}`);
    assert.equal((after.role_assignments as Body[]).length, 1);
  });
});

describe('identity: application credentials, unscoped tokens, catalog', () => {
  it('creates an application credential, authenticates with it by id and by name, and deletes it', async () => {
    const api = await makeTestApi();
    const self = await idOf(api, 'users', 'member');
    const base = `${V3}/users/${self}/application_credentials`;
    const created = await api.request('POST', base, {
      as: 'member',
      body: { application_credential: { name: 'ci' } },
    });
    assert.equal(created.status, 201, created.text);
    const cred = (created.body as { application_credential: Body }).application_credential;
    const secret = cred.secret as string;
    assert.ok(secret.length >= 32);
    assert.deepEqual(cred.roles, [{ id: 'member', name: 'member', domain_id: null }]);
    const shown = await api.request('GET', `${base}/${cred.id as string}`, { as: 'member' });
    assert.equal(
      (shown.body as { application_credential: Body }).application_credential.secret,
      undefined,
    );
    const byId = {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: cred.id, secret },
        },
      },
    };
    const issued = await api.request('POST', `${V3}/auth/tokens`, { as: null, body: byId });
    assert.equal(issued.status, 201, issued.text);
    const token = (issued.body as { token: Body }).token;
    assert.deepEqual(token.methods, ['application_credential']);
    assert.deepEqual(token.application_credential, { id: cred.id, name: 'ci', restricted: true });
    const text = issued.headers.get('X-Subject-Token') ?? '';
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token: text } })).status,
      200,
    );
    // A restricted credential cannot make another one.
    const nested = await api.request('POST', base, {
      as: { token: text },
      body: { application_credential: { name: 'x' } },
    });
    assert.equal(nested.status, 403);
    const byName = {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: {
            name: 'ci',
            user: { name: 'member', domain: { id: 'default' } },
            secret,
          },
        },
      },
    };
    assert.equal(
      (await api.request('POST', `${V3}/auth/tokens`, { as: null, body: byName })).status,
      201,
    );
    const wrong = {
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { id: cred.id, secret: 'nope' },
        },
      },
    };
    assert.equal(
      (await api.request('POST', `${V3}/auth/tokens`, { as: null, body: wrong })).status,
      401,
    );
    // Another user sees none of it.
    assert.equal((await api.request('GET', base, { as: 'other' })).status, 403);
    assert.equal(
      (await api.request('DELETE', `${base}/${cred.id as string}`, { as: 'member' })).status,
      204,
    );
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token: text } })).status,
      401,
    );
    assert.equal(
      (await api.request('POST', `${V3}/auth/tokens`, { as: null, body: byId })).status,
      401,
    );
  });

  it('issues unscoped tokens that identity accepts and compute refuses, and rescopes them', async () => {
    const api = await makeTestApi();
    const res = await login(api, 'member', 'member-secret');
    assert.equal(res.status, 201, res.text);
    const token = (res.body as { token: Body }).token;
    assert.deepEqual(Object.keys(token).sort(), [
      'audit_ids',
      'expires_at',
      'issued_at',
      'methods',
      'user',
    ]);
    const text = res.headers.get('X-Subject-Token') ?? '';
    const projects = await api.request('GET', `${V3}/auth/projects`, { as: { token: text } });
    assert.deepEqual(
      (projects.body as { projects: Body[] }).projects.map((p) => p.name),
      ['demo'],
    );
    assert.equal(
      (await api.request('GET', '/compute/v2.1/servers', { as: { token: text } })).status,
      401,
    );
    assert.equal(
      (await api.request('GET', `${V3}/auth/catalog`, { as: { token: text } })).status,
      403,
    );
    const rescoped = await api.request('POST', `${V3}/auth/tokens`, {
      as: null,
      body: {
        auth: {
          identity: { methods: ['token'], token: { id: text } },
          scope: { project: { name: 'demo', domain: { id: 'default' } } },
        },
      },
    });
    assert.equal(rescoped.status, 201, rescoped.text);
    assert.deepEqual(((rescoped.body as { token: Body }).token.methods as string[]).sort(), [
      'password',
      'token',
    ]);
  });

  it('describes its own catalog as services, endpoints and regions', async () => {
    const api = await makeTestApi();
    const catalog = (await ok(api, 'GET', `${V3}/auth/catalog`)).catalog as Body[];
    assert.deepEqual(
      catalog.map((s) => s.type),
      ['identity', 'compute', 'image', 'placement'],
    );
    const services = (await ok(api, 'GET', `${V3}/services?type=compute`)).services as Body[];
    assert.deepEqual(
      services.map((s) => s.name),
      ['nova'],
    );
    const endpoints = (
      await ok(api, 'GET', `${V3}/endpoints?interface=public&service_id=nova-service`)
    ).endpoints as Body[];
    assert.deepEqual(
      endpoints.map((e) => e.url),
      ['http://vpmu.test/compute/v2.1'],
    );
    const regions = (await ok(api, 'GET', `${V3}/regions`)).regions as Body[];
    assert.deepEqual(
      regions.map((r) => r.id),
      ['RegionOne'],
    );
    const domains = (await ok(api, 'GET', `${V3}/domains?name=Default`)).domains as Body[];
    assert.deepEqual(
      domains.map((d) => d.id),
      ['default'],
    );
  });
});
