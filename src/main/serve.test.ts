import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import { ComputeError } from '../errors/index.js';
import { passwordAuth } from '../testing/api.js';
import { pollUntil, RUN_TIMEOUT_MS, startChild } from '../testing/processes.js';
import { loadServeConfig, startService, type ServeConfig } from './serve.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-serve-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const noFile = (file: string): string => {
  throw new Error(`ENOENT: ${file}`);
};

function code(c: string): (err: unknown) => boolean {
  return (err) => err instanceof ComputeError && err.code === c;
}

describe('loadServeConfig()', () => {
  it('defaults to 127.0.0.1:8774 and ./.vpmu', () => {
    const config = loadServeConfig([], {}, noFile);
    assert.deepEqual(
      [
        config.host,
        config.port,
        config.stateDir,
        config.tokenTtlSeconds,
        config.region,
        config.adminPassword,
      ],
      ['127.0.0.1', 8774, path.resolve('.vpmu'), 3600, 'RegionOne', undefined],
    );
  });

  it('takes flags over environment over the config file', () => {
    const file = JSON.stringify({
      host: '0.0.0.0',
      port: 1,
      stateDir: '/from/file',
      region: 'FileRegion',
      tokenTtlSeconds: 5,
    });
    const fromFile = loadServeConfig(['--config', 'c.json'], {}, () => file);
    assert.deepEqual(
      [fromFile.host, fromFile.port, fromFile.stateDir, fromFile.region, fromFile.tokenTtlSeconds],
      ['0.0.0.0', 1, '/from/file', 'FileRegion', 5],
    );
    const env = {
      VPMU_CONFIG: 'c.json',
      VPMU_PORT: '2',
      VPMU_STATE_DIR: '/from/env',
      VPMU_ADMIN_PASSWORD: 'pw',
    };
    const fromEnv = loadServeConfig([], env, () => file);
    assert.deepEqual(
      [fromEnv.host, fromEnv.port, fromEnv.stateDir, fromEnv.adminPassword],
      ['0.0.0.0', 2, '/from/env', 'pw'],
    );
    const fromFlags = loadServeConfig(
      ['--port', '3', '--state-dir', '/from/flag', '--host', '::1'],
      env,
      () => file,
    );
    assert.deepEqual(
      [fromFlags.host, fromFlags.port, fromFlags.stateDir],
      ['::1', 3, '/from/flag'],
    );
  });

  it('reads the compute settings: --uri, --transport-url, virt type, CPU mode, capacity, prefilter', () => {
    const defaults = loadServeConfig([], {}, noFile);
    assert.deepEqual(
      [
        defaults.uri,
        defaults.vpmuPrefilter,
        defaults.notifier.transportUrl,
        defaults.stopTimeoutMs,
        defaults.maxConcurrentBuilds,
        defaults.notifier.bufferLimit,
      ],
      ['test:///default', false, undefined, 30_000, 10, undefined],
    );
    assert.equal(defaults.compute.instanceDir, path.resolve('.vpmu', 'instances'));
    const file = JSON.stringify({
      virtType: 'qemu',
      cpuMode: 'custom',
      cpuModel: 'qemu64',
      vpmuPrefilter: true,
      vcpus: 40,
      cpuAllocationRatio: 1,
      computeHostName: 'c1',
      stopTimeoutSeconds: 2,
      maxConcurrentBuilds: 0,
      notificationBufferLimit: 500,
      hostIp: '192.0.2.7',
    });
    const config = loadServeConfig(
      ['--config', 'c.json', '--uri', 'qemu:///system', '--transport-url', 'rabbit://u:p@h:5672/'],
      {},
      () => file,
    );
    assert.deepEqual(
      [
        config.uri,
        config.notifier.transportUrl,
        config.compute.virtType,
        config.compute.cpuMode,
        config.compute.cpuModel,
        config.compute.vcpus,
        config.compute.cpuAllocationRatio,
        config.compute.name,
        config.vpmuPrefilter,
        config.stopTimeoutMs,
        config.maxConcurrentBuilds,
        config.notifier.bufferLimit,
        config.compute.hostIp,
      ],
      [
        'qemu:///system',
        'rabbit://u:p@h:5672/',
        'qemu',
        'custom',
        'qemu64',
        40,
        1,
        'c1',
        true,
        2000,
        0,
        500,
        '192.0.2.7',
      ],
    );
    assert.equal(
      loadServeConfig([], { VPMU_URI: 'qemu:///session', VPMU_TRANSPORT_URL: 'rabbit://x' }, noFile)
        .notifier.transportUrl,
      'rabbit://x',
    );
    // Notifications may have a broker of their own (Nova's [oslo_messaging_notifications]).
    const own = (env: Record<string, string>, text: string) => {
      const args = ['--transport-url', 'rabbit://rpc', '--config', 'c.json'];
      const loaded = loadServeConfig(args, env, () => text);
      return [loaded.transportUrl, loaded.notifier.transportUrl];
    };
    assert.deepEqual(own({}, '{}'), ['rabbit://rpc', 'rabbit://rpc']);
    assert.deepEqual(own({ VPMU_NOTIFICATION_TRANSPORT_URL: 'rabbit://env' }, '{}'), [
      'rabbit://rpc',
      'rabbit://env',
    ]);
    assert.deepEqual(own({}, '{"notificationTransportUrl": "rabbit://file"}'), [
      'rabbit://rpc',
      'rabbit://file',
    ]);
    assert.deepEqual(
      own(
        { VPMU_NOTIFICATION_TRANSPORT_URL: 'rabbit://env' },
        '{"notificationTransportUrl": "rabbit://file"}',
      ),
      ['rabbit://rpc', 'rabbit://env'],
      'environment over the config file, as every setting',
    );
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ virtType: 'xen' }, /"virtType" must be one of kvm, qemu, lxc, not "xen"/u],
      [{ cpuMode: 'fast' }, /"cpuMode" must be one of/u],
      [{ vcpus: 0 }, /"vcpus" must be a whole number of at least 1, not 0/u],
      [{ vcpus: 1.5 }, /"vcpus" must be a whole number/u],
      [{ vpmuPrefilter: 'yes' }, /"vpmuPrefilter" must be true or false, not "yes"/u],
      [{ hostIp: 'my-host' }, /"hostIp" must be an IPv4 or IPv6 address, not "my-host"/u],
      [
        { notificationBufferLimit: 0 },
        /"notificationBufferLimit" must be a whole number of at least 1, not 0/u,
      ],
    ];
    for (const [settings, message] of bad) {
      assert.throws(
        () => loadServeConfig(['--config', 'c.json'], {}, () => JSON.stringify(settings)),
        (err: unknown) => err instanceof ComputeError && message.test(err.message),
        JSON.stringify(settings),
      );
    }
  });

  it("reads Nova's shelved_offload_time and reclaim_instance_interval, 0 by default", () => {
    const defaults = loadServeConfig([], {}, noFile);
    assert.deepEqual([defaults.shelvedOffloadTime, defaults.reclaimInstanceInterval], [0, 0]);
    const file = JSON.stringify({ shelvedOffloadTime: -1, reclaimInstanceInterval: 3600 });
    const config = loadServeConfig(['--config', 'c.json'], {}, () => file);
    assert.deepEqual([config.shelvedOffloadTime, config.reclaimInstanceInterval], [-1, 3600]);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ shelvedOffloadTime: -2 }, /"shelvedOffloadTime" must be a whole number of at least -1/u],
      [
        { reclaimInstanceInterval: -1 },
        /"reclaimInstanceInterval" must be a whole number of at least 0/u,
      ],
      [{ reclaimInstanceInterval: 1.5 }, /"reclaimInstanceInterval" must be a whole number/u],
    ];
    for (const [settings, message] of bad) {
      assert.throws(
        () => loadServeConfig(['--config', 'c.json'], {}, () => JSON.stringify(settings)),
        (err: unknown) => err instanceof ComputeError && message.test(err.message),
        JSON.stringify(settings),
      );
    }
  });

  it("reads Nova's report_interval and service_down_time (10 s and 60 s by default)", () => {
    const defaults = loadServeConfig([], {}, noFile);
    assert.deepEqual([defaults.reportInterval, defaults.serviceDownTime], [10, 60]);
    const read = (settings: Record<string, unknown>) =>
      loadServeConfig(['--config', 'c.json'], {}, () => JSON.stringify(settings));
    const config = read({ reportInterval: 5, serviceDownTime: 30 });
    assert.deepEqual([config.reportInterval, config.serviceDownTime], [5, 30]);
    assert.deepEqual([read({ serviceDownTime: 11 }).serviceDownTime], [11]);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ reportInterval: 0 }, /"reportInterval" must be a whole number of at least 1, not 0/u],
      [{ reportInterval: 2.5 }, /"reportInterval" must be a whole number/u],
      [{ serviceDownTime: '60' }, /"serviceDownTime" must be a whole number of at least 1/u],
      [
        { serviceDownTime: 10 },
        /"serviceDownTime" \(10 s\) must be greater than "reportInterval" \(10 s\)/u,
      ],
      [
        { reportInterval: 90 },
        /"serviceDownTime" \(60 s\) must be greater than "reportInterval" \(90 s\)/u,
      ],
    ];
    for (const [settings, message] of bad) {
      assert.throws(
        () => read(settings),
        (err: unknown) => err instanceof ComputeError && message.test(err.message),
        JSON.stringify(settings),
      );
    }
  });

  it('reads extra projects and users for demos and tests', () => {
    const file = JSON.stringify({
      projects: [{ name: 'demo', description: 'Demo' }],
      users: [
        { name: 'alice', password: 'pw', project: 'demo', roles: ['member', 'reader'] },
        { name: 'bob', password: 'pw', project: 'demo' },
      ],
    });
    const config = loadServeConfig(['--config', 'c.json'], {}, () => file);
    assert.deepEqual(config.seed, {
      projects: [{ name: 'demo', description: 'Demo' }],
      users: [
        { name: 'alice', password: 'pw', project: 'demo', roles: ['member', 'reader'] },
        { name: 'bob', password: 'pw', project: 'demo', roles: ['member'] },
      ],
    });
  });

  // prettier-ignore
  const BAD = [
    { name: 'a port out of range', argv: ['--port', '70000'], file: '{}', want: 'cli.usage' },
    { name: 'a port that is not a number', argv: ['--port', 'http'], file: '{}', want: 'cli.usage' },
    { name: 'an unknown flag', argv: ['--colour'], file: '{}', want: 'cli.usage' },
    { name: 'a missing config file', argv: ['--config', 'missing.json'], file: undefined, want: 'input.invalid' },
    { name: 'a config file that is not JSON', argv: ['--config', 'c'], file: 'port: 1', want: 'input.invalid' },
    { name: 'an unknown config setting', argv: ['--config', 'c'], file: '{"prot": 1}', want: 'input.invalid' },
    { name: 'a user with an unknown role', argv: ['--config', 'c'], file: '{"users": [{"name": "a", "password": "p", "project": "admin", "roles": ["root"]}]}', want: 'input.invalid' },
    { name: 'a project without a name', argv: ['--config', 'c'], file: '{"projects": [{}]}', want: 'input.invalid' },
  ];
  it("reads Glance's image limits from the config file, with Glance's defaults", () => {
    const defaults = loadServeConfig([], {}, noFile);
    assert.deepEqual(
      [defaults.imageLimits, defaults.imageVirtualSizeCap],
      [
        {
          imageSizeCap: 1099511627776,
          userStorageQuota: 0,
          imagePropertyQuota: 128,
          imageTagQuota: 128,
          imageMemberQuota: 128,
        },
        1099511627776,
      ],
    );
    const file = JSON.stringify({
      imageSizeCap: 1000,
      userStorageQuota: 5000,
      imagePropertyQuota: -1,
      imageTagQuota: 3,
      imageMemberQuota: -1,
      imageVirtualSizeCap: 2000,
    });
    const config = loadServeConfig(['--config', 'c.json'], {}, () => file);
    assert.deepEqual(
      [config.imageLimits, config.imageVirtualSizeCap],
      [
        {
          imageSizeCap: 1000,
          userStorageQuota: 5000,
          imagePropertyQuota: -1,
          imageTagQuota: 3,
          imageMemberQuota: -1,
        },
        2000,
      ],
    );
    assert.throws(
      () => loadServeConfig(['--config', 'c'], {}, () => '{"imageSizeCap": -5}'),
      (err) =>
        err instanceof ComputeError &&
        err.message.includes('"imageSizeCap" must be a whole number of at least 0, not -5'),
    );
  });

  for (const row of BAD) {
    it(`refuses ${row.name} with ${row.want}`, () => {
      assert.throws(
        () => loadServeConfig(row.argv, {}, row.file === undefined ? noFile : () => row.file),
        code(row.want),
      );
    });
  }
});

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

