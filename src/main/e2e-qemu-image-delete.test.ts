/**
 * An image deleted while servers use it, on a real libvirtd (VPMU_TEST_QEMU_URI, qemu:///system in
 * CI), through `vpmu serve`'s HTTP API: two servers built at once on one image; the image is
 * deleted while they run; the one left is stopped, started, rebooted (soft and hard) and rebuilt
 * on another image, and its guest keeps running on a whole backing chain (real qemu-img); once the
 * servers are deleted nothing of the image's data is left, and a restart sweeps an instance
 * directory no server claims (docs/hypervisor.md, "Root disks and image data").
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import { craftBytes, craftQcow2 } from '../testing/crafted-images.js';
import { requireBinding, requireQemuUri } from '../testing/libvirt.js';
import { pollUntil } from '../testing/processes.js';
import { scratchDir } from '../testing/scratch.js';
import { requireQemuImg } from '../testing/tools.js';
import { loadServeConfig, startService, type RunningService } from './serve.js';

const run = promisify(execFile);
const qemu = requireQemuUri();
const noBinding = await requireBinding();
const noQemuImg = requireQemuImg();
const skip = qemu.skip === false ? noBinding || noQemuImg : qemu.skip;
const uri = qemu.uri ?? 'qemu:///system';
const scratch = scratchDir('vpmu-e2e-image-delete-');
// QEMU runs as libvirt-qemu and must reach the state directory below this root-owned one.
chmodSync(scratch, 0o755);

async function virsh(...args: string[]): Promise<string> {
  const { stdout } = await run('virsh', ['-q', '-c', uri, ...args], {
    timeout: 30_000,
    encoding: 'utf8',
  });
  return stdout.trim();
}

interface ChainLink {
  filename: string;
  'backing-filename'?: string;
}

/** The disk's backing chain as real qemu-img reads it (-U: QEMU holds the disk's lock). */
async function backingChain(disk: string): Promise<string[]> {
  const { stdout } = await run(
    'qemu-img',
    ['info', '-U', '--backing-chain', '--output=json', disk],
    { timeout: 30_000, encoding: 'utf8' },
  );
  return (JSON.parse(stdout) as ChainLink[]).map((link) => link.filename);
}

/** Every file below `dir` (recursively) that is the inode `ino`. */
function filesWithInode(dir: string, ino: number): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isFile() && statSync(file).ino === ino) found.push(file);
  }
  return found;
}

