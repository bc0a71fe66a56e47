/**
 * Scheduling end to end through the store: each decision brings the conductor's host index up to
 * date, chooses, and claims in the store, on the SQLite file and (when VPMU_BENCH_DATABASE_URL is
 * set) on PostgreSQL, at 10,000 and 100,000 hosts. The same run measures the reference: every
 * decision reading every host, its usage and the aggregates and building a new index, as the
 * scheduler did before its index was kept by deltas.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { HostSettings } from '../domain/index.js';
import { openPostgresStore } from '../adapters/store/postgres-store.js';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import { aFlavorRecord, aServerRecord } from '../ports/store.contract.js';
import type { ComputeHostRecord, ServerRecord, Store } from '../ports/store.js';
import { schedule } from '../services/server-scheduling.js';
import { ServerWork, type ServerDeps } from '../services/server-work.js';
import { syntheticHosts } from '../testing/hosts.js';
import { quantile } from './measure.js';
import type { PartReport, Target } from './report.js';

const SIZES = [10_000, 100_000] as const;
/** Decisions timed per size, after WARMUP untimed ones, on the cached index. */
const DECISIONS = 400;
const WARMUP = 50;
/** Decisions timed per size on the reference (each reads everything). */
const REFERENCE_DECISIONS: Readonly<Record<number, number>> = { 10_000: 30, 100_000: 8 };
/** Host records written at once while filling the store. */
const FILL_CONCURRENCY = 8;

const SETTINGS: HostSettings = {
  virtType: 'kvm',
  arch: 'x86_64',
  cpuMode: 'host-model',
  instanceDir: '/var/lib/vpmu/instances',
  network: { type: 'none' },
};

const NO_LOG = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** The synthetic hosts as the store records them (nothing used yet). */
function hostRecords(count: number): ComputeHostRecord[] {
  return syntheticHosts(count).map((h) => ({
    name: h.name,
    hypervisorUri: 'qemu:///system',
    hypervisorType: 'QEMU',
    hypervisorVersion: 7_002_000,
    hostIp: '192.0.2.10',
    cpuInfo: '{}',
    enabled: h.enabled,
    inventory: h.inventory,
    traits: [...h.traits].sort(),
    settings: SETTINGS,
    updatedAt: '2026-01-01T00:00:00.000Z',
  }));
}

/** A vPMU guest (image hw_pmu=true) of 1 vCPU, 512 MB, 1 GB: the prefilter needs CUSTOM_HW_VPMU. */
function aGuest(): ServerRecord {
  const id = randomUUID();
  return aServerRecord({
    id,
    domainName: `instance-${id}`,
    flavor: aFlavorRecord({ vcpus: 1, memoryMiB: 512, diskGiB: 1 }),
    image: {
      id: 'img',
      name: 'perf',
      owner: 'p1',
      properties: { hw_pmu: 'true' },
      dataLocation: null,
    },
    pmu: {
      requested: { flavor: null, image: 'true' },
      resolved: true,
      source: 'image',
      effective: null,
      reason: null,
    },
  });
}

function depsOf(store: Store, hosts: readonly ComputeHostRecord[]): ServerDeps {
  // The scheduler only asks whether a host has an agent here; nothing is built.
  const agent = { settings: SETTINGS } as unknown as ComputeAgent;
  return {
    store,
    clock: { now: () => new Date() },
    ids: { newUuid: () => randomUUID(), newSecret: () => randomUUID() },
    computes: new Map(hosts.map((h) => [h.name, agent])),
    imageFile: (location) => location,
    vpmuPrefilter: true,
    stopTimeoutMs: 1000,
    publish: () => undefined,
    log: NO_LOG,
  };
}

const CONTEXT = { requestId: null, userId: null, projectId: null };

/** Milliseconds of each of `count` decisions (schedule + claim), after `warmup` untimed ones. */
async function decide(work: ServerWork, count: number, warmup: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count + warmup; i++) {
    const t0 = performance.now();
    await schedule(work, aGuest(), CONTEXT);
    const ms = performance.now() - t0;
    if (i >= warmup) latencies.push(ms);
  }
  return latencies.sort((a, b) => a - b);
}

async function fill(store: Store, hosts: readonly ComputeHostRecord[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: FILL_CONCURRENCY }, async () => {
      while (next < hosts.length) {
        const host = hosts[next++];
        if (host !== undefined) await store.putComputeHost(host);
      }
    }),
  );
}

