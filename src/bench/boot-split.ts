/**
 * Boot path over the split processes: the boot part's creations (boot.ts: SERVERS at concurrency
 * 16, each until ACTIVE, then deleted) against one `vpmu api`, one `vpmu conductor` and one
 * `vpmu compute` (libvirt's test driver, BENCH_CONFIG's huge host) on a fresh PostgreSQL database
 * and a RabbitMQ exchange of their own, compared in the same run with `vpmu serve` on SQLite and
 * with bare libvirt define + start.
 *
 * Needs VPMU_BENCH_DATABASE_URL (a PostgreSQL server it may create a database on) and
 * VPMU_BENCH_TRANSPORT_URL (rabbit://...); without them the part reports that it did not run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCluster } from '../testing/cluster.js';
import { ADMIN_PASSWORD } from '../testing/stock-clients.js';
import { bareLibvirtRate, CONCURRENCY, runBoots, SERVERS, type BootRun } from './boot.js';
import { quantile } from './measure.js';
import type { PartReport } from './report.js';
import {
  BENCH_CONFIG,
  BENCH_URI,
  connect,
  cpuSeconds,
  memoryMiB,
  startService,
} from './service.js';

/** The part's report when the services it needs are not given: it says so, with the reason. */
export function notRun(part: string, missing: readonly string[], how: string): PartReport {
  return {
    part,
    figures: { status: 'not run' },
    targets: [],
    notes: [`Not run: ${missing.join(' and ')} not set. ${how}`],
  };
}

/** The environment variables a distributed part needs, or the names of those missing. */
export function distributedEnv():
  { readonly databaseUrl: string; readonly transportUrl: string } | { readonly missing: string[] } {
  const databaseUrl = process.env.VPMU_BENCH_DATABASE_URL ?? '';
  const transportUrl = process.env.VPMU_BENCH_TRANSPORT_URL ?? '';
  const missing = [
    ...(databaseUrl === '' ? ['VPMU_BENCH_DATABASE_URL'] : []),
    ...(transportUrl === '' ? ['VPMU_BENCH_TRANSPORT_URL'] : []),
  ];
  return missing.length > 0 ? { missing } : { databaseUrl, transportUrl };
}

export const DISTRIBUTED_HOW =
  'Set VPMU_BENCH_DATABASE_URL to a PostgreSQL server the bench may create databases on (`bash scripts/postgres.sh start DIR` prints one) and VPMU_BENCH_TRANSPORT_URL to RabbitMQ (`bash scripts/rabbitmq.sh start` prints rabbit://guest:guest@127.0.0.1:5672/).';

