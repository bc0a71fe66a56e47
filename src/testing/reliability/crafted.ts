/**
 * Crafted images (OSSA-2024-001's class): each upload must be a 400 that leaves no file under
 * images/, and a boot on one (uploaded, or swapped in under a valid image's data file) must never
 * reach ACTIVE nor leave an instance directory. The images come from ../crafted-images.ts (the real
 * `qemu-img`), the makers the image-safety tests use.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  craftBytes,
  craftOversizeQcow2,
  craftQcow2,
  craftQcow2WithBacking,
  craftQcow2WithDataFile,
  craftRaw,
  craftVmdkDescriptor,
} from '../crafted-images.js';
import { type Cloud, COMPUTE_MV, FLAVOR_SMALL, listDir, scenarioCloud } from './cloud.js';
import { field, waitFor } from './harness.js';
import type { ScenarioContext } from './scenario.js';

interface Crafted {
  readonly name: string;
  /** The `disk_format` it is uploaded as. */
  readonly declared: string;
  /** The crafted file, swapped in at boot under a valid image of the `declared` format. */
  readonly file: string;
}

/**
 * Makes the crafted images in `dir` with the shared makers (never touching a host file: the data
 * file is our own). The VMDK descriptor is uploaded twice, declared raw and declared vmdk.
 */
export function craftImages(dir: string): Crafted[] {
  mkdirSync(dir, { recursive: true });
  const vmdkDescriptor = craftVmdkDescriptor(dir);
  return [
    { name: 'qcow2-backing-host-file', declared: 'qcow2', file: craftQcow2WithBacking(dir) },
    { name: 'qcow2-external-data-file', declared: 'qcow2', file: craftQcow2WithDataFile(dir) },
    {
      name: 'qcow2-huge-virtual-size',
      declared: 'qcow2',
      file: craftOversizeQcow2(dir, 60 * 1024 ** 4),
    },
    { name: 'qcow2-declared-raw', declared: 'raw', file: craftQcow2(dir) },
    { name: 'vmdk-host-extent-declared-raw', declared: 'raw', file: vmdkDescriptor },
    { name: 'vmdk-host-extent', declared: 'vmdk', file: vmdkDescriptor },
    { name: 'raw-declared-qcow2', declared: 'qcow2', file: craftRaw(dir, 1024 * 1024) },
  ];
}

export async function crafted(ctx: ScenarioContext): Promise<void> {
  const cloud = scenarioCloud(ctx, 'crafted', 'crafted images');
  const { service, stateDir } = cloud;
  const images = craftImages(path.join(ctx.workDir, 'crafted'));
  const goodQcow2 = craftBytes(ctx.workDir, (dir) => craftQcow2(dir, 16 * 1024 * 1024));
  try {
    await service.start();
    await cloud.loginAll();
    await cloud.ensureFlavors();
    for (const image of images) {
      await uploadRefused(cloud, image);
      await bootOnSwappedData(cloud, image, goodQcow2);
    }
    await cloud.waitStable();
    await cloud.checkLeaks('after the crafted images');
    await cloud.deleteAllServers();
    await cloud.checkEmpty('after the crafted images, every server deleted');
  } finally {
    await service.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** The upload is a 400 and leaves no file; a boot on the image fails. */
async function uploadRefused(cloud: Cloud, image: Crafted): Promise<void> {
  const filesBefore = listDir(path.join(cloud.stateDir, 'images'));
  const made = await cloud.as('member', 'POST', '/image/v2/images', {
    body: { name: image.name, disk_format: image.declared, container_format: 'bare' },
  });
  const id = field(made.json, 'id');
  if (made.status === 400) return; // the declared format itself is refused: nothing to upload
  if (made.status !== 201 || typeof id !== 'string') {
    cloud.check(
      false,
      `${image.name}: image create answered ${made.status}`,
      made.text.slice(0, 200),
    );
    return;
  }
  const put = await cloud.as('member', 'PUT', `/image/v2/images/${id}/file`, {
    raw: readFileSync(image.file),
    contentType: 'application/octet-stream',
  });
  cloud.check(
    put.status === 400,
    `${image.name} (declared ${image.declared}): upload not refused with 400`,
    `${put.status}`,
  );
  cloud.check(
    JSON.stringify(listDir(path.join(cloud.stateDir, 'images'))) === JSON.stringify(filesBefore) ||
      put.status === 204,
    `${image.name}: a refused upload left a file under images/`,
  );
  await bootFails(cloud, image.name, id, 'uploaded');
}

/**
 * A valid image of the same declared format is uploaded, then its data file is replaced by the
 * crafted one (as a tampered or pre-check store would hold it): the boot-time check must catch it.
 */
async function bootOnSwappedData(cloud: Cloud, image: Crafted, goodQcow2: Buffer): Promise<void> {
  if (image.declared !== 'qcow2' && image.declared !== 'raw') return;
  const data = image.declared === 'qcow2' ? goodQcow2 : Buffer.alloc(1024 * 1024, 0);
  let id: string;
  try {
    id = await cloud.uploadImage('member', `${image.name}-swapped`, data, image.declared);
  } catch (error) {
    cloud.check(false, `${image.name}: a valid ${image.declared} upload failed`, String(error));
    return;
  }
  copyFileSync(image.file, path.join(cloud.stateDir, 'images', id));
  await bootFails(cloud, image.name, id, 'swapped in at boot');
}

async function bootFails(cloud: Cloud, name: string, imageId: string, how: string): Promise<void> {
  const made = await cloud.as('member', 'POST', '/compute/v2.1/servers', {
    headers: COMPUTE_MV,
    body: {
      server: {
        name: `boot-${name}`,
        flavorRef: FLAVOR_SMALL,
        imageRef: imageId,
        networks: 'none',
      },
    },
  });
  const serverId = field(made.json, 'server', 'id');
  if (made.status !== 202 || typeof serverId !== 'string') {
    cloud.check(
      made.status === 400,
      `${name} (${how}): boot refused with ${made.status}, not 400`,
      made.text.slice(0, 200),
    );
    return;
  }
  const server = await waitFor(`server on ${name} to leave BUILD`, async () => {
    const shown = await cloud.as('member', 'GET', `/compute/v2.1/servers/${serverId}`, {
      headers: COMPUTE_MV,
    });
    const status = field(shown.json, 'server', 'status');
    return status === 'BUILD' ? undefined : shown;
  });
  const status = String(field(server.json, 'server', 'status'));
  cloud.check(status !== 'ACTIVE', `${name} (${how}): a guest booted ACTIVE on it`);
  const message = String(field(server.json, 'server', 'fault', 'message'));
  cloud.check(
    !message.includes(cloud.stateDir) && !message.includes('/etc/passwd'),
    `${name} (${how}): the fault shows a host path`,
    message.slice(0, 200),
  );
  const dirs = listDir(path.join(cloud.stateDir, 'instances'));
  cloud.check(
    status === 'ACTIVE' || !dirs.includes(serverId),
    `${name} (${how}): the failed boot left its instance directory`,
  );
}
