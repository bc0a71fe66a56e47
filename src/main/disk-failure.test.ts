/**
 * `vpmu serve` on a real failing disk: its state directory on a small tmpfs that is filled up,
 * then remounted read-only. Writes must fail fast with 503 (413 for image data), reads must keep
 * working, the log must not kill the process, and a read-only state directory at start must stop
 * it with one clear line. Needs root (mount); skipped otherwise, except in CI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import { startChild, type ChildExit, type TestChild } from '../testing/processes.js';
import { skipOrThrow } from '../testing/tools.js';

const root = process.getuid?.() === 0;
const skip = root ? false : skipOrThrow('mounting a tmpfs needs root');
const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-disk-'));
const mountPoint = path.join(dir, 'fs');
const stateDir = path.join(mountPoint, 'state');

function sh(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
}

/** A running `vpmu serve` and the URL it listens on. */
interface Serve {
  readonly url: string;
  readonly child: TestChild;
  /** Set once the process has exited. */
  exit(): ChildExit | undefined;
}

/** Starts `vpmu serve` on the tmpfs: a listening service, or how the process ended. */
async function startServe(): Promise<{ serve?: Serve; exit?: ChildExit; stderr: string }> {
  const child = startChild(
    process.execPath,
    ['bin/vpmu.js', 'serve', '--port', '0', '--state-dir', stateDir],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VPMU_ADMIN_PASSWORD: 'pw' } },
  );
  let exit: ChildExit | undefined;
  void child.exited.then((ended) => (exit = ended));
  const url = await child.waitFor(/vpmu listening on (\S+)/u).then(
    (match) => match[1],
    () => undefined,
  );
  if (url === undefined) {
    const ended = await child.stop();
    return { exit: ended, stderr: child.stderr() };
  }
  return { serve: { url, child, exit: () => exit }, stderr: child.stderr() };
}

