import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const work = mkdtempSync(path.join(tmpdir(), 'vpmu-keypairs-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Runs a local tool, bounded; undefined when it is not installed. */
function tool(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, {
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// A fixed ed25519 key and its MD5 fingerprint (computed from its blob), for hosts without ssh-keygen.
const FIXED_BLOB = Buffer.concat([
  Buffer.from([0, 0, 0, 11]),
  Buffer.from('ssh-ed25519'),
  Buffer.from([0, 0, 0, 32]),
  Buffer.alloc(32, 7),
]);
const FIXED_KEY = `ssh-ed25519 ${FIXED_BLOB.toString('base64')} fixed@test`;
const FIXED_FP = createHash('md5')
  .update(FIXED_BLOB)
  .digest('hex')
  .replace(/(..)(?!$)/gu, '$1:');

/** Key pairs made with ssh-keygen, with the fingerprint ssh-keygen reports; else the fixed one. */
function sshKeys(): { type: string; publicKey: string; fingerprint: string }[] {
  const keys: { type: string; publicKey: string; fingerprint: string }[] = [];
  for (const [type, bits] of [
    ['rsa', '2048'],
    ['ed25519', ''],
    ['ecdsa', '384'],
  ] as const) {
    const file = path.join(work, `id_${type}`);
    const made = tool('ssh-keygen', [
      '-q',
      '-t',
      type,
      ...(bits === '' ? [] : ['-b', bits]),
      '-N',
      '',
      '-C',
      'test',
      '-f',
      file,
    ]);
    if (made === undefined) return [{ type: 'fixed', publicKey: FIXED_KEY, fingerprint: FIXED_FP }];
    const line = tool('ssh-keygen', ['-l', '-E', 'md5', '-f', `${file}.pub`]) ?? '';
    const fingerprint = /MD5:([0-9a-f:]+)/u.exec(line)?.[1] ?? 'unparsed';
    keys.push({ type, publicKey: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint });
  }
  return keys;
}

async function create(
  api: TestApi,
  keypair: Record<string, unknown>,
  version = '2.2',
  as: 'member' | 'reader' | 'other' | 'admin' = 'member',
) {
  return api.request('POST', '/compute/v2.1/os-keypairs', {
    as,
    headers: mv(version),
    body: { keypair },
  });
}

describe('os-keypairs API', () => {
  it('imports OpenSSH keys with the fingerprint ssh-keygen reports', async () => {
    const api = await makeTestApi();
    for (const key of sshKeys()) {
      const res = await create(api, { name: `k-${key.type}`, public_key: key.publicKey });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const kp = (res.body as { keypair: Record<string, unknown> }).keypair;
      assert.deepEqual(Object.keys(kp).sort(), [
        'fingerprint',
        'name',
        'public_key',
        'type',
        'user_id',
      ]);
      assert.equal(kp.fingerprint, key.fingerprint, key.type);
      assert.equal(kp.type, 'ssh');
    }
  });

  it("answers Nova's status codes and keys for each microversion", async () => {
    const api = await makeTestApi();
    const cases = [
      { version: '2.1', created: 200, deleted: 202, type: false },
      { version: '2.2', created: 201, deleted: 204, type: true },
      { version: '2.92', created: 201, deleted: 204, type: true },
    ];
    for (const { version, created, deleted, type } of cases) {
      const res = await create(api, { name: 'k1', public_key: FIXED_KEY }, version);
      assert.equal(res.status, created, version);
      const show = await api.request('GET', '/compute/v2.1/os-keypairs/k1', {
        as: 'member',
        headers: mv(version),
      });
      assert.equal(show.status, 200);
      const shown = (show.body as { keypair: Record<string, unknown> }).keypair;
      assert.deepEqual(
        Object.keys(shown).sort(),
        [
          'created_at',
          'deleted',
          'deleted_at',
          'fingerprint',
          'id',
          'name',
          'public_key',
          ...(type ? ['type'] : []),
          'updated_at',
          'user_id',
        ].sort(),
        version,
      );
      assert.equal(shown.fingerprint, FIXED_FP);
      assert.equal(typeof shown.id, 'number');
      const list = await api.request('GET', '/compute/v2.1/os-keypairs', {
        as: 'member',
        headers: mv(version),
      });
      assert.deepEqual(list.body, {
        keypairs: [
          {
            keypair: {
              name: 'k1',
              public_key: FIXED_KEY,
              fingerprint: FIXED_FP,
              ...(type ? { type: 'ssh' } : {}),
            },
          },
        ],
      });
      const del = await api.request('DELETE', '/compute/v2.1/os-keypairs/k1', {
        as: 'member',
        headers: mv(version),
      });
      assert.equal(del.status, deleted, version);
    }
  });

  it('generates an RSA key pair below 2.92 and returns its private key once', async () => {
    const api = await makeTestApi();
    const res = await create(api, { name: 'gen' }, '2.91');
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const kp = (res.body as { keypair: Record<string, string> }).keypair;
    assert.match(kp.private_key ?? '', /^-----BEGIN RSA PRIVATE KEY-----/u);
    assert.match(kp.public_key ?? '', /^ssh-rsa [A-Za-z0-9+/=]+ Generated-by-vpmu$/u);
    const pub = path.join(work, 'gen.pub');
    const priv = path.join(work, 'gen');
    execFileSync('sh', ['-c', `umask 077; cat > ${priv}`], {
      input: kp.private_key,
      timeout: 10_000,
    });
    execFileSync('sh', ['-c', `cat > ${pub}`], { input: kp.public_key, timeout: 10_000 });
    const line = tool('ssh-keygen', ['-l', '-E', 'md5', '-f', pub]);
    if (line !== undefined) assert.match(line, new RegExp(`MD5:${kp.fingerprint}`, 'u'));
    const derived = tool('ssh-keygen', ['-y', '-f', priv]);
    if (derived !== undefined) {
      assert.equal(derived.trim().split(' ')[1], kp.public_key?.split(' ')[1]);
    }
    const show = await api.request('GET', '/compute/v2.1/os-keypairs/gen', { as: 'member' });
    assert.equal(
      (show.body as { keypair: Record<string, unknown> }).keypair.private_key,
      undefined,
    );
    const refused = await create(api, { name: 'gen2' }, '2.92');
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /'public_key' is a required property/u);
  });

  it('imports an X.509 certificate from 2.2 with the SHA-1 of its DER', async () => {
    const api = await makeTestApi();
    const certFile = path.join(work, 'cert.pem');
    const made = tool('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      path.join(work, 'cert.key'),
      '-out',
      certFile,
      '-subj',
      '/CN=vpmu-test',
      '-days',
      '1',
    ]);
    if (made === undefined) return;
    const pem = readFileSync(certFile, 'utf8');
    const fp = tool('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha1']) ?? '';
    const expected = (/=([0-9A-F:]+)/u.exec(fp)?.[1] ?? 'unparsed').toLowerCase();
    const res = await create(api, { name: 'cert', type: 'x509', public_key: pem });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const kp = (res.body as { keypair: Record<string, unknown> }).keypair;
    assert.equal(kp.fingerprint, expected);
    assert.equal(kp.type, 'x509');
    const bad = await create(api, { name: 'c2', type: 'x509', public_key: 'not a cert' });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /failed to generate X509 fingerprint/u);
    const before22 = await create(api, { name: 'c3', type: 'x509', public_key: pem }, '2.1');
    assert.equal(before22.status, 400);
  });

  it('generates a self-signed X.509 certificate for type x509 below 2.92', async () => {
    const api = await makeTestApi();
    const res = await create(api, { name: 'gen-cert', type: 'x509' }, '2.91');
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const kp = (res.body as { keypair: Record<string, string> }).keypair;
    assert.equal(kp.type, 'x509');
    assert.match(kp.private_key ?? '', /^-----BEGIN PRIVATE KEY-----/u);
    const cert = new X509Certificate(kp.public_key ?? '');
    assert.equal(cert.subject, `CN=${kp.user_id ?? ''}`);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.checkPrivateKey(createPrivateKey(kp.private_key ?? '')), true);
    assert.equal(kp.fingerprint, cert.fingerprint.toLowerCase());
    const certFile = path.join(work, 'generated.pem');
    execFileSync('sh', ['-c', `cat > ${certFile}`], { input: kp.public_key, timeout: 10_000 });
    const checked = tool('openssl', ['verify', '-CAfile', certFile, certFile]);
    if (checked !== undefined) assert.match(checked, /OK/u);
  });

  it('refuses bad keys, names and fields with a 400 naming them', async () => {
    const api = await makeTestApi();
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      [
        'garbage key',
        { name: 'a', public_key: 'ssh-rsa not-base64!' },
        '2.2',
        /failed to generate fingerprint/u,
      ],
      ['empty key', { name: 'a', public_key: '' }, '2.2', /failed to generate fingerprint/u],
      [
        'too big a key',
        { name: 'a', public_key: `ssh-rsa ${'A'.repeat(2000)}Q` },
        '2.2',
        /failed to generate fingerprint/u,
      ],
      [
        'wrong blob type',
        { name: 'a', public_key: FIXED_KEY.replace('ssh-ed25519', 'ssh-rsa') },
        '2.2',
        /failed to generate fingerprint/u,
      ],
      ['empty name', { name: '', public_key: FIXED_KEY }, '2.2', /field\/attribute name/u],
      ['long name', { name: 'n'.repeat(256), public_key: FIXED_KEY }, '2.2', /is too long/u],
      ['unsafe name', { name: 'a/b', public_key: FIXED_KEY }, '2.2', /does not match/u],
      ['@ before 2.92', { name: 'me@host', public_key: FIXED_KEY }, '2.91', /does not match/u],
      [
        'bad type',
        { name: 'a', type: 'pgp', public_key: FIXED_KEY },
        '2.2',
        /field\/attribute type/u,
      ],
      [
        'type before 2.2',
        { name: 'a', type: 'ssh', public_key: FIXED_KEY },
        '2.1',
        /'type' was unexpected/u,
      ],
      [
        'user_id before 2.10',
        { name: 'a', user_id: 'x', public_key: FIXED_KEY },
        '2.9',
        /'user_id' was unexpected/u,
      ],
      [
        'unknown field',
        { name: 'a', colour: 'red', public_key: FIXED_KEY },
        '2.2',
        /'colour' was unexpected/u,
      ],
    ];
    for (const [what, body, version, message] of cases) {
      const res = await create(api, body, version);
      assert.equal(res.status, 400, what);
      assert.match(JSON.stringify(res.body), message, what);
    }
    const at = await create(api, { name: 'me@host.example', public_key: FIXED_KEY }, '2.92');
    assert.equal(at.status, 201, JSON.stringify(at.body));
  });

  it("refuses a duplicate name with Nova's 409 and keeps users apart", async () => {
    const api = await makeTestApi();
    assert.equal((await create(api, { name: 'k1', public_key: FIXED_KEY })).status, 201);
    const dup = await create(api, { name: 'k1', public_key: FIXED_KEY });
    assert.equal(dup.status, 409);
    assert.match(JSON.stringify(dup.body), /Key pair 'k1' already exists\./u);
    // Another user has its own namespace and cannot see or delete the first user's key pair.
    assert.equal(
      (await create(api, { name: 'k1', public_key: FIXED_KEY }, '2.2', 'other')).status,
      201,
    );
    for (const method of ['GET', 'DELETE']) {
      const res = await api.request(method, '/compute/v2.1/os-keypairs/nope', { as: 'other' });
      assert.equal(res.status, 404, method);
      assert.match(JSON.stringify(res.body), /Keypair nope not found for user/u);
    }
    // A reader reads its own key pairs and changes none.
    const reader = await create(api, { name: 'r1', public_key: FIXED_KEY }, '2.2', 'reader');
    assert.equal(reader.status, 403);
    const list = await api.request('GET', '/compute/v2.1/os-keypairs', { as: 'reader' });
    assert.deepEqual(list.body, { keypairs: [] });
  });

  it('lets an admin act for another user with user_id from 2.10, and nobody else', async () => {
    const api = await makeTestApi();
    const mine = await create(api, { name: 'k1', public_key: FIXED_KEY });
    const userId = (mine.body as { keypair: { user_id: string } }).keypair.user_id;
    const q = `?user_id=${userId}`;
    const asAdmin = await api.request('GET', `/compute/v2.1/os-keypairs/k1${q}`, {
      as: 'admin',
      headers: mv('2.10'),
    });
    assert.equal(asAdmin.status, 200);
    const other = await api.request('GET', `/compute/v2.1/os-keypairs${q}`, {
      as: 'other',
      headers: mv('2.10'),
    });
    assert.equal(other.status, 403);
    const made = await create(
      api,
      { name: 'for-member', user_id: userId, public_key: FIXED_KEY },
      '2.10',
      'admin',
    );
    assert.equal(made.status, 201);
    assert.equal((made.body as { keypair: { user_id: string } }).keypair.user_id, userId);
    const unknown = await create(
      api,
      { name: 'x', user_id: 'no-such-user', public_key: FIXED_KEY },
      '2.10',
      'admin',
    );
    assert.equal(unknown.status, 400);
    const list = await api.request('GET', '/compute/v2.1/os-keypairs', { as: 'member' });
    assert.deepEqual(
      (list.body as { keypairs: { keypair: { name: string } }[] }).keypairs.map(
        (k) => k.keypair.name,
      ),
      ['for-member', 'k1'],
    );
    const del = await api.request('DELETE', `/compute/v2.1/os-keypairs/for-member${q}`, {
      as: 'admin',
      headers: mv('2.10'),
    });
    assert.equal(del.status, 204);
  });

  it('pages with limit and marker from 2.35, with a next link on a full page', async () => {
    const api = await makeTestApi();
    for (const name of ['c', 'a', 'b']) await create(api, { name, public_key: FIXED_KEY });
    const page = async (query: string, version = '2.35') =>
      api.request('GET', `/compute/v2.1/os-keypairs${query}`, {
        as: 'member',
        headers: mv(version),
      });
    const names = (res: { body: unknown }) =>
      (res.body as { keypairs: { keypair: { name: string } }[] }).keypairs.map(
        (k) => k.keypair.name,
      );
    const first = await page('?limit=2');
    assert.deepEqual(names(first), ['a', 'b']);
    assert.deepEqual((first.body as { keypairs_links: unknown }).keypairs_links, [
      { rel: 'next', href: 'http://vpmu.test/compute/v2.1/os-keypairs?limit=2&marker=b' },
    ]);
    const second = await page('?limit=2&marker=b');
    assert.deepEqual(names(second), ['c']);
    assert.equal((second.body as Record<string, unknown>).keypairs_links, undefined);
    assert.equal((await page('?marker=zzz')).status, 400);
    assert.equal((await page('?limit=x')).status, 400);
    // Before 2.35 paging parameters are ignored, as Nova's schema allows any.
    assert.deepEqual(names(await page('?limit=1', '2.34')), ['a', 'b', 'c']);
  });

  it("enforces Nova's default key_pairs quota of 100 per user", async () => {
    const api = await makeTestApi();
    for (let i = 0; i < 100; i += 1) {
      assert.equal((await create(api, { name: `k${i}`, public_key: FIXED_KEY })).status, 201);
    }
    const over = await create(api, { name: 'k100', public_key: FIXED_KEY });
    assert.equal(over.status, 403);
    assert.match(JSON.stringify(over.body), /Quota exceeded, too many key pairs\./u);
    assert.equal(
      (await create(api, { name: 'k0', public_key: FIXED_KEY }, '2.2', 'other')).status,
      201,
    );
  });
});
