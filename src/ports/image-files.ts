/** Where image data lives. The file adapter keeps one file per image under the state directory. */

/** What a write stored. */
export interface StoredData {
  /** Opaque to everyone but the adapter; kept in the image record. */
  readonly location: string;
  readonly size: number;
}

/** Image data storage. */
export interface ImageFiles {
  /**
   * Stores the data of an image. Atomic: on failure (including a failing source) nothing is left
   * behind and the previous data, if any, is untouched.
   */
  write(imageId: string, chunks: AsyncIterable<Uint8Array>): Promise<StoredData>;
  /** Streams stored data; rejects with an error whose `code` is `ENOENT` when the location holds nothing. */
  read(location: string): AsyncIterable<Uint8Array>;
  /** Deletes stored data; deleting what is not there is not an error. */
  delete(location: string): Promise<void>;
  /**
   * Removes what a crash can leave behind: partly written data, and stored data whose location is
   * not in `keep`. For the start of the service, before any write; returns what it removed.
   */
  sweep(keep: ReadonlySet<string>): Promise<string[]>;
}
