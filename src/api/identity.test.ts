import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { makeTestApi, passwordAuth } from '../testing/api.js';

describe('identity API', () => {
  it('serves version discovery at /identity (300) and /identity/v3 (200)', async () => {
    const api = await makeTestApi();
    const root = await api.request('GET', '/identity', { as: null });
    assert.equal(root.status, 300);
    assert.deepEqual(
      (
        root.body as { versions: { values: { id: string; links: { href: string }[] }[] } }
      ).versions.values.map((v) => [v.id, v.links[0]?.href]),
      [['v3.14', 'http://vpmu.test/identity/v3/']],
    );
    for (const path of ['/identity/v3', '/identity/v3/']) {
      const v3 = await api.request('GET', path, { as: null });
      assert.equal(v3.status, 200);
      assert.equal((v3.body as { version: { status: string } }).version.status, 'stable');
    }
  });

  it('issues a project-scoped token: 201, X-Subject-Token, roles and a catalog built from the public endpoint', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', '/identity/v3/auth/tokens', {
      as: null,
      body: passwordAuth('member', 'member-secret', 'demo'),
    });
    assert.equal(res.status, 201);
    assert.ok((res.headers.get('X-Subject-Token') ?? '').length > 0);
    const token = (res.body as { token: Record<string, unknown> }).token;
    assert.deepEqual(token.methods, ['password']);
    assert.equal(token.expires_at, '2026-01-01T01:00:00.000000Z');
    assert.deepEqual((token.project as { name: string }).name, 'demo');
    assert.deepEqual(token.roles, [{ id: 'member', name: 'member' }]);
    const catalog = token.catalog as {
      type: string;
      endpoints: { interface: string; region: string; url: string }[];
    }[];
    const urls = catalog.map((s) => [
      s.type,
      s.endpoints.map((e) => `${e.interface} ${e.region} ${e.url}`),
    ]);
    assert.deepEqual(urls, [
      [
        'identity',
        [
          'public RegionOne http://vpmu.test/identity',
          'internal RegionOne http://vpmu.test/identity',
          'admin RegionOne http://vpmu.test/identity',
        ],
      ],
      [
        'compute',
        [
          'public RegionOne http://vpmu.test/compute/v2.1',
          'internal RegionOne http://vpmu.test/compute/v2.1',
          'admin RegionOne http://vpmu.test/compute/v2.1',
        ],
      ],
      [
        'image',
        [
          'public RegionOne http://vpmu.test/image',
          'internal RegionOne http://vpmu.test/image',
          'admin RegionOne http://vpmu.test/image',
        ],
      ],
      [
        'placement',
        [
          'public RegionOne http://vpmu.test/placement',
          'internal RegionOne http://vpmu.test/placement',
          'admin RegionOne http://vpmu.test/placement',
        ],
      ],
    ]);
  });

  // prettier-ignore
  const REFUSALS = [
    { name: 'a wrong password', body: passwordAuth('member', 'nope', 'demo'), status: 401 },
    { name: 'an unknown user', body: passwordAuth('ghost', 'x', 'demo'), status: 401 },
    { name: 'a project the user has no role on', body: passwordAuth('member', 'member-secret', 'other'), status: 401 },
    { name: 'an unknown project', body: passwordAuth('member', 'member-secret', 'nope'), status: 401 },
    { name: 'a domain scope', body: { auth: { identity: { methods: ['password'], password: { user: { name: 'member', domain: { name: 'Default' }, password: 'member-secret' } } }, scope: { domain: { id: 'default' } } } }, status: 400 },
    { name: 'a method other than password', body: { auth: { identity: { methods: ['token'] } } }, status: 400 },
    { name: 'no auth object', body: { nope: 1 }, status: 400 },
  ] as const;
  for (const row of REFUSALS) {
    it(`refuses ${row.name} with ${row.status} in Keystone's error shape`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/identity/v3/auth/tokens', {
        as: null,
        body: row.body,
      });
      assert.equal(res.status, row.status);
      assert.equal(res.headers.get('X-Subject-Token'), null);
      const error = (res.body as { error: { code: number; title: string; message: string } }).error;
      assert.equal(error.code, row.status);
      assert.equal(error.title, row.status === 401 ? 'Unauthorized' : 'Bad Request');
      assert.equal(
        res.headers.get('X-Compute-Error-Code'),
        row.status === 401 ? 'auth.unauthorized' : 'request.invalid',
      );
    });
  }

  it('refuses malformed JSON with 400', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', '/identity/v3/auth/tokens', {
      as: null,
      rawBody: '{nope',
    });
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body), /Malformed request body/u);
  });

  it("validates a token with GET /v3/auth/tokens; a user may not validate another user's token", async () => {
    const api = await makeTestApi();
    const member = await api.token('member');
    const other = await api.token('other');
    const own = await api.request('GET', '/identity/v3/auth/tokens', {
      as: 'member',
      headers: { 'X-Subject-Token': member },
    });
    assert.equal(own.status, 200);
    assert.equal((own.body as { token: { user: { name: string } } }).token.user.name, 'member');
    const byAdmin = await api.request('GET', '/identity/v3/auth/tokens', {
      as: 'admin',
      headers: { 'X-Subject-Token': other },
    });
    assert.equal(byAdmin.status, 200);
    const foreign = await api.request('GET', '/identity/v3/auth/tokens', {
      as: 'member',
      headers: { 'X-Subject-Token': other },
    });
    assert.equal(foreign.status, 403);
    const bogus = await api.request('GET', '/identity/v3/auth/tokens', {
      as: 'admin',
      headers: { 'X-Subject-Token': 'bogus' },
    });
    assert.equal(bogus.status, 404);
    assert.equal(bogus.headers.get('X-Compute-Error-Code'), 'auth.token_not_found');
  });

  it('revokes a token with DELETE /v3/auth/tokens; it stops working at once', async () => {
    const api = await makeTestApi();
    const member = await api.token('member');
    const other = await api.token('other');
    const foreign = await api.request('DELETE', '/identity/v3/auth/tokens', {
      as: 'member',
      headers: { 'X-Subject-Token': other },
    });
    assert.equal(foreign.status, 403);
    assert.equal((await api.request('GET', '/compute/v2.1/flavors', { as: 'other' })).status, 200);
    const own = await api.request('DELETE', '/identity/v3/auth/tokens', {
      as: 'member',
      headers: { 'X-Subject-Token': member },
    });
    assert.equal(own.status, 204);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { as: { token: member } })).status,
      401,
    );
    const byAdmin = await api.request('DELETE', '/identity/v3/auth/tokens', {
      as: 'admin',
      headers: { 'X-Subject-Token': other },
    });
    assert.equal(byAdmin.status, 204);
    assert.equal(
      (await api.request('GET', '/image/v2/images', { as: { token: other } })).status,
      401,
    );
    const again = await api.request('DELETE', '/identity/v3/auth/tokens', {
      as: 'admin',
      headers: { 'X-Subject-Token': other },
    });
    assert.equal(again.status, 404);
  });

  it('reads a token from the store once, then from memory, until it is revoked', async () => {
    const reads: string[] = [];
    const store = new (class extends MemoryStore {
      override async getToken(id: string) {
        reads.push(id);
        return super.getToken(id);
      }
    })();
    const api = await makeTestApi({ store });
    const token = await api.token('member');
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await api.request('GET', '/compute/v2.1/flavors', { as: { token } })).status,
        200,
      );
    }
    assert.equal(reads.length, 1);
    const revoked = await api.request('DELETE', '/identity/v3/auth/tokens', {
      as: 'admin',
      headers: { 'X-Subject-Token': token },
    });
    assert.equal(revoked.status, 204);
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { as: { token } })).status,
      401,
    );
  });

  it('expires tokens after their lifetime, everywhere', async () => {
    const api = await makeTestApi({ tokenTtlSeconds: 60 });
    const token = await api.token('member');
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { as: { token } })).status,
      200,
    );
    api.clock.set(new Date('2026-01-01T00:01:00.000Z'));
    const expired = await api.request('GET', '/compute/v2.1/flavors', { as: { token } });
    assert.equal(expired.status, 401);
    assert.deepEqual(expired.body, {
      unauthorized: {
        code: 401,
        message: 'The token has expired: it expired at 2026-01-01T00:01:00.000Z.',
      },
    });
    // The expired token was purged from the store when it was refused.
    assert.equal(await api.store.deleteExpiredTokens('2026-01-01T00:01:00.000Z'), 0);
    const image = await api.request('GET', '/image/v2/images', { as: { token } });
    assert.equal(image.status, 401);
  });

  it('refuses compute and image requests without a token, or with an unknown one', async () => {
    const api = await makeTestApi();
    for (const path of ['/compute/v2.1/flavors', '/image/v2/images']) {
      for (const as of [null, { token: 'bogus' }]) {
        const res = await api.request('GET', path, { as });
        assert.equal(res.status, 401, `${path} ${JSON.stringify(as)}`);
        assert.equal(res.headers.get('X-Compute-Error-Code'), 'auth.unauthorized');
      }
    }
  });
});
