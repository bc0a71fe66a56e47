import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { makeTestApi, passwordAuth, type TestApi } from '../testing/api.js';
import { createApi } from './app.js';
import { listen } from './listen.js';

const LOGIN = '/identity/v3/auth/tokens';

async function login(api: TestApi, user: string, password: string) {
  return api.request('POST', LOGIN, { as: null, body: passwordAuth(user, password, 'demo') });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** Polls `check` until it holds; fails after `ms` (generous: the machine may be loaded). */
async function waitFor(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`gave up after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('identity hardening: login', () => {
  it('takes as long for an unknown user as for a known one with a wrong password', async () => {
    // Lockout off: here every login fails, and a locked answer would be quick for both.
    const api = await makeTestApi({ lockout: { failureAttempts: 0, durationSeconds: 0 } });
    const unknown: number[] = [];
    const known: number[] = [];
    await login(api, 'ghost', 'warm-up'); // the dummy hash is made once, on first need
    for (let i = 0; i < 15; i++) {
      for (const [user, times] of [
        ['ghost', unknown],
        ['member', known],
      ] as const) {
        const started = performance.now();
        const res = await login(api, user, `wrong-${i}`);
        times.push(performance.now() - started);
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('X-Compute-Error-Code'), 'auth.unauthorized');
      }
    }
    const [u, k] = [median(unknown), median(known)];
    assert.ok(
      u * 2 >= k && k * 2 >= u,
      `median login of an unknown user ${u.toFixed(1)} ms, of a known user with a wrong password ${k.toFixed(1)} ms: more than a factor of 2 apart`,
    );
  });

  it('locks a user out after lockoutFailureAttempts failures in a row, for lockoutDurationSeconds', async () => {
    const api = await makeTestApi({ lockout: { failureAttempts: 3, durationSeconds: 300 } });
    for (let i = 0; i < 3; i++) assert.equal((await login(api, 'member', 'nope')).status, 401);
    // Locked: even the right password is refused, with Keystone's message, and not checked.
    for (const password of ['member-secret', 'nope']) {
      const locked = await login(api, 'member', password);
      assert.equal(locked.status, 401);
      assert.equal(locked.headers.get('X-Compute-Error-Code'), 'auth.account_locked');
      assert.deepEqual(locked.body, {
        error: {
          code: 401,
          title: 'Unauthorized',
          message: 'The account is locked for user: member.',
        },
      });
    }
    // Other users are not affected.
    assert.equal((await login(api, 'reader', 'reader-secret')).status, 201);
    // 299 s after the last failure still locked; at 300 s the lock is over.
    api.clock.set(new Date(api.clock.now().getTime() + 299_000));
    assert.equal((await login(api, 'member', 'member-secret')).status, 401);
    api.clock.set(new Date(api.clock.now().getTime() + 1_000));
    // The old failures are forgotten: a new one counts from 1 and does not lock again.
    const fresh = await login(api, 'member', 'nope');
    assert.equal(fresh.headers.get('X-Compute-Error-Code'), 'auth.unauthorized');
    assert.equal((await login(api, 'member', 'member-secret')).status, 201);
  });

  it('counts only failures in a row: a successful login starts the count again', async () => {
    const api = await makeTestApi({ lockout: { failureAttempts: 3, durationSeconds: 300 } });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2; i++) assert.equal((await login(api, 'member', 'nope')).status, 401);
      assert.equal((await login(api, 'member', 'member-secret')).status, 201);
    }
  });

  it('locks an unknown user name out exactly as a known one, so lockout does not tell them apart', async () => {
    const api = await makeTestApi({ lockout: { failureAttempts: 3, durationSeconds: 300 } });
    const answers = async (user: string) => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await login(api, user, 'nope');
        const message = (res.body as { error: { message: string } }).error.message;
        seen.push(`${res.status} ${message.replace(user, 'USER')}`);
      }
      return seen;
    };
    const known = await answers('member');
    assert.deepEqual(await answers('ghost'), known);
    assert.equal(known.at(-1), '401 The account is locked for user: USER.');
  });

  it('never locks anyone when lockoutFailureAttempts is 0', async () => {
    const api = await makeTestApi({ lockout: { failureAttempts: 0, durationSeconds: 300 } });
    for (let i = 0; i < 12; i++) assert.equal((await login(api, 'member', 'nope')).status, 401);
    assert.equal((await login(api, 'member', 'member-secret')).status, 201);
  });
});

describe('identity hardening: a store outage is a 503, never a missing token', () => {
  class FailingTokenStore extends MemoryStore {
    failing = false;
    override async getToken(id: string) {
      if (this.failing) throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/vpmu/vpmu.db');
      return super.getToken(id);
    }
    override async recordLoginFailure(subject: string, at: string, forgetUpTo: string) {
      if (this.failing) throw new Error('SQLITE_FULL: database or disk is full');
      return super.recordLoginFailure(subject, at, forgetUpTo);
    }
  }

  it('answers 503 when the token store cannot be read, on every API', async () => {
    const store = new FailingTokenStore();
    const api = await makeTestApi({ store });
    const member = await api.token('member');
    const admin = await api.token('admin');
    // The admin's token is validated (and cached) before the outage; the member's is not.
    assert.equal((await api.request('GET', '/compute/v2.1/flavors', { as: 'admin' })).status, 200);
    store.failing = true;
    const replies = [
      await api.request('GET', '/compute/v2.1/flavors', { as: { token: member } }),
      await api.request('GET', '/image/v2/images', { as: { token: member } }),
      await api.request('GET', LOGIN, {
        as: { token: admin },
        headers: { 'X-Subject-Token': member },
      }),
      await api.request('DELETE', LOGIN, {
        as: { token: admin },
        headers: { 'X-Subject-Token': member },
      }),
    ];
    for (const res of replies) {
      assert.equal(res.status, 503, res.text);
      assert.equal(res.headers.get('X-Compute-Error-Code'), 'auth.unavailable');
      assert.doesNotMatch(res.text, /SQLITE|\/var\/lib/u);
    }
    assert.deepEqual(replies[0]?.body, {
      serviceUnavailable: {
        code: 503,
        message: 'The Keystone service is temporarily unavailable.',
      },
    });
    // The operator sees the cause.
    assert.ok(
      api.logged.some((l) => l.level === 'warn' && String(l.fields.cause).includes('SQLITE_IOERR')),
    );
    // A failed login that cannot be counted is refused with 503 too: the lockout fails closed.
    const uncounted = await login(api, 'member', 'wrong');
    assert.equal(uncounted.status, 503, uncounted.text);
    assert.equal(uncounted.headers.get('X-Compute-Error-Code'), 'auth.unavailable');
    store.failing = false;
    assert.equal(
      (await api.request('GET', '/compute/v2.1/flavors', { as: { token: member } })).status,
      200,
    );
  });
});

describe('identity hardening: links come from the configured public endpoint', () => {
  it('builds the catalog, Location and links from publicEndpoint, whatever the Host header says', async () => {
    const api = await makeTestApi();
    const app = createApi({ ...api.deps, publicEndpoint: () => 'https://cloud.example.com:8774' });
    const res = await app.request('http://evil.example/identity/v3/auth/tokens', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Host: 'evil.example' },
      body: JSON.stringify(passwordAuth('member', 'member-secret', 'demo')),
    });
    assert.equal(res.status, 201);
    const text = await res.text();
    assert.doesNotMatch(text, /evil/u);
    const catalog = (
      JSON.parse(text) as { token: { catalog: { endpoints: { url: string }[] }[] } }
    ).token.catalog.map((s) => s.endpoints[0]?.url);
    assert.deepEqual(catalog, [
      'https://cloud.example.com:8774/identity',
      'https://cloud.example.com:8774/compute/v2.1',
      'https://cloud.example.com:8774/image',
      'https://cloud.example.com:8774/placement',
    ]);
    const token = res.headers.get('X-Subject-Token') ?? '';
    const image = await app.request('http://evil.example/image/v2/images', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Auth-Token': token },
      body: JSON.stringify({ name: 'i', disk_format: 'raw', container_format: 'bare' }),
    });
    assert.equal(image.status, 201);
    assert.match(
      image.headers.get('Location') ?? '',
      /^https:\/\/cloud\.example\.com:8774\/image\/v2\/images\//u,
    );
    const versions = await (await app.request('http://evil.example/compute/v2.1/')).text();
    assert.match(versions, /https:\/\/cloud\.example\.com:8774\/compute\/v2\.1\//u);
    assert.doesNotMatch(versions, /evil/u);
  });
});

describe('identity hardening: request text must be Unicode', () => {
  const LONE = '\ud800';
  // prettier-ignore
  const CASES = [
    { what: 'a flavor name', method: 'POST', path: '/compute/v2.1/flavors', body: { flavor: { name: `f${LONE}`, ram: 512, vcpus: 1, disk: 1 } }, field: 'flavor.name' },
    { what: 'an extra spec value', method: 'POST', path: '/compute/v2.1/flavors/FLAVOR/os-extra_specs', body: { extra_specs: { 'hw:pmu': `true${LONE}` } }, field: 'extra_specs.hw:pmu' },
    { what: 'an extra spec key', method: 'POST', path: '/compute/v2.1/flavors/FLAVOR/os-extra_specs', body: { extra_specs: { [`k${LONE}`]: 'v' } }, field: `extra_specs.k${LONE}` },
    { what: 'an image name', method: 'POST', path: '/image/v2/images', body: { name: `i${LONE}`, disk_format: 'raw', container_format: 'bare' }, field: 'name' },
    { what: 'an image property', method: 'POST', path: '/image/v2/images', body: { name: 'i', hw_pmu: `\udc00` }, field: 'hw_pmu' },
    { what: 'a JSON-patch value', method: 'PATCH', path: '/image/v2/images/IMAGE', body: [{ op: 'add', path: '/x', value: `v${LONE}` }], field: '[0].value' },
    { what: 'a server name', method: 'POST', path: '/compute/v2.1/servers', body: { server: { name: `s${LONE}`, flavorRef: 'FLAVOR', imageRef: 'IMAGE' } }, field: 'server.name' },
  ] as const;

  for (const row of CASES) {
    it(`refuses a lone UTF-16 surrogate in ${row.what} with 400 naming the field, changing nothing`, async () => {
      const api = await makeTestApi();
      const flavor = await api.request('POST', '/compute/v2.1/flavors', {
        body: { flavor: { name: 'small', ram: 512, vcpus: 1, disk: 1 } },
      });
      const flavorId = (flavor.body as { flavor: { id: string } }).flavor.id;
      const image = await api.request('POST', '/image/v2/images', {
        body: { name: 'img', disk_format: 'raw', container_format: 'bare' },
      });
      const imageId = (image.body as { id: string }).id;
      const before = await snapshot(api, flavorId, imageId);
      const res = await api.request(
        row.method,
        row.path.replace('FLAVOR', flavorId).replace('IMAGE', imageId),
        {
          body: row.body,
          ...(row.method === 'PATCH'
            ? { headers: { 'Content-Type': 'application/openstack-images-v2.1-json-patch' } }
            : {}),
        },
      );
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers.get('X-Compute-Error-Code'), 'request.invalid');
      const message = (Object.values(res.body as object)[0] as { message: string }).message;
      assert.ok(message.startsWith(`Invalid input for field/attribute ${row.field}. `), message);
      assert.match(message, /lone UTF-16 surrogate/u);
      assert.deepEqual(await snapshot(api, flavorId, imageId), before);
    });
  }

  async function snapshot(api: TestApi, flavorId: string, imageId: string) {
    return {
      flavors: (await api.store.listFlavors()).map((f) => [f.name, f.extraSpecs]),
      images: (await api.store.listImages()).map((i) => [i.name, i.properties]),
      servers: (await api.store.listServers()).length,
      ids: [flavorId, imageId],
    };
  }

  it('accepts well-formed text outside the BMP (a surrogate pair)', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { name: 'f\u{1F600}', ram: 512, vcpus: 1, disk: 1 } },
    });
    assert.equal(res.status, 200, res.text);
  });
});

describe('identity hardening: faults', () => {
  it('answers an error that is not ours with a generic 500, its detail only in the log', async () => {
    const store = new (class extends MemoryStore {
      override async queryFlavors(): Promise<never> {
        throw Object.assign(
          new Error("ENOENT: no such file or directory, open '/srv/vpmu/state/flavors'"),
          { code: 'ENOENT' },
        );
      }
    })();
    const api = await makeTestApi({ store });
    const res = await api.request('GET', '/compute/v2.1/flavors', { as: 'member' });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'internal.unexpected');
    assert.doesNotMatch(res.text, /ENOENT|\/srv/u);
    assert.match(res.text, /Unexpected API Error/u);
    assert.ok(
      api.logged.some((l) => l.level === 'error' && JSON.stringify(l.fields).includes('/srv/vpmu')),
    );
  });

  it('logs an upload the client abandons as "client closed the request", not as a 500', async (t) => {
    const api = await makeTestApi();
    // Tells when the upload has begun reading the body, so the client leaves mid-body.
    let bytesRead = 0;
    const files = api.deps.files;
    const watched = {
      ...api.deps,
      files: {
        write: (imageId: string, chunks: AsyncIterable<Uint8Array>) =>
          files.write(
            imageId,
            (async function* () {
              for await (const chunk of chunks) {
                bytesRead += chunk.length;
                yield chunk;
              }
            })(),
          ),
        read: (location: string) => files.read(location),
        delete: (location: string) => files.delete(location),
        sweep: (keep: ReadonlySet<string>) => files.sweep(keep),
      },
    };
    const server = await listen(createApi(watched), '127.0.0.1', 0);
    t.after(() => server.close());
    const created = await api.request('POST', '/image/v2/images', {
      as: 'member',
      body: { name: 'big', disk_format: 'raw', container_format: 'bare' },
    });
    const id = (created.body as { id: string }).id;
    const token = await api.token('member');
    const socket = connect(server.port, '127.0.0.1');
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      `PUT /image/v2/images/${id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${token}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 10485760\r\n\r\n',
    );
    socket.write(Buffer.alloc(64 * 1024, 1));
    await waitFor('the upload to start reading the body', () => bytesRead > 0);
    socket.destroy();
    const aboutUpload = () =>
      api.logged.filter(
        (l) => typeof l.fields.path === 'string' && l.fields.path.endsWith(`/${id}/file`),
      );
    await waitFor('the abandoned upload to be logged', () =>
      aboutUpload().some((l) => l.message === 'request'),
    );
    const about = aboutUpload();
    assert.ok(
      about.some((l) => l.level === 'info' && l.message === 'client closed the request'),
      JSON.stringify(about),
    );
    assert.ok(
      !about.some((l) => l.level === 'error' || l.fields.status === 500),
      JSON.stringify(about),
    );
    assert.equal((await api.store.getImage(id))?.status, 'queued');
  });
});
