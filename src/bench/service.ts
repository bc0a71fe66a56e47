/** Starts `vpmu serve` as a child process for the benchmarks and talks to it over HTTP. */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const PASSWORD = 'bench-admin-password';
const SETPRIV = '/usr/bin/setpriv';

/**
 * The hypervisor the benchmarked service uses (VPMU_BENCH_URI). The default, test:///default,
 * runs libvirt's test driver inside vpmu's own process, so its domains count in vpmu's memory;
 * test+unix:///default keeps them in libvirtd, where qemu:///system keeps real guests.
 */
export const BENCH_URI = process.env.VPMU_BENCH_URI ?? 'test:///default';

export interface RunningService {
  readonly url: string;
  readonly pid: number;
  readonly token: string;
  /** How many requests request() has sent so far. */
  requests(): number;
  request(
    method: string,
    pathname: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/**
 * Capacity the simulated host (libvirt's test driver) reports, set large so the benchmarks measure
 * the control plane rather than the scheduler saying "No valid host was found." about a fake host.
 */
export const BENCH_CONFIG = { vcpus: 1_000_000, memoryMiB: 1_000_000_000, diskGiB: 10_000_000 };

/** Starts the service on a free port with a fresh state directory and logs in as admin. */
export async function startService(extraArgs: readonly string[] = []): Promise<RunningService> {
  const stateDir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-'));
  const configFile = path.join(stateDir, 'bench-config.json');
  writeFileSync(configFile, JSON.stringify(BENCH_CONFIG));
  // VPMU_BENCH_PROFILE=DIR: write a V8 CPU profile of the service there, for the profile evidence.
  const profileDir = process.env.VPMU_BENCH_PROFILE;
  const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
  // setpriv --pdeathsig: the service gets SIGTERM when the bench dies, however it dies.
  const [command, ...prefix] = existsSync(SETPRIV)
    ? [SETPRIV, '--pdeathsig', 'TERM', process.execPath]
    : [process.execPath];
  const child = spawn(
    command,
    [
      ...prefix,
      ...profile,
      'bin/vpmu.js',
      'serve',
      '--port',
      '0',
      '--state-dir',
      stateDir,
      '--config',
      configFile,
      '--uri',
      BENCH_URI,
      ...extraArgs,
    ],
    {
      env: { ...process.env, VPMU_ADMIN_PASSWORD: PASSWORD, VPMU_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const removeStateDir = (): void => {
    rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('exit', removeStateDir);
  const url = await listeningUrl(child);
  return connect(url, child.pid ?? 0, PASSWORD, async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    process.off('exit', removeStateDir);
    removeStateDir();
  });
}

/**
 * A client of a vpmu API at `url` (process `pid`), logged in as admin with `password`; `stop`
 * ends what runs it, after the client's sockets are closed.
 */
export async function connect(
  url: string,
  pid: number,
  password: string,
  stop: () => Promise<void>,
): Promise<RunningService> {
  const token = await login(url, password);
  let sent = 0;
  // node:http on kept-alive sockets: the client shares the two cores with the service, and
  // fetch (undici) spent ~0.5 ms of CPU per request, ~4 ms of every creation's budget.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const request = (method: string, pathname: string, body?: unknown) => {
    sent++;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const outgoing = httpRequest(
        `${url}${pathname}`,
        {
          method,
          agent,
          headers: {
            'X-Auth-Token': token,
            'Content-Type': 'application/json',
            'OpenStack-API-Version': 'compute 2.79',
            ...(payload === undefined ? {} : { 'Content-Length': Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => {
            try {
              resolve({
                status: response.statusCode ?? 0,
                body: text === '' ? undefined : (JSON.parse(text) as unknown),
              });
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
            }
          });
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  };
  return {
    url,
    pid,
    token,
    requests: () => sent,
    request,
    stop: async () => {
      agent.destroy();
      await stop();
    },
  };
}

/** Resident set size and its peak (VmRSS, VmHWM) of a process, in MiB, from /proc. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+)`, 'mu').exec(status)?.[1] ?? 'NaN');
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** CPU time (user + system) a process has used, in seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      reject(new Error(`vpmu serve did not start: ${output}`));
    }, 30_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /vpmu listening on (http:\/\/\S+)/u.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1].replace(/\/$/u, ''));
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vpmu serve exited (${String(code)}): ${output}`));
    });
  });
}

async function login(url: string, password: string): Promise<string> {
  const response = await fetch(`${url}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { name: 'Default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  });
  const token = response.headers.get('X-Subject-Token');
  if (response.status !== 201 || token === null)
    throw new Error(`Cannot log in to vpmu at ${url}: HTTP ${response.status}`);
  return token;
}
