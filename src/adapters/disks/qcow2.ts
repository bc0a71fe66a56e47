/**
 * The bytes of an empty qcow2 (version 3) image: a blank disk or an overlay on a backing file.
 *
 * An empty image is four fixed parts: the header, a one-cluster refcount table, one refcount block
 * and the L1 table (all zero: nothing is allocated yet). Writing them directly costs microseconds,
 * where spawning `qemu-img create` costs tens of milliseconds of the event loop per boot. The
 * layout is the one `qemu-img create -f qcow2` writes (64 KiB clusters, 16-bit refcounts); tests
 * hold it to `qemu-img check` and `qemu-img info`. Format: QEMU's docs/interop/qcow2.txt.
 */
import { open, rm } from 'node:fs/promises';

const CLUSTER_BITS = 16;
const CLUSTER_SIZE = 1 << CLUSTER_BITS;
/** Guest bytes one L1 entry covers: an L2 table of 8-byte entries, each mapping one cluster. */
const BYTES_PER_L1_ENTRY = (CLUSTER_SIZE / 8) * CLUSTER_SIZE;
/** QEMU refuses L1 tables above 32 MiB (QCOW_MAX_L1_SIZE), about 2 PiB of guest disk. */
const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;
const HEADER_LENGTH = 112;
const REFCOUNT_TABLE_OFFSET = CLUSTER_SIZE;
const REFCOUNT_BLOCK_OFFSET = 2 * CLUSTER_SIZE;
const L1_TABLE_OFFSET = 3 * CLUSTER_SIZE;
const BACKING_FORMAT_EXTENSION = 0xe2792aca;
/** The backing file name must fit in the header cluster; QEMU reads at most 1023 bytes of it. */
const MAX_BACKING_NAME_BYTES = 1023;

export interface Qcow2Request {
  /** Guest-visible size in bytes; rounded up to whole 512-byte sectors, as qemu-img does. */
  readonly virtualSize: number;
  readonly backing?: { readonly file: string; readonly format: string } | undefined;
}

/**
 * An encoded image: the file's length and the few byte ranges that are not zero. Everything else,
 * the L1 table included, reads as zeros, so the file can be written sparse from small buffers
 * (a whole-file buffer per boot was ~200 KiB that glibc kept after it was freed).
 */
export interface Qcow2Image {
  readonly length: number;
  readonly chunks: readonly { readonly offset: number; readonly bytes: Buffer }[];
}

