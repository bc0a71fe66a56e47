/**
 * Child processes and waits for tests that must not hang CI.
 *
 * A child started here cannot outlive its test: `stop()` ends its whole process group (SIGTERM,
 * then SIGKILL after a grace period), and every child still running is killed when the test
 * process exits or is terminated (node --test sends SIGTERM to a file that passes its timeout).
 * Under util-linux's setpriv the kernel also kills it if the test process dies without a word.
 * Every wait here is bounded: generously (60 s), because CI machines are loaded.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How long a test waits for a condition (a start-up line, a state) before it fails. */
export const WAIT_MS = 60_000;
/** How long a child has to exit after SIGTERM before it gets SIGKILL. */
export const STOP_GRACE_MS = 10_000;
/** The bound for synchronous runs of a command (spawnSync / execFileSync `timeout`). */
export const RUN_TIMEOUT_MS = 60_000;

const SETPRIV = '/usr/bin/setpriv';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface TestChild {
  readonly pid: number;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** stdout so far. */
  stdout(): string;
  /** stderr so far. */
  stderr(): string;
  /** Settles when the child has exited. */
  readonly exited: Promise<ChildExit>;
  /**
   * The first match of `pattern` in the output; rejects, with the output, when the child exits
   * first or nothing matches within `timeoutMs`.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `signal` to the child's process group (not waiting). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves with how it ended. */
  stop(graceMs?: number): Promise<ChildExit>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Process groups of the children still running, killed when this process goes. */
const running = new Set<number>();
let reaperInstalled = false;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  const killAll = (): void => {
    for (const pid of running) killGroup(pid, 'SIGKILL');
    running.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Die of the same signal, as if no handler had been installed.
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Starts `command args` in its own process group with piped output, registered for killing.
 * Always pair it with `stop()` in a `finally` or an `after` hook.
 */
export function startChild(
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): TestChild {
  installReaper();
  const [file, ...argv] = existsSync(SETPRIV)
    ? [SETPRIV, '--pdeathsig', 'KILL', command, ...args]
    : [command, ...args];
  const child = spawn(file, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  // No pid: spawn failed, and its 'error' event (handled below) ends the child at once.
  const pid = child.pid;
  if (pid !== undefined) running.add(pid);
  let all = '';
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const listener of listeners) listener();
  };
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    all += text;
    notify();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    err += text;
    all += text;
    notify();
  });
  let ended: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    const finish = (exit: ChildExit): void => {
      if (ended !== undefined) return;
      ended = exit;
      if (pid !== undefined) running.delete(pid);
      resolve(exit);
      notify();
    };
    child.once('exit', (code, signal) => {
      finish({ code, signal });
    });
    child.once('error', (error) => {
      all += `\n${error.message}`;
      finish({ code: null, signal: null });
    });
  });

  const waitFor = (pattern: RegExp, timeoutMs = WAIT_MS): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(all);
        if (match !== null) {
          done();
          resolve(match);
        } else if (ended !== undefined) {
          done();
          reject(
            new Error(
              `${command} exited (${String(ended.code ?? ended.signal)}) before printing ${String(pattern)}:\n${all}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `${command} printed no ${String(pattern)} within ${String(timeoutMs)} ms:\n${all}`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const signal = (name: NodeJS.Signals): void => {
    if (pid !== undefined && ended === undefined) killGroup(pid, name);
  };

  const stop = async (graceMs = STOP_GRACE_MS): Promise<ChildExit> => {
    if (pid === undefined || ended !== undefined) return exited;
    killGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([exited, late]);
    clearTimeout(timer);
    // SIGKILL for what is left of the group: the leader if it ignored SIGTERM, and whatever it
    // started and left behind.
    killGroup(pid, 'SIGKILL');
    return exited;
  };

  return {
    pid: pid ?? 0,
    output: () => all,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor,
    signal,
    stop,
  };
}

export interface PollOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Calls `probe` until `done` holds for its value, and returns that value; throws, naming `what`
 * and the last value seen, after `timeoutMs` (60 s by default).
 */
export async function pollUntil<T>(
  what: string,
  probe: () => T | Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = WAIT_MS, intervalMs = 50 }: PollOptions = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (performance.now() >= deadline) {
      throw new Error(
        `${what}: not reached within ${String(timeoutMs)} ms; last seen: ${JSON.stringify(value)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
