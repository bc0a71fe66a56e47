/** Creates and removes instance root disks (qcow2 files under the instance directory). */
export interface InstanceDisks {
  /**
   * Creates a qcow2 file at `path` (and its directory): an overlay backed by `backingFile` when one
   * is given (its virtual size, grown to `sizeGiB` when that is larger), else a blank disk of
   * `sizeGiB`. Rejects with `disk.operation_failed` naming the file and the reason. The backing
   * file is inspected first, as `backingFormat` (a Glance disk_format) when given: one that refers
   * to other files, is another format or is too large is refused with `image.invalid_data`.
   */
  create(request: {
    readonly path: string;
    readonly sizeGiB: number;
    readonly backingFile?: string | undefined;
    readonly backingFormat?: string | undefined;
  }): Promise<void>;
  /** Removes an instance's directory (its disks); false when there was none, which is fine. */
  remove(instancePath: string): Promise<boolean>;
  /** Whether a file exists (used to check an image file before anything is created). */
  exists(path: string): Promise<boolean>;
}
