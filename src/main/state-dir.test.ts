/**
 * The state directory's layout and modes, QEMU's reach into it, the log file on a failing disk,
 * and the database files vpmu refuses to start on (empty, not a database).
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import { pollUntil } from '../testing/processes.js';
import { parseQemuDacLabel } from '../xml/index.js';
import { LogFile, type AppendTarget } from './log-file.js';
import { loadServeConfig, startService } from './serve.js';
import {
  prepareStateDir,
  qemuCannotReach,
  sessionDaemonProblem,
  supplementaryGroups,
} from './state-dir.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-state-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
const root = process.getuid?.() === 0;

/** Mode (and group) of each path under `base`. */
function modes(base: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => {
      const st = statSync(path.join(base, name));
      return [name, `0${(st.mode & 0o777).toString(8)} gid ${String(st.gid)}`];
    }),
  );
}

/** Waits (bounded, 60 s) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  await pollUntil(what, done, (value) => value, { intervalMs: 10 });
}

describe('LogFile: the log on a failing disk', () => {
  it('keeps taking lines while writes fail, counts them, says so once, and reports the recovery', async () => {
    let failing = true;
    const written: string[] = [];
    const reports: string[] = [];
    const target: AppendTarget = {
      write: async (text) => {
        if (failing) {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
          });
        }
        written.push(text);
      },
      close: async () => undefined,
    };
    const log = new LogFile({
      file: '/state/logs/vpmu.log',
      report: (line) => reports.push(line),
      openAppend: async () => target,
    });
    for (let i = 0; i < 100; i += 1) assert.equal(log.write(`{"n":${String(i)}}\n`), true);
    await until(() => log.stats().dropped === 100, '100 dropped lines');
    assert.deepEqual(reports, [
      'vpmu: cannot write the log file /state/logs/vpmu.log (ENOSPC); dropping and counting log lines until writes succeed again\n',
    ]);
    failing = false;
    log.write('{"n":"after"}\n');
    await until(() => written.length === 2, 'the line and the loss report');
    assert.equal(written[0], '{"n":"after"}\n');
    assert.deepEqual(
      {
        ...(JSON.parse(written[1] ?? '{}') as Record<string, unknown>),
        time: 0,
      },
      {
        level: 40,
        time: 0,
        service: 'vpmu',
        lost: 100,
        msg: 'log lines lost while the log file could not be written',
      },
    );
    assert.equal(
      reports[1],
      'vpmu: the log file /state/logs/vpmu.log accepts writes again; 100 lines were lost\n',
    );
    assert.deepEqual(log.stats(), { written: 2, dropped: 100 });
    await log.close(1000);
  });

  it('after close, drops lines without opening the file again or reporting an outage', async () => {
    let opened = 0;
    const reports: string[] = [];
    const log = new LogFile({
      file: '/state/logs/vpmu.log',
      report: (line) => reports.push(line),
      openAppend: async () => {
        opened++;
        return { write: async () => undefined, close: async () => undefined };
      },
    });
    log.write('{"n":1}\n');
    await log.close(1000);
    log.write('{"n":"late"}\n');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(opened, 1);
    assert.deepEqual(reports, []);
    assert.deepEqual(log.stats(), { written: 1, dropped: 1 });
  });

  it('appends to a real file it creates with mode 0600, and bounds what waits for the disk', async () => {
    const file = path.join(dir, 'real.log');
    const log = new LogFile({ file, report: () => undefined, queueLimitBytes: 1024 });
    log.write('one\n');
    log.write(`${'x'.repeat(2000)}\n`);
    log.write('two\n');
    await log.close(60_000);
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.deepEqual(
      [lines[0], (JSON.parse(lines[1] ?? '{}') as { lost?: number }).lost, lines[2], lines[3]],
      ['one', 1, 'two', ''],
    );
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(log.stats(), { written: 3, dropped: 1 });
  });
});

describe('prepareStateDir()', () => {
  it('creates a fresh state directory 0700 with nothing to report when there is no QEMU user', () => {
    const state = path.join(dir, 'fresh', 'state');
    assert.deepEqual(prepareStateDir(state, 'none', 0), []);
    assert.deepEqual(modes(state, ['.', 'images', 'instances', 'logs']), {
      '.': `0700 gid ${String(statSync(state).gid)}`,
      images: `0700 gid ${String(statSync(state).gid)}`,
      instances: `0700 gid ${String(statSync(state).gid)}`,
      logs: `0700 gid ${String(statSync(state).gid)}`,
    });
    // The missing parent is not vpmu's: it gets the usual mode, not 0700.
    assert.notEqual(statSync(path.dirname(state)).mode & 0o777, 0o700);
  });

  it('tightens the world-readable records of an existing state directory, naming each change', () => {
    const state = path.join(dir, 'old');
    mkdirSync(path.join(state, 'logs'), { recursive: true });
    chmodSync(state, 0o755);
    for (const name of ['vpmu.db', 'vpmu.db-wal', 'notifications.jsonl', 'logs/vpmu.log']) {
      writeFileSync(path.join(state, name), 'x', { mode: 0o644 });
      chmodSync(path.join(state, name), 0o644);
    }
    assert.deepEqual(prepareStateDir(state, 'none', 0), [
      `changed the mode of ${state} from 0755 to 0700`,
      `changed the mode of ${path.join(state, 'logs')} from 0755 to 0700`,
      `changed the mode of ${path.join(state, 'vpmu.db')} from 0644 to 0600`,
      `changed the mode of ${path.join(state, 'vpmu.db-wal')} from 0644 to 0600`,
      `changed the mode of ${path.join(state, 'notifications.jsonl')} from 0644 to 0600`,
      `changed the mode of ${path.join(state, 'logs/vpmu.log')} from 0644 to 0600`,
    ]);
    assert.deepEqual(prepareStateDir(state, 'none', 0), [], 'a second start changes nothing');
  });

  it(
    "lets QEMU's group pass through the state, image and instance directories, and nobody else",
    {
      skip: root ? false : 'giving a directory another group needs root',
    },
    () => {
      const state = path.join(dir, 'shared', 'state');
      assert.deepEqual(prepareStateDir(state, { uid: 4242, gid: 4243 }, 0), []);
      assert.deepEqual(modes(state, ['.', 'images', 'instances', 'logs']), {
        '.': '0710 gid 4243',
        images: '0710 gid 4243',
        instances: '0710 gid 4243',
        logs: '0700 gid 0',
      });
    },
  );

  it('refuses a shared sticky directory such as /tmp as the state directory', () => {
    assert.throws(
      () => prepareStateDir(tmpdir(), 'none', 0),
      new RegExp(`^StateDirError: the state directory ${tmpdir()} is a shared directory`, 'u'),
    );
  });
});

describe('qemuCannotReach()', { skip: root ? false : 'chown needs root' }, () => {
  const qemu = { uid: 4242, gid: 4243 };
  const parent = path.join(dir, 'reach');
  const target = path.join(parent, 'state', 'instances');
  mkdirSync(target, { recursive: true });
  chmodSync(dir, 0o711);
  chmodSync(path.join(parent, 'state'), 0o711);
  chmodSync(target, 0o711);

  it('names the 0700 directory on the way, its owner, and the fix', () => {
    chmodSync(parent, 0o700);
    assert.equal(
      qemuCannotReach(target, qemu, [], (d) => statSync(d)),
      `QEMU runs as uid 4242 gid 4243 (libvirt's DAC label) and cannot enter ${parent} (mode 0700, owner 0:0) on the way to ${target}, so no guest could open its disk. Fix: chgrp 4243 ${parent} && chmod g+x ${parent} (or chmod o+x ${parent}), or choose a --state-dir below directories QEMU can enter`,
    );
  });

  it("lets QEMU through by its group, a supplementary group, its own user, or others' x", () => {
    chmodSync(parent, 0o710);
    chownSync(parent, 0, 4243);
    assert.equal(
      qemuCannotReach(target, qemu, [], (d) => statSync(d)),
      undefined,
    );
    chownSync(parent, 0, 5000);
    assert.match(qemuCannotReach(target, qemu, [], (d) => statSync(d)) ?? '', /cannot enter/u);
    assert.equal(
      qemuCannotReach(target, qemu, [5000], (d) => statSync(d)),
      undefined,
    );
    chownSync(parent, 4242, 0);
    chmodSync(parent, 0o700);
    assert.equal(
      qemuCannotReach(target, qemu, [], (d) => statSync(d)),
      undefined,
    );
    chownSync(parent, 0, 0);
    chmodSync(parent, 0o701);
    assert.equal(
      qemuCannotReach(target, qemu, [], (d) => statSync(d)),
      undefined,
    );
  });

  it('reads supplementary groups from /etc/group (root is in none on this host or more)', () => {
    assert.ok(Array.isArray(supplementaryGroups(0)));
    assert.deepEqual(supplementaryGroups(987_654), []);
  });
});

describe('sessionDaemonProblem(): QEMU under a session libvirtd runs as the socket owner', () => {
  const sock = '/tmp/h1/run/libvirt/libvirt-sock';
  const owner = { mode: 0o140700, uid: 995, gid: 993 };
  const refusal = (own: number) =>
    `QEMU runs as uid 995 gid 993, the user of the session libvirtd behind ${sock}, and a session libvirtd hands no file to QEMU, so no guest could open the disks vpmu (uid ${String(own)}) writes. Fix: run vpmu as uid 995 (e.g. setpriv --reuid 995 --regid 993 --init-groups), with a --state-dir that user owns`;
  // prettier-ignore
  const CASES = [
    { uri: `qemu+unix:///session?socket=${sock}`, own: 0, want: refusal(0) },
    { uri: `qemu:///session?socket=${sock}`, own: 1000, want: refusal(1000) },
    { uri: `qemu+unix:///session?socket=${sock}`, own: 995, want: undefined },
    { uri: 'qemu:///system', own: 0, want: undefined },
    { uri: `qemu+unix:///system?socket=${sock}`, own: 0, want: undefined },
    { uri: 'qemu:///session', own: 0, want: undefined },
    { uri: `test+unix:///default?socket=${sock}`, own: 0, want: undefined },
    { uri: 'not a uri', own: 0, want: undefined },
  ] as const;
  for (const c of CASES) {
    it(`${c.uri} as uid ${String(c.own)}: ${c.want === undefined ? 'fine' : 'refused'}`, () => {
      const asked: string[] = [];
      const statOf = (file: string) => {
        asked.push(file);
        return owner;
      };
      assert.equal(sessionDaemonProblem(c.uri, c.own, statOf), c.want);
      // Only session URIs with a socket look at the file system.
      assert.deepEqual(asked, c.uri.includes(':///session?socket=') ? [sock] : []);
    });
  }

  it('leaves a socket that is not there to the connection, whose error says more', () => {
    const gone = () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    assert.equal(sessionDaemonProblem(`qemu+unix:///session?socket=${sock}`, 0, gone), undefined);
  });

  it(
    'stops vpmu serve before it touches the state directory',
    { skip: root ? false : 'chown needs root' },
    async () => {
      const fakeSocket = path.join(dir, 'session-sock');
      writeFileSync(fakeSocket, '');
      chownSync(fakeSocket, 4242, 4243);
      const stateDir = path.join(dir, 'session-state');
      const config = loadServeConfig(
        [
          '--port',
          '0',
          '--state-dir',
          stateDir,
          '--uri',
          `qemu+unix:///session?socket=${fakeSocket}`,
        ],
        { VPMU_ADMIN_PASSWORD: 'pw' },
        () => '',
      );
      await assert.rejects(startService(config), {
        name: 'StateDirError',
        message: new RegExp(
          `^QEMU runs as uid 4242 gid 4243, the user of the session libvirtd behind ${fakeSocket}, `,
          'u',
        ),
      });
      assert.throws(() => statSync(stateDir), { code: 'ENOENT' });
    },
  );
});

describe('parseQemuDacLabel()', () => {
  const caps = (secmodels: string) =>
    `<capabilities><host><cpu><arch>x86_64</arch></cpu>${secmodels}</host></capabilities>`;

  it('reads the DAC base label of the virt type, else the first one', () => {
    const xml = caps(
      "<secmodel><model>none</model><doi>0</doi></secmodel><secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+994</baselabel><baselabel type='qemu'>+107:+107</baselabel></secmodel>",
    );
    assert.deepEqual(parseQemuDacLabel(xml, 'qemu'), { uid: 107, gid: 107 });
    assert.deepEqual(parseQemuDacLabel(xml, 'kvm'), { uid: 64055, gid: 994 });
    assert.deepEqual(parseQemuDacLabel(xml, 'lxc'), { uid: 64055, gid: 994 });
  });

  it('finds none on a host without a DAC model (test:///default)', () => {
    const xml = caps('<secmodel><model>testSecurity</model><doi></doi></secmodel>');
    assert.equal(parseQemuDacLabel(xml, 'kvm'), undefined);
    assert.equal(parseQemuDacLabel(caps(''), 'kvm'), undefined);
  });
});

describe('startService() and the database file', () => {
  const config = (state: string) =>
    loadServeConfig(['--port', '0', '--state-dir', state], { VPMU_ADMIN_PASSWORD: 'pw' }, () => '');

  it('refuses an empty (0-byte) vpmu.db instead of starting a new, empty cloud', async () => {
    const state = path.join(dir, 'empty-db');
    mkdirSync(state, { recursive: true });
    const file = path.join(state, 'vpmu.db');
    writeFileSync(file, '');
    await assert.rejects(startService(config(state)), {
      message: `Cannot open the database ${file}: the file is empty (0 bytes), not a vpmu database. Restore it from a backup, or remove it to start a new, empty cloud`,
    });
    assert.equal(statSync(file).size, 0, 'the file is left as it was');
  });

  it("refuses a file that is not a database, with SQLite's reason", async () => {
    const state = path.join(dir, 'not-db');
    mkdirSync(state, { recursive: true });
    const file = path.join(state, 'vpmu.db');
    writeFileSync(file, 'this is not a database, it is a text file of some length. '.repeat(100));
    await assert.rejects(startService(config(state)), {
      message: `Cannot open the database ${file}: file is not a database (SQLITE_NOTADB). Restore it from a backup, or move it away to start a new, empty cloud`,
    });
  });

  it('creates a new database in a fresh state directory, with its records 0600', async () => {
    const state = path.join(dir, 'new-db');
    const service = await startService(config(state));
    try {
      const res = await fetch(`${service.url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(passwordAuth('admin', 'pw', 'admin')),
      });
      assert.equal(res.status, 201);
      // While it runs: SQLite removes -wal and -shm when the last connection closes.
      assert.deepEqual(
        Object.values(modes(state, ['vpmu.db', 'vpmu.db-wal', 'vpmu.db-shm', 'logs/vpmu.log'])).map(
          (m) => m.slice(0, 4),
        ),
        ['0600', '0600', '0600', '0600'],
      );
    } finally {
      await service.close();
    }
  });
});