/** The API as one admin: JSON calls with its token. */
async function client(service: RunningService) {
  const auth = await fetch(`${service.url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(passwordAuth('admin', 'pw', 'admin')),
  });
  const token = auth.headers.get('X-Subject-Token') ?? '';
  const request = async (method: string, url: string, body?: unknown, raw?: Uint8Array) => {
    const res = await fetch(`${service.url}${url}`, {
      method,
      headers: {
        'X-Auth-Token': token,
        'Content-Type': raw === undefined ? 'application/json' : 'application/octet-stream',
      },
      ...(raw !== undefined
        ? { body: raw }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown), text };
  };
  const server = async (id: string) => {
    const res = await request('GET', `/compute/v2.1/servers/${id}`);
    if (res.status === 404) return { status: 'GONE', taskState: null, fault: undefined };
    const body = (res.body as { server: Record<string, unknown> }).server;
    return {
      status: String(body.status),
      taskState: body['OS-EXT-STS:task_state'] ?? null,
      fault: body.fault,
    };
  };
  /** Waits until the server is `status` with no task under way. */
  const settle = async (id: string, status: string) => {
    const seen = await pollUntil(
      `server ${id} ${status}`,
      () => server(id),
      (s) => (s.status === status && s.taskState === null) || s.status === 'ERROR',
      { timeoutMs: 120_000, intervalMs: 100 },
    );
    assert.equal(seen.status, status, JSON.stringify(seen.fault));
  };
  const newImage = async (name: string) => {
    const created = await request('POST', '/image/v2/images', {
      name,
      disk_format: 'qcow2',
      container_format: 'bare',
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.body as { id: string }).id;
    const data = craftBytes(scratch, (d) => craftQcow2(d, 64 * 1024 * 1024));
    const upload = await request('PUT', `/image/v2/images/${id}/file`, undefined, data);
    assert.equal(upload.status, 204, upload.text);
    return id;
  };
  const action = async (id: string, body: unknown) => {
    const res = await request('POST', `/compute/v2.1/servers/${id}/action`, body);
    assert.equal(res.status, 202, res.text);
  };
  return { request, settle, newImage, action };
}

describe(`an image deleted while servers use it, on ${uri}`, { skip }, () => {
  it('loses nothing: stop, start, reboot and rebuild still work; nothing is left after', async () => {
    const stateDir = path.join(scratch, 'state');
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    const images = path.join(stateDir, 'images');
    const instances = path.join(stateDir, 'instances');
    const config = loadServeConfig(
      ['--port', '0', '--state-dir', stateDir, '--uri', uri, '--config', 'c.json'],
      { VPMU_ADMIN_PASSWORD: 'pw' },
      () => JSON.stringify({ computeHostName: 'e2e-image-delete', stopTimeoutSeconds: 1 }),
    );
    let service = await startService(config);
    const booted: string[] = [];
    try {
      const api = await client(service);
      const flavor = await api.request('POST', '/compute/v2.1/flavors', {
        flavor: { name: 'tiny', id: 'tiny', vcpus: 1, ram: 64, disk: 1 },
      });
      assert.equal(flavor.status, 200, flavor.text);
      const first = await api.newImage('first');
      const second = await api.newImage('second');
      const firstIno = statSync(path.join(images, first)).ino;
      // Held open, the first image's inode cannot be given to a file made after its last link
      // goes (the rebuild's new disk once got it), so "no file has it" means what it says.
      const firstHeld = openSync(path.join(images, first), 'r');

      // Two builds on one image at once.
      const ids = await Promise.all(
        ['vpmu-test-keep', 'vpmu-test-drop'].map(async (name) => {
          const res = await api.request('POST', '/compute/v2.1/servers', {
            server: { name, flavorRef: 'tiny', imageRef: first, networks: 'none' },
          });
          assert.equal(res.status, 202, res.text);
          const id = (res.body as { server: { id: string } }).server.id;
          booted.push(id);
          return id;
        }),
      );
      const [keep, drop] = ids as [string, string];
      for (const id of ids) await api.settle(id, 'ACTIVE');
      const disk = path.join(instances, keep, 'disk');
      const base = path.join(instances, keep, 'base');
      assert.deepEqual(await backingChain(disk), [disk, base]);
      assert.equal(statSync(base).ino, firstIno, 'the base is the image data, linked');

      const deleted = await api.request('DELETE', `/image/v2/images/${first}`);
      assert.equal(deleted.status, 204, deleted.text);
      assert.equal(existsSync(path.join(images, first)), false, 'the image file is gone');
      assert.equal(await virsh('domstate', keep), 'running');
      assert.deepEqual(await backingChain(disk), [disk, base]);
      // What a snapshot reads (vpmu serves no createImage yet): the whole chain, flattened.
      const flat = path.join(scratch, 'flat.qcow2');
      await run('qemu-img', ['convert', '-U', '-O', 'qcow2', disk, flat], { timeout: 60_000 });
      await run('qemu-img', ['check', flat], { timeout: 30_000 });

      // One server of the two goes: the other still holds the data.
      assert.equal((await api.request('DELETE', `/compute/v2.1/servers/${drop}`)).status, 204);
      await api.settle(drop, 'GONE');
      assert.deepEqual(filesWithInode(stateDir, firstIno), [base]);

      await api.action(keep, { 'os-stop': null });
      await api.settle(keep, 'SHUTOFF');
      assert.equal(await virsh('domstate', keep), 'shut off');
      assert.deepEqual(await backingChain(disk), [disk, base]);
      await api.action(keep, { 'os-start': null });
      await api.settle(keep, 'ACTIVE');
      assert.equal(await virsh('domstate', keep), 'running');
      for (const type of ['SOFT', 'HARD']) {
        await api.action(keep, { reboot: { type } });
        await api.settle(keep, 'ACTIVE');
        assert.equal(await virsh('domstate', keep), 'running', type);
        assert.deepEqual(await backingChain(disk), [disk, base]);
      }

      // A rebuild on another image lets the deleted image's data go: no disk uses it any more.
      await api.action(keep, { rebuild: { imageRef: second } });
      await api.settle(keep, 'ACTIVE');
      assert.equal(await virsh('domstate', keep), 'running');
      assert.deepEqual(await backingChain(disk), [disk, base]);
      assert.equal(statSync(base).ino, statSync(path.join(images, second)).ino);
      assert.deepEqual(filesWithInode(stateDir, firstIno), []);
      closeSync(firstHeld);

      // The second image goes too; the server is deleted; nothing of either is left.
      assert.equal((await api.request('DELETE', `/image/v2/images/${second}`)).status, 204);
      assert.equal(await virsh('domstate', keep), 'running');
      const secondIno = statSync(base).ino;
      assert.equal((await api.request('DELETE', `/compute/v2.1/servers/${keep}`)).status, 204);
      await api.settle(keep, 'GONE');
      assert.deepEqual(readdirSync(instances), []);
      assert.deepEqual(readdirSync(images), []);
      assert.deepEqual(filesWithInode(stateDir, secondIno), []);
      const domains = await virsh('list', '--all', '--uuid');
      assert.equal(
        ids.some((id) => domains.includes(id)),
        false,
        domains,
      );

      // An instance directory no server claims (a crash before its record knew) holding image
      // data is swept at the next start.
      const third = await api.newImage('third');
      const stray = path.join(instances, '3f0c9a52-6e1d-4b7a-8c2e-5d4f3a2b1c0d');
      mkdirSync(stray);
      linkSync(path.join(images, third), path.join(stray, 'base'));
      await service.close();
      service = await startService(config);
      assert.deepEqual(readdirSync(instances), []);
      assert.equal(statSync(path.join(images, third)).nlink, 1);
    } finally {
      await service.close();
      const left = await virsh('list', '--all', '--uuid').catch(() => '');
      for (const id of booted.filter((uuid) => left.includes(uuid))) {
        await virsh('destroy', id).catch(() => undefined);
        await virsh('undefine', id).catch(() => undefined);
      }
    }
  });

  it('takes the data of a disk made before disks kept it, even while its guest runs', async () => {
    const stateDir = path.join(scratch, 'legacy');
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    const images = path.join(stateDir, 'images');
    const instances = path.join(stateDir, 'instances');
    const config = loadServeConfig(
      ['--port', '0', '--state-dir', stateDir, '--uri', uri, '--config', 'c.json'],
      { VPMU_ADMIN_PASSWORD: 'pw' },
      () => JSON.stringify({ computeHostName: 'e2e-image-legacy', stopTimeoutSeconds: 1 }),
    );
    let service = await startService(config);
    let id = '';
    try {
      let api = await client(service);
      const flavor = await api.request('POST', '/compute/v2.1/flavors', {
        flavor: { name: 'tiny', id: 'tiny', vcpus: 1, ram: 64, disk: 1 },
      });
      assert.equal(flavor.status, 200, flavor.text);
      const image = await api.newImage('old');
      const imageFile = path.join(images, image);
      const res = await api.request('POST', '/compute/v2.1/servers', {
        server: { name: 'vpmu-test-legacy', flavorRef: 'tiny', imageRef: image, networks: 'none' },
      });
      assert.equal(res.status, 202, res.text);
      id = (res.body as { server: { id: string } }).server.id;
      await api.settle(id, 'ACTIVE');
      const disk = path.join(instances, id, 'disk');
      const base = path.join(instances, id, 'base');

      // Make the disk as an older vpmu did (backed on the image file itself) and run its guest
      // behind vpmu's back, so that the next start finds it in use.
      await api.action(id, { 'os-stop': null });
      await api.settle(id, 'SHUTOFF');
      await run('qemu-img', ['rebase', '-u', '-F', 'qcow2', '-b', imageFile, disk], {
        timeout: 30_000,
      });
      await run('rm', [base], { timeout: 30_000 });
      await virsh('start', id);
      assert.deepEqual(await backingChain(disk), [disk, imageFile]);

      await service.close();
      service = await startService(config);
      api = await client(service);
      await api.settle(id, 'ACTIVE');
      assert.equal(statSync(base).ino, statSync(imageFile).ino, 'the data is held beside the disk');
      assert.deepEqual(await backingChain(disk), [disk, imageFile], 'QEMU holds the disk');

      assert.equal((await api.request('DELETE', `/image/v2/images/${image}`)).status, 204);
      assert.equal(await virsh('domstate', id), 'running');
      await api.action(id, { 'os-stop': null });
      await api.settle(id, 'SHUTOFF');
      await api.action(id, { 'os-start': null });
      await api.settle(id, 'ACTIVE');
      assert.equal(await virsh('domstate', id), 'running');
      assert.deepEqual(await backingChain(disk), [disk, base]);
      const ino = statSync(base).ino;

      assert.equal((await api.request('DELETE', `/compute/v2.1/servers/${id}`)).status, 204);
      await api.settle(id, 'GONE');
      assert.deepEqual(readdirSync(instances), []);
      assert.deepEqual(filesWithInode(stateDir, ino), []);
    } finally {
      await service.close();
      if (id !== '' && (await virsh('list', '--all', '--uuid').catch(() => '')).includes(id)) {
        await virsh('destroy', id).catch(() => undefined);
        await virsh('undefine', id).catch(() => undefined);
      }
    }
  });
});
