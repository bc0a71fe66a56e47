/**
 * Many hosts on one machine, honestly: three `vpmu compute` processes, each on its own session
 * libvirtd (scripts/session-libvirtd.sh; host h1 a real QEMU/TCG driver, h2 and h3 the test
 * driver), two `vpmu conductor` and two `vpmu api` processes, one fresh PostgreSQL database and
 * one RabbitMQ exchange; every process runs as the hosts' unprivileged user, as QEMU does. The
 * stock `openstack` client and plain HTTP drive it through both API processes.
 *
 * Needs root, VPMU_TEST_DATABASE_URL and VPMU_TEST_TRANSPORT_URL (.ci/run sets both); in CI a
 * missing piece fails, locally it skips.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { startCluster, type Cluster } from '../testing/cluster.js';
import { requireBinding } from '../testing/libvirt.js';
import { pollUntil, RUN_TIMEOUT_MS } from '../testing/processes.js';
import {
  ADMIN_PASSWORD,
  jsonOf,
  openstackIn,
  writeClouds,
  type ClientRun,
} from '../testing/stock-clients.js';
import { requireEnv, requireTool, skipOrThrow } from '../testing/tools.js';

const run = promisify(execFile);
const SCRIPT = 'scripts/session-libvirtd.sh';
const database = requireEnv('VPMU_TEST_DATABASE_URL', '.ci/run starts PostgreSQL and sets it');
const transport = requireEnv('VPMU_TEST_TRANSPORT_URL', '.ci/run starts RabbitMQ and sets it');
const skip =
  database.skip ||
  transport.skip ||
  (process.getuid?.() === 0 ? false : skipOrThrow(`${SCRIPT} must run as root`)) ||
  requireTool('libvirtd', ['--version'], 'apt-get install libvirt-daemon') ||
  requireTool('virsh', ['--version'], 'apt-get install libvirt-clients') ||
  requireTool('qemu-system-x86_64', ['--version'], 'apt-get install qemu-system-x86') ||
  requireTool('openstack', ['--version'], 'apt-get install python3-openstackclient') ||
  requireTool(
    '/usr/bin/python3',
    ['-c', 'import oslo_messaging'],
    'apt-get install python3-oslo.messaging',
  ) ||
  (await requireBinding());

/** Settings every process gets: quick heartbeats and sweeps, so failures show within seconds. */
const SETTINGS = {
  reportInterval: 1,
  serviceDownTime: 4,
  buildTimeout: 45,
  healIntervalSeconds: 2,
  stopTimeoutSeconds: 1,
};
const VCPUS = { h1: 2, h2: 4, h3: 4 } as const;

interface Host {
  readonly name: 'h1' | 'h2' | 'h3';
  readonly dir: string;
  readonly uri: string;
  /** The daemon's URI virsh reads the host's domains through. */
  readonly listUri: string;
}

