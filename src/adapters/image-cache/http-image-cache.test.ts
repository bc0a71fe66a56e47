/**
 * The compute's image cache against a real HTTP server (node:http) playing vpmu's identity and
 * image APIs: hits, misses, one download for concurrent builds, checksum and size mismatches,
 * re-authentication on a 401 and before expiry, failures, and eviction by age on an injected clock.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ComputeError } from '../../errors/index.js';
import { pollUntil } from '../../testing/processes.js';
import { HttpImageCache } from './http-image-cache.js';

const root = mkdtempSync(path.join(tmpdir(), 'vpmu-image-cache-'));
const PASSWORD = 'cache-test-password';

interface FakeImage {
  data: Buffer;
  /** What the record says; the real hashes of `data` unless a test lies. */
  record: Record<string, unknown>;
}

/** The fake API: its images, tokens and what it was asked. */
const api = {
  images: new Map<string, FakeImage>(),
  tokens: new Set<string>(),
  auths: 0,
  downloads: new Map<string, number>(),
  /** Token lifetime the next auth answers with (ms). */
  ttlMs: 3_600_000,
  /** Held downloads wait for this before sending their bytes. */
  gate: undefined as Promise<void> | undefined,
  /** When set, a download sends its data a byte at a time, this many ms apart. */
  dripMs: undefined as number | undefined,
  requests: [] as string[],
};
let server: Server;
let url = '';

function image(id: string, bytes: string, lie: Record<string, unknown> = {}): Buffer {
  const data = Buffer.from(bytes);
  api.images.set(id, {
    data,
    record: {
      id,
      status: 'active',
      disk_format: 'raw',
      size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
      ...lie,
    },
  });
  return data;
}

