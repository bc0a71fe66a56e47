/**
 * Image data safety (the OSSA-2024-001 class) and image limits, through the HTTP API: crafted
 * images made by the real qemu-img are refused at upload (400) and at boot (server fault), with
 * nothing left on disk; Glance's size cap, storage quota and property quota answer 413.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Qcow2Disks } from '../adapters/disks/qcow2-disks.js';
import { FsImageFiles } from '../adapters/image-files/fs-image-files.js';
import { GLANCE_IMAGE_LIMITS } from '../services/index.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import {
  craftBytes,
  craftIn,
  craftOversizeQcow2,
  craftQcow2,
  craftQcow2WithBacking,
  craftQcow2WithDataFile,
  craftRaw,
  craftVmdkDescriptor,
  craftVmdkMonolithicFlat,
  craftVmdkSparse,
} from '../testing/crafted-images.js';
import { scratchDir } from '../testing/scratch.js';
import { requireQemuImg } from '../testing/tools.js';

const skip = requireQemuImg();
const scratch = scratchDir('vpmu-image-safety-');

async function newImage(
  api: TestApi,
  body: Record<string, unknown> = {},
  as: 'member' | 'admin' = 'member',
): Promise<string> {
  const res = await api.request('POST', '/image/v2/images', {
    as,
    body: { name: 'img', disk_format: 'qcow2', container_format: 'bare', ...body },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return (res.body as { id: string }).id;
}

function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

async function upload(
  api: TestApi,
  id: string,
  data: Uint8Array | string,
  as: 'member' | 'admin' = 'member',
) {
  return api.request('PUT', `/image/v2/images/${id}/file`, { as, rawBody: data });
}

/** The image is still queued with no data, and the images directory holds nothing. */
async function assertNothingKept(api: TestApi, id: string): Promise<void> {
  const image = await api.store.getImage(id);
  assert.deepEqual([image?.status, image?.size, image?.dataLocation], ['queued', null, null]);
  assert.deepEqual(readdirSync(api.imagesDir), []);
}

