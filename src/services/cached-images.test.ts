/**
 * A local compute agent with an image cache: builds, moves in and redefinitions take their image,
 * kernel and ramdisk files from the cache by image id (never the shared directory's paths the
 * request names), hold them for the build only, and the eviction round keeps what guests name.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { ComputeError } from '../errors/index.js';
import type { CachedImage, ImageCache } from '../ports/image-cache.js';
import { aFlavor, aHost, anImage } from '../testing/fixtures.js';
import { MemoryDisks } from '../testing/memory-disks.js';
import { evictUnusedImages } from './cached-images.js';
import { LocalComputeAgent } from './local-compute-agent.js';

const ROOT = '/srv/instances';
const IMAGE = '155d900f-4e14-4e4c-a73d-069cbf4541e6';
const KERNEL = 'aaaaaaaa-0000-4000-8000-000000000001';
const RAMDISK = 'aaaaaaaa-0000-4000-8000-000000000002';
const SERVER = '7d5f3c1a-4b2e-4c8d-9a6f-0e1b2c3d4e5f';

/** A cache that serves `/cache/<id>` and records who holds what. */
class RecordingCache implements ImageCache {
  readonly acquired: string[] = [];
  readonly held = new Map<string, number>();
  readonly refused = new Set<string>();
  evicted: { maxAge: number; referenced: string[] } | undefined;

  constructor(readonly disks: MemoryDisks) {}

  async acquire(imageId: string): Promise<CachedImage> {
    this.acquired.push(imageId);
    if (this.refused.has(imageId)) {
      throw new ComputeError('image.checksum_mismatch', `Image ${imageId} does not match`);
    }
    const file = `/cache/${imageId}`;
    this.disks.images.add(file);
    this.held.set(imageId, (this.held.get(imageId) ?? 0) + 1);
    return {
      path: file,
      release: () => {
        this.held.set(imageId, (this.held.get(imageId) ?? 0) - 1);
      },
    };
  }

  async evict(maxAge: number, referenced: ReadonlySet<string>): Promise<string[]> {
    this.evicted = { maxAge, referenced: [...referenced].sort() };
    return [];
  }

  /** Entries held by a build now. */
  holding(): string[] {
    return [...this.held].filter(([, n]) => n > 0).map(([id]) => id);
  }
}

function local() {
  const disks = new MemoryDisks({ instanceRoot: ROOT });
  const hypervisor = new FakeHypervisor();
  const cache = new RecordingCache(disks);
  const agent = new LocalComputeAgent({
    host: 'compute1',
    hypervisor,
    disks,
    settings: aHost({ virtType: 'qemu', cpuMode: 'custom', cpuModel: 'qemu64', instanceDir: ROOT }),
    images: cache,
  });
  return { disks, hypervisor, cache, agent };
}

/** A build request as an API process sends it: paths in its own image directory. */
const request = (kernelBoot = false) => ({
  serverId: SERVER,
  name: `instance-${SERVER}`,
  flavor: aFlavor({ diskGiB: 1 }),
  image: anImage(
    kernelBoot ? { properties: { kernel_id: KERNEL, ramdisk_id: RAMDISK } } : { id: IMAGE },
  ),
  owner: { projectId: 'p1', userId: 'u1' },
  imageFile: `/shared/images/${IMAGE}`,
  imageFormat: 'raw',
  ...(kernelBoot
    ? { bootFiles: { kernel: `/shared/images/${KERNEL}`, ramdisk: `/shared/images/${RAMDISK}` } }
    : {}),
});

describe('LocalComputeAgent with an image cache', () => {
  it('builds on the cached image, not the path the request names, and holds it for the build only', async () => {
    const { agent, cache, disks } = local();
    await agent.build(request());
    assert.deepEqual(cache.acquired, [IMAGE]);
    assert.deepEqual(cache.holding(), []);
    assert.equal(disks.files.get(`${ROOT}/${SERVER}/base`)?.image, `/cache/${IMAGE}`);
  });

  it('a kernel boot names the cached kernel and ramdisk (by kernel_id and ramdisk_id)', async () => {
    const { agent, cache } = local();
    const built = await agent.build(request(true));
    assert.deepEqual(cache.acquired.sort(), [IMAGE, KERNEL, RAMDISK].sort());
    assert.match(built.domainXml, new RegExp(`<kernel>/cache/${KERNEL}</kernel>`, 'u'));
    assert.match(built.domainXml, new RegExp(`<initrd>/cache/${RAMDISK}</initrd>`, 'u'));
    assert.doesNotMatch(built.domainXml, /\/shared\/images/u);
    assert.deepEqual(cache.holding(), []);
    // The eviction round keeps the files a guest names.
    await evictUnusedImages(agent, cache, 86400);
    assert.deepEqual(cache.evicted, {
      maxAge: 86400,
      referenced: [`/cache/${KERNEL}`, `/cache/${RAMDISK}`],
    });
  });

  it('a guest defined again around its own disk fetches no image data', async () => {
    const { agent, cache, hypervisor } = local();
    await agent.build(request());
    await hypervisor.destroy(SERVER);
    await hypervisor.undefine(SERVER);
    cache.acquired.length = 0;
    await agent.build({ ...request(), reuseDisk: true });
    assert.deepEqual(cache.acquired, []);
  });

  it('a guest moved in takes the disk handed over and fetches only its kernel files', async () => {
    const source = local();
    await source.agent.build(request(true));
    const handover = await source.agent.migrateOut(SERVER, { stopTimeoutMs: 0 });
    const elsewhere = '/srv/instances-compute2';
    const destinationDisks = new MemoryDisks({ instanceRoot: elsewhere, machine: source.disks });
    const cache = new RecordingCache(destinationDisks);
    const destination = new LocalComputeAgent({
      host: 'compute2',
      hypervisor: new FakeHypervisor({ uri: 'fake:///compute2' }),
      disks: destinationDisks,
      settings: aHost({
        virtType: 'qemu',
        cpuMode: 'custom',
        cpuModel: 'qemu64',
        instanceDir: elsewhere,
      }),
      images: cache,
    });
    await destination.migrateIn({ ...request(true), handover });
    assert.deepEqual(cache.acquired.sort(), [KERNEL, RAMDISK].sort());
  });

  it('a resize designed anew names the cached kernel files', async () => {
    const { agent, cache } = local();
    await agent.build(request(true));
    cache.acquired.length = 0;
    const redefined = await agent.redefine(SERVER, {
      guest: { ...request(true), flavor: aFlavor({ diskGiB: 1, vcpus: 2 }) },
      start: true,
      stopTimeoutMs: 0,
    });
    assert.deepEqual(cache.acquired.sort(), [KERNEL, RAMDISK].sort());
    assert.match(redefined.domainXml, new RegExp(`<kernel>/cache/${KERNEL}</kernel>`, 'u'));
    assert.deepEqual(cache.holding(), []);
  });

  it('a refused image fails the build, releases what it held and leaves nothing', async () => {
    const { agent, cache, disks, hypervisor } = local();
    cache.refused.add(RAMDISK);
    await assert.rejects(agent.build(request(true)), (error: unknown) => {
      assert.ok(error instanceof ComputeError);
      assert.equal(error.code, 'image.checksum_mismatch');
      return true;
    });
    assert.deepEqual(cache.holding(), []);
    assert.deepEqual([...disks.files.keys()], []);
    assert.deepEqual(await hypervisor.list(), []);
  });
});