export async function benchBootSplit(): Promise<PartReport> {
  const env = distributedEnv();
  if ('missing' in env) return notRun('boot-split', env.missing, DISTRIBUTED_HOW);
  // Same run, same machine: the one-process service first, then the split one, then bare libvirt.
  const serve = await startService();
  let single: BootRun;
  try {
    single = await runBoots(serve, [serve.pid]);
  } finally {
    await serve.stop();
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-split-'));
  const profileDir = process.env.VPMU_BENCH_PROFILE;
  const cluster = await startCluster({
    dir,
    databaseUrl: env.databaseUrl,
    transportUrl: env.transportUrl,
    apis: 1,
    conductors: 1,
    computes: [{ name: 'bench-host', uri: BENCH_URI, settings: BENCH_CONFIG }],
    env: { VPMU_LOG_LEVEL: 'warn' },
    nodeArgs:
      profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(profileDir)],
  }).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  const api = cluster.apis[0];
  const conductor = cluster.conductors[0];
  const compute = cluster.computes.get('bench-host');
  const url = cluster.apiUrls[0];
  try {
    if (api === undefined || conductor === undefined || compute === undefined || url === undefined)
      throw new Error('the cluster started without its three processes');
    const roles = { api, conductor, compute };
    const service = await connect(url, api.pid, ADMIN_PASSWORD, async () => undefined);
    const statements = await databaseCounters(env.databaseUrl, cluster.databaseUrl);
    const statementsBefore = await statements.transactions();
    const cpuBefore = Object.fromEntries(
      Object.entries(roles).map(([role, child]) => [role, cpuSeconds(child.pid)]),
    );
    let split: BootRun;
    try {
      split = await runBoots(
        service,
        Object.values(roles).map((child) => child.pid),
      );
    } finally {
      await service.stop();
    }
    const statementsPerCreation = ((await statements.transactions()) - statementsBefore) / SERVERS;
    await statements.close();
    const perRole = Object.fromEntries(
      Object.entries(roles).flatMap(([role, child]) => [
        [
          `${role} CPU per creation (ms)`,
          ((cpuSeconds(child.pid) - (cpuBefore[role] ?? 0)) * 1000) / SERVERS,
        ],
        [`peak RSS of vpmu ${role} (MiB)`, memoryMiB(child.pid).peak],
      ]),
    );
    const reference = await bareLibvirtRate();
    const p99 = quantile(split.timesMs, 0.99);
    const overhead = reference / split.rate;
    return {
      part: 'boot-split',
      figures: {
        servers: SERVERS,
        concurrency: CONCURRENCY,
        'split: servers ACTIVE': split.timesMs.length,
        'split: servers in ERROR': split.errors,
        'split: creations per second': split.rate,
        'split: p50 time to ACTIVE (ms)': quantile(split.timesMs, 0.5),
        'split: p99 time to ACTIVE (ms)': p99,
        'split: CPU per creation, 3 processes (ms)': split.cpuPerCreationMs,
        ...perRole,
        'split: HTTP requests per creation': split.requestsPerCreation,
        'split: PostgreSQL transactions per creation': statementsPerCreation,
        'serve (SQLite): servers ACTIVE': single.timesMs.length,
        'serve (SQLite): creations per second': single.rate,
        'serve (SQLite): p50 time to ACTIVE (ms)': quantile(single.timesMs, 0.5),
        'serve (SQLite): p99 time to ACTIVE (ms)': quantile(single.timesMs, 0.99),
        'serve (SQLite): CPU per creation (ms)': single.cpuPerCreationMs,
        'bare libvirt define+start per second': reference,
        'split / serve creations per second': split.rate / single.rate,
        'control-plane overhead, split (bare / split)': overhead,
        'control-plane overhead, serve (bare / serve)': reference / single.rate,
      },
      targets: [
        {
          name: 'split creations per second',
          goal: '>= 300',
          value: split.rate,
          unit: '/s',
          met: split.rate >= 300,
        },
        {
          name: 'split p99 time to ACTIVE',
          goal: '< 100 ms',
          value: p99,
          unit: 'ms',
          met: p99 < 100,
        },
        {
          name: 'split overhead vs bare libvirt',
          goal: '<= 3x',
          value: overhead,
          unit: 'x',
          met: overhead <= 3,
        },
      ],
      notes: [
        `Split: 1 vpmu api, 1 vpmu conductor, 1 vpmu compute (--uri ${BENCH_URI}, the boot part's huge host) on a fresh PostgreSQL database and a RabbitMQ exchange of their own; the API casts build_instances to the conductor, which schedules, claims and calls build on the compute. Same client as the boot part: POST, GET until ACTIVE (polling), DELETE, ${CONCURRENCY} workers over HTTP on loopback. "serve (SQLite)" is the boot part's vpmu serve, measured in this run just before; bare libvirt after, on the same URI.`,
      ],
    };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What PostgreSQL counts on one database (pg_stat_database): its transactions (commits and
 * rollbacks; each statement outside a transaction is one), its commits alone, and its size.
 */
export async function databaseCounters(
  serverUrl: string,
  databaseUrl: string,
): Promise<{
  transactions(): Promise<number>;
  commits(): Promise<number>;
  sizeMiB(): Promise<number>;
  close(): Promise<void>;
}> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//u, ''));
  const number = async (query: string, fresh: boolean): Promise<number> => {
    if (fresh) await client.query('select pg_stat_clear_snapshot()');
    const result = await client.query<{ n: string }>(query, [name]);
    return Number(result.rows[0]?.n ?? Number.NaN);
  };
  const stat = (column: string) =>
    number(`select (${column})::text as n from pg_stat_database where datname = $1`, true);
  return {
    transactions: () => stat('xact_commit + xact_rollback'),
    commits: () => stat('xact_commit'),
    sizeMiB: async () => (await number('select pg_database_size($1)::text as n', false)) / 2 ** 20,
    close: () => client.end(),
  };
}