describe('image upload: format inspection', { skip }, () => {
  const refused: {
    name: string;
    make: (dir: string) => string;
    declared: string;
    found: RegExp;
  }[] = [
    {
      name: 'a qcow2 whose backing file is /etc/passwd',
      make: craftQcow2WithBacking,
      declared: 'qcow2',
      found: /it is a qcow2 image with a backing file/u,
    },
    {
      name: 'a qcow2 with an external data file',
      make: craftQcow2WithDataFile,
      declared: 'qcow2',
      found: /external data file/u,
    },
    {
      name: 'a VMDK descriptor naming /etc/passwd, declared raw',
      make: craftVmdkDescriptor,
      declared: 'raw',
      found: /it is a VMDK descriptor/u,
    },
    {
      name: 'a monolithicFlat VMDK',
      make: craftVmdkMonolithicFlat,
      declared: 'vmdk',
      found: /it is a VMDK descriptor/u,
    },
    {
      name: 'qcow2 data declared raw',
      make: craftQcow2,
      declared: 'raw',
      found: /its data is qcow2, not raw/u,
    },
    {
      name: 'a qcow2 claiming 2 TiB',
      make: (d) => craftOversizeQcow2(d),
      declared: 'qcow2',
      found: /virtual size, 2199023255552 bytes, is above the limit of 1099511627776 bytes/u,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} with a 400 naming the image and the formats, keeping nothing`, async () => {
      const api = await makeTestApi();
      const id = await newImage(api, { disk_format: c.declared });
      const res = await upload(api, id, craftBytes(scratch, c.make));
      assert.equal(res.status, 400, res.text);
      assert.equal(res.headers.get('X-Compute-Error-Code'), 'image.invalid_data');
      const text = message(res);
      assert.match(
        text,
        new RegExp(
          `^Cannot accept the data of image ${id}: it was declared disk_format ${c.declared}, but `,
          'u',
        ),
      );
      assert.match(text, c.found);
      assert.doesNotMatch(text, /\/etc\/passwd|\/tmp\/|vpmu-test-images/u);
      await assertNothingKept(api, id);
      // The image can still take good data.
      const good =
        c.declared === 'raw'
          ? craftBytes(scratch, (d) => craftRaw(d))
          : craftBytes(scratch, craftVmdkOrQcow2(c.declared));
      assert.equal((await upload(api, id, good)).status, 204);
      assert.equal((await api.store.getImage(id))?.status, 'active');
    });
  }

  it('accepts safe images of each checked format', async () => {
    const api = await makeTestApi();
    for (const [declared, make] of [
      ['qcow2', (d: string) => craftQcow2(d)],
      ['vmdk', craftVmdkSparse],
      ['raw', (d: string) => craftRaw(d)],
      ['iso', (d: string) => craftRaw(d)],
    ] as const) {
      const id = await newImage(api, { disk_format: declared });
      assert.equal((await upload(api, id, craftBytes(scratch, make))).status, 204, declared);
    }
  });

  it('refuses data before disk_format and container_format are set (Glance: 400)', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', '/image/v2/images', {
      as: 'member',
      body: { name: 'bare' },
    });
    const id = (res.body as { id: string }).id;
    const put = await upload(api, id, 'bytes');
    assert.equal(put.status, 400);
    assert.match(
      message(put),
      /^Properties disk_format, container_format must be set prior to saving data/u,
    );
    await assertNothingKept(api, id);
  });
});

function craftVmdkOrQcow2(declared: string): (dir: string) => string {
  return declared === 'vmdk' ? craftVmdkSparse : (d) => craftQcow2(d);
}

describe('image boot: the backing file is inspected again', { skip }, () => {
  const swaps = [
    [
      'a qcow2 backed by /etc/passwd',
      craftQcow2WithBacking,
      /it is a qcow2 image with a backing file/u,
    ],
    [
      'a plain qcow2',
      (d: string) => craftQcow2(d),
      /its data is qcow2, not raw \(declared disk_format raw\)/u,
    ],
    ['a VMDK descriptor', craftVmdkDescriptor, /it is a VMDK descriptor/u],
  ] as const;
  for (const [label, swap, says] of swaps) {
    it(`fails the build with a fault when a raw image's file was swapped for ${label}, leaving nothing`, async () => {
      const declared = 'raw';
      const instanceDir = mkdtempSync(path.join(scratch, 'instances-'));
      const api = await makeTestApi({
        driverDisks: new Qcow2Disks({ instanceRoot: instanceDir }),
        instanceDir,
      });
      const flavor = await api.request('POST', '/compute/v2.1/flavors', {
        body: { flavor: { name: 'small', vcpus: 1, ram: 256, disk: 1 } },
      });
      const flavorId = (flavor.body as { flavor: { id: string } }).flavor.id;
      const id = await newImage(api, { disk_format: declared });
      assert.equal(
        (
          await upload(
            api,
            id,
            craftBytes(scratch, (d) => craftRaw(d)),
          )
        ).status,
        204,
      );
      // Someone with access to the host swaps the data after it was checked.
      const file = path.join(api.imagesDir, id);
      await copyFile(craftIn(scratch, swap), file);

      const res = await api.request('POST', '/compute/v2.1/servers', {
        as: 'member',
        body: { server: { name: 'vm', flavorRef: flavorId, imageRef: id, networks: 'none' } },
      });
      assert.equal(res.status, 202, res.text);
      const serverId = (res.body as { server: { id: string } }).server.id;
      await api.servers.idle();
      const shown = await api.request('GET', `/compute/v2.1/servers/${serverId}`, { as: 'member' });
      const server = (shown.body as { server: { status: string; fault?: { message: string } } })
        .server;
      assert.equal(server.status, 'ERROR');
      const fault = server.fault?.message ?? '';
      assert.match(fault, new RegExp(`^Cannot build a disk on image ${id}: `, 'u'));
      assert.match(fault, says);
      assert.doesNotMatch(fault, /\/etc\/passwd|\/tmp\//u);
      assert.deepEqual(readdirSync(instanceDir), [], 'no instance directory left');
      assert.deepEqual(await api.store.listAllocations(), [], 'the claim is released');
      assert.equal(await api.hypervisor.find(serverId), undefined);
    });
  }
});

