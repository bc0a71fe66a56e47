/**
 * A compute's own copy of image data (docs/distributed.md, "Image cache"): the file a build backs
 * its root disk on, or boots as kernel or ramdisk, fetched from the image API on first use with its
 * checksum verified, as nova-compute fills its `_base` cache from Glance.
 */

/** An image's data in the cache, held by a build until `release`. */
export interface CachedImage {
  /** The local file of the image's data. */
  readonly path: string;
  /** The build is done with the file: from now on it may be evicted once unused long enough. */
  release(): void;
}

/** The image cache of one compute host. */
export interface ImageCache {
  /**
   * The image's data as a local file: at once when cached, else downloaded (once, however many
   * builds ask at the same time) and verified against the image's record (its `os_hash_value`
   * with `os_hash_algo`, else its MD5 `checksum`, and its `size`). A download that fails or does
   * not match leaves no file behind and rejects with a ComputeError naming the image (and, for a
   * mismatch, both hashes). The entry counts as used now, and is never evicted while held.
   */
  acquire(imageId: string): Promise<CachedImage>;
  /**
   * Removes the entries unused for at least `maxAgeSeconds` that no build holds and whose file is
   * not in `referenced` (files a guest on the host names, such as its kernel), and temporary files
   * of downloads no longer under way; returns the files removed.
   */
  evict(maxAgeSeconds: number, referenced: ReadonlySet<string>): Promise<string[]>;
}
