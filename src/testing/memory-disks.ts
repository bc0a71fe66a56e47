/** An in-memory InstanceDisks for service tests: records what was created and removed. */
import type { InstanceDisks } from '../ports/instance-disks.js';

export class MemoryDisks implements InstanceDisks {
  readonly files = new Map<string, { sizeGiB: number; backingFile: string | undefined }>();
  readonly removed: string[] = [];
  readonly images = new Set<string>();

  async create(request: {
    path: string;
    sizeGiB: number;
    backingFile?: string | undefined;
  }): Promise<void> {
    this.files.set(request.path, { sizeGiB: request.sizeGiB, backingFile: request.backingFile });
  }

  async remove(instancePath: string): Promise<boolean> {
    this.removed.push(instancePath);
    const inside = [...this.files.keys()].filter((file) => file.startsWith(`${instancePath}/`));
    for (const file of inside) this.files.delete(file);
    return inside.length > 0;
  }

  async exists(file: string): Promise<boolean> {
    return this.images.has(file) || this.files.has(file);
  }
}
