/**
 * An in-memory InstanceDisks for service tests: records what was created and removed, and refuses
 * what the qcow2 adapter refuses, with its messages (the InstanceDisks contract holds both to it).
 */
import path from 'node:path';
import { ComputeError } from '../errors/index.js';
import type { InstanceDisks } from '../ports/instance-disks.js';

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
    const file = this.inside(request.path, 'create');
    if (!Number.isInteger(request.sizeGiB) || request.sizeGiB < 0) {
      throw failure(
        'create',
        file,
        `the size must be a whole number of GiB, not ${request.sizeGiB}`,
      );
    }
    if (request.backingFile === undefined && request.sizeGiB === 0) {
      throw failure(
        'create',
        file,
        'a blank disk needs a size above 0 GiB (the flavor has disk 0 and no image file was given)',
      );
    }
    const backingFile =
      request.backingFile === undefined ? undefined : path.resolve(request.backingFile);
    if (backingFile !== undefined && !(await this.exists(backingFile))) {
      throw failure('create', backingFile, 'the image file does not exist');
    }
    if (this.files.has(file)) throw failure('create', file, 'the file already exists');
    this.files.set(file, { sizeGiB: request.sizeGiB, backingFile });
  }

  async remove(instancePath: string): Promise<boolean> {
    const dir = this.inside(instancePath, 'remove');
    if (dir === this.root) {
      throw failure('remove', dir, 'refusing to remove the instance root itself');
    }
    this.removed.push(instancePath);
    const inside = [...this.files.keys()].filter((file) => file.startsWith(`${dir}/`));
    for (const file of inside) this.files.delete(file);
    return inside.length > 0;
  }

  async exists(file: string): Promise<boolean> {
    const resolved = path.resolve(file);
    return this.images.has(resolved) || this.files.has(resolved);
  }

  private inside(file: string, operation: string): string {
    const resolved = path.resolve(file);
    const relative = path.relative(this.root, resolved);
    if (relative.startsWith('..') || path.isAbsolute(relative)) {
      throw failure(operation, resolved, `it is outside the instance directory ${this.root}`);
    }
    return resolved;
  }
}

function failure(operation: string, file: string, reason: string): ComputeError {
  return new ComputeError('disk.operation_failed', `Cannot ${operation} disk ${file}: ${reason}`);
}
