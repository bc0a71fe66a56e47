/**
 * Claims per second with two processes claiming on one host at once, on the SQLite file and (when
 * a URL is given) on PostgreSQL:
 *
 *   node dist/bench/claims.js [postgres://USER@HOST:PORT/DB]   (or VPMU_TEST_DATABASE_URL)
 *
 * and in `npm run bench` (part `claims`, PostgreSQL when VPMU_BENCH_DATABASE_URL is set).
 *
 * Each process makes CLAIMS claims of 1 vCPU on a host with room for all of them; the rate is all
 * the claims over the time the slower process took. PostgreSQL runs in a fresh schema, dropped after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { aComputeHost } from '../ports/store.contract.js';
import { runWorkers } from '../testing/store-processes.js';
import { openStore, type StoreOpener } from '../testing/store-worker.js';
import type { PartReport } from './report.js';

const CLAIMS = 1000;
const PROCESSES = 2;

async function claimsPerSecond(opener: StoreOpener): Promise<number> {
  const store = await openStore(opener);
  try {
    await store.putComputeHost(aComputeHost({}, CLAIMS * PROCESSES));
  } finally {
    await store.close();
  }
  const results = await runWorkers(
    opener,
    Array.from({ length: PROCESSES }, (_, n) => ({
      kind: 'claims' as const,
      host: 'host1',
      count: CLAIMS,
      prefix: `p${String(n)}`,
    })),
  );
  const granted = results.reduce((sum, r) => sum + r.claimed, 0);
  if (granted !== CLAIMS * PROCESSES) throw new Error(`granted ${String(granted)} claims`);
  return granted / (Math.max(...results.map((r) => r.ms)) / 1000);
}

/** Claims per second on the SQLite file and, given a URL, on PostgreSQL (a fresh schema, dropped after). */
export async function benchClaims(
  url: string | undefined = process.env.VPMU_BENCH_DATABASE_URL,
): Promise<PartReport> {
  const figures: Record<string, number | string> = {};
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-claims-'));
  try {
    figures['sqlite claims/s'] = await claimsPerSecond({
      kind: 'sqlite',
      file: path.join(dir, 'vpmu.db'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (url === undefined || url === '') {
    figures['postgres claims/s'] = 'skipped (set VPMU_BENCH_DATABASE_URL)';
  } else {
    const schema = `bench_claims_${String(process.pid)}`;
    try {
      figures['postgres claims/s'] = await claimsPerSecond({ kind: 'postgres', url, schema });
    } finally {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
  }
  return {
    part: 'claims',
    figures,
    targets: [],
    notes: [
      `${String(PROCESSES)} processes, ${String(CLAIMS)} claims of 1 vCPU each on one host with room for all of them; the rate is all the claims over the time the slower process took.`,
    ],
  };
}

// Run as a script (not when imported by the benchmark runner).
if (process.argv[1]?.endsWith('claims.js') === true) {
  const report = await benchClaims(process.argv[2] ?? process.env.VPMU_TEST_DATABASE_URL ?? '');
  for (const [store, rate] of Object.entries(report.figures)) {
    process.stdout.write(
      `${store.split(' ')[0] ?? store}: ${typeof rate === 'number' ? `${rate.toFixed(0)} claims/s (${String(PROCESSES)} processes)` : rate}\n`,
    );
  }
}
