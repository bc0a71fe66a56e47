/**
 * An in-memory InstanceDisks for service tests: records what was created and removed, and refuses
 * what the qcow2 adapter refuses, with its messages (the InstanceDisks contract holds both to it).
 */
import path from 'node:path';
import {
  checkCreateRequest,
  checkRemoveRequest,
  diskFailure,
  type InstanceDisks,
} from '../ports/instance-disks.js';

export class MemoryDisks implements InstanceDisks {
  readonly files = new Map<string, { sizeGiB: number; backingFile: string | undefined }>();
  readonly removed: string[] = [];
  /** Image files disks may be backed on. */
  readonly images = new Set<string>();
  private readonly root: string;

  /** `instanceRoot`: only paths below it are created or removed (default: anywhere but /). */
  constructor(options: { readonly instanceRoot?: string } = {}) {
    this.root = path.resolve(options.instanceRoot ?? '/');
  }

  async create(request: {
    path: string;
    sizeGiB: number;
    backingFile?: string | undefined;
  }): Promise<void> {
    const file = checkCreateRequest(this.root, request);
    const backingFile =
      request.backingFile === undefined ? undefined : path.resolve(request.backingFile);
    if (backingFile !== undefined && !(await this.exists(backingFile))) {
      throw diskFailure('create', backingFile, 'the image file does not exist');
    }
    if (this.files.has(file)) throw diskFailure('create', file, 'the file already exists');
    this.files.set(file, { sizeGiB: request.sizeGiB, backingFile });
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
}
