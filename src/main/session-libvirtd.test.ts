/**
 * Several isolated libvirt hosts on one machine (scripts/session-libvirtd.sh): two session-mode
 * libvirtds, each run as the unprivileged host user in its own directory, opened by vpmu's libvirt
 * adapter as root. A guest defined on one host is absent on the other; a real QEMU/TCG guest that
 * vpmu designs with the vPMU off boots on one, as the host user, and QEMU reports pmu=false; and
 * `stop` leaves no daemon, virtlogd or QEMU of its host behind.
 *
 * Needs root (the script creates the host user and runs the daemons as it), libvirtd, virsh, QEMU
 * and the libvirt binding; in CI (CI=true) a missing one fails the test, elsewhere it skips.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Qcow2Disks } from '../adapters/disks/qcow2-disks.js';
import { LibvirtHypervisor } from '../adapters/libvirt/libvirt-hypervisor.js';
import type { HostSettings } from '../domain/index.js';
import type { InstanceDisks } from '../ports/instance-disks.js';
import { guestDown, guestUp } from '../services/index.js';
import { tinyDomainXml } from '../testing/domains.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { requireBinding } from '../testing/libvirt.js';
import { passwordAuth } from '../testing/api.js';
import { pollUntil, RUN_TIMEOUT_MS, startChild } from '../testing/processes.js';
import { requireTool, skipOrThrow } from '../testing/tools.js';

const run = promisify(execFile);
const SCRIPT = 'scripts/session-libvirtd.sh';
/** Starting or stopping one host: the daemon answers in well under a second, QEMU exits in ~1 s. */
const SCRIPT_TIMEOUT_MS = 90_000;

const DAEMON = 'apt-get install --no-install-recommends libvirt-daemon libvirt-daemon-driver-qemu';
const skip =
  (process.getuid?.() === 0
    ? false
    : skipOrThrow(`${SCRIPT} must run as root (it creates the host user)`)) ||
  requireTool('libvirtd', ['--version'], DAEMON) ||
  requireTool('virsh', ['--version'], 'apt-get install libvirt-clients') ||
  requireTool('qemu-system-x86_64', ['--version'], 'apt-get install qemu-system-x86') ||
  requireTool('setpriv', ['--version'], 'apt-get install util-linux') ||
  (await requireBinding());

/** One session host: its directory, its two URIs, and the user its daemon and QEMU run as. */
interface SessionHost {
  readonly dir: string;
  readonly testUri: string;
  readonly qemuUri: string;
  readonly uid: number;
  readonly gid: number;
}

async function startHost(dir: string): Promise<SessionHost> {
  const { stdout } = await run('bash', [SCRIPT, 'start', dir], {
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  const lines = stdout.trim().split('\n');
  const socket = path.join(dir, 'run', 'libvirt', 'libvirt-sock');
  assert.deepEqual(lines, [
    `test+unix:///default?socket=${socket}`,
    `qemu+unix:///session?socket=${socket}`,
  ]);
  const owner = statSync(dir);
  assert.notEqual(owner.uid, 0, 'the daemon runs unprivileged');
  return {
    dir,
    testUri: lines[0] ?? '',
    qemuUri: lines[1] ?? '',
    uid: owner.uid,
    gid: owner.gid,
  };
}

/** Directories whose daemon may run: stopped on every way out, a killed test file included. */
const started = new Set<string>();

async function stopHost(dir: string): Promise<void> {
  await run('bash', [SCRIPT, 'stop', dir], { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
}

/**
 * The daemons are not this process's children (libvirtd -d detaches), so nothing else ends them
 * when node --test kills this file at its timeout: stop them synchronously, then die of the signal.
 */
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const dir of started) {
      spawnSync('bash', [SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 30_000 });
      rmSync(dir, { recursive: true, force: true });
    }
    process.kill(process.pid, signal);
  });
}

