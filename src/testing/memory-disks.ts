/**
 * An in-memory InstanceDisks for service tests: records what was created and removed, and refuses
 * what the qcow2 adapter refuses, with its messages (the InstanceDisks contract holds both to it).
 * As the qcow2 adapter does, a disk on an image holds its own copy of the image's name (`base` in
 * the instance directory), so removing the image from `images` leaves the disk whole.
 */
import path from 'node:path';
import {
  BASE_NAME,
  checkCreateRequest,
  checkDiskPath,
  checkRemoveRequest,
  diskFailure,
  isInstanceDirName,
  type InstanceDisks,
} from '../ports/instance-disks.js';

/** One file of the memory disks: a disk, or a base with the image file it was taken from. */
export interface MemoryDiskFile {
  sizeGiB: number;
  backingFile: string | undefined;
  image?: string | undefined;
}

export class MemoryDisks implements InstanceDisks {
  /** Every file, disks and bases; `image` is the image file a base was taken from. */
  readonly files: Map<string, MemoryDiskFile>;
  readonly removed: string[] = [];
  /** Image files disks may be backed on. */
  readonly images: Set<string>;
  private readonly root: string;

  /**
   * `instanceRoot`: only paths below it are created or removed (default: anywhere but /).
   * `machine`: another MemoryDisks whose files and images these share, as two hosts' instance
   * roots on one machine (what a cold migration copies between).
   */
  constructor(options: { readonly instanceRoot?: string; readonly machine?: MemoryDisks } = {}) {
    this.root = path.resolve(options.instanceRoot ?? '/');
    this.files = options.machine?.files ?? new Map<string, MemoryDiskFile>();
    this.images = options.machine?.images ?? new Set<string>();
  }

  async receive(fromDir: string, toDir: string): Promise<void> {
    const from = path.resolve(fromDir);
    const to = checkRemoveRequest(this.root, toDir);
    const inside = [...this.files.entries()].filter(([file]) => file.startsWith(`${from}/`));
    if (inside.length === 0) throw diskFailure('receive', from, 'the directory does not exist');
    if ([...this.files.keys()].some((file) => file.startsWith(`${to}/`))) {
      throw diskFailure('receive', to, 'the directory already exists');
    }
    const moved = (file: string) => path.join(to, path.relative(from, file));
    for (const [file, disk] of inside) {
      const backingFile =
        disk.backingFile?.startsWith(`${from}/`) === true
          ? moved(disk.backingFile)
          : disk.backingFile;
      this.files.set(moved(file), { ...disk, backingFile });
    }
  }

  async create(request: {
    path: string;
    sizeGiB: number;
    backingFile?: string | undefined;
  }): Promise<void> {
    const file = checkCreateRequest(this.root, request);
    if (this.files.has(file)) throw diskFailure('create', file, 'the file already exists');
    const image = request.backingFile === undefined ? undefined : path.resolve(request.backingFile);
    if (image !== undefined && !this.images.has(image)) {
      throw diskFailure('create', image, 'the image file does not exist');
    }
    const base = image === undefined ? undefined : path.join(path.dirname(file), BASE_NAME);
    if (base !== undefined) this.files.set(base, { sizeGiB: 0, backingFile: undefined, image });
    this.files.set(file, { sizeGiB: request.sizeGiB, backingFile: base });
  }

  async remove(instancePath: string): Promise<boolean> {
    const dir = checkRemoveRequest(this.root, instancePath);
    this.removed.push(instancePath);
    const inside = [...this.files.keys()].filter((file) => file.startsWith(`${dir}/`));
    for (const file of inside) this.files.delete(file);
    return inside.length > 0;
  }

  /** Raw zeros, 1 KiB: what the memory disks export as a snapshot. */
  export(file: string): { diskFormat: string; data: AsyncIterable<Uint8Array> } {
    const resolved = path.resolve(file);
    const files = this.files;
    async function* data(): AsyncIterable<Uint8Array> {
      if (!files.has(resolved)) throw diskFailure('snapshot', resolved, 'the file does not exist');
      yield new Uint8Array(1024);
    }
    return { diskFormat: 'raw', data: data() };
  }

  async exists(file: string): Promise<boolean> {
    const resolved = path.resolve(file);
    return this.images.has(resolved) || this.files.has(resolved);
  }

  async backing(file: string): Promise<string | undefined> {
    const disk = this.files.get(path.resolve(file));
    if (disk === undefined)
      throw diskFailure('read', path.resolve(file), 'the disk does not exist');
    return disk.backingFile;
  }

  async adopt(file: string): Promise<boolean> {
    const diskPath = checkDiskPath(this.root, file, 'use');
    const disk = this.files.get(diskPath);
    const base = path.join(path.dirname(diskPath), BASE_NAME);
    if (disk?.backingFile === undefined || disk.backingFile === base) return true;
    const image = disk.backingFile;
    if (this.images.has(image)) {
      this.files.set(base, { sizeGiB: 0, backingFile: undefined, image });
    } else if (this.files.get(base)?.image !== image) {
      throw diskFailure('use', diskPath, `its backing file ${image} is missing`);
    }
    if (this.busy.has(diskPath)) return false;
    this.files.set(diskPath, { ...disk, backingFile: base });
    return true;
  }

  /** Disks a running guest holds, as the qcow2 adapter finds them locked (adopt() says false). */
  readonly busy = new Set<string>();

  /**
   * A disk as a vpmu before kept image data made it: an overlay on `image` itself (for adopt()).
   */
  addLegacyDisk(file: string, image: string): void {
    this.files.set(path.resolve(file), { sizeGiB: 0, backingFile: path.resolve(image) });
  }

  async sweep(keep: ReadonlySet<string>): Promise<string[]> {
    const kept = new Set([...keep].map((id) => id.toLowerCase()));
    const dirs = new Set<string>();
    for (const file of this.files.keys()) {
      const relative = path.relative(this.root, file).split(path.sep);
      const name = relative[0];
      if (relative.length < 2 || name === undefined || !isInstanceDirName(name)) continue;
      if (!kept.has(name.toLowerCase())) dirs.add(path.join(this.root, name));
    }
    for (const dir of dirs) await this.remove(dir);
    return [...dirs].sort();
  }

  /** The image files some disk still holds the data of (what the qcow2 adapter keeps alive). */
  imagesInUse(): Set<string> {
    const images = new Set<string>();
    for (const file of this.files.values()) if (file.image !== undefined) images.add(file.image);
    return images;
  }
}