/** The image, or the reason it cannot be written. */
export function encodeQcow2(
  request: Qcow2Request,
): { ok: true; image: Qcow2Image } | { ok: false; reason: string } {
  const size = Math.ceil(request.virtualSize / 512) * 512;
  if (!Number.isSafeInteger(size) || size <= 0) {
    return {
      ok: false,
      reason: `the size must be a positive number of bytes, not ${request.virtualSize}`,
    };
  }
  const l1Entries = Math.ceil(size / BYTES_PER_L1_ENTRY);
  if (l1Entries > MAX_L1_ENTRIES) {
    return { ok: false, reason: `${size} bytes is larger than qcow2 allows (about 2 PiB)` };
  }
  const l1Clusters = Math.ceil((l1Entries * 8) / CLUSTER_SIZE);

  const format = Buffer.from(request.backing?.format ?? '', 'utf8');
  const backingName = Buffer.from(request.backing?.file ?? '', 'utf8');
  if (backingName.length > MAX_BACKING_NAME_BYTES) {
    return {
      ok: false,
      reason: `the backing file name is ${backingName.length} bytes; qcow2 allows ${MAX_BACKING_NAME_BYTES}`,
    };
  }
  const extensionsLength = request.backing === undefined ? 0 : 8 + Math.ceil(format.length / 8) * 8;
  const backingOffset = HEADER_LENGTH + extensionsLength + 8; // after the end-of-extensions marker
  const header = Buffer.alloc(backingOffset + backingName.length);
  if (request.backing !== undefined) {
    writeExtension(header, HEADER_LENGTH, BACKING_FORMAT_EXTENSION, format);
    backingName.copy(header, backingOffset);
  }
  // The end-of-extensions marker (type 0, length 0) is already zero.

  header.write('QFI\xfb', 0, 'latin1');
  header.writeUInt32BE(3, 4); // version
  header.writeBigUInt64BE(BigInt(request.backing === undefined ? 0 : backingOffset), 8);
  header.writeUInt32BE(backingName.length, 16);
  header.writeUInt32BE(CLUSTER_BITS, 20);
  header.writeBigUInt64BE(BigInt(size), 24);
  // 32: no encryption
  header.writeUInt32BE(l1Entries, 36);
  header.writeBigUInt64BE(BigInt(L1_TABLE_OFFSET), 40);
  header.writeBigUInt64BE(BigInt(REFCOUNT_TABLE_OFFSET), 48);
  header.writeUInt32BE(1, 56); // refcount table clusters
  // 60..95: no snapshots; no incompatible, compatible or autoclear features
  header.writeUInt32BE(4, 96); // refcount order: 16-bit refcounts
  header.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: compression type zlib (0), then padding to HEADER_LENGTH

  const refcountTable = Buffer.alloc(8);
  refcountTable.writeBigUInt64BE(BigInt(REFCOUNT_BLOCK_OFFSET));
  // Every cluster the image holds is used once: header, refcount table and block, L1 table.
  const usedClusters = 3 + l1Clusters;
  const refcountBlock = Buffer.alloc(usedClusters * 2);
  for (let cluster = 0; cluster < usedClusters; cluster++) {
    refcountBlock.writeUInt16BE(1, cluster * 2);
  }
  return {
    ok: true,
    image: {
      length: L1_TABLE_OFFSET + l1Entries * 8,
      chunks: [
        { offset: 0, bytes: header },
        { offset: REFCOUNT_TABLE_OFFSET, bytes: refcountTable },
        { offset: REFCOUNT_BLOCK_OFFSET, bytes: refcountBlock },
      ],
    },
  };
}

/** Zeros shared by every write to fill the gaps between an image's parts (never written to). */
const ZEROS = Buffer.alloc(CLUSTER_SIZE);

/**
 * Creates `file` (never overwriting one) holding `image`; a failed write leaves no file behind.
 * Parts at most a cluster apart go out in one vectored write with the zeros between them (slices
 * of one shared buffer): a disk costs four file operations, and each is a thread-pool round trip
 * that cost more than the bytes it moved. Farther parts get writes of their own, leaving holes.
 */
export async function writeQcow2(file: string, image: Qcow2Image): Promise<void> {
  const runs: { offset: number; buffers: Buffer[]; end: number }[] = [];
  for (const { offset, bytes } of [...image.chunks].sort((a, b) => a.offset - b.offset)) {
    const run = runs.at(-1);
    if (run === undefined || offset - run.end > ZEROS.length) {
      runs.push({ offset, buffers: [bytes], end: offset + bytes.length });
      continue;
    }
    if (offset < run.end) throw new Error(`qcow2 parts overlap at byte ${offset}`);
    if (offset > run.end) run.buffers.push(ZEROS.subarray(0, offset - run.end));
    run.buffers.push(bytes);
    run.end = offset + bytes.length;
  }
  const handle = await open(file, 'wx');
  try {
    for (const { offset, buffers, end } of runs) {
      const { bytesWritten } = await handle.writev(buffers, offset);
      if (bytesWritten !== end - offset)
        throw new Error(`short write at byte ${offset}: ${bytesWritten} of ${end - offset} bytes`);
    }
    await handle.truncate(image.length);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(file, { force: true });
    throw error;
  }
  await handle.close();
}

/** Writes one header extension: type, length, data (padded to 8 bytes by the caller's layout). */
function writeExtension(bytes: Buffer, at: number, type: number, data: Buffer): void {
  bytes.writeUInt32BE(type, at);
  bytes.writeUInt32BE(data.length, at + 4);
  data.copy(bytes, at + 8);
}