async function login(
  url: string,
  user: string,
  password: string,
  project: string,
): Promise<string> {
  const res = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(passwordAuth(user, password, project)),
  });
  assert.equal(res.status, 201);
  return res.headers.get('X-Subject-Token') ?? '';
}

describe('startService()', { timeout: 180_000 }, () => {
  it('boots 50 servers at once on test:///default with room for 40: 40 ACTIVE, 10 ERROR, no overcommit', async () => {
    const stateDir = path.join(dir, 'state-claims');
    const file = JSON.stringify({ vcpus: 40, cpuAllocationRatio: 1, computeHostName: 'c40' });
    const config: ServeConfig = {
      ...loadServeConfig(
        ['--port', '0', '--state-dir', stateDir, '--config', 'c.json'],
        { VPMU_ADMIN_PASSWORD: 'pw' },
        () => file,
      ),
    };
    const service = await startService(config);
    try {
      const token = await login(service.url, 'admin', 'pw', 'admin');
      const call = (method: string, url: string, body?: unknown) =>
        fetch(`${service.url}${url}`, {
          method,
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      assert.equal(
        (
          await call('POST', '/compute/v2.1/flavors', {
            flavor: { name: 'one', id: 'one', vcpus: 1, ram: 64, disk: 0 },
          })
        ).status,
        200,
      );
      const image = (await json(
        await call('POST', '/image/v2/images', {
          name: 'i',
          disk_format: 'raw',
          container_format: 'bare',
        }),
      )) as { id: string };
      const put = await fetch(`${service.url}/image/v2/images/${image.id}/file`, {
        method: 'PUT',
        headers: { 'X-Auth-Token': token, 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(4096),
      });
      assert.equal(put.status, 204);
      // Past Nova's default quotas (10 instances), so the host's room is what refuses.
      const unlimited = await call('PUT', '/compute/v2.1/os-quota-class-sets/default', {
        quota_class_set: { instances: -1, cores: -1, ram: -1 },
      });
      assert.equal(unlimited.status, 200);
      const started = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          call('POST', '/compute/v2.1/servers', {
            server: { name: `vm${String(i)}`, flavorRef: 'one', imageRef: image.id },
          }),
        ),
      );
      assert.deepEqual(new Set(started.map((r) => r.status)), new Set([202]));
      type Listed = { status: string; fault?: { message: string } }[];
      const servers = await pollUntil(
        'no server in BUILD',
        async () =>
          ((await json(await call('GET', '/compute/v2.1/servers/detail'))) as { servers: Listed })
            .servers,
        (listed) => listed.every((s) => s.status !== 'BUILD'),
      );
      assert.equal(servers.filter((s) => s.status === 'ACTIVE').length, 40);
      const errored = servers.filter((s) => s.status === 'ERROR');
      assert.equal(errored.length, 10);
      for (const s of errored) assert.match(s.fault?.message ?? '', /^No valid host was found\./u);
      const hypervisors = (await json(
        await call('GET', '/compute/v2.1/os-hypervisors/detail'),
      )) as {
        hypervisors: {
          hypervisor_hostname: string;
          vcpus: number;
          vcpus_used: number;
          running_vms: number;
        }[];
      };
      assert.deepEqual(
        hypervisors.hypervisors.map((h) => [
          h.hypervisor_hostname,
          h.vcpus,
          h.vcpus_used,
          h.running_vms,
        ]),
        [['c40', 40, 40, 40]],
      );
    } finally {
      await service.close();
    }
  });

  it('generates the admin password once (mode 0600), seeds users, and keeps everything across a restart', async () => {
    const stateDir = path.join(dir, 'state');
    const config: ServeConfig = {
      ...loadServeConfig(['--port', '0', '--state-dir', stateDir], {}, noFile),
      seed: {
        projects: [{ name: 'demo' }],
        users: [{ name: 'alice', password: 'alice-pw', project: 'demo', roles: ['member'] }],
      },
    };
    const first = await startService(config);
    let second: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const password = first.generatedAdminPassword ?? '';
      assert.ok(password.length >= 20);
      const file = path.join(stateDir, 'admin-password');
      assert.equal(readFileSync(file, 'utf8').trim(), password);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const admin = await login(first.url, 'admin', password, 'admin');
      const created = await fetch(`${first.url}/compute/v2.1/flavors`, {
        method: 'POST',
        headers: { 'X-Auth-Token': admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ flavor: { name: 'vran', id: 'vran', ram: 64, vcpus: 1, disk: 0 } }),
      });
      assert.equal(created.status, 200);
      const specs = await fetch(`${first.url}/compute/v2.1/flavors/vran/os-extra_specs`, {
        method: 'POST',
        headers: { 'X-Auth-Token': admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ extra_specs: { 'hw:pmu': 'false' } }),
      });
      assert.equal(specs.status, 200);
      const alice = await login(first.url, 'alice', 'alice-pw', 'demo');
      const image = await json(
        await fetch(`${first.url}/image/v2/images`, {
          method: 'POST',
          headers: { 'X-Auth-Token': alice, 'Content-Type': 'application/json' },
          body: JSON.stringify({
            name: 'profiling',
            hw_pmu: 'true',
            visibility: 'private',
            disk_format: 'raw',
            container_format: 'bare',
          }),
        }),
      );
      const upload = await fetch(`${first.url}/image/v2/images/${String(image.id)}/file`, {
        method: 'PUT',
        headers: { 'X-Auth-Token': alice, 'Content-Type': 'application/octet-stream' },
        body: 'disk bytes',
      });
      assert.equal(upload.status, 204);
      await first.close();
      // Structured request logs with request ids land in the state directory.
      const log = readFileSync(path.join(stateDir, 'logs', 'vpmu.log'), 'utf8')
        .trim()
        .split('\n');
      const upserted = log
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((l) => l.method === 'PUT');
      assert.deepEqual(
        [upserted?.msg, upserted?.status, upserted?.user],
        ['request', 204, 'alice'],
      );
      assert.match(String(upserted?.requestId), /^req-[0-9a-f-]{36}$/u);

      // What a kill -9 during an upload leaves: a partial file, and data no image refers to.
      const imagesDir = path.join(stateDir, 'images');
      const partial = `${String(image.id)}.00000000-0000-4000-8000-000000000001.partial`;
      const orphan = '00000000-0000-4000-8000-0000000000ff';
      writeFileSync(path.join(imagesDir, partial), 'half an upload');
      writeFileSync(path.join(imagesDir, orphan), 'data of a deleted image');

      // The local compute reported a heartbeat as it started (os-services' updated_at).
      const stored = await openSqliteStore(path.join(stateDir, 'vpmu.db'));
      const hosts = await stored.listComputeHosts();
      await stored.close();
      assert.equal(hosts.length, 1);
      assert.match(String(hosts[0]?.heartbeatAt), /^\d{4}-\d\d-\d\dT[\d:.]+Z$/u);

      second = await startService(config);
      assert.equal(second.generatedAdminPassword, undefined);
      assert.deepEqual(readdirSync(imagesDir), [String(image.id)]);
      // The log file is written in the background: wait (bounded) for the line to land.
      const swept = await pollUntil(
        'the sweep logged in logs/vpmu.log',
        () =>
          readFileSync(path.join(stateDir, 'logs', 'vpmu.log'), 'utf8')
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .find((l) => l.msg === 'removed image data left by interrupted uploads'),
        (line) => line !== undefined,
      );
      assert.deepEqual(swept?.removed, [orphan, partial]);
      const admin2 = await login(second.url, 'admin', password, 'admin');
      const flavor = await json(
        await fetch(`${second.url}/compute/v2.1/flavors/vran/os-extra_specs`, {
          headers: { 'X-Auth-Token': admin2 },
        }),
      );
      assert.deepEqual(flavor, { extra_specs: { 'hw:pmu': 'false' } });
      // Tokens survive a restart too.
      const data = await fetch(`${second.url}/image/v2/images/${String(image.id)}/file`, {
        headers: { 'X-Auth-Token': alice },
      });
      assert.equal(await data.text(), 'disk bytes');
      const shown = await json(
        await fetch(`${second.url}/image/v2/images/${String(image.id)}`, {
          headers: { 'X-Auth-Token': alice },
        }),
      );
      assert.deepEqual([shown.hw_pmu, shown.status, shown.size], ['true', 'active', 10]);
    } finally {
      await second?.close();
    }
  });

  it('uses VPMU_ADMIN_PASSWORD and refuses the old password after it changes', async () => {
    const stateDir = path.join(dir, 'env-password');
    const base = loadServeConfig(
      ['--port', '0', '--state-dir', stateDir],
      { VPMU_ADMIN_PASSWORD: 'one', VPMU_LOG_LEVEL: 'warn' },
      noFile,
    );
    const first = await startService(base);
    assert.equal(first.generatedAdminPassword, undefined);
    await login(first.url, 'admin', 'one', 'admin');
    await first.close();
    const second = await startService({ ...base, adminPassword: 'two' });
    try {
      await login(second.url, 'admin', 'two', 'admin');
      const old = await fetch(`${second.url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(passwordAuth('admin', 'one', 'admin')),
      });
      assert.equal(old.status, 401);
    } finally {
      await second.close();
    }
  });

  it('fails to start, with a clear error, when a seeded user names an unknown project', async () => {
    const stateDir = path.join(dir, 'bad-seed');
    const config: ServeConfig = {
      ...loadServeConfig(
        ['--port', '0', '--state-dir', stateDir],
        { VPMU_ADMIN_PASSWORD: 'x', VPMU_LOG_LEVEL: 'warn' },
        noFile,
      ),
      seed: {
        projects: [],
        users: [{ name: 'a', password: 'p', project: 'nowhere', roles: ['member'] }],
      },
    };
    await assert.rejects(
      startService(config),
      /Cannot bootstrap user "a": project "nowhere" is not configured/u,
    );
  });
});

describe('vpmu serve (the process)', { timeout: 180_000 }, () => {
  /** Starts `vpmu serve`, waits until it listens, stops it with SIGTERM; returns its output. */
  async function runOnce(stateDir: string): Promise<{ out: string; code: number | null }> {
    const child = startChild(
      process.execPath,
      ['bin/vpmu.js', 'serve', '--port', '0', '--state-dir', stateDir],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VPMU_LOG_LEVEL: 'warn' } },
    );
    try {
      const url = (await child.waitFor(/vpmu listening on (\S+)/u))[1] ?? '';
      assert.equal((await fetch(`${url}/compute/v2.1`)).status, 200);
    } finally {
      await child.stop();
    }
    const { code } = await child.exited;
    return { out: child.stdout(), code };
  }

  it('prints a generated admin password once, and stops cleanly on SIGTERM', async () => {
    const stateDir = path.join(dir, 'process');
    const first = await runOnce(stateDir);
    const password = /Generated the password of user "admin": (\S+)/u.exec(first.out)?.[1];
    assert.equal(password, readFileSync(path.join(stateDir, 'admin-password'), 'utf8').trim());
    assert.match(first.out, /vpmu stopped/u);
    assert.equal(first.code, 0);
    const second = await runOnce(stateDir);
    assert.doesNotMatch(second.out, /Generated the password/u);
    assert.equal(second.code, 0);
  });

  it('explains a bad flag with exit status 2 and the usage', () => {
    const result = spawnSync(process.execPath, ['bin/vpmu.js', 'serve', '--port', 'eighty'], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    });
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /Cannot use port "eighty": expected a whole number from 0 to 65535 \[cli\.usage\]/u,
    );
    assert.match(result.stderr, /Usage: vpmu serve/u);
  });
});