/** One store at one size: the cached index, then the reference, on the same hosts. */
async function measureOn(
  label: string,
  store: Store,
  size: number,
  figures: Record<string, number | string>,
): Promise<number> {
  const hosts = hostRecords(size);
  const filled = performance.now();
  await fill(store, hosts);
  figures[`${label} fill s @ ${size} hosts`] = (performance.now() - filled) / 1000;
  const deps = depsOf(store, hosts);
  const cached = new ServerWork(deps);
  const t0 = performance.now();
  await schedule(cached, aGuest(), CONTEXT);
  figures[`${label} first decision ms (full read) @ ${size}`] = performance.now() - t0;
  const cpu = process.cpuUsage();
  const latencies = await decide(cached, DECISIONS, WARMUP);
  const used = process.cpuUsage(cpu);
  figures[`${label} p50 ms @ ${size} hosts`] = quantile(latencies, 0.5);
  figures[`${label} p99 ms @ ${size} hosts`] = quantile(latencies, 0.99);
  // What a decision costs this process, whatever else the machine runs meanwhile.
  figures[`${label} CPU ms per decision @ ${size}`] =
    (used.user + used.system) / 1000 / (DECISIONS + WARMUP);
  const refreshes: number[] = [];
  for (let i = 0; i < 100; i++) {
    const r0 = performance.now();
    await cached.hosts.current();
    refreshes.push(performance.now() - r0);
  }
  refreshes.sort((a, b) => a - b);
  figures[`${label} refresh ms, nothing changed @ ${size}`] = quantile(refreshes, 0.5);
  const reference = new ServerWork(deps, { fullReads: true });
  const full = await decide(reference, REFERENCE_DECISIONS[size] ?? 5, 1);
  figures[`${label} reference p50 ms @ ${size} hosts`] = quantile(full, 0.5);
  figures[`${label} reference p99 ms @ ${size} hosts`] = quantile(full, 0.99);
  return quantile(latencies, 0.99);
}

function targetsOf(label: string, p99: Readonly<Record<number, number>>): Target[] {
  return [
    {
      name: `${label} p99 @ 10,000 hosts`,
      goal: '< 2 ms',
      value: p99[10_000],
      unit: 'ms',
      met: (p99[10_000] ?? Infinity) < 2,
    },
    {
      name: `${label} p99 @ 100,000 hosts`,
      goal: '< 20 ms',
      value: p99[100_000],
      unit: 'ms',
      met: (p99[100_000] ?? Infinity) < 20,
    },
  ];
}

export async function benchScheduleClaim(
  url: string | undefined = process.env.VPMU_BENCH_DATABASE_URL,
): Promise<PartReport> {
  const figures: Record<string, number | string> = {};
  const targets: Target[] = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-schedule-claim-'));
  try {
    const p99: Record<number, number> = {};
    for (const size of SIZES) {
      const store = await openSqliteStore(path.join(dir, `hosts-${size}.db`));
      try {
        p99[size] = await measureOn('sqlite', store, size, figures);
      } finally {
        await store.close();
      }
    }
    targets.push(...targetsOf('sqlite', p99));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (url === undefined || url === '') {
    figures.postgres = 'skipped (set VPMU_BENCH_DATABASE_URL)';
  } else {
    const p99: Record<number, number> = {};
    for (const size of SIZES) {
      const schema = `bench_schedule_${String(process.pid)}_${String(size)}`;
      const store = await openPostgresStore(url, { schema });
      try {
        p99[size] = await measureOn('postgres', store, size, figures);
      } finally {
        await store.close();
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        await client.query(`drop schema if exists "${schema}" cascade`);
        await client.end();
      }
    }
    targets.push(...targetsOf('postgres', p99));
  }
  return {
    part: 'schedule-claim',
    figures,
    targets,
    notes: [
      `Each decision: refresh the index by the store's host changes, choose (vPMU prefilter on, 1/3 of the hosts with CUSTOM_HW_VPMU), design the guest for the best hosts, claim in the store; ${String(DECISIONS)} timed after ${String(WARMUP)}, one process, hosts empty at the start (syntheticHosts' sizes and traits).`,
      "Reference: the same decisions reading every host, its usage and the aggregates and building a new index each time (the scheduler's reads before the cache; it also sorted every passing host, which these figures leave out).",
    ],
  };
}
