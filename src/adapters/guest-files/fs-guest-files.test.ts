import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { configDriveFiles, CONFIG_DRIVE_LABEL } from '../../design/index.js';
import { MAX_CONSOLE_BYTES } from '../../ports/guest-files.js';
import { requireTool } from '../../testing/tools.js';
import { FsGuestFiles } from './fs-guest-files.js';

const root = mkdtempSync(path.join(tmpdir(), 'vpmu-guest-files-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
});
const files = new FsGuestFiles({ instanceRoot: root });
const noGenisoimage = requireTool('genisoimage', ['--version'], 'apt-get install genisoimage');
const noIsoinfo = requireTool('isoinfo', ['-version'], 'apt-get install genisoimage');

describe('FsGuestFiles.writeConfigDrive()', () => {
  it(
    'writes an ISO 9660 volume labelled config-2 with every file, Rock Ridge names kept',
    { skip: noGenisoimage || noIsoinfo },
    async () => {
      const content = configDriveFiles({
        uuid: '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21',
        name: 'vm',
        hostname: 'vm',
        projectId: 'p',
        availabilityZone: 'nova',
        launchIndex: 0,
        reservationId: 'r-1',
        flavorName: 'm1',
        metadata: {},
        key: undefined,
        userData: Buffer.from([0, 1, 2, 255]).toString('base64'),
        vpmu: {
          requested: { flavor: null, image: null },
          resolved: null,
          source: 'unset',
          effective: 'off',
          reason: 'r',
        },
      });
      const iso = path.join(root, 'server-1', 'disk.config');
      await files.writeConfigDrive(iso, CONFIG_DRIVE_LABEL, content);
      const pvd = execFileSync('isoinfo', ['-d', '-i', iso], { timeout: 30_000 }).toString();
      assert.match(pvd, /^Volume id: config-2$/mu);
      const listing = execFileSync('isoinfo', ['-R', '-f', '-i', iso], { timeout: 30_000 })
        .toString()
        .split('\n')
        .filter((line) => line !== '');
      for (const f of content)
        assert.ok(listing.includes(`/${f.path}`), `${f.path}: ${listing.join(' ')}`);
      const userData = execFileSync(
        'isoinfo',
        ['-R', '-i', iso, '-x', '/openstack/latest/user_data'],
        { timeout: 30_000 },
      );
      assert.deepEqual([...userData], [0, 1, 2, 255]);
      const meta = execFileSync(
        'isoinfo',
        ['-R', '-i', iso, '-x', '/openstack/latest/meta_data.json'],
        { timeout: 30_000 },
      ).toString();
      assert.equal(
        (JSON.parse(meta) as { uuid: string }).uuid,
        '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21',
      );
      // Nothing of the staging is left beside the drive.
      assert.deepEqual(readdirSync(path.dirname(iso)), ['disk.config']);
    },
  );

  it('refuses a drive outside the instance directory, naming it', async () => {
    await assert.rejects(files.writeConfigDrive('/etc/disk.config', 'config-2', []), {
      message: `Cannot create disk /etc/disk.config: it is outside the instance directory ${root}`,
    });
  });

  it('says what to install when genisoimage is missing', async () => {
    const missing = new FsGuestFiles({ instanceRoot: root, genisoimage: 'no-such-genisoimage' });
    await assert.rejects(
      missing.writeConfigDrive(path.join(root, 's2', 'disk.config'), 'config-2', []),
      /no-such-genisoimage is not installed \(apt-get install genisoimage\)/u,
    );
  });
});

describe('FsGuestFiles.readConsoleLog()', () => {
  // prettier-ignore
  const CASES = [
    { name: 'all of it', text: 'a\nb\nc\n', lines: undefined, want: 'a\nb\nc\n' },
    { name: 'the last two lines', text: 'a\nb\nc\n', lines: 2, want: 'b\nc\n' },
    { name: 'a last line with no newline', text: 'a\nb\nc', lines: 1, want: 'c' },
    { name: 'no lines', text: 'a\n', lines: 0, want: '' },
  ];
  for (const c of CASES) {
    it(`reads ${c.name}`, async () => {
      const dir = path.join(root, 'log');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'console.log'), c.text);
      assert.equal(await files.readConsoleLog(path.join(dir, 'console.log'), c.lines), c.want);
    });
  }

  it('reads a log that is not there (yet) as empty', async () => {
    assert.equal(await files.readConsoleLog(path.join(root, 'nothing', 'console.log'), 5), '');
  });

  it(`reads at most the last ${MAX_CONSOLE_BYTES} bytes of a large log`, async () => {
    const dir = path.join(root, 'big');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'console.log');
    writeFileSync(file, `${'x'.repeat(MAX_CONSOLE_BYTES)}\nlast\n`);
    const read = await files.readConsoleLog(file, undefined);
    assert.equal(Buffer.byteLength(read), MAX_CONSOLE_BYTES);
    assert.ok(read.endsWith('\nlast\n'));
    assert.equal(readFileSync(file).length, MAX_CONSOLE_BYTES + 6);
  });
});
