/**
 * Crafted disk images for the image-safety tests and the reliability suite's `crafted` scenario
 * (OSSA-2024-001 class), made with the real `qemu-img create` (Debian: qemu-utils). Each function
 * writes into `dir` and returns the path of the file a tenant would upload.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function qemuImg(...args: string[]): void {
  execFileSync('qemu-img', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
}

/**
 * Runs the maker `make` in a fresh directory below `parent`, so that no two crafted files share a
 * name: the path of the file it made.
 */
export function craftIn(parent: string, make: (dir: string) => string): string {
  return make(mkdtempSync(path.join(parent, 'craft-')));
}

/** The bytes of a file `make` crafts in a fresh directory below `parent` (see craftIn). */
export function craftBytes(parent: string, make: (dir: string) => string): Buffer {
  return readFileSync(craftIn(parent, make));
}

/** A plain, safe qcow2 of `virtualSize` bytes. */
export function craftQcow2(dir: string, virtualSize = 1024 * 1024): string {
  const file = path.join(dir, 'plain.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', file, String(virtualSize));
  return file;
}

/** Raw bytes (a tiny raw disk). */
export function craftRaw(dir: string, bytes = 64 * 1024): string {
  const file = path.join(dir, 'plain.raw');
  writeFileSync(file, Buffer.alloc(bytes, 0));
  return file;
}

/** A qcow2 whose backing file is a host file (by default the password database). */
export function craftQcow2WithBacking(dir: string, backing = '/etc/passwd'): string {
  const file = path.join(dir, 'backed.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'raw', file, '1M');
  return file;
}

/** A qcow2 whose guest data lives in an external data file on the host. */
export function craftQcow2WithDataFile(dir: string): string {
  const file = path.join(dir, 'data-file.qcow2');
  qemuImg(
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    `data_file=${path.join(dir, 'data.raw')}`,
    file,
    '1M',
  );
  return file;
}

/** A VMDK descriptor (text) whose one flat extent is a host file: what gets uploaded as `raw`. */
export function craftVmdkDescriptor(dir: string, extent = '/etc/passwd'): string {
  const file = path.join(dir, 'descriptor.vmdk');
  writeFileSync(
    file,
    [
      '# Disk DescriptorFile',
      'version=1',
      'CID=12345678',
      'parentCID=ffffffff',
      'createType="monolithicFlat"',
      '',
      `RW 2048 FLAT "${extent}" 0`,
      '',
      'ddb.adapterType = "ide"',
      '',
    ].join('\n'),
  );
  return file;
}

/** The descriptor of a monolithicFlat VMDK made by qemu-img (its data is a second file). */
export function craftVmdkMonolithicFlat(dir: string): string {
  const file = path.join(dir, 'flat.vmdk');
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', file, '1M');
  return file;
}

/** A safe single-file VMDK (monolithicSparse). */
export function craftVmdkSparse(dir: string): string {
  const file = path.join(dir, 'sparse.vmdk');
  qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicSparse', file, '1M');
  return file;
}

/** A qcow2 claiming `virtualSize` bytes (a few hundred KiB on disk whatever it claims). */
export function craftOversizeQcow2(dir: string, virtualSize = 2 * 1024 ** 4): string {
  const file = path.join(dir, 'oversize.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', file, String(virtualSize));
  return file;
}