describe('image limits', { skip }, () => {
  it('refuses data over image_size_cap with 413, keeping nothing', async () => {
    const api = await makeTestApi({ imageLimits: { ...GLANCE_IMAGE_LIMITS, imageSizeCap: 1000 } });
    const id = await newImage(api, { disk_format: 'raw' });
    const res = await upload(api, id, new Uint8Array(1001));
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'image.over_limit');
    assert.equal(
      message(res),
      `The incoming image is too large: the data of image ${id} is over 1000 bytes (image_size_cap). The image stays queued with no data.`,
    );
    await assertNothingKept(api, id);
    assert.equal((await upload(api, id, new Uint8Array(1000))).status, 204);
  });

  it("refuses data over the project's user_storage_quota with 413; other projects are not counted", async () => {
    const api = await makeTestApi({
      imageLimits: { ...GLANCE_IMAGE_LIMITS, userStorageQuota: 3000 },
    });
    const first = await newImage(api, { disk_format: 'raw' });
    assert.equal((await upload(api, first, new Uint8Array(2000))).status, 204);
    const adminImage = await newImage(api, { disk_format: 'raw' }, 'admin');
    assert.equal((await upload(api, adminImage, new Uint8Array(2500), 'admin')).status, 204);
    const second = await newImage(api, { disk_format: 'raw' });
    const res = await upload(api, second, new Uint8Array(1001));
    assert.equal(res.status, 413);
    assert.match(
      message(res),
      new RegExp(
        `^Image exceeds the storage quota: project \\S+ stores 2000 bytes of image data of its 3000 \\(user_storage_quota\\), and the data of image ${second} is over the 1000 bytes left`,
        'u',
      ),
    );
    assert.deepEqual((await api.store.getImage(second))?.size, null);
    assert.deepEqual(readdirSync(api.imagesDir).sort(), [adminImage, first].sort());
    assert.equal((await upload(api, second, new Uint8Array(1000))).status, 204);
  });

  it('refuses more properties than image_property_quota on create and on patch (413)', async () => {
    const api = await makeTestApi({
      imageLimits: { ...GLANCE_IMAGE_LIMITS, imagePropertyQuota: 3 },
    });
    const tooMany = await api.request('POST', '/image/v2/images', {
      as: 'member',
      body: { name: 'p', a: '1', b: '2', c: '3', d: '4' },
    });
    assert.equal(tooMany.status, 413);
    assert.equal(
      message(tooMany),
      'The limit has been exceeded on the number of allowed image properties (image_property_quota). Attempted: 4, Maximum: 3',
    );
    assert.deepEqual(await api.store.listImages({}), []);
    const id = await newImage(api, { a: '1', b: '2', c: '3' });
    const patch = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      headers: { 'Content-Type': 'application/openstack-images-v2.1-json-patch' },
      rawBody: JSON.stringify([{ op: 'add', path: '/d', value: '4' }]),
    });
    assert.equal(patch.status, 413);
    assert.match(message(patch), /Attempted: 4, Maximum: 3$/u);
    assert.deepEqual(Object.keys((await api.store.getImage(id))?.properties ?? {}).sort(), [
      'a',
      'b',
      'c',
    ]);
  });

  it("Glance's default of 128 properties holds: 11,000 properties answer 413, not 500", async () => {
    const api = await makeTestApi();
    const body: Record<string, string> = { name: 'many' };
    for (let i = 0; i < 11_000; i++) body[`p${i}`] = 'v';
    const res = await api.request('POST', '/image/v2/images', { as: 'member', body });
    assert.equal(res.status, 413);
    assert.match(message(res), /Attempted: 11000, Maximum: 128$/u);
  });
});

describe('image storage failures', { skip }, () => {
  it('answers 413 "storage media is full" on ENOSPC, removes the partial file and keeps serving', async () => {
    const dir = mkdtempSync(path.join(scratch, 'full-'));
    // The partial file is made for real, then every write fails with the kernel's ENOSPC
    // (/dev/full): the directory must end empty.
    const files = new FsImageFiles(dir, {
      openWrite: (partial) => {
        writeFileSync(partial, 'the first bytes fitted');
        return createWriteStream('/dev/full');
      },
    });
    const api = await makeTestApi({ files });
    const id = await newImage(api, { disk_format: 'raw' });
    const res = await upload(api, id, new Uint8Array(4096));
    assert.equal(res.status, 413);
    assert.equal(
      message(res),
      `Image storage media is full: there is no room for the data of image ${id}. The image stays queued with no data.`,
    );
    assert.deepEqual(readdirSync(dir), []);
    assert.equal((await api.store.getImage(id))?.status, 'queued');
    assert.equal(
      (await api.request('GET', `/image/v2/images/${id}`, { as: 'member' })).status,
      200,
    );
  });

  it(
    'answers 503 on a read-only image directory (EROFS), keeping nothing',
    { skip: process.getuid?.() === 0 ? false : 'mounting a read-only tmpfs needs root' },
    async () => {
      const dir = mkdtempSync(path.join(scratch, 'ro-'));
      mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { timeout: 30_000 });
      try {
        const api = await makeTestApi({ files: new FsImageFiles(dir) });
        const id = await newImage(api, { disk_format: 'raw' });
        const res = await upload(api, id, new Uint8Array(4096));
        assert.equal(res.status, 503);
        assert.equal(res.headers.get('X-Compute-Error-Code'), 'image.storage_unavailable');
        assert.match(
          message(res),
          new RegExp(
            `^Insufficient permissions on image storage media: the data of image ${id} cannot be written \\(EROFS\\)`,
            'u',
          ),
        );
        assert.deepEqual(readdirSync(dir), []);
        assert.equal((await api.store.getImage(id))?.status, 'queued');
      } finally {
        execFileSync('umount', [dir], { timeout: 30_000 });
      }
    },
  );

  it('answers 204 (as Glance for data its store cannot find) when the data file is gone, and logs it', async () => {
    const api = await makeTestApi();
    const id = await newImage(api, { disk_format: 'raw' });
    assert.equal((await upload(api, id, 'raw bytes')).status, 204);
    rmSync(path.join(api.imagesDir, id));
    const res = await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('Content-Length'), null);
    assert.equal(res.text, '');
    assert.ok(
      api.logged.some((entry) => entry.level === 'warn' && entry.fields.image === id),
      'the missing data is logged',
    );
  });

  it('serves an empty image file as 200 with no body', async () => {
    const api = await makeTestApi();
    const id = await newImage(api, { disk_format: 'raw' });
    assert.equal((await upload(api, id, new Uint8Array(0))).status, 204);
    await writeFile(path.join(api.imagesDir, id), '');
    const res = await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('Content-Length'), '0');
  });
});