/** Writes zeros to a file until the file system refuses (ENOSPC), down to the last byte. */
function fillUp(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [64 * 1024, 4096, 1]) {
      const block = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, block);
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'ENOSPC');
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** PUTs image data on a connection of its own: a 413 may close it before the body is read. */
async function upload(
  url: string,
  token: string,
  bytes: number,
): Promise<{ status: number; code: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      agent: false,
      timeout: 60_000,
      headers: { 'X-Auth-Token': token, 'Content-Type': 'application/octet-stream' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      res.on('end', () => {
        const code = res.headers['x-compute-error-code'];
        resolve({
          status: res.statusCode ?? 0,
          code: typeof code === 'string' ? code : undefined,
          body,
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error('upload timed out')));
    req.on('error', reject);
    req.end(Buffer.alloc(bytes));
  });
}

describe('vpmu serve on a full state file system, and on a read-only one (tmpfs)', { skip }, () => {
  let serve: Serve | undefined;
  before(() => {
    sh('mkdir', ['-p', mountPoint]);
    sh('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', mountPoint]);
  });
  after(async () => {
    await serve?.child.stop();
    spawnSync('umount', ['-l', mountPoint], { timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers writes 503 (image data 413), keeps reads working, never crashes, and reports the log outage once', async (t) => {
    const started = await startServe();
    assert.ok(started.serve !== undefined, `vpmu serve exited: ${started.stderr}`);
    serve = started.serve;
    const { url } = serve;
    const auth = await fetch(`${url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(passwordAuth('admin', 'pw', 'admin')),
    });
    assert.equal(auth.status, 201);
    const token = auth.headers.get('X-Subject-Token') ?? '';
    const call = (method: string, route: string, body?: unknown) =>
      fetch(`${url}${route}`, {
        method,
        headers: {
          'X-Auth-Token': token,
          'Content-Type': 'application/json',
          'OpenStack-API-Version': 'compute 2.55',
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).catch((error: unknown) => {
        const exit = JSON.stringify(serve?.exit());
        return assert.fail(
          `${method} ${route}: ${String(error)} ${String((error as { cause?: unknown }).cause)}; exit ${exit}; ${serve?.child.stderr() ?? ''}`,
        );
      });
    const image = (await (
      await call('POST', '/image/v2/images', {
        name: 'late',
        disk_format: 'raw',
        container_format: 'bare',
      })
    ).json()) as { id: string };

    fillUp(path.join(mountPoint, 'filler'));
    // SQLite reuses the room its WAL already holds, so writes succeed until that runs out too:
    // every answer is 200 or 503, never another 5xx, and a 503 comes within a bounded number.
    const statuses = new Map<number, number>();
    let refused: { status: number; body: unknown; ms: number } | undefined;
    for (let i = 0; i < 3000 && refused === undefined; i += 1) {
      const began = Date.now();
      const res = await call('POST', '/compute/v2.1/flavors', {
        flavor: {
          name: `f-${String(i)}`,
          vcpus: 1,
          ram: 64,
          disk: 0,
          description: 'x'.repeat(60000),
        },
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body: unknown = await res.json();
      if (res.status !== 200) refused = { status: res.status, body, ms: Date.now() - began };
    }
    assert.ok(refused !== undefined, `no write was refused: ${JSON.stringify([...statuses])}`);
    assert.deepEqual(
      [refused.status, refused.body],
      [
        503,
        {
          serviceUnavailable: {
            code: 503,
            message:
              'The service cannot record changes now: its storage is full. Nothing was changed; try again later.',
          },
        },
      ],
      serve.child.stderr(),
    );
    // Fails fast: no retry loop or lock wait between the disk's refusal and the answer.
    assert.ok(refused.ms < 10_000, `the refusal took ${String(refused.ms)} ms`);
    t.diagnostic(
      `answers until the first refusal: ${JSON.stringify([...statuses])}; the refusal took ${String(refused.ms)} ms`,
    );

    const put = await upload(`${url}/image/v2/images/${image.id}/file`, token, 2 * 1024 * 1024);
    assert.deepEqual([put.status, put.code], [413, 'image.over_limit'], put.body);
    assert.deepEqual(readdirSync(path.join(stateDir, 'images')), [], 'no partial file is left');
    const login = await fetch(`${url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(passwordAuth('admin', 'pw', 'admin')),
    });
    assert.ok([201, 503].includes(login.status), `login: ${String(login.status)}`);
    // Reads keep working, each logged: enough lines to need more room than the log file has.
    for (let i = 0; i < 50; i += 1) {
      const list = await call('GET', '/compute/v2.1/flavors');
      assert.equal(list.status, 200, 'reads keep working on a full disk');
      await list.arrayBuffer();
    }
    const shown = await call('GET', `/image/v2/images/${image.id}`);
    assert.deepEqual(
      [shown.status, ((await shown.json()) as { status: string }).status],
      [200, 'queued'],
    );

    // Space comes back: writes work again, and the log says how much it lost.
    rmSync(path.join(mountPoint, 'filler'));
    const again = await call('POST', '/compute/v2.1/flavors', {
      flavor: { name: 'after-full', vcpus: 1, ram: 64, disk: 0 },
    });
    assert.equal(again.status, 200, await again.text());

    assert.equal(serve.exit(), undefined, `the service died: ${serve.child.stderr()}`);
    // The log catches up in the background: wait (bounded) for its report of the outage's end.
    await serve.child.waitFor(/accepts writes again;/u);
    const stderr = serve.child.stderr();
    // The outage is reported once, not per line, and so is its end.
    assert.deepEqual(
      [
        stderr.match(/cannot write the log file .*\(ENOSPC\)/gu)?.length,
        stderr.match(/accepts writes again; \d+ lines were lost/gu)?.length,
      ],
      [1, 1],
      stderr,
    );
    assert.doesNotMatch(stderr, /unexpected error|at .*\.js:\d+/u, 'no stack traces');
    assert.deepEqual(await serve.child.stop(), { code: 0, signal: null });
    serve = undefined;
  });

  it('refuses to start on a read-only state directory with one line naming it', async () => {
    // A file open for writing keeps a file system from going read-only: stop whatever still runs.
    await serve?.child.stop();
    serve = undefined;
    rmSync(path.join(mountPoint, 'filler'), { force: true });
    sh('mount', ['-o', 'remount,ro', mountPoint]);
    const started = await startServe();
    if (started.serve !== undefined) {
      await started.serve.child.stop();
      assert.fail('vpmu serve started on a read-only state directory');
    }
    assert.equal(started.exit?.code, 1);
    assert.equal(
      started.stderr,
      `Error: Cannot start vpmu on 127.0.0.1:0: the state directory ${stateDir} cannot be written (EROFS): make it writable by this user (uid 0) on a read-write file system with free space, or choose another --state-dir\n`,
    );
  });
});