describe(
  'many hosts: vpmu api ×2, conductor ×2, compute ×3 on PostgreSQL and RabbitMQ',
  { skip, timeout: 900_000 },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-multi-'));
    const hosts: Host[] = [];
    let cluster: Cluster | undefined;
    const hostNamed = (name: string): Host => {
      const found = hosts.find((h) => h.name === name);
      if (found === undefined) throw new Error(`no host ${name}`);
      return found;
    };
    const clouds = [path.join(dir, 'clouds-a'), path.join(dir, 'clouds-b')];
    const openstack = (api: 0 | 1, ...args: string[]): ClientRun =>
      openstackIn(clouds[api] ?? '', 'admin', ...args);
    /** A raw image of `data` through API process 0, with the client; returns its id. */
    const rawImage = (name: string, data: Buffer, ...more: string[]): string => {
      const disk = path.join(dir, `${name}.img`);
      writeFileSync(disk, data);
      const args = ['--disk-format', 'raw', '--file', disk, ...more, name, '-f', 'json'];
      return String(jsonOf(openstack(0, 'image', 'create', ...args)).id);
    };
    const up = () => {
      if (cluster === undefined) throw new Error('the cluster did not start');
      return cluster;
    };

    before(async () => {
      // The hosts' user must get through to its directories (mkdtemp makes 0700).
      chmodSync(dir, 0o755);
      for (const [name, driver] of [
        ['h1', 'qemu'],
        ['h2', 'test'],
        ['h3', 'test'],
      ] as const) {
        const hostDir = path.join(dir, `host-${name}`);
        const { stdout } = await run('bash', [SCRIPT, 'start', hostDir], {
          encoding: 'utf8',
          timeout: 90_000,
        });
        const [testUri = '', qemuUri = ''] = stdout.trim().split('\n');
        const uri = driver === 'qemu' ? qemuUri : testUri;
        hosts.push({ name, dir: hostDir, uri, listUri: uri });
      }
      const owner = statSync(hosts[0]?.dir ?? '');
      const runAs = { uid: owner.uid, gid: owner.gid };
      // The host user runs vpmu from this checkout (QEMU runs as it and reads what vpmu writes).
      const probe = spawnSync(
        'setpriv',
        [
          '--reuid',
          String(runAs.uid),
          '--regid',
          String(runAs.gid),
          '--init-groups',
          process.execPath,
          'bin/vpmu.js',
          '--version',
        ],
        { encoding: 'utf8', timeout: RUN_TIMEOUT_MS },
      );
      assert.equal(
        probe.status,
        0,
        `the host user cannot run vpmu from ${process.cwd()}: ${probe.stderr}`,
      );
      chownSync(dir, runAs.uid, runAs.gid);
      cluster = await startCluster({
        dir: path.join(dir, 'cluster'),
        databaseUrl: database.value ?? '',
        transportUrl: transport.value ?? '',
        apis: 2,
        conductors: 2,
        computes: hosts.map((h) => ({
          name: h.name,
          uri: h.uri,
          settings: { vcpus: VCPUS[h.name], cpuAllocationRatio: 1, memoryMiB: 4096, diskGiB: 20 },
        })),
        settings: SETTINGS,
        // Every compute fetches images into its own cache from an API process; none can read
        // the API processes' image directory.
        imageCache: true,
        runAs,
      });
      for (const [index, url] of cluster.apiUrls.entries()) {
        mkdirSync(clouds[index] ?? '', { recursive: true });
        writeClouds(clouds[index] ?? '', url, []);
      }
    });

    let failures = 0;
    /**
     * `it`, counting failures so `after` can show what the processes said; what a test registers
     * with `undo` runs after it whatever happened (best effort), so one failure does not leave a
     * host disabled or full for the next test.
     */
    const step = (name: string, test: (undo: (action: () => unknown) => void) => unknown) => {
      void it(name, async () => {
        const undos: (() => unknown)[] = [];
        try {
          await test((action) => undos.push(action));
        } catch (error) {
          failures += 1;
          throw error;
        } finally {
          for (const action of undos.reverse())
            await Promise.resolve(action()).catch(() => undefined);
        }
      });
    };

    after(async () => {
      // What the processes said, when something failed (their logs go with the directory).
      if (failures > 0 && cluster !== undefined) process.stderr.write(cluster.tails());
      await cluster?.stop();
      for (const host of hosts) {
        spawnSync('bash', [SCRIPT, 'stop', host.dir], { stdio: 'ignore', timeout: 60_000 });
      }
      rmSync(dir, { recursive: true, force: true });
    });

    /** Asserts a client run succeeded, showing what it said when it did not. */
    const succeeded = (result: ClientRun): void => {
      assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    };

    /** The compute services as an API process lists them. */
    const services = (api: 0 | 1) =>
      (
        JSON.parse(openstack(api, 'compute', 'service', 'list', '-f', 'json').stdout) as {
          Host: string;
          State: string;
          Status: string;
        }[]
      )
        .map((s) => `${s.Host}:${s.Status}:${s.State}`)
        .sort();

    step(
      'both API processes, started at once on an empty database, list the three computes up',
      () => {
        const expected = ['h1:enabled:up', 'h2:enabled:up', 'h3:enabled:up'];
        assert.deepEqual(services(0), expected);
        assert.deepEqual(services(1), expected);
      },
    );

    let flavorId = '';
    let pmuOffFlavorId = '';
    let imageId = '';
    step('creates flavors and an image through one API process; the other sees them', () => {
      flavorId = String(
        jsonOf(
          openstack(
            0,
            'flavor',
            'create',
            '--vcpus',
            '1',
            '--ram',
            '64',
            '--disk',
            '0',
            'tiny',
            '-f',
            'json',
          ),
        ).id,
      );
      pmuOffFlavorId = String(
        jsonOf(
          openstack(
            0,
            'flavor',
            'create',
            '--vcpus',
            '1',
            '--ram',
            '64',
            '--disk',
            '0',
            '--property',
            'hw:pmu=false',
            'vran',
            '-f',
            'json',
          ),
        ).id,
      );
      imageId = rawImage('plain', Buffer.alloc(64 * 1024), '--public');
      assert.equal(jsonOf(openstack(1, 'image', 'show', imageId, '-f', 'json')).status, 'active');
      assert.equal(jsonOf(openstack(1, 'flavor', 'show', 'vran', '-f', 'json')).id, pmuOffFlavorId);
      const quota = ['--instances', '100', '--cores', '100', '--ram', '1000000', 'admin'];
      succeeded(openstack(1, 'quota', 'set', ...quota));
    });

    /** An admin token from API process `api`. */
    /**
     * One HTTP request to API process `api`, on a connection of its own (a kept-alive one the
     * server has just closed would fail a POST), bounded.
     */
    const http = (
      api: 0 | 1,
      method: string,
      route: string,
      headers: Record<string, string>,
      body?: unknown,
    ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        const sent = body === undefined ? undefined : JSON.stringify(body);
        const request = httpRequest(
          `${up().apiUrls[api] ?? ''}${route}`,
          {
            method,
            agent: false,
            timeout: RUN_TIMEOUT_MS,
            headers: {
              ...headers,
              ...(sent === undefined ? {} : { 'content-type': 'application/json' }),
            },
          },
          (response) => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', (chunk: string) => (text += chunk));
            response.on('end', () => {
              resolve({
                status: response.statusCode ?? 0,
                headers: response.headers,
                body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
              });
            });
          },
        );
        request.on('timeout', () => request.destroy(new Error(`${method} ${route}: no answer`)));
        request.on('error', reject);
        request.end(sent);
      });

    const token = async (api: 0 | 1): Promise<string> => {
      const response = await http(
        api,
        'POST',
        '/identity/v3/auth/tokens',
        {},
        {
          auth: {
            identity: {
              methods: ['password'],
              password: {
                user: { name: 'admin', domain: { id: 'default' }, password: ADMIN_PASSWORD },
              },
            },
            scope: { project: { name: 'admin', domain: { id: 'default' } } },
          },
        },
      );
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return String(response.headers['x-subject-token']);
    };

    /** A compute API call (microversion 2.1) through API process `api`. */
    const compute = async (
      api: 0 | 1,
      auth: string,
      method: string,
      route: string,
      body?: unknown,
    ) =>
      http(
        api,
        method,
        `/compute/v2.1${route}`,
        { 'x-auth-token': auth, 'openstack-api-version': 'compute 2.1' },
        body,
      );

    interface Shown {
      readonly id: string;
      readonly status: string;
      readonly 'OS-EXT-SRV-ATTR:host': string | null;
      readonly fault?: { readonly message: string };
    }
    const show = async (auth: string, id: string): Promise<Shown> =>
      (await compute(0, auth, 'GET', `/servers/${id}`)).body.server as Shown;
    const settled = async (auth: string, id: string): Promise<Shown> =>
      pollUntil(
        `server ${id} settles`,
        () => show(auth, id),
        (s) => s.status !== 'BUILD',
        { timeoutMs: 180_000, intervalMs: 200 },
      );

    /** The domain UUIDs each host's libvirt holds, read from its own daemon. */
    /** The servers whose domains a host's libvirt holds (`instance-<id>`; the test driver has its own). */
    const domainsOn = async (host: Host): Promise<string[]> => {
      const { stdout } = await run('virsh', ['-q', '-c', host.listUri, 'list', '--all', '--name'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      return stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.startsWith('instance-'))
        .map((l) => l.slice('instance-'.length));
    };

    step(
      'concurrent boots through both API processes never overcommit a host, and each domain is on its own host only',
      async (undo) => {
        const auths = [await token(0), await token(1)] as const;
        const capacity = VCPUS.h1 + VCPUS.h2 + VCPUS.h3;
        const asked = capacity + 2;
        const created: string[] = [];
        const deleteAll = async () => {
          await Promise.all(created.map((id) => compute(0, auths[0], 'DELETE', `/servers/${id}`)));
          await pollUntil(
            'the burst is deleted',
            async () =>
              ((await compute(1, auths[1], 'GET', '/servers')).body.servers as unknown[]).length,
            (n) => n === 0,
            { timeoutMs: 120_000, intervalMs: 250 },
          );
        };
        undo(deleteAll);
        await Promise.all(
          Array.from({ length: asked }, async (_, i) => {
            const api = (i % 2) as 0 | 1;
            const response = await compute(api, auths[api], 'POST', '/servers', {
              server: { name: `burst-${String(i)}`, flavorRef: flavorId, imageRef: imageId },
            });
            assert.equal(response.status, 202, JSON.stringify(response.body));
            created.push((response.body.server as { id: string }).id);
          }),
        );
        const outcomes = await Promise.all(created.map((id) => settled(auths[0], id)));
        const active = outcomes.filter((s) => s.status === 'ACTIVE');
        const failed = outcomes.filter((s) => s.status === 'ERROR');
        assert.equal(
          active.length,
          capacity,
          JSON.stringify(outcomes.map((s) => [s.status, s.fault?.message])),
        );
        assert.equal(failed.length, asked - capacity);
        for (const f of failed) assert.match(f.fault?.message ?? '', /No valid host was found/u);
        for (const host of hosts) {
          const mine = active
            .filter((s) => s['OS-EXT-SRV-ATTR:host'] === host.name)
            .map((s) => s.id);
          assert.equal(
            mine.length,
            VCPUS[host.name],
            `${host.name} holds exactly its ${String(VCPUS[host.name])} vCPUs`,
          );
          assert.deepEqual(
            (await domainsOn(host)).sort(),
            [...mine].sort(),
            `the domains on ${host.name}`,
          );
        }
        await deleteAll();
        for (const host of hosts)
          assert.deepEqual(await domainsOn(host), [], `nothing left on ${host.name}`);
        // Each host built from its own cache entry of the image, verified, and kept it.
        for (const host of hosts) {
          const base = path.join(dir, 'cluster', `compute-${host.name}`, 'state', 'instances');
          assert.deepEqual(
            readdirSync(path.join(base, '_base')),
            [imageId],
            `the image cache of ${host.name}`,
          );
          assert.deepEqual(
            readFileSync(path.join(base, '_base', imageId)),
            readFileSync(path.join(dir, 'plain.img')),
          );
        }
      },
    );

    step(
      'image data that does not match its checksum fails the build with a fault naming both hashes, and no host caches it',
      async (undo) => {
        const auth = await token(0);
        const honest = Buffer.alloc(64 * 1024, 1);
        const id = rawImage('tampered', honest);
        undo(() => openstack(0, 'image', 'delete', id));
        // The bytes change under the image API after the upload (same size, other content).
        const stored = path.join(dir, 'cluster', 'images', id);
        writeFileSync(stored, Buffer.alloc(honest.length, 2));
        const response = await compute(0, auth, 'POST', '/servers', {
          server: { name: 'tampered', flavorRef: flavorId, imageRef: id },
        });
        assert.equal(response.status, 202, JSON.stringify(response.body));
        const server = (response.body.server as { id: string }).id;
        undo(() => compute(0, auth, 'DELETE', `/servers/${server}`));
        const failed = await settled(auth, server);
        assert.equal(failed.status, 'ERROR');
        const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
        const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex');
        const message = failed.fault?.message ?? '';
        assert.match(
          message,
          new RegExp(`Image ${id} downloaded from the image API does not match`, 'u'),
        );
        assert.ok(
          message.includes(sha512(honest)) && message.includes(sha512(readFileSync(stored))),
          message,
        );
        assert.notEqual(md5(honest), md5(readFileSync(stored)));
        for (const host of hosts) {
          const base = path.join(
            dir,
            'cluster',
            `compute-${host.name}`,
            'state',
            'instances',
            '_base',
          );
          assert.deepEqual(
            readdirSync(base),
            [imageId],
            `nothing of the tampered image on ${host.name}`,
          );
        }
      },
    );

    step(
      'the QEMU guest on h1 has the vPMU its flavor asked for (hw:pmu=false: QOM pmu false)',
      () => {
        const created = jsonOf(
          openstack(
            0,
            'server',
            'create',
            '--flavor',
            'vran',
            '--image',
            imageId,
            '--availability-zone',
            'nova:h1',
            '--wait',
            'real',
            '-f',
            'json',
          ),
        );
        assert.equal(created.status, 'ACTIVE');
        assert.equal(created['OS-EXT-SRV-ATTR:host'], 'h1');
        const host = hosts[0];
        const qom = spawnSync(
          'virsh',
          [
            '-q',
            '-c',
            host?.uri ?? '',
            'qemu-monitor-command',
            String(created['OS-EXT-SRV-ATTR:instance_name']),
            JSON.stringify({
              execute: 'qom-get',
              arguments: { path: '/machine/unattached/device[0]', property: 'pmu' },
            }),
          ],
          { encoding: 'utf8', timeout: 30_000 },
        );
        assert.equal(qom.status, 0, qom.stderr);
        assert.equal((JSON.parse(qom.stdout) as { return: unknown }).return, false);
        succeeded(openstack(1, 'server', 'delete', '--wait', 'real'));
      },
    );

    step('an unchanged oslo.messaging RPC client calls a vpmu compute and a conductor', () => {
      const call = (topic: string, server: string, method: string) => {
        const result = spawnSync(
          '/usr/bin/python3',
          [
            'src/testing/oslo-rpc-peer.py',
            'call',
            '--url',
            up().transportUrl,
            '--exchange',
            up().exchange,
            '--topic',
            topic,
            '--server',
            server,
            '--method',
            method,
            '--timeout',
            '30',
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
        assert.equal(result.status, 0, result.stderr);
        return JSON.parse(result.stdout) as { result?: Record<string, unknown> };
      };
      const described = call('compute', 'h2', 'describe').result;
      assert.equal(described?.uri, hosts[1]?.uri);
      assert.equal(
        (described?.settings as { virtType?: string } | undefined)?.virtType !== undefined,
        true,
      );
      assert.deepEqual(call('conductor', 'conductor-1', 'ping').result, {
        topic: 'conductor',
        server: 'conductor-1',
      });
    });

    step('a token revoked through one API process stops working on the other', async () => {
      const auth = await token(0);
      assert.equal((await compute(1, auth, 'GET', '/servers')).status, 200);
      const revoked = await http(0, 'DELETE', '/identity/v3/auth/tokens', {
        'x-auth-token': auth,
        'x-subject-token': auth,
      });
      assert.equal(revoked.status, 204);
      assert.equal((await compute(1, auth, 'GET', '/servers')).status, 401);
    });

    /** One server's `server show` through API process `api`. */
    const shown = (api: 0 | 1, id: string) =>
      jsonOf(openstack(api, 'server', 'show', id, '-f', 'json'));
    const createOn = (host: string, name: string) =>
      jsonOf(
        openstack(
          0,
          'server',
          'create',
          '--flavor',
          'tiny',
          '--image',
          imageId,
          '--availability-zone',
          `nova:${host}`,
          '--wait',
          name,
          '-f',
          'json',
        ),
      );

    step(
      'service set --disable / --down and aggregate zones steer new servers, with the stock client',
      (undo) => {
        undo(() => openstack(0, 'compute', 'service', 'set', '--enable', 'h2', 'nova-compute'));
        undo(() => openstack(0, 'compute', 'service', 'set', '--up', 'h3', 'nova-compute'));
        undo(() => openstack(0, 'server', 'delete', '--wait', 'steered', 'zoned'));
        undo(() => openstack(0, 'aggregate', 'delete', 'edge-a'));
        undo(() => openstack(0, 'aggregate', 'remove', 'host', 'edge-a', 'h3'));
        succeeded(
          openstack(
            0,
            'compute',
            'service',
            'set',
            '--disable',
            '--disable-reason',
            'maintenance',
            'h2',
            'nova-compute',
          ),
        );
        succeeded(openstack(1, 'compute', 'service', 'set', '--down', 'h3', 'nova-compute'));
        assert.deepEqual(services(1), ['h1:enabled:up', 'h2:disabled:up', 'h3:enabled:down']);
        const steered = jsonOf(
          openstack(
            1,
            'server',
            'create',
            '--flavor',
            'tiny',
            '--image',
            imageId,
            '--wait',
            'steered',
            '-f',
            'json',
          ),
        );
        assert.equal(steered['OS-EXT-SRV-ATTR:host'], 'h1');
        succeeded(openstack(0, 'compute', 'service', 'set', '--enable', 'h2', 'nova-compute'));
        succeeded(openstack(0, 'compute', 'service', 'set', '--up', 'h3', 'nova-compute'));
        jsonOf(openstack(0, 'aggregate', 'create', '--zone', 'edge-a', 'edge-a', '-f', 'json'));
        succeeded(openstack(1, 'aggregate', 'add', 'host', 'edge-a', 'h3'));
        succeeded(openstack(0, 'aggregate', 'set', '--zone', 'edge-b', 'edge-a'));
        const zoned = jsonOf(
          openstack(
            1,
            'server',
            'create',
            '--flavor',
            'tiny',
            '--image',
            imageId,
            '--availability-zone',
            'edge-b',
            '--wait',
            'zoned',
            '-f',
            'json',
          ),
        );
        assert.equal(zoned['OS-EXT-SRV-ATTR:host'], 'h3');
        assert.equal(zoned['OS-EXT-AZ:availability_zone'], 'edge-b');
        for (const name of ['steered', 'zoned'])
          succeeded(openstack(0, 'server', 'delete', '--wait', name));
        succeeded(openstack(0, 'aggregate', 'remove', 'host', 'edge-a', 'h3'));
        succeeded(openstack(0, 'aggregate', 'delete', 'edge-a'));
      },
    );

    step(
      'an anti-affinity group spreads its members; migrate + resize confirm moves one, with the stock client',
      (undo) => {
        undo(() => openstack(0, 'server', 'group', 'delete', 'spread'));
        undo(() => openstack(0, 'server', 'delete', '--wait', 'm1', 'm2'));
        const group = jsonOf(
          openstack(
            0,
            'server',
            'group',
            'create',
            '--policy',
            'anti-affinity',
            'spread',
            '-f',
            'json',
          ),
        );
        const hostsOf: string[] = [];
        for (const name of ['m1', 'm2']) {
          const created = jsonOf(
            openstack(
              1,
              'server',
              'create',
              '--flavor',
              'tiny',
              '--image',
              imageId,
              '--hint',
              `group=${String(group.id)}`,
              '--wait',
              name,
              '-f',
              'json',
            ),
          );
          hostsOf.push(String(created['OS-EXT-SRV-ATTR:host']));
        }
        assert.notEqual(hostsOf[0], hostsOf[1]);
        succeeded(openstack(0, 'server', 'migrate', '--wait', 'm1'));
        assert.equal(shown(1, 'm1').status, 'VERIFY_RESIZE');
        succeeded(openstack(1, 'server', 'resize', 'confirm', 'm1'));
        const moved = shown(0, 'm1');
        assert.equal(moved.status, 'ACTIVE');
        // Anti-affinity holds after the move too.
        assert.ok(![hostsOf[0], hostsOf[1]].includes(String(moved['OS-EXT-SRV-ATTR:host'])));
        for (const name of ['m1', 'm2'])
          succeeded(openstack(0, 'server', 'delete', '--wait', name));
        succeeded(openstack(0, 'server', 'group', 'delete', 'spread'));
      },
    );

    step(
      'kill -STOP on a compute: it shows down, new boots avoid it, evacuate moves its server; kill -CONT cleans up',
      async (undo) => {
        undo(() => openstack(0, 'server', 'delete', '--wait', 'stranded', 'avoided'));
        const stranded = createOn('h3', 'stranded');
        const h3 = up().computes.get('h3');
        assert.ok(h3 !== undefined);
        const refused = openstack(0, 'server', 'evacuate', 'stranded');
        assert.notEqual(refused.status, 0, 'evacuate is refused while the host is up');
        assert.match(refused.stderr, /Compute service of h3 is still in use/u);
        h3.signal('SIGSTOP');
        try {
          await pollUntil(
            'h3 shows down',
            () => services(1),
            (s) => s.includes('h3:enabled:down'),
            {
              timeoutMs: 60_000,
              intervalMs: 500,
            },
          );
          const avoided = jsonOf(
            openstack(
              1,
              'server',
              'create',
              '--flavor',
              'tiny',
              '--image',
              imageId,
              '--wait',
              'avoided',
              '-f',
              'json',
            ),
          );
          assert.notEqual(avoided['OS-EXT-SRV-ATTR:host'], 'h3');
          // python-openstackclient 6.0 sends the evacuate, then fails to print its answer
          // (novaclient hands it a tuple, not a server), against Nova too: accept exactly that
          // failure and watch the server instead of its --wait.
          const evacuating = openstack(0, 'server', 'evacuate', 'stranded');
          if (evacuating.status !== 0) {
            assert.match(
              evacuating.stderr,
              /'TupleWithMeta' object has no attribute '(?:id|to_dict)'/u,
            );
          }
          const evacuated = await pollUntil(
            'the evacuated server is active',
            () => shown(1, 'stranded'),
            (s) => s.status !== 'REBUILD',
            { timeoutMs: 120_000, intervalMs: 500 },
          );
          assert.equal(evacuated.status, 'ACTIVE');
          assert.notEqual(evacuated['OS-EXT-SRV-ATTR:host'], 'h3');
          const host3 = hosts[2];
          assert.ok(host3 !== undefined);
          assert.ok(
            (await domainsOn(host3)).includes(String(stranded.id)),
            'the hung host still has the old guest',
          );
        } finally {
          h3.signal('SIGCONT');
        }
        await pollUntil(
          'h3 is up again',
          () => services(0),
          (s) => s.includes('h3:enabled:up'),
          {
            timeoutMs: 60_000,
            intervalMs: 500,
          },
        );
        await pollUntil(
          'h3 removes the evacuated guest',
          async () => domainsOn(hostNamed('h3')),
          (domains) => !domains.includes(String(stranded.id)),
          { timeoutMs: 60_000, intervalMs: 500 },
        );
        for (const name of ['stranded', 'avoided'])
          succeeded(openstack(0, 'server', 'delete', '--wait', name));
      },
    );

    step(
      'kill -9 of a compute mid-build: the server ends in ERROR after the build timeout, its claim released',
      async () => {
        const h2 = up().computes.get('h2');
        assert.ok(h2 !== undefined);
        const auth = await token(0);
        // Stopped, h2 still counts as up for serviceDownTime: the build is cast to it and waits.
        h2.signal('SIGSTOP');
        const response = await compute(0, auth, 'POST', '/servers', {
          server: {
            name: 'orphan',
            flavorRef: flavorId,
            imageRef: imageId,
            availability_zone: 'nova:h2',
          },
        });
        assert.equal(response.status, 202, JSON.stringify(response.body));
        const id = (response.body.server as { id: string }).id;
        await pollUntil(
          'the build is on h2',
          () => show(auth, id),
          (s) => s['OS-EXT-SRV-ATTR:host'] === 'h2',
          {
            timeoutMs: 30_000,
            intervalMs: 100,
          },
        );
        h2.signal('SIGKILL');
        await h2.exited;
        const failed = await pollUntil(
          'the build times out',
          () => show(auth, id),
          (s) => s.status === 'ERROR',
          {
            timeoutMs: 120_000,
            intervalMs: 500,
          },
        );
        assert.match(failed.fault?.message ?? '', /timed out after 45 seconds/u);
        // hypervisor show would ask the dead host its uptime (a 400, as in Nova): list instead.
        const listed = JSON.parse(
          openstack(0, 'hypervisor', 'list', '--long', '-f', 'json').stdout,
        ) as Record<string, unknown>[];
        const h2Usage = listed.find((h) => h['Hypervisor Hostname'] === 'h2');
        assert.equal(h2Usage?.['vCPUs Used'], 0, 'the claim on h2 is released');
        assert.equal(h2Usage.State, 'down');
        succeeded(openstack(1, 'server', 'delete', '--wait', id));
      },
    );
  },
);
