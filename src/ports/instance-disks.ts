import path from 'node:path';
import { ComputeError } from '../errors/index.js';

/**
 * Creates and removes instance root disks (qcow2 files under the instance directory).
 *
 * A disk never depends on a file outside its own instance directory: a disk made on an image file
 * first takes the image's data into that directory as `base` (BASE_NAME), a hard link to the
 * image file (a copy where a link cannot be made), and its overlay is backed on that. Deleting the
 * image then loses nothing, and the data goes when the last instance directory holding it is
 * removed (docs/hypervisor.md, "Root disks and image data").
 */
export interface InstanceDisks {
  /**
   * Creates a qcow2 file at `path` (and its directory): an overlay backed by the image data taken
   * from `backingFile` into the disk's directory (its virtual size, grown to `sizeGiB` when that is
   * larger), else a blank disk of `sizeGiB`. Rejects with `disk.operation_failed` naming the file
   * and the reason, leaving nothing behind. The image data is inspected first, as `backingFormat`
   * (a Glance disk_format) when given: data that refers to other files, is another format or is
   * too large is refused with `image.invalid_data`.
   */
  create(request: {
    readonly path: string;
    readonly sizeGiB: number;
    readonly backingFile?: string | undefined;
    readonly backingFormat?: string | undefined;
  }): Promise<void>;
  /**
   * Takes in the instance directory `fromDir` that another host handed over (cold migration): its
   * files are copied into `toDir` (below this host's instance root, which must not exist yet) and
   * a disk backed on the source's `base` is pointed at the copy. Rejects with
   * `disk.operation_failed` (leaving nothing behind) when the source is missing or unreadable.
   */
  receive(fromDir: string, toDir: string): Promise<void>;
  /** Removes an instance's directory (its disks); false when there was none, which is fine. */
  remove(instancePath: string): Promise<boolean>;
  /**
   * A whole copy of the disk at `path` (its backing chain flattened) as image data, for a
   * snapshot: the disk_format it is in, and the data, made when first read and cleaned up after.
   */
  export(path: string): { readonly diskFormat: string; readonly data: AsyncIterable<Uint8Array> };
  /** Whether a file exists (used to check an image file before anything is created). */
  exists(path: string): Promise<boolean>;
  /**
   * The file the disk at `path` is backed on (undefined for a blank disk), after checking that it
   * is there. Rejects with `disk.operation_failed` when the disk or its backing file is missing.
   */
  backing(path: string): Promise<string | undefined>;
  /**
   * Makes a disk made before disks kept their image data (an overlay backed on a file outside its
   * instance directory, such as the image file itself) hold that data as its own: takes the backing
   * file into the directory as `base`, then points the overlay at it. True when the disk depends on
   * nothing outside its directory (so too when it already did, is blank or does not exist); false
   * when a running guest holds the disk, so its overlay cannot be rewritten yet (the data is kept
   * beside it all the same; adopt again once the guest is off). Rejects with
   * `disk.operation_failed` when the backing file is already gone.
   */
  adopt(path: string): Promise<boolean>;
  /**
   * Removes what a crash or a lost record can leave below the instance root: instance directories
   * (named like a UUID) whose name is not in `keep`, and half-taken image data in the kept ones.
   * For the start of the service, before any build; returns the paths it removed.
   */
  sweep(keep: ReadonlySet<string>): Promise<string[]>;
}

/** The name of a disk's image data inside its instance directory. */
export const BASE_NAME = 'base';

/** Whether a directory name below the instance root is an instance directory sweep() may take. */
export function isInstanceDirName(name: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu.test(name);
}

/** `disk.operation_failed` naming the file and the reason, as every InstanceDisks words it. */
export function diskFailure(operation: string, file: string, reason: string): ComputeError {
  return new ComputeError('disk.operation_failed', `Cannot ${operation} disk ${file}: ${reason}`);
}

/**
 * The checks every InstanceDisks makes on a create request before touching anything: the disk
 * lies below `instanceRoot`, its size is a whole number of GiB, and a blank disk (no backing file)
 * is larger than 0 GiB. Returns the disk's resolved path; throws `disk.operation_failed`.
 */
export function checkCreateRequest(
  instanceRoot: string,
  request: { readonly path: string; readonly sizeGiB: number; readonly backingFile?: unknown },
): string {
  const file = inside(instanceRoot, request.path, 'create');
  if (!Number.isInteger(request.sizeGiB) || request.sizeGiB < 0) {
    throw diskFailure(
      'create',
      file,
      `the size must be a whole number of GiB, not ${request.sizeGiB}`,
    );
  }
  if (request.backingFile === undefined && request.sizeGiB === 0) {
    throw diskFailure(
      'create',
      file,
      'a blank disk needs a size above 0 GiB (the flavor has disk 0 and no image file was given)',
    );
  }
  return file;
}

/**
 * The checks every InstanceDisks makes before removing an instance directory: it lies below
 * `instanceRoot` and is not the root itself. Returns the resolved directory; throws
 * `disk.operation_failed`.
 */
export function checkRemoveRequest(instanceRoot: string, instancePath: string): string {
  const dir = inside(instanceRoot, instancePath, 'remove');
  if (dir === path.resolve(instanceRoot)) {
    throw diskFailure('remove', dir, 'refusing to remove the instance root itself');
  }
  return dir;
}

/** `file` resolved, refused (`disk.operation_failed`) when it is not below `instanceRoot`. */
export function checkDiskPath(instanceRoot: string, file: string, operation: string): string {
  return inside(instanceRoot, file, operation);
}

/** `file` resolved, refused when it is not below `instanceRoot`. */
function inside(instanceRoot: string, file: string, operation: string): string {
  const root = path.resolve(instanceRoot);
  const resolved = path.resolve(file);
  const relative = path.relative(root, resolved);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw diskFailure(operation, resolved, `it is outside the instance directory ${root}`);
  }
  return resolved;
}
