/**
 * The reliability suite's small harness: real `vpmu serve` processes with bounded waits and
 * SIGKILL on every exit path, an HTTP client with a timeout on every request, a seeded random
 * source and the tallies the suite prints at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';

/** Every child this process started; all are SIGKILLed when this process exits, whatever the path. */
const children = new Set<ChildProcess>();
/** Synchronous clean-ups (an unmount) that must run even when the watchdog ends the run. */
const atExit = new Set<() => void>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const cleanup of atExit) cleanup();
});

/** Runs `cleanup` when this process exits unless the returned function is called first. */
export function onExit(cleanup: () => void): () => void {
  atExit.add(cleanup);
  return () => atExit.delete(cleanup);
}

/** The figures printed at the end; each of requests aside must be zero for a pass. */
export class Figures {
  requests = 0;
  serverErrors = 0;
  hangs = 0;
  crashes = 0;
  leaks = 0;
  passed = 0;
  failed = 0;
  readonly problems: string[] = [];
  /** X-OpenStack-Request-ID of every 5xx answer, to tell expected error log lines from others. */
  readonly serverErrorIds = new Set<string>();

  /** Records one check of a scenario; a failure keeps its detail for the report. */
  check(scenario: string, ok: boolean, what: string, detail = ''): boolean {
    if (ok) this.passed++;
    else {
      this.failed++;
      this.problems.push(`[${scenario}] ${what}${detail === '' ? '' : `: ${detail}`}`);
    }
    return ok;
  }

  readonly #leaked = new Set<string>();

  /** Counts a leaked `thing` (a file, a claim) once, however many later checks see it again. */
  leak(scenario: string, thing: string, what: string): void {
    if (this.#leaked.has(thing)) return;
    this.#leaked.add(thing);
    this.leaks++;
    this.check(scenario, false, 'leak', what);
  }
}

/** mulberry32: small, fast and reproducible from a 32-bit seed. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

/** Waits for `condition` to hold, polling; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  condition: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a short command (qemu-img, mount) with a hard timeout; throws with its stderr on failure. */
export function run(command: string, args: readonly string[], timeoutMs = 30_000): string {
  const result = spawnSync(command, [...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
  });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${String(result.status)}): ${result.stderr}`,
    );
  }
  return result.stdout;
}

export interface ServiceOptions {
  readonly stateDir: string;
  readonly configFile: string;
  readonly adminPassword: string;
  /** `warn` keeps the logs small; the disk scenario runs at the default, `info`. */
  readonly logLevel?: string;
}

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

/** One `vpmu serve` on a state directory; restartable; an exit we did not ask for is a crash. */
export class Service {
  url = '';
  output = '';
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  /** How we asked it to end: SIGKILL ends it however; SIGTERM must end it with status 0. */
  #stopping: 'kill' | 'term' | undefined;

  constructor(
    readonly options: ServiceOptions,
    readonly figures: Figures,
    readonly scenario: string,
  ) {}

  get alive(): boolean {
    return (
      this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null
    );
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Spawns `vpmu serve` and resolves once it prints where it listens (bounded). */
  async start(timeoutMs = 60_000): Promise<void> {
    const result = await this.startRaw(timeoutMs);
    if (result.url === undefined) {
      throw new Error(`vpmu serve did not start: exit ${String(result.code)}\n${this.output}`);
    }
  }

  /**
   * Spawns `vpmu serve`; resolves with its URL once it listens, or with its exit code when it
   * ends before that. A child still silent after `timeoutMs` is killed.
   */
  async startRaw(timeoutMs = 60_000): Promise<{ url?: string; code: number | null }> {
    this.output = '';
    this.#stopping = undefined;
    const child = spawn(
      process.execPath,
      [
        path.join(REPO_ROOT, 'bin', 'vpmu.js'),
        'serve',
        '--port',
        '0',
        '--state-dir',
        this.options.stateDir,
        '--config',
        this.options.configFile,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          VPMU_ADMIN_PASSWORD: this.options.adminPassword,
          VPMU_LOG_LEVEL: this.options.logLevel ?? 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        children.delete(child);
        const asked = this.#stopping === 'kill' || (this.#stopping === 'term' && code === 0);
        if (!asked && this.url !== '') {
          this.figures.crashes++;
          this.figures.check(
            this.scenario,
            false,
            this.#stopping === 'term'
              ? 'vpmu serve did not exit 0 on SIGTERM (or had died already)'
              : 'vpmu serve exited on its own',
            `code ${String(code)}; output tail: ${this.output.slice(-600)}`,
          );
        }
        resolve(code);
      });
    });
    const append = (chunk: Buffer): void => {
      this.output += chunk.toString('utf8');
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    this.url = '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const url = /vpmu listening on (http:\/\/\S+)/u.exec(this.output)?.[1];
      if (url !== undefined) {
        this.url = url;
        return { url, code: null };
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        return { code: await this.#exited };
      }
      if (Date.now() > deadline) {
        await this.kill9();
        throw new Error(
          `vpmu serve printed no listening line within ${timeoutMs} ms:\n${this.output}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** SIGKILL, as a power cut of the process would; waits (bounded) for the exit. */
  async kill9(): Promise<void> {
    this.#stopping = 'kill';
    this.#child?.kill('SIGKILL');
    await this.#waitExit(30_000);
  }

