import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import { passwordAuth } from '../testing/api.js';
import { loadServeConfig, startService, type RunningService } from './serve.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-serve-identity-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const withFile = (settings: Record<string, unknown>) => () => JSON.stringify(settings);

function configWith(settings: Record<string, unknown>, stateDir = path.join(dir, 'unused')) {
  return loadServeConfig(
    ['--port', '0', '--state-dir', stateDir, '--config', 'c.json'],
    { VPMU_ADMIN_PASSWORD: 'pw' },
    withFile(settings),
  );
}

/** POSTs a login over real HTTP with the given Host header; bounded by a 60 s timeout. */
function loginAs(
  service: RunningService,
  user: string,
  password: string,
  host: string,
): Promise<{ status: number; body: string }> {
  const body = JSON.stringify(passwordAuth(user, password, 'admin'));
  return new Promise((resolve, reject) => {
    const req = request(
      `${service.url}/identity/v3/auth/tokens`,
      {
        method: 'POST',
        headers: { Host: host, 'Content-Type': 'application/json' },
        timeout: 60_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('login timed out after 60 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('vpmu serve: identity settings', () => {
  it('reads publicEndpoint, lockoutFailureAttempts and lockoutDurationSeconds, with their defaults', () => {
    const defaults = configWith({});
    assert.equal(defaults.publicEndpoint, undefined);
    assert.deepEqual(defaults.lockout, { failureAttempts: 10, durationSeconds: 300 });
    const set = configWith({
      publicEndpoint: 'https://cloud.example.com:8774/vpmu/',
      lockoutFailureAttempts: 0,
      lockoutDurationSeconds: 60,
    });
    assert.equal(set.publicEndpoint, 'https://cloud.example.com:8774/vpmu');
    assert.deepEqual(set.lockout, { failureAttempts: 0, durationSeconds: 60 });
  });

  for (const [key, value] of [
    ['publicEndpoint', 'ftp://cloud.example.com'],
    ['publicEndpoint', 'cloud.example.com:8774'],
    ['publicEndpoint', 'https://cloud.example.com/?x=1'],
    ['publicEndpoint', 'https://user:pw@cloud.example.com'],
    ['publicEndpoint', 8774],
    ['lockoutFailureAttempts', -1],
    ['lockoutFailureAttempts', 2.5],
    ['lockoutDurationSeconds', '300'],
  ] as const) {
    it(`refuses ${key} ${JSON.stringify(value)}, naming the setting and the value`, () => {
      assert.throws(
        () => configWith({ [key]: value }),
        (err: unknown) =>
          err instanceof ComputeError &&
          err.code === 'input.invalid' &&
          err.message.includes(`"${key}"`) &&
          err.message.includes(JSON.stringify(value)),
      );
    });
  }

  it('builds the catalog from the listening address by default, never from the Host header', async () => {
    const service = await startService(configWith({}, path.join(dir, 'state-endpoint')));
    try {
      const res = await loginAs(service, 'admin', 'pw', 'evil.example:1');
      assert.equal(res.status, 201, res.body);
      assert.doesNotMatch(res.body, /evil/u);
      const token = JSON.parse(res.body) as {
        token: { catalog: { type: string; endpoints: { url: string }[] }[] };
      };
      assert.deepEqual(
        token.token.catalog.map((s) => s.endpoints[0]?.url),
        [
          `${service.url}/identity`,
          `${service.url}/compute/v2.1`,
          `${service.url}/image`,
          `${service.url}/placement`,
        ],
      );
      assert.match(service.url, /^http:\/\/127\.0\.0\.1:\d+$/u);
    } finally {
      await service.close();
    }
  });

  it('keeps a lockout across a restart (the counts live in vpmu.db)', async () => {
    const stateDir = path.join(dir, 'state-lockout');
    const config = configWith({ lockoutFailureAttempts: 2, lockoutDurationSeconds: 600 }, stateDir);
    const first = await startService(config);
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal((await loginAs(first, 'admin', 'wrong', 'localhost')).status, 401);
      }
    } finally {
      await first.close();
    }
    const second = await startService(config);
    try {
      const locked = await loginAs(second, 'admin', 'pw', 'localhost');
      assert.equal(locked.status, 401);
      assert.match(locked.body, /The account is locked for user: admin\./u);
    } finally {
      await second.close();
    }
  });
});
