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

  async remove(instancePath: string): Promise<void> {
    this.removed.push(instancePath);
    for (const file of [...this.files.keys()])
      if (file.startsWith(`${instancePath}/`)) this.files.delete(file);
  }

  async exists(file: string): Promise<boolean> {
    return this.images.has(file) || this.files.has(file);
  }
}
