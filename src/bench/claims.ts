/**
 * Claims per second with two processes claiming on one host at once, on the SQLite file and (when
 * a URL is given) on PostgreSQL:
 *
 *   node dist/bench/claims.js [postgres://USER@HOST:PORT/DB]   (or VPMU_TEST_DATABASE_URL)
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

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-claims-'));
  try {
    const sqlite = await claimsPerSecond({ kind: 'sqlite', file: path.join(dir, 'vpmu.db') });
    process.stdout.write(
      `sqlite: ${sqlite.toFixed(0)} claims/s (${String(PROCESSES)} processes)\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const url = process.argv[2] ?? process.env.VPMU_TEST_DATABASE_URL;
  if (url === undefined || url === '') {
    process.stdout.write('postgres: skipped (give a postgres:// URL)\n');
    return;
  }
  const schema = `bench_claims_${String(process.pid)}`;
  try {
    const rate = await claimsPerSecond({ kind: 'postgres', url, schema });
    process.stdout.write(
      `postgres: ${rate.toFixed(0)} claims/s (${String(PROCESSES)} processes)\n`,
    );
  } finally {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
}

await main();
