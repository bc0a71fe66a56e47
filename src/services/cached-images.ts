/**
 * A compute's builds through its image cache (ports/image-cache.ts): the image files a build
 * request names as paths of the shared image directory are replaced by the cache's files of the
 * same images, held for the build; and the eviction round, which keeps every file a guest on the
 * host still names (its kernel and ramdisk: root disks hold their own copy of the image's data).
 */
import { ComputeError, HypervisorError } from '../errors/index.js';
import type { ComputeAgent, GuestRequest } from '../ports/compute-agent.js';
import type { ImageCache } from '../ports/image-cache.js';

/** The image files of a request, from the cache. */
export interface CachedFiles {
  /** The root disk's image file; undefined when none is needed. */
  readonly imageFile: string | undefined;
  readonly bootFiles: GuestRequest['bootFiles'];
  /** The build is done with the files. */
  release(): void;
}

/**
 * The cache's files for what `request` boots from: the root image when `root` (a build that
 * makes a root disk), and the kernel and ramdisk of a kernel boot (their ids are the image's
 * `kernel_id` and `ramdisk_id`, from which the API resolved `bootFiles`). All of them are
 * fetched at once; on a failure the ones held are released.
 */
export async function cachedFiles(
  cache: ImageCache,
  request: GuestRequest & { readonly imageFile?: string | undefined },
  root: boolean,
): Promise<CachedFiles> {
  const id = (key: 'kernel_id' | 'ramdisk_id'): string => {
    const value = request.image.properties[key];
    if (typeof value !== 'string' || value === '') {
      throw new ComputeError(
        'input.invalid',
        `Cannot boot server ${request.serverId} from the image cache: image ${request.image.id ?? request.image.name} has a ${key === 'kernel_id' ? 'kernel' : 'ramdisk'} file but no ${key}`,
      );
    }
    return value;
  };
  const rootId = root && request.imageFile !== undefined ? request.image.id : undefined;
  if (root && request.imageFile !== undefined && rootId === undefined) {
    throw new ComputeError(
      'input.invalid',
      `Cannot boot server ${request.serverId} from the image cache: image ${request.image.name} has no id`,
    );
  }
  const boot = request.bootFiles;
  const wanted = [
    rootId,
    boot === undefined ? undefined : id('kernel_id'),
    boot?.ramdisk === undefined ? undefined : id('ramdisk_id'),
  ];
  const settled = await Promise.allSettled(
    wanted.map(async (imageId) => (imageId === undefined ? undefined : cache.acquire(imageId))),
  );
  const held = settled.flatMap((s) => (s.status === 'fulfilled' && s.value ? [s.value] : []));
  const release = () => {
    for (const entry of held) entry.release();
  };
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    release();
    throw failed.reason;
  }
  const [rootFile, kernel, ramdisk] = settled.map((s) =>
    s.status === 'fulfilled' ? s.value?.path : undefined,
  );
  return {
    imageFile: rootFile,
    bootFiles:
      kernel === undefined ? undefined : { kernel, ...(ramdisk === undefined ? {} : { ramdisk }) },
    release,
  };
}

/**
 * One eviction round: entries unused for `maxAgeSeconds`, held by no build and named by no
 * domain on the host (a kernel boot's `<kernel>` and `<initrd>`) go. Returns the files removed.
 */
export async function evictUnusedImages(
  agent: Pick<ComputeAgent, 'list' | 'domainXml'>,
  cache: ImageCache,
  maxAgeSeconds: number,
): Promise<string[]> {
  const referenced = new Set<string>();
  for (const domain of await agent.list()) {
    // A domain gone since the listing names nothing; any other failure ends the round.
    const xml = await agent.domainXml(domain.uuid).catch((error: unknown) => {
      if (error instanceof HypervisorError && error.code === 'hypervisor.not_found') return '';
      throw error;
    });
    for (const match of xml.matchAll(/<(kernel|initrd)>([^<]+)<\/\1>/gu)) {
      referenced.add(unescapeXml(match[2] ?? ''));
    }
  }
  return cache.evict(maxAgeSeconds, referenced);
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/gu, '<')
    .replace(/&gt;/gu, '>')
    .replace(/&quot;/gu, '"')
    .replace(/&apos;/gu, "'")
    .replace(/&amp;/gu, '&');
}
