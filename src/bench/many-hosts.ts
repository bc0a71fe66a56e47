/**
 * Many hosts without many processes: VPMU_BENCH_HOSTS (default 1,000) fake compute hosts in
 * WORKERS worker processes (many-hosts-worker.ts: each host registers, heartbeats every 10 s and
 * serves its compute agent on RabbitMQ over a connection of its own), two `vpmu conductor` and
 * two `vpmu api` processes on a fresh PostgreSQL database; then VPMU_BENCH_BOOTS boots (default
 * 5,000) over HTTP at concurrency 32, kept (not deleted) so the hosts fill up. Measures claims per
 * second, create → host chosen and create → ACTIVE, zero overcommit from the store's allocations,
 * RabbitMQ's and PostgreSQL's memory per agent and the heartbeat write load.
 *
 * Needs VPMU_BENCH_DATABASE_URL and VPMU_BENCH_TRANSPORT_URL, as boot-split.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openPostgresStore } from '../adapters/store/postgres-store.js';
import type { Store } from '../ports/store.js';
import { startCluster, type Cluster } from '../testing/cluster.js';
import { startChild, type TestChild } from '../testing/processes.js';
import { ADMIN_PASSWORD } from '../testing/stock-clients.js';
import { DISTRIBUTED_HOW, databaseCounters, distributedEnv, notRun } from './boot-split.js';
import { createServer, seed } from './boot.js';
import { quantile } from './measure.js';
import type { PartReport } from './report.js';
import { connect, cpuSeconds, type RunningService } from './service.js';

const HOSTS = Number(process.env.VPMU_BENCH_HOSTS ?? 1000);
const WORKERS = 4;
const VCPUS_PER_HOST = 8;
const BOOTS = Number(process.env.VPMU_BENCH_BOOTS ?? Math.min(5000, HOSTS * 5));
const CONCURRENCY = 32;
/**
 * The longest wait between two polls of a server: the boot part's 20 ms made the two API
 * processes spend 130 ms of CPU per boot answering polls on 2 shared cores (2026-11-30).
 */
const POLL_MAX_MS = 250;
const REPORT_INTERVAL_S = 10;
/**
 * Agents per RabbitMQ connection (each agent keeps its own queues and channel): a broker started
 * with the usual 1,024 open files accepts ~830 connections (shared/reference/distributed.md §4).
 */
const AGENTS_PER_CONNECTION = Number(process.env.VPMU_BENCH_AGENTS_PER_CONNECTION ?? 10);
/** Bounds: a worker's hosts all serving, and the whole boot phase. */
const WORKER_READY_MS = 600_000;
const BOOTS_MS = Number(process.env.VPMU_BENCH_BOOT_SECONDS ?? 1200) * 1000;

