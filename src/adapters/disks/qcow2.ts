/**
 * The bytes of an empty qcow2 (version 3) image: a blank disk or an overlay on a backing file.
 *
 * An empty image is four fixed parts: the header, a one-cluster refcount table, one refcount block
 * and the L1 table (all zero: nothing is allocated yet). Writing them directly costs microseconds,
 * where spawning `qemu-img create` costs tens of milliseconds of the event loop per boot. The
 * layout is the one `qemu-img create -f qcow2` writes (64 KiB clusters, 16-bit refcounts); tests
 * hold it to `qemu-img check` and `qemu-img info`. Format: QEMU's docs/interop/qcow2.txt.
 */

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

/** The whole file, or the reason it cannot be written. */
export function encodeQcow2(
  request: Qcow2Request,
): { ok: true; bytes: Buffer } | { ok: false; reason: string } {
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
  const bytes = Buffer.alloc(L1_TABLE_OFFSET + l1Entries * 8);

  let end = HEADER_LENGTH;
  let backingName: Buffer | undefined;
  if (request.backing !== undefined) {
    const format = Buffer.from(request.backing.format, 'utf8');
    backingName = Buffer.from(request.backing.file, 'utf8');
    if (backingName.length > MAX_BACKING_NAME_BYTES) {
      return {
        ok: false,
        reason: `the backing file name is ${backingName.length} bytes; qcow2 allows ${MAX_BACKING_NAME_BYTES}`,
      };
    }
    end = writeExtension(bytes, end, BACKING_FORMAT_EXTENSION, format);
  }
  end += 8; // the end-of-extensions marker: type 0, length 0
  const backingOffset = backingName === undefined ? 0 : end;
  if (backingName !== undefined) backingName.copy(bytes, end);

  bytes.write('QFI\xfb', 0, 'latin1');
  bytes.writeUInt32BE(3, 4); // version
  bytes.writeBigUInt64BE(BigInt(backingOffset), 8);
  bytes.writeUInt32BE(backingName?.length ?? 0, 16);
  bytes.writeUInt32BE(CLUSTER_BITS, 20);
  bytes.writeBigUInt64BE(BigInt(size), 24);
  // 32: no encryption
  bytes.writeUInt32BE(l1Entries, 36);
  bytes.writeBigUInt64BE(BigInt(L1_TABLE_OFFSET), 40);
  bytes.writeBigUInt64BE(BigInt(REFCOUNT_TABLE_OFFSET), 48);
  bytes.writeUInt32BE(1, 56); // refcount table clusters
  // 60..95: no snapshots; no incompatible, compatible or autoclear features
  bytes.writeUInt32BE(4, 96); // refcount order: 16-bit refcounts
  bytes.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: compression type zlib (0), then padding to HEADER_LENGTH

  bytes.writeBigUInt64BE(BigInt(REFCOUNT_BLOCK_OFFSET), REFCOUNT_TABLE_OFFSET);
  // Every cluster the image holds is used once: header, refcount table and block, L1 table.
  for (let cluster = 0; cluster < 3 + l1Clusters; cluster++) {
    bytes.writeUInt16BE(1, REFCOUNT_BLOCK_OFFSET + cluster * 2);
  }
  return { ok: true, bytes };
}

/** Writes one header extension (type, length, data padded to 8 bytes); returns where the next starts. */
function writeExtension(bytes: Buffer, at: number, type: number, data: Buffer): number {
  bytes.writeUInt32BE(type, at);
  bytes.writeUInt32BE(data.length, at + 4);
  data.copy(bytes, at + 8);
  return at + 8 + Math.ceil(data.length / 8) * 8;
}
