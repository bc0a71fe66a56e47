/**
 * The state directory's layout and file modes (docs/operations.md, "State directory"):
 *
 *   <state>/            0700, or 0710 with QEMU's group when QEMU runs as another user
 *     logs/             0700          vpmu.log 0600
 *     images/           like <state>  image data (libvirt's dynamic ownership hands each file to
 *     instances/        like <state>  QEMU while a guest uses it)
 *     vpmu.db, -wal, -shm, notifications.jsonl, admin-password    0600
 *
 * QEMU only needs to traverse (x) the directories above a disk and its backing image, never to
 * list them, so its group gets x and nobody else gets anything. `prepareStateDir` creates this
 * layout and tightens existing files; `qemuCannotReach` walks a path as QEMU's user would.
 */
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { NOTIFICATIONS_FILE } from '../adapters/notifier/file-notifier.js';
import type { QemuDacLabel } from '../xml/index.js';

/**
 * Who QEMU runs as: a DAC label, `none` when the hypervisor has no QEMU user (test:///default),
 * or `unknown` when libvirt could not be asked (then groups and traverse bits are left as they are).
 */
export type QemuUser = QemuDacLabel | 'none' | 'unknown';

/** Files holding secrets or tenants' records, relative to the state directory. */
export const PRIVATE_FILES = [
  'vpmu.db',
  'vpmu.db-wal',
  'vpmu.db-shm',
  NOTIFICATIONS_FILE,
  'admin-password',
  path.join('logs', 'vpmu.log'),
] as const;

/** A state directory that cannot be used; the message names the directory and the fix. */
export class StateDirError extends Error {
  override readonly name = 'StateDirError';
}

/**
 * Creates the state directory's layout and brings modes in line with it; returns one line per
 * change to an existing file or directory, for the log. Throws StateDirError when the directory
 * cannot be written (read-only file system, no permission, full).
 */
export function prepareStateDir(stateDir: string, qemu: QemuUser, ownUid: number): string[] {
  const changes: string[] = [];
  const shared = typeof qemu === 'object' && qemu.uid !== ownUid;
  const dirs = [stateDir, path.join(stateDir, 'images'), path.join(stateDir, 'instances')];
  // Only changes to what existed before are worth a log line; new directories just get their mode.
  const existed = new Set(dirs.filter((d) => existsSync(d)));
  const note = (file: string, change: string): void => {
    if (existed.has(file) || !dirs.includes(file)) changes.push(change);
  };
  try {
    // Missing parents get the usual mode: they are not vpmu's, and QEMU may need to enter them.
    mkdirSync(path.dirname(stateDir), { recursive: true });
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if ((statSync(stateDir).mode & 0o1000) !== 0) {
      throw new StateDirError(
        `the state directory ${stateDir} is a shared directory (sticky bit, like /tmp): choose a directory of vpmu's own`,
      );
    }
    for (const dir of dirs.slice(1)) mkdirSync(dir, { mode: 0o700, recursive: true });
    mkdirSync(path.join(stateDir, 'logs'), { mode: 0o700, recursive: true });
    accessSync(stateDir, constants.W_OK);
  } catch (error) {
    if (error instanceof StateDirError) throw error;
    throw new StateDirError(
      `the state directory ${stateDir} cannot be written (${codeOf(error)}): ` +
        `make it writable by this user (uid ${ownUid}) on a read-write file system with free space, or choose another --state-dir`,
    );
  }
  const setMode = (file: string, wanted: (mode: number) => number): void => {
    const mode = statSync(file).mode & 0o777;
    const target = wanted(mode);
    if (target === mode) return;
    chmodSync(file, target);
    note(file, `changed the mode of ${file} from ${octal(mode)} to ${octal(target)}`);
  };
  for (const dir of dirs) {
    if (shared) {
      const { gid } = statSync(dir);
      if (gid !== qemu.gid) {
        try {
          chownSync(dir, -1, qemu.gid);
          note(dir, `gave ${dir} to QEMU's group ${qemu.gid} (was ${gid})`);
        } catch {
          // Not root and not in QEMU's group: qemuCannotReach() below says how to fix it.
        }
      }
      setMode(dir, () => 0o710);
    } else if (qemu === 'unknown') {
      // Others lose read and write, never traverse: QEMU may pass through as "other" today.
      setMode(dir, (mode) => mode & 0o771);
    } else {
      setMode(dir, () => 0o700);
    }
  }
  setMode(path.join(stateDir, 'logs'), () => 0o700);
  for (const name of PRIVATE_FILES) {
    const file = path.join(stateDir, name);
    try {
      setMode(file, (mode) => mode & 0o600);
    } catch (error) {
      if (codeOf(error) !== 'ENOENT') throw error;
    }
  }
  return changes;
}