export async function benchManyHosts(): Promise<PartReport> {
  const env = distributedEnv();
  if ('missing' in env) return notRun('many-hosts', env.missing, DISTRIBUTED_HOW);
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-many-'));
  const workers: TestChild[] = [];
  let cluster: Cluster | undefined;
  const clients: RunningService[] = [];
  let checker: Store | undefined;
  try {
    cluster = await startCluster({
      dir,
      databaseUrl: env.databaseUrl,
      transportUrl: env.transportUrl,
      apis: 2,
      conductors: 2,
      computes: [],
      settings: { reportInterval: REPORT_INTERVAL_S, serviceDownTime: 60, buildTimeout: 300 },
      env: { VPMU_LOG_LEVEL: 'warn' },
    });
    // Opened now, while the machine is quiet: the check at the end reads the allocations.
    checker = await openPostgresStore(cluster.databaseUrl, { maxConnections: 3 });
    const port = new URL(env.databaseUrl).port;
    const commits = await databaseCounters(env.databaseUrl, cluster.databaseUrl);
    const sizeBefore = await commits.sizeMiB();
    const beforeBroker = brokerRssMiB();
    const beforeDatabase = postgresPss(port);
    const registerStarted = performance.now();
    for (let w = 0; w < WORKERS; w++) {
      const agents = Math.floor(HOSTS / WORKERS) + (w < HOSTS % WORKERS ? 1 : 0);
      workers.push(
        startChild(process.execPath, ['dist/bench/many-hosts-worker.js'], {
          env: {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            VPMU_BENCH_WORKER_DATABASE_URL: cluster.databaseUrl,
            VPMU_BENCH_WORKER_TRANSPORT_URL: cluster.transportUrl,
            VPMU_BENCH_WORKER_EXCHANGE: cluster.exchange,
            VPMU_BENCH_WORKER_IMAGE_DIR: path.join(dir, 'images'),
            VPMU_BENCH_WORKER_PREFIX: `fake-w${String(w)}`,
            VPMU_BENCH_WORKER_AGENTS: String(agents),
            VPMU_BENCH_WORKER_VCPUS: String(VCPUS_PER_HOST),
            VPMU_BENCH_WORKER_REPORT_INTERVAL: String(REPORT_INTERVAL_S),
            VPMU_BENCH_WORKER_AGENTS_PER_CONNECTION: String(AGENTS_PER_CONNECTION),
          },
        }),
      );
    }
    await Promise.all(workers.map((w) => w.waitFor(/^ready$/mu, WORKER_READY_MS)));
    const registerSeconds = (performance.now() - registerStarted) / 1000;
    progress(`${String(HOSTS)} hosts serving after ${registerSeconds.toFixed(1)} s`);
    // Every host's heartbeat timer has started after one interval; measure over the next one.
    await sleep((REPORT_INTERVAL_S + 1) * 1000);
    const beatsBefore = heartbeats(workers);
    const windowStarted = performance.now();
    const commitsBefore = await commits.commits();
    await sleep(REPORT_INTERVAL_S * 2 * 1000);
    const commitsAfter = await commits.commits();
    const windowS = (performance.now() - windowStarted) / 1000;
    const heartbeatRate = (heartbeats(workers) - beatsBefore) / windowS;
    const idleCommitRate = (commitsAfter - commitsBefore) / windowS;
    const sizeAfter = await commits.sizeMiB();
    await commits.close();
    const afterBroker = brokerRssMiB();
    const afterDatabase = postgresPss(port);
    progress(`heartbeats ${heartbeatRate.toFixed(1)}/s; booting ${String(BOOTS)} servers`);

    for (const url of cluster.apiUrls) {
      clients.push(await connect(url, 0, ADMIN_PASSWORD, async () => undefined));
    }
    const [first] = clients;
    if (first === undefined) throw new Error('no API process started');
    const { imageId } = await seed(first);
    const flavor = await first.request('POST', '/compute/v2.1/flavors', {
      flavor: { name: 'many.tiny', ram: 512, vcpus: 1, disk: 1 },
    });
    const flavorId = (flavor.body as { flavor?: { id?: string } } | undefined)?.flavor?.id;
    if (flavorId === undefined)
      throw new Error(`Cannot create flavor many.tiny: HTTP ${flavor.status}`);

    const roles = {
      api: cluster.apis.map((c) => c.pid),
      conductor: cluster.conductors.map((c) => c.pid),
      'agent worker': workers.map((c) => c.pid),
    };
    const cpuOf = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const cpuBefore = Object.fromEntries(Object.entries(roles).map(([r, p]) => [r, cpuOf(p)]));
    const toHostMs: number[] = [];
    const toActiveMs: number[] = [];
    let errors = 0;
    let firstFault: string | undefined;
    let next = 0;
    const deadline = performance.now() + BOOTS_MS;
    const started = performance.now();
    const worker = async (i: number) => {
      const client = clients[i % clients.length] ?? first;
      while (next < BOOTS && performance.now() < deadline) {
        const n = next++;
        const t0 = performance.now();
        const id = await createServer(client, `many-${String(n)}`, flavorId, imageId);
        let hostAt: number | undefined;
        for (
          let delayMs = 5;
          performance.now() < deadline;
          delayMs = Math.min(delayMs * 2, POLL_MAX_MS)
        ) {
          const shown = await client.request('GET', `/compute/v2.1/servers/${id}`);
          const server = (shown.body as { server?: Record<string, unknown> } | undefined)?.server;
          const status = server?.status ?? `HTTP ${String(shown.status)}`;
          if (hostAt === undefined && typeof server?.['OS-EXT-SRV-ATTR:host'] === 'string')
            hostAt = performance.now();
          if (status !== 'BUILD') {
            if (status === 'ACTIVE') {
              toActiveMs.push(performance.now() - t0);
              toHostMs.push((hostAt ?? performance.now()) - t0);
            } else {
              errors++;
              firstFault ??= JSON.stringify(server?.fault ?? status);
            }
            break;
          }
          await sleep(delayMs);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => worker(i)));
    const elapsedS = (performance.now() - started) / 1000;
    progress(
      `${String(toActiveMs.length)} ACTIVE, ${String(errors)} in ERROR in ${elapsedS.toFixed(1)} s`,
    );
    toHostMs.sort((a, b) => a - b);
    toActiveMs.sort((a, b) => a - b);
    const cpuPerBoot = Object.fromEntries(
      Object.entries(roles).map(([role, p]) => [
        `${role} processes: CPU per boot (ms)`,
        ((cpuOf(p) - (cpuBefore[role] ?? 0)) * 1000) / Math.max(1, toActiveMs.length),
      ]),
    );
    await sleep(1500); // the workers' next stats line counts every build
    const overcommit = await checkOvercommit(checker);
    const builds = workers.reduce((sum, w) => sum + (lastStats(w)?.builds ?? 0), 0);
    const claimsPerSecond = toActiveMs.length / elapsedS;
    const perAgentKiB = (before: number, after: number) => ((after - before) * 1024) / HOSTS;
    return {
      part: 'many-hosts',
      figures: {
        'fake compute hosts': HOSTS,
        'worker processes': WORKERS,
        'agents per RabbitMQ connection': AGENTS_PER_CONNECTION,
        'vCPUs per host (allocation ratio 1)': VCPUS_PER_HOST,
        'vpmu conductor / vpmu api processes': '2 / 2',
        'hosts registered and serving in (s)': registerSeconds,
        'boots asked': BOOTS,
        'boots ACTIVE': toActiveMs.length,
        'boots in ERROR': errors,
        ...(firstFault === undefined ? {} : { 'first ERROR fault': firstFault }),
        'builds the agents ran': builds,
        'claims per second (ACTIVE / s)': claimsPerSecond,
        'p50 create → host chosen (ms)': quantile(toHostMs, 0.5),
        'p99 create → host chosen (ms)': quantile(toHostMs, 0.99),
        'p50 create → ACTIVE (ms)': quantile(toActiveMs, 0.5),
        'p99 create → ACTIVE (ms)': quantile(toActiveMs, 0.99),
        ...cpuPerBoot,
        'hosts with allocations': overcommit.hostsUsed,
        'most vCPUs allocated on one host': overcommit.maxVcpus,
        'hosts over capacity': overcommit.over,
        'RabbitMQ RSS before / after the agents (MiB)': `${beforeBroker.toFixed(0)} / ${afterBroker.toFixed(0)}`,
        'RabbitMQ memory per agent (KiB)': perAgentKiB(beforeBroker, afterBroker),
        'PostgreSQL PSS before / after the agents (MiB)': `${beforeDatabase.mib.toFixed(0)} / ${afterDatabase.mib.toFixed(0)}`,
        'PostgreSQL processes before / after the agents': `${String(beforeDatabase.processes)} / ${String(afterDatabase.processes)}`,
        'PostgreSQL memory per agent, pooled (KiB)': perAgentKiB(
          beforeDatabase.mib,
          afterDatabase.mib,
        ),
        'PostgreSQL PSS per process after (MiB)': afterDatabase.mib / afterDatabase.processes,
        'PostgreSQL data per agent (KiB)': perAgentKiB(sizeBefore, sizeAfter),
        'heartbeats written per second': heartbeatRate,
        'database commits per second, idle cluster': idleCommitRate,
      },
      targets: [
        {
          name: 'zero overcommit',
          goal: '0 hosts over',
          value: overcommit.over,
          unit: 'hosts',
          met: overcommit.over === 0,
        },
      ],
      notes: [
        `${String(HOSTS)} hosts in ${String(WORKERS)} processes; each host: its record (${String(VCPUS_PER_HOST)} vCPUs, ${String(VCPUS_PER_HOST * 1024)} MiB, allocation ratios 1), a heartbeat every ${String(REPORT_INTERVAL_S)} s at a random phase, and vpmu's LocalComputeAgent over the FakeHypervisor and in-memory disks served on RPC (topic compute, server = the host) with its own queues and channel, ${String(AGENTS_PER_CONNECTION)} agents per RabbitMQ connection (the shared broker here has 1,024 open files, ~830 connections); the hosts of one process share a PostgreSQL pool of 4 connections, where real computes would each hold their own.`,
        `Boots: flavor of 1 vCPU, 512 MiB, 1 GiB, kept after ACTIVE; ${String(CONCURRENCY)} HTTP clients alternating between the two API processes, each polling its server (5 ms doubling to ${String(POLL_MAX_MS)} ms) until it leaves BUILD. "Host chosen" is the first poll that shows OS-EXT-SRV-ATTR:host, so it includes the API's cast, the conductor's schedule and claim, and the polling delay.`,
        'Memory: RabbitMQ is the beam.smp RSS, PostgreSQL the PSS of the postmaster and its children, before the worker processes start and one heartbeat interval after they all serve; both servers are shared with other work on this machine, so the per-agent figures are indicative. Heartbeat load: heartbeats the agents wrote per second, and the commits PostgreSQL counted on the database (pg_stat_database) over the same window with no boots running.',
      ],
    };
  } finally {
    for (const client of clients) await client.stop();
    await checker?.close();
    await Promise.all(workers.map((w) => w.stop()));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function progress(line: string): void {
  process.stderr.write(`many-hosts: ${line}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface WorkerStats {
  readonly heartbeats: number;
  readonly heartbeatFailures: number;
  readonly builds: number;
}

function lastStats(worker: TestChild): WorkerStats | undefined {
  const lines = worker.stdout().trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    if (line.startsWith('stats ')) return JSON.parse(line.slice(6)) as WorkerStats;
  }
  return undefined;
}

function heartbeats(workers: readonly TestChild[]): number {
  return workers.reduce((sum, w) => sum + (lastStats(w)?.heartbeats ?? 0), 0);
}

/** Allocations per host against each host's capacity, from the store. */
async function checkOvercommit(
  store: Store,
): Promise<{ hostsUsed: number; maxVcpus: number; over: number }> {
  {
    const hosts = await store.listComputeHosts();
    const allocations = await store.listAllocations();
    const used = new Map<string, Record<string, number>>();
    for (const a of allocations) {
      const sums = used.get(a.host) ?? {};
      for (const [resource, amount] of Object.entries(a.resources))
        sums[resource] = (sums[resource] ?? 0) + amount;
      used.set(a.host, sums);
    }
    let over = 0;
    let maxVcpus = 0;
    for (const host of hosts) {
      const sums = used.get(host.name) ?? {};
      maxVcpus = Math.max(maxVcpus, sums.VCPU ?? 0);
      const exceeded = Object.entries(host.inventory).some(
        ([resource, inventory]) =>
          (sums[resource] ?? 0) >
          (inventory.total - inventory.reserved) * inventory.allocationRatio,
      );
      if (exceeded) over++;
    }
    return { hostsUsed: used.size, maxVcpus, over };
  }
}

/** Resident memory of the RabbitMQ node (the largest beam.smp process), in MiB. */
function brokerRssMiB(): number {
  let largest = 0;
  for (const pid of pids()) {
    if (comm(pid) !== 'beam.smp') continue;
    largest = Math.max(largest, statusKiB(pid, 'VmRSS'));
  }
  return largest / 1024;
}

/**
 * Proportional memory (PSS) of the PostgreSQL server on `port`: its postmaster and children, MiB,
 * and how many processes that is (one per connection, plus PostgreSQL's own).
 */
function postgresPss(port: string): { mib: number; processes: number } {
  const all = pids();
  const postmaster = all.find(
    (pid) =>
      comm(pid) === 'postgres' &&
      cmdline(pid).includes(`-p ${port}`) &&
      comm(parentOf(pid)) !== 'postgres',
  );
  if (postmaster === undefined) return { mib: Number.NaN, processes: 0 };
  const group = all.filter((pid) => pid === postmaster || parentOf(pid) === postmaster);
  return {
    mib: group.reduce((sum, pid) => sum + pssKiB(pid), 0) / 1024,
    processes: group.length,
  };
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/u.test(name))
    .map(Number);
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const comm = (pid: number) => read(`/proc/${String(pid)}/comm`).trim();
const cmdline = (pid: number) => read(`/proc/${String(pid)}/cmdline`).replaceAll('\0', ' ');
const parentOf = (pid: number) =>
  Number(/^PPid:\s+(\d+)/mu.exec(read(`/proc/${String(pid)}/status`))?.[1] ?? 0);
const statusKiB = (pid: number, field: string) =>
  Number(
    new RegExp(`^${field}:\\s+(\\d+)`, 'mu').exec(read(`/proc/${String(pid)}/status`))?.[1] ?? 0,
  );
const pssKiB = (pid: number) =>
  Number(/^Pss:\s+(\d+)/mu.exec(read(`/proc/${String(pid)}/smaps_rollup`))?.[1] ?? 0);