  /** SIGTERM, then SIGKILL when it has not exited within 30 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.#stopping = 'term';
    this.#child?.kill('SIGTERM');
    if (!(await this.#waitExit(30_000))) {
      this.figures.check(this.scenario, false, 'vpmu serve ignored SIGTERM for 30 s');
      this.#stopping = 'kill';
      this.#child?.kill('SIGKILL');
      await this.#waitExit(30_000);
    }
  }

  async #waitExit(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const exited = this.#exited.then(() => true as const);
    const result = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    return result;
  }
}

export interface Reply {
  /** TIMED_OUT (0) when no answer came in time; DROPPED (-1) when the connection failed. */
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON. */
  readonly json: unknown;
}

export interface RequestOptions {
  readonly token?: string | undefined;
  /** Serialized as JSON unless `raw` is given. */
  readonly body?: unknown;
  readonly raw?: string | Buffer;
  readonly contentType?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
  /** 503 is a documented answer here (a full or read-only disk): not counted as a 5xx. */
  readonly allow503?: boolean;
  /** The service is being killed under this request: no answer is not a hang. */
  readonly mayDie?: boolean;
}

/** No answer within the request's timeout. */
export const TIMED_OUT = 0;
/** The connection was refused, reset or closed before a whole answer came. */
export const DROPPED = -1;

/** HTTP against one service, counting every request, every 5xx and every hang in `figures`. */
export class Client {
  constructor(
    readonly service: Service,
    readonly figures: Figures,
  ) {}

  async request(method: string, target: string, options: RequestOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers['x-auth-token'] = options.token;
    let payload: string | Buffer | undefined = options.raw;
    if (payload === undefined && options.body !== undefined) payload = JSON.stringify(options.body);
    if (payload !== undefined) {
      headers['content-type'] ??= options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    this.figures.requests++;
    const reply = await send(
      this.service.port,
      method,
      target,
      headers,
      payload,
      options.timeoutMs,
    );
    if (reply.status <= TIMED_OUT && options.mayDie !== true) {
      this.figures.hangs++;
      this.figures.check(
        this.service.scenario,
        false,
        reply.status === TIMED_OUT ? 'request hung' : 'connection dropped without an answer',
        `${method} ${target}: ${reply.text}`,
      );
    } else if (reply.status >= 500) {
      this.figures.serverErrorIds.add(String(reply.headers['x-openstack-request-id']));
    }
    if (reply.status >= 500 && !(reply.status === 503 && options.allow503 === true)) {
      this.figures.serverErrors++;
      this.figures.check(
        this.service.scenario,
        false,
        `${reply.status} answer`,
        `${method} ${target} ${describeBody(payload)} -> ${reply.text.slice(0, 300)}`,
      );
    }
    return reply;
  }
}

function describeBody(payload: string | Buffer | undefined): string {
  if (payload === undefined) return '';
  if (typeof payload !== 'string') return `<${payload.length} bytes>`;
  return payload.length > 200 ? `${payload.slice(0, 200)}…(${payload.length} chars)` : payload;
}

/** One HTTP/1.1 request on loopback with a hard timeout; a connection error is status 0 too. */
function send(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string>,
  payload: string | Buffer | undefined,
  timeoutMs = 10_000,
): Promise<Reply> {
  return new Promise((resolve) => {
    let timedOut = false;
    const failed = (error?: Error): void => {
      clearTimeout(timer);
      const status = timedOut ? TIMED_OUT : DROPPED;
      resolve({ status, headers: {}, text: error?.message ?? 'aborted', json: undefined });
    };
    // A fresh connection each time: a socket the service closed after an early answer is not reused.
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path: target, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', failed);
        res.on('aborted', () => {
          failed(new Error('answer cut short'));
        });
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? TIMED_OUT, headers: res.headers, text, json });
        });
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', failed);
    req.end(payload);
  });
}

/** A small typed view of a parsed JSON body. */
export function field(value: unknown, ...keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

export function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? (value as Record<string, unknown>[]) : [];
}
