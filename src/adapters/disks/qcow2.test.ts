import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { RUN_TIMEOUT_MS } from '../../testing/processes.js';
import { scratchDir } from '../../testing/scratch.js';
import { requireQemuImg } from '../../testing/tools.js';
import { encodeQcow2, writeQcow2 } from './qcow2.js';

const skip = requireQemuImg();
const scratch = scratchDir('vpmu-qcow2-');

const GIB = 1024 ** 3;
const qemuImg = (...args: string[]) =>
  execFileSync('qemu-img', args, { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });

/** What qemu-img reports about an image, without the fields that name or measure the file itself. */
function describeImage(file: string): Record<string, unknown> {
  const described = JSON.parse(qemuImg('info', '--output=json', file)) as Record<string, unknown>;
  assert.equal(described.filename, file);
  const rest = { ...described };
  delete rest.filename;
  delete rest['actual-size'];
  return rest;
}

async function writeImage(
  name: string,
  request: Parameters<typeof encodeQcow2>[0],
): Promise<string> {
  const encoded = encodeQcow2(request);
  assert.ok(encoded.ok, encoded.ok ? '' : encoded.reason);
  const file = path.join(scratch, name);
  await writeQcow2(file, encoded.image);
  return file;
}

describe('encodeQcow2, held to qemu-img', { skip }, () => {
  const raw = path.join(scratch, 'backing.raw');
  writeFileSync(raw, Buffer.alloc(3 * 1024 * 1024, 7));
  const qcow2 = path.join(scratch, 'backing.qcow2');
  if (skip === false) qemuImg('create', '-q', '-f', 'qcow2', qcow2, '2G');

  const cases: {
    name: string;
    size: number;
    backing?: { file: string; format: string };
    qemuArgs: string[];
  }[] = [
    { name: 'blank 1 GiB', size: GIB, qemuArgs: [String(GIB)] },
    { name: 'blank 20 GiB', size: 20 * GIB, qemuArgs: [String(20 * GIB)] },
    { name: 'blank, size not a whole sector', size: 1000, qemuArgs: ['1000'] },
    // 4 TiB needs 8192 L1 entries: exactly one full cluster; one byte more needs a second.
    { name: 'blank 4 TiB', size: 4096 * GIB, qemuArgs: [String(4096 * GIB)] },
    {
      name: 'blank 4 TiB + 1 sector',
      size: 4096 * GIB + 512,
      qemuArgs: [String(4096 * GIB + 512)],
    },
    {
      name: 'overlay on a raw image',
      size: 3 * 1024 * 1024,
      backing: { file: raw, format: 'raw' },
      qemuArgs: ['-b', raw, '-F', 'raw', String(3 * 1024 * 1024)],
    },
    {
      name: 'overlay on a qcow2 image, grown',
      size: 5 * GIB,
      backing: { file: qcow2, format: 'qcow2' },
      qemuArgs: ['-b', qcow2, '-F', 'qcow2', String(5 * GIB)],
    },
  ];

  for (const [index, c] of cases.entries()) {
    it(`${c.name}: passes qemu-img check and reads as qemu-img's own image does`, async () => {
      const ours = await writeImage(`ours-${index}.qcow2`, {
        virtualSize: c.size,
        backing: c.backing,
      });
      const theirs = path.join(scratch, `theirs-${index}.qcow2`);
      qemuImg('create', '-q', '-f', 'qcow2', theirs, ...c.qemuArgs);
      assert.match(qemuImg('check', ours), /No errors were found on the image/u);
      assert.deepEqual(describeImage(ours), describeImage(theirs));
      assert.equal(statSync(ours).size, statSync(theirs).size); // the same layout, to the byte
    });
  }

  it('an overlay shows its backing data, and takes writes that qemu-img check accepts', async () => {
    const overlay = await writeImage('written.qcow2', {
      virtualSize: 3 * 1024 * 1024,
      backing: { file: raw, format: 'raw' },
    });
    assert.match(qemuImg('compare', overlay, raw), /Images are identical/u);
    execFileSync('qemu-io', ['-c', 'write -P 0x5a 1M 256k', overlay], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    });
    const read = execFileSync(
      'qemu-io',
      ['-c', 'read -P 0x5a 1M 256k', '-c', 'read -P 7 0 1M', overlay],
      { encoding: 'utf8', timeout: RUN_TIMEOUT_MS },
    );
    assert.doesNotMatch(read, /Pattern verification failed/u);
    assert.match(qemuImg('check', overlay), /No errors were found on the image/u);
    const compared = spawnSync('qemu-img', ['compare', overlay, raw], {
      encoding: 'utf8',
      timeout: RUN_TIMEOUT_MS,
    });
    assert.equal(compared.status, 1); // 1: the images differ
    assert.match(compared.stdout, /Content mismatch at offset 1048576/u);
  });

  it('leaves no file behind when a write fails', async () => {
    const file = path.join(scratch, 'failed.qcow2');
    // 4 PiB is past what the file system takes (ext4: 16 TiB), so the write fails after the create.
    const image = { length: 8, chunks: [{ offset: 2 ** 52, bytes: Buffer.alloc(8) }] };
    await assert.rejects(writeQcow2(file, image));
    assert.equal(existsSync(file), false);
  });

  it('refuses what qcow2 cannot hold, saying why', () => {
    const refused = (request: Parameters<typeof encodeQcow2>[0]) => {
      const encoded = encodeQcow2(request);
      assert.ok(!encoded.ok);
      return encoded.reason;
    };
    assert.match(refused({ virtualSize: 0 }), /positive number of bytes, not 0/u);
    assert.match(refused({ virtualSize: 2 ** 52 }), /larger than qcow2 allows/u);
    assert.match(
      refused({ virtualSize: GIB, backing: { file: `/${'x'.repeat(1100)}`, format: 'raw' } }),
      /backing file name is 1101 bytes; qcow2 allows 1023/u,
    );
  });
});
