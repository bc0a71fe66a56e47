/**
 * `vpmu serve` with `databaseUrl`: its records in PostgreSQL. Two services started together on a
 * new database migrate it once, and a record one writes the other reads.
 *
 * Needs VPMU_TEST_DATABASE_URL (`.ci/run` starts a private cluster with scripts/postgres.sh and
 * sets it); without it these tests skip locally and fail in CI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { requireEnv } from '../testing/tools.js';
import { loadServeConfig, startService, type RunningService } from './serve.js';

const { value: DATABASE_URL, skip: SKIP } = requireEnv(
  'VPMU_TEST_DATABASE_URL',
  'bash scripts/postgres.sh start DIR prints one; .ci/run sets it',
);

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-serve-pg-'));
const database = `serve_${String(process.pid)}`;

/** Runs one statement on the server's maintenance connection (the URL's database). */
async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (SKIP === false) await admin(`drop database if exists ${database} with (force)`);
});

async function token(url: string): Promise<string> {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: 'pw' } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
  });
  assert.equal(res.status, 201);
  return res.headers.get('X-Subject-Token') ?? '';
}

describe('vpmu serve on PostgreSQL', { skip: SKIP, timeout: 180_000 }, () => {
  it('two services started together on a new database share its records', async () => {
    await admin(`create database ${database} template template0 lc_collate 'C' lc_ctype 'C'`);
    const url = new URL(DATABASE_URL ?? '');
    url.pathname = `/${database}`;
    const config = (name: string) =>
      loadServeConfig(
        ['--port', '0', '--state-dir', path.join(dir, name)],
        { VPMU_ADMIN_PASSWORD: 'pw', VPMU_DATABASE_URL: url.toString() },
        () => '',
      );
    const services: RunningService[] = [];
    try {
      const started = await Promise.allSettled([
        startService(config('a')),
        startService(config('b')),
      ]);
      for (const s of started) if (s.status === 'fulfilled') services.push(s.value);
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const [a, b] = services;
      assert.ok(a !== undefined && b !== undefined);
      const created = await fetch(`${a.url}/compute/v2.1/flavors`, {
        method: 'POST',
        headers: { 'X-Auth-Token': await token(a.url), 'Content-Type': 'application/json' },
        body: JSON.stringify({
          flavor: { name: 'shared', id: 'shared', ram: 64, vcpus: 1, disk: 0 },
        }),
      });
      assert.equal(created.status, 200);
      const seen = await fetch(`${b.url}/compute/v2.1/flavors/shared`, {
        headers: { 'X-Auth-Token': await token(b.url) },
      });
      assert.equal(seen.status, 200);
    } finally {
      for (const service of services) await service.close();
    }
  });
});

describe('loadServeConfig() databaseUrl', () => {
  it('takes VPMU_DATABASE_URL over the config file; refuses what is not a postgres:// URL', () => {
    const file = JSON.stringify({ databaseUrl: 'postgres://u@file/db' });
    const pw = { VPMU_ADMIN_PASSWORD: 'pw' };
    assert.equal(loadServeConfig([], {}, () => '').databaseUrl, undefined);
    assert.equal(
      loadServeConfig(['--config', 'c.json'], pw, () => file).databaseUrl,
      'postgres://u@file/db',
    );
    assert.equal(
      loadServeConfig(
        ['--config', 'c.json'],
        { ...pw, VPMU_DATABASE_URL: 'postgresql://u@env/db' },
        () => file,
      ).databaseUrl,
      'postgresql://u@env/db',
    );
    assert.throws(
      () => loadServeConfig([], { VPMU_DATABASE_URL: 'mysql://u:secret@h/db' }, () => ''),
      (error: unknown) =>
        error instanceof Error &&
        error.message.includes('databaseUrl "mysql://u:***@h/db"') &&
        !error.message.includes('secret'),
    );
  });
});