/** The pid in a pidfile, or undefined when there is none. */
function pidIn(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Whether a process runs (an exited one not yet reaped, a zombie, does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /u.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The disks, handed to the host user once made: a session libvirtd relabels no file, so QEMU (the
 * host user) can write only what that user owns. This is what running vpmu itself as the host user
 * gives (see the script's header); the test process stays root.
 */
function handedTo(disks: InstanceDisks, host: SessionHost): InstanceDisks {
  return new Proxy(disks, {
    get: (target, name) => {
      if (name === 'create') {
        return async (request: Parameters<InstanceDisks['create']>[0]): Promise<void> => {
          await target.create(request);
          chownSync(path.dirname(request.path), host.uid, host.gid);
          chownSync(request.path, host.uid, host.gid);
        };
      }
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
}

/** QEMU's own answer: the `pmu` property of vCPU 0, over QMP through the host's daemon. */
async function qomPmu(uri: string, domain: string): Promise<unknown> {
  const command = {
    execute: 'qom-get',
    arguments: { path: '/machine/unattached/device[0]', property: 'pmu' },
  };
  const { stdout } = await run(
    'virsh',
    ['-q', '-c', uri, 'qemu-monitor-command', domain, JSON.stringify(command)],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return (JSON.parse(stdout) as { return?: unknown }).return;
}

describe(
  'isolated libvirt hosts: session-mode libvirtds, one per directory',
  {
    skip,
    timeout: 300_000,
  },
  () => {
    const dirs: string[] = [];
    const hosts: SessionHost[] = [];
    before(async () => {
      for (const name of ['a', 'b']) {
        const dir = mkdtempSync(path.join(tmpdir(), `vpmu-session-${name}-`));
        dirs.push(dir);
        started.add(dir);
        hosts.push(await startHost(dir));
      }
    });
    after(async () => {
      for (const dir of dirs) {
        await stopHost(dir).catch((error: unknown) => {
          process.stderr.write(`stopping ${dir}: ${String(error)}\n`);
        });
        started.delete(dir);
        rmSync(dir, { recursive: true, force: true });
      }
    });
    const host = (i: number): SessionHost => {
      const found = hosts[i];
      assert.ok(found !== undefined, 'the hosts started');
      return found;
    };

    it('starts again idempotently: the same daemon, the same URIs', async () => {
      const a = host(0);
      const pid = pidIn(path.join(a.dir, 'libvirtd.pid'));
      assert.deepEqual(await startHost(a.dir), a);
      assert.equal(pidIn(path.join(a.dir, 'libvirtd.pid')), pid);
    });

    for (const driver of ['test', 'qemu'] as const) {
      it(`a guest defined on one host's ${driver} driver is absent on the other`, async () => {
        const uri = (h: SessionHost): string => (driver === 'test' ? h.testUri : h.qemuUri);
        const one = new LibvirtHypervisor({ uri: uri(host(0)) });
        const other = new LibvirtHypervisor({ uri: uri(host(1)) });
        const uuid = randomUUID();
        const name = `vpmu-test-iso-${uuid.slice(0, 8)}`;
        try {
          const ref = await one.define(tinyDomainXml(driver, { name, uuid, pmu: false }));
          assert.deepEqual(ref, { name, uuid });
          assert.deepEqual(await one.find(uuid), ref);
          assert.ok((await one.list()).some((d) => d.uuid === uuid));
          assert.equal(await other.find(uuid), undefined);
          assert.equal(
            (await other.list()).some((d) => d.uuid === uuid || d.name === name),
            false,
          );
          await one.undefine(ref);
          assert.equal(await one.find(uuid), undefined);
        } finally {
          await one.close();
          await other.close();
        }
      });
    }

    const tcgHost = (instanceDir: string): HostSettings => ({
      virtType: 'qemu',
      arch: 'x86_64',
      cpuMode: 'custom',
      cpuModel: 'qemu64',
      instanceDir,
      network: { type: 'none' },
    });
    const offGuest = (instanceDir: string) => {
      const uuid = randomUUID();
      return {
        flavor: aFlavor({ name: 'tiny', vcpus: 1, memoryMiB: 64, diskGiB: 1, extraSpecs: {} }),
        image: anImage({ properties: { hw_pmu: 'false' } }),
        host: tcgHost(instanceDir),
        name: `vpmu-test-session-${uuid.slice(0, 8)}`,
        uuid,
      };
    };

    it('boots a vpmu-designed TCG guest with the vPMU off as the host user; QEMU reports pmu=false', async (t) => {
      const a = host(0);
      const instanceDir = path.join(a.dir, 'state', 'instances');
      mkdirSync(instanceDir, { recursive: true });
      for (const d of [path.dirname(instanceDir), instanceDir]) chownSync(d, a.uid, a.gid);
      const hypervisor = new LibvirtHypervisor({ uri: a.qemuUri });
      const disks = handedTo(new Qcow2Disks({ instanceRoot: instanceDir }), a);
      const input = offGuest(instanceDir);
      try {
        const began = performance.now();
        const up = await guestUp(input, { hypervisor, disks });
        t.diagnostic(`define+start: ${String(Math.round(performance.now() - began))} ms`);
        try {
          assert.equal(await hypervisor.state(up.uuid), 'running');
          assert.match(await hypervisor.domainXml(up.uuid), /<pmu state=["']off["']\/>/u);
          assert.equal(await qomPmu(a.qemuUri, up.name), false);
          const qemuPid = pidIn(
            path.join(a.dir, 'run', 'libvirt', 'qemu', 'run', `${up.name}.pid`),
          );
          assert.ok(
            qemuPid !== undefined && running(qemuPid),
            'QEMU has a pidfile in the host dir',
          );
          assert.equal(
            statSync(`/proc/${String(qemuPid)}`).uid,
            a.uid,
            'QEMU runs as the host user',
          );
        } finally {
          await guestDown(
            { guest: up.uuid, instanceDir, stopTimeoutMs: 1_000 },
            { hypervisor, disks },
          );
        }
        assert.equal(await hypervisor.find(input.uuid), undefined);
      } finally {
        await hypervisor.close();
      }
    });

    it('cannot boot a guest on disks root wrote: QEMU, the host user, is refused, and nothing is left', async () => {
      const a = host(0);
      // Root's own directory below the host's: what a root vpmu with its state dir there would make.
      const instanceDir = path.join(a.dir, 'root-state', 'instances');
      mkdirSync(instanceDir, { recursive: true });
      const hypervisor = new LibvirtHypervisor({ uri: a.qemuUri });
      const input = offGuest(instanceDir);
      try {
        await assert.rejects(
          guestUp(input, { hypervisor, disks: new Qcow2Disks({ instanceRoot: instanceDir }) }),
          /^HypervisorError: Cannot start domain 'vpmu-test-session-[0-9a-f]{8}': .*Permission denied/u,
        );
        assert.equal(await hypervisor.find(input.uuid), undefined);
      } finally {
        await hypervisor.close();
      }
    });

    it('vpmu serve run as the host user boots a server (image, config drive) with pmu=false through the API', async (t) => {
      const a = host(0);
      const asHost = ['--reuid', String(a.uid), '--regid', String(a.gid), '--init-groups'];
      // The host user runs vpmu from this checkout, so it must be able to read it.
      const probe = spawnSync(
        'setpriv',
        [...asHost, process.execPath, 'bin/vpmu.js', 'serve', '--help'],
        {
          encoding: 'utf8',
          timeout: RUN_TIMEOUT_MS,
        },
      );
      const why =
        probe.status === 0
          ? false
          : skipOrThrow(
              `the host user (uid ${String(a.uid)}) cannot run vpmu from ${process.cwd()}: ${probe.stderr.trim()}`,
            );
      if (why !== false) {
        t.skip(why);
        return;
      }
      const config = path.join(a.dir, 'serve.json');
      writeFileSync(
        config,
        JSON.stringify({
          computeHostName: 'session-a',
          stopTimeoutSeconds: 1,
          forceConfigDrive: true,
        }),
      );
      chownSync(config, a.uid, a.gid);
      const serve = startChild(
        'setpriv',
        [
          ...asHost,
          process.execPath,
          'bin/vpmu.js',
          'serve',
          '--port',
          '0',
          '--state-dir',
          path.join(a.dir, 'serve-state'),
          '--uri',
          a.qemuUri,
          '--config',
          config,
        ],
        {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            HOME: path.join(a.dir, 'home'),
            VPMU_ADMIN_PASSWORD: 'pw',
          },
        },
      );
      try {
        const spawned = performance.now();
        const url = (await serve.waitFor(/vpmu listening on (http:\/\/\S+)/u))[1] ?? '';
        t.diagnostic(
          `vpmu serve listening after ${String(Math.round(performance.now() - spawned))} ms`,
        );
        const auth = await fetch(`${url}/identity/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(passwordAuth('admin', 'pw', 'admin')),
        });
        const token = auth.headers.get('X-Subject-Token') ?? '';
        const call = async (method: string, route: string, body?: unknown): Promise<unknown> => {
          const res = await fetch(`${url}${route}`, {
            method,
            headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          const text = await res.text();
          assert.ok(res.status < 300, `${method} ${route}: ${String(res.status)} ${text}`);
          return text === '' ? null : (JSON.parse(text) as unknown);
        };
        await call('POST', '/compute/v2.1/flavors', {
          flavor: { name: 'tiny', id: 'tiny', vcpus: 1, ram: 64, disk: 1 },
        });
        await call('POST', '/compute/v2.1/flavors/tiny/os-extra_specs', {
          extra_specs: { 'hw:pmu': 'false' },
        });
        const image = (await call('POST', '/image/v2/images', {
          name: 'blank',
          disk_format: 'raw',
          container_format: 'bare',
        })) as { id: string };
        const put = await fetch(`${url}/image/v2/images/${image.id}/file`, {
          method: 'PUT',
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/octet-stream' },
          body: new Uint8Array(1024 * 1024),
        });
        assert.equal(put.status, 204);
        const began = performance.now();
        const created = (await call('POST', '/compute/v2.1/servers', {
          server: {
            name: 'vpmu-test-session',
            flavorRef: 'tiny',
            imageRef: image.id,
            networks: 'none',
          },
        })) as { server: { id: string } };
        const id = created.server.id;
        const shown = async (): Promise<Record<string, unknown>> =>
          (
            (await call('GET', `/compute/v2.1/servers/${id}`)) as {
              server: Record<string, unknown>;
            }
          ).server;
        const server = await pollUntil(
          'the server out of BUILD',
          shown,
          (s) => s.status !== 'BUILD',
          {
            intervalMs: 100,
          },
        );
        assert.equal(server.status, 'ACTIVE', JSON.stringify(server.fault));
        t.diagnostic(
          `POST /servers to ACTIVE: ${String(Math.round(performance.now() - began))} ms`,
        );
        const domain = String(server['OS-EXT-SRV-ATTR:instance_name']);
        assert.equal(await qomPmu(a.qemuUri, domain), false);
        const instance = path.join(a.dir, 'serve-state', 'instances', id);
        for (const file of ['disk', 'disk.config', 'base']) {
          assert.equal(
            statSync(path.join(instance, file)).uid,
            a.uid,
            `${file} is the host user's`,
          );
        }
        const deleting = performance.now();
        await call('DELETE', `/compute/v2.1/servers/${id}`);
        await pollUntil(
          'the server gone',
          async () =>
            (
              await fetch(`${url}/compute/v2.1/servers/${id}`, {
                headers: { 'X-Auth-Token': token },
              })
            ).status,
          (status) => status === 404,
          { intervalMs: 100 },
        );
        t.diagnostic(`DELETE to 404: ${String(Math.round(performance.now() - deleting))} ms`);
        const hypervisor = new LibvirtHypervisor({ uri: a.qemuUri });
        try {
          assert.equal(await hypervisor.find(id), undefined);
        } finally {
          await hypervisor.close();
        }
      } finally {
        await serve.stop();
      }
    });

    it('stop ends the daemon, its virtlogd and any QEMU it left running, by pid', async () => {
      const b = host(1);
      const hypervisor = new LibvirtHypervisor({ uri: b.qemuUri });
      const name = `vpmu-test-left-${randomUUID().slice(0, 8)}`;
      try {
        const ref = await hypervisor.define(tinyDomainXml('qemu', { name, pmu: false }));
        await hypervisor.start(ref);
      } finally {
        await hypervisor.close();
      }
      const run = path.join(b.dir, 'run', 'libvirt');
      const pids = {
        libvirtd: pidIn(path.join(b.dir, 'libvirtd.pid')),
        virtlogd: pidIn(path.join(run, 'virtlogd.pid')),
        qemu: pidIn(path.join(run, 'qemu', 'run', `${name}.pid`)),
      };
      for (const [what, pid] of Object.entries(pids)) {
        assert.ok(pid !== undefined && running(pid), `${what} runs before stop`);
      }
      await stopHost(b.dir);
      const left = await pollUntil(
        'every process of the host gone',
        () => Object.entries(pids).filter(([, pid]) => pid !== undefined && running(pid)),
        (still) => still.length === 0,
        { timeoutMs: 15_000 },
      );
      assert.deepEqual(left, []);
      // The other host is untouched, and stop is idempotent.
      await stopHost(b.dir);
      const other = new LibvirtHypervisor({ uri: host(0).testUri });
      try {
        assert.ok(Array.isArray(await other.list()));
      } finally {
        await other.close();
      }
    });
  },
);