before(async () => {
  server = createServer((request, response) => {
    const route = request.url ?? '';
    api.requests.push(`${request.method ?? ''} ${route}`);
    if (request.method === 'POST' && route === '/identity/v3/auth/tokens') {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const auth = JSON.parse(body) as {
          auth: { identity: { password: { user: { name: string; password: string } } } };
        };
        const user = auth.auth.identity.password.user;
        if (user.name !== 'admin' || user.password !== PASSWORD) {
          response.writeHead(401, { 'content-type': 'application/json' });
          response.end('{"error":{"code":401}}');
          return;
        }
        api.auths += 1;
        const token = `token-${String(api.auths)}`;
        api.tokens.add(token);
        response.writeHead(201, { 'content-type': 'application/json', 'x-subject-token': token });
        response.end(
          JSON.stringify({
            token: { expires_at: new Date(Date.UTC(2030, 0, 1) + api.ttlMs).toISOString() },
          }),
        );
      });
      return;
    }
    const match = /^\/image\/v2\/images\/([^/]+)(\/file)?$/u.exec(route);
    if (!api.tokens.has(String(request.headers['x-auth-token']))) {
      response.writeHead(401);
      response.end();
      return;
    }
    const found = match === null ? undefined : api.images.get(match[1] ?? '');
    if (match === null || found === undefined) {
      response.writeHead(404);
      response.end('No image found');
      return;
    }
    if (match[2] === undefined) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(found.record));
      return;
    }
    const id = match[1] ?? '';
    api.downloads.set(id, (api.downloads.get(id) ?? 0) + 1);
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.write(found.data.subarray(0, 1));
    const drip = api.dripMs;
    if (drip !== undefined) {
      let sent = 1;
      const timer = setInterval(() => {
        if (sent < found.data.length) response.write(found.data.subarray(sent, ++sent));
        else {
          clearInterval(timer);
          response.end();
        }
      }, drip);
      return;
    }
    void (api.gate ?? Promise.resolve()).then(() => {
      response.end(found.data.subarray(1));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}/`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

let dirs = 0;
/** A fresh cache (its own directory) on a clock the test moves. */
function cache(password = PASSWORD, timeoutMs = 10_000) {
  dirs += 1;
  const dir = path.join(root, `cache-${String(dirs)}`);
  const clock = { at: Date.UTC(2030, 0, 1), now: () => new Date(clock.at) };
  return {
    dir,
    clock,
    cache: new HttpImageCache({
      dir,
      apiUrl: url,
      credentials: { userName: 'admin', password, projectName: 'admin' },
      clock,
      timeoutMs,
    }),
  };
}

const ID = {
  a: '11111111-1111-4111-8111-111111111111',
  b: '22222222-2222-4222-8222-222222222222',
  c: '33333333-3333-4333-8333-333333333333',
  bad: '44444444-4444-4444-8444-444444444444',
  short: '55555555-5555-4555-8555-555555555555',
  md5: '66666666-6666-4666-8666-666666666666',
  none: '77777777-7777-4777-8777-777777777777',
  missing: '88888888-8888-4888-8888-888888888888',
  slow: '99999999-9999-4999-8999-999999999999',
};

/** The files in `dir`; none when it was never made. */
function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Asserts `promise` rejects with a ComputeError of `code` whose message has every `part`. */
async function rejects(promise: Promise<unknown>, code: string, parts: string[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ComputeError, String(error));
    assert.equal(error.code, code);
    for (const part of parts) assert.ok(error.message.includes(part), error.message);
    return true;
  });
}

describe('HttpImageCache', () => {
  it('a miss downloads and verifies the data once; a hit asks the API for nothing', async () => {
    const data = image(ID.a, 'image a data');
    const { cache: c, dir } = cache();
    const first = await c.acquire(ID.a);
    assert.equal(first.path, path.join(dir, ID.a));
    assert.deepEqual(readFileSync(first.path), data);
    first.release();
    const asked = api.requests.length;
    const second = await c.acquire(ID.a);
    assert.equal(second.path, first.path);
    assert.equal(api.requests.length, asked, 'a hit makes no request');
    assert.equal(api.downloads.get(ID.a), 1);
    second.release();
    assert.deepEqual(filesIn(dir), [ID.a]);
  });

  it('takes a download longer than its timeout while the data keeps coming', async () => {
    const data = image(ID.slow, 'a slow image');
    // 12 bytes, one every 150 ms: ~1.8 s in all, never 1 s without data.
    api.dripMs = 150;
    try {
      const { cache: c } = cache(PASSWORD, 1000);
      const entry = await c.acquire(ID.slow);
      assert.deepEqual(readFileSync(entry.path), data);
      entry.release();
    } finally {
      api.dripMs = undefined;
    }
  });

  it('concurrent builds of one image download it once', async () => {
    image(ID.b, 'image b data, fetched by five builds at once');
    const { cache: c } = cache();
    let open: () => void = () => undefined;
    api.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const builds = Array.from({ length: 5 }, () => c.acquire(ID.b));
    // The download has begun (its first byte sent, the rest held): the others join it.
    await pollUntil(
      'the download has begun',
      () => api.downloads.get(ID.b) ?? 0,
      (n) => n > 0,
    );
    open();
    api.gate = undefined;
    const held = await Promise.all(builds);
    assert.equal(new Set(held.map((h) => h.path)).size, 1);
    assert.equal(api.downloads.get(ID.b), 1);
    for (const h of held) h.release();
  });

  const mismatches = [
    {
      name: 'a wrong os_hash_value',
      id: ID.bad,
      lie: { os_hash_value: 'f'.repeat(128) },
      parts: [ID.bad, 'os_hash_value (sha512)', `expected ${'f'.repeat(128)}`, 'got '],
    },
    {
      name: 'a wrong size',
      id: ID.short,
      lie: { size: 999 },
      parts: [ID.short, 'size expected 999 bytes, got 12', 'expected ', 'got '],
    },
    {
      name: 'a wrong md5 checksum when the record has no os_hash',
      id: ID.md5,
      lie: { os_hash_algo: null, os_hash_value: null, checksum: '0'.repeat(32) },
      parts: [ID.md5, 'checksum (md5)', `expected ${'0'.repeat(32)}`],
    },
    {
      name: 'no checksum at all',
      id: ID.none,
      lie: { os_hash_algo: null, os_hash_value: null, checksum: null },
      parts: [ID.none, 'no checksum'],
    },
  ];
  for (const { name, id, lie, parts } of mismatches) {
    it(`refuses data that does not match its record: ${name}, leaving no file`, async () => {
      image(id, 'twelve bytes', lie);
      const { cache: c, dir } = cache();
      await rejects(c.acquire(id), 'image.checksum_mismatch', parts);
      assert.deepEqual(filesIn(dir), []);
      // Nothing cached: the next build tries again.
      await rejects(c.acquire(id), 'image.checksum_mismatch', [id]);
    });
  }

  it('verifies with the md5 checksum when the record has no os_hash', async () => {
    const id = '99999999-9999-4999-8999-999999999999';
    const data = image(id, 'md5 only', { os_hash_algo: null, os_hash_value: null });
    const { cache: c } = cache();
    const held = await c.acquire(id);
    assert.deepEqual(readFileSync(held.path), data);
    held.release();
  });

  it('a 401 (token revoked) gets a new token and the download goes on', async () => {
    image(ID.c, 'image c');
    const { cache: c } = cache();
    (await c.acquire(ID.a)).release();
    const auths = api.auths;
    api.tokens.clear();
    const held = await c.acquire(ID.c);
    assert.equal(api.auths, auths + 1);
    held.release();
  });

  it('keeps its token until shortly before it expires, then asks for another', async () => {
    const { cache: c, clock } = cache();
    const auths = api.auths;
    (await c.acquire(ID.a)).release();
    (await c.acquire(ID.b)).release();
    assert.equal(api.auths, auths + 1, 'one token for both downloads');
    clock.at += 3_600_000 - 30_000; // within the last minute of its hour
    (await c.acquire(ID.c)).release();
    assert.equal(api.auths, auths + 2);
  });

  it('fails clearly, caching nothing, when the image or the credentials are refused', async () => {
    const { cache: c, dir } = cache();
    await rejects(c.acquire(ID.missing), 'host.image_download_failed', [
      ID.missing,
      'answered 404',
    ]);
    const refused = cache('wrong password');
    await rejects(refused.cache.acquire(ID.a), 'host.image_download_failed', [
      ID.a,
      'refused user admin',
    ]);
    assert.deepEqual(filesIn(dir), []);
  });

  it('fails clearly when the image API cannot be reached', async () => {
    const dir = path.join(root, 'unreachable');
    const c = new HttpImageCache({
      dir,
      apiUrl: 'http://127.0.0.1:1',
      credentials: { userName: 'admin', password: PASSWORD, projectName: 'admin' },
    });
    await rejects(c.acquire(ID.a), 'host.image_download_failed', ['cannot be reached']);
  });

  it('evicts entries unused for the maximum age, never one held or named by a guest', async () => {
    const { cache: c, clock, dir } = cache();
    const maxAge = 3600;
    (await c.acquire(ID.a)).release();
    const held = await c.acquire(ID.b);
    (await c.acquire(ID.c)).release();
    const stale = path.join(dir, `${ID.a}.6a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d.partial`);
    writeFileSync(stale, 'half a download from before a crash');
    clock.at += (maxAge - 1) * 1000;
    assert.deepEqual(await c.evict(maxAge, new Set()), [stale], 'young entries stay');
    // a is used again now: its age starts again.
    (await c.acquire(ID.a)).release();
    clock.at += 2000;
    const kernel = path.join(dir, ID.c);
    assert.deepEqual(await c.evict(maxAge, new Set([kernel])), [], 'b held, c named, a young');
    held.release();
    assert.deepEqual(await c.evict(maxAge, new Set([kernel])), [path.join(dir, ID.b)]);
    clock.at += maxAge * 1000;
    assert.deepEqual(await c.evict(maxAge, new Set()), [path.join(dir, ID.a), kernel]);
    assert.deepEqual(filesIn(dir), []);
    const before = api.downloads.get(ID.a) ?? 0;
    (await c.acquire(ID.a)).release();
    assert.equal(api.downloads.get(ID.a), before + 1, 'an evicted image is downloaded again');
  });
});
