/**
 * Crafted images on a real libvirtd (VPMU_TEST_QEMU_URI, qemu:///system in CI), through
 * `vpmu serve`: a qcow2 whose backing file is a host file and a VMDK descriptor naming one are
 * refused at upload; an image file swapped on disk after its upload fails the build before any
 * disk or domain exists; a safe qcow2 still boots to ACTIVE. Guests are named vpmu-test-images-*.
 * No domain of these tests runs concurrently with another: the refused ones never reach libvirt.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import {
  craftBytes,
  craftIn,
  craftQcow2,
  craftQcow2WithBacking,
  craftRaw,
  craftVmdkDescriptor,
} from '../testing/crafted-images.js';
import { requireBinding, requireQemuUri } from '../testing/libvirt.js';
import { scratchDir } from '../testing/scratch.js';
import { requireQemuImg } from '../testing/tools.js';
import { loadServeConfig, startService } from './serve.js';

const run = promisify(execFile);
const qemu = requireQemuUri();
const noBinding = await requireBinding();
const noQemuImg = requireQemuImg();
const skip = qemu.skip === false ? noBinding || noQemuImg : qemu.skip;
const uri = qemu.uri ?? 'qemu:///system';
const scratch = scratchDir('vpmu-e2e-images-');
// QEMU runs as libvirt-qemu and must reach the state directory below this root-owned one.
chmodSync(scratch, 0o755);

async function virshList(): Promise<string> {
  const { stdout } = await run('virsh', ['-q', '-c', uri, 'list', '--all', '--uuid'], {
    timeout: 30_000,
    encoding: 'utf8',
  });
  return stdout;
}

describe(`crafted images on ${uri}`, { skip }, () => {
  it('refuses them at upload and at boot, and still boots a safe qcow2', async () => {
    const stateDir = path.join(scratch, 'state');
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    const service = await startService(
      loadServeConfig(
        ['--port', '0', '--state-dir', stateDir, '--uri', uri, '--config', 'c.json'],
        { VPMU_ADMIN_PASSWORD: 'pw' },
        () => JSON.stringify({ computeHostName: 'e2e-images', stopTimeoutSeconds: 1 }),
      ),
    );
    const booted: string[] = [];
    try {
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
        return {
          status: res.status,
          body: text === '' ? null : (JSON.parse(text) as unknown),
          text,
        };
      };
      const newImage = async (name: string, diskFormat: string, data: Uint8Array) => {
        const created = await request('POST', '/image/v2/images', {
          name,
          disk_format: diskFormat,
          container_format: 'bare',
        });
        assert.equal(created.status, 201, created.text);
        const id = (created.body as { id: string }).id;
        return { id, upload: await request('PUT', `/image/v2/images/${id}/file`, undefined, data) };
      };
      const boot = async (name: string, imageRef: string) => {
        const res = await request('POST', '/compute/v2.1/servers', {
          server: { name, flavorRef: 'tiny', imageRef, networks: 'none' },
        });
        assert.equal(res.status, 202, res.text);
        const id = (res.body as { server: { id: string } }).server.id;
        booted.push(id);
        let server: { status: string; fault?: { message: string } } = { status: 'BUILD' };
        const deadline = Date.now() + 60_000;
        while (server.status === 'BUILD' && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          server = (
            (await request('GET', `/compute/v2.1/servers/${id}`)).body as {
              server: typeof server;
            }
          ).server;
        }
        return { id, server };
      };
      assert.equal(
        (
          await request('POST', '/compute/v2.1/flavors', {
            flavor: { name: 'tiny', id: 'tiny', vcpus: 1, ram: 64, disk: 0 },
          })
        ).status,
        200,
      );

      const backed = await newImage('backed', 'qcow2', craftBytes(scratch, craftQcow2WithBacking));
      assert.equal(backed.upload.status, 400, backed.upload.text);
      assert.match(backed.upload.text, /it is a qcow2 image with a backing file/u);
      const descriptor = await newImage(
        'descriptor',
        'raw',
        craftBytes(scratch, craftVmdkDescriptor),
      );
      assert.equal(descriptor.upload.status, 400, descriptor.upload.text);
      assert.match(descriptor.upload.text, /it is a VMDK descriptor/u);
      assert.deepEqual(readdirSync(path.join(stateDir, 'images')), []);

      // A raw image whose file is replaced on the host after the upload was checked.
      const swapped = await newImage(
        'swapped',
        'raw',
        craftBytes(scratch, (d) => craftRaw(d)),
      );
      assert.equal(swapped.upload.status, 204, swapped.upload.text);
      copyFileSync(
        craftIn(scratch, craftQcow2WithBacking),
        path.join(stateDir, 'images', swapped.id),
      );
      const refused = await boot('vpmu-test-images-swapped', swapped.id);
      assert.equal(refused.server.status, 'ERROR');
      assert.match(
        refused.server.fault?.message ?? '',
        new RegExp(
          `^Cannot build a disk on image ${swapped.id}: it is a qcow2 image with a backing file`,
          'u',
        ),
      );
      assert.equal((await virshList()).includes(refused.id), false, 'no domain was defined');
      assert.deepEqual(readdirSync(path.join(stateDir, 'instances')), []);

      const safe = await newImage(
        'safe',
        'qcow2',
        craftBytes(scratch, (d) => craftQcow2(d, 64 * 1024 * 1024)),
      );
      assert.equal(safe.upload.status, 204, safe.upload.text);
      const good = await boot('vpmu-test-images-safe', safe.id);
      assert.equal(good.server.status, 'ACTIVE', JSON.stringify(good.server.fault));
      assert.equal((await request('DELETE', `/compute/v2.1/servers/${good.id}`)).status, 204);
      const usage = await request('GET', '/compute/v2.1/os-hypervisors/detail');
      const hypervisors = (
        usage.body as { hypervisors: { vcpus_used: number; memory_mb_used: number }[] }
      ).hypervisors;
      assert.ok(
        hypervisors.every((h) => h.vcpus_used === 0),
        JSON.stringify(hypervisors),
      );
    } finally {
      await service.close();
      const left = await virshList().catch(() => '');
      for (const id of booted.filter((uuid) => left.includes(uuid))) {
        await run('virsh', ['-c', uri, 'destroy', id], { timeout: 30_000 }).catch(() => undefined);
        await run('virsh', ['-c', uri, 'undefine', id], { timeout: 30_000 }).catch(() => undefined);
      }
    }
  });
});