/** The mode and owner of a directory, as `stat` gives them. */
export interface DirStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Why QEMU (its uid, gid and supplementary groups) cannot reach `target`, walking every directory
 * from the root down as the kernel would; undefined when it can.
 */
export function qemuCannotReach(
  target: string,
  qemu: QemuDacLabel,
  groups: readonly number[],
  statOf: (dir: string) => DirStat,
): string | undefined {
  if (qemu.uid === 0) return undefined;
  const absolute = path.resolve(target);
  const parts = absolute.split(path.sep).filter((p) => p !== '');
  for (let i = 0; i <= parts.length; i += 1) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    const st = statOf(dir);
    const inGroup = st.gid === qemu.gid || groups.includes(st.gid);
    const bit = st.uid === qemu.uid ? 0o100 : inGroup ? 0o010 : 0o001;
    if ((st.mode & bit) !== 0) continue;
    const fix =
      st.uid === qemu.uid
        ? `chmod u+x ${dir}`
        : `chgrp ${qemu.gid} ${dir} && chmod g+x ${dir} (or chmod o+x ${dir})`;
    return (
      `QEMU runs as uid ${qemu.uid} gid ${qemu.gid} (libvirt's DAC label) and cannot enter ${dir} ` +
      `(mode ${octal(st.mode & 0o777)}, owner ${st.uid}:${st.gid}) on the way to ${absolute}, so no guest could open its disk. ` +
      `Fix: ${fix}, or choose a --state-dir below directories QEMU can enter`
    );
  }
  return undefined;
}

/**
 * Why vpmu, running as `ownUid`, cannot boot guests through a session-mode libvirtd reached by its
 * socket (`qemu+unix:///session?socket=PATH`, one isolated host per daemon); undefined when it can,
 * and for every other URI (qemu:///system is checked through its DAC label instead).
 *
 * QEMU runs as the daemon's user, who owns the socket. A session daemon has no DAC security model
 * (its capabilities name none) and hands no file to QEMU, so the disks, console logs, config drives
 * and image files vpmu writes must already be that user's: vpmu must run as that user.
 */
export function sessionDaemonProblem(
  uri: string,
  ownUid: number,
  statOf: (file: string) => DirStat,
): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const socket = url.searchParams.get('socket');
  if (!/^qemu(\+unix)?:$/u.test(url.protocol) || url.pathname !== '/session' || socket === null) {
    return undefined;
  }
  let owner: DirStat;
  try {
    owner = statOf(socket);
  } catch {
    // No daemon there: connecting fails with libvirt's own message.
    return undefined;
  }
  if (owner.uid === ownUid) return undefined;
  return (
    `QEMU runs as uid ${owner.uid} gid ${owner.gid}, the user of the session libvirtd behind ${socket}, ` +
    `and a session libvirtd hands no file to QEMU, so no guest could open the disks vpmu (uid ${ownUid}) writes. ` +
    `Fix: run vpmu as uid ${owner.uid} (e.g. setpriv --reuid ${owner.uid} --regid ${owner.gid} --init-groups), ` +
    `with a --state-dir that user owns`
  );
}

/**
 * The supplementary groups of the user with this uid, from /etc/passwd and /etc/group (libvirt
 * starts QEMU with them); empty when the files cannot be read.
 */
export function supplementaryGroups(uid: number): number[] {
  try {
    const name = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .find((f) => f[2] === String(uid))?.[0];
    if (name === undefined) return [];
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .filter((f) => (f[3] ?? '').split(',').includes(name))
      .map((f) => Number(f[2]));
  } catch {
    return [];
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
