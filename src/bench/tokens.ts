/**
 * What validating a token costs an API process, with the validation cache (an SQLite `vpmu serve`,
 * the only writer of its store) and without (processes sharing PostgreSQL, where every request
 * reads the token's state in one query), on the SQLite file and (when a URL is given) PostgreSQL:
 *
 *   node dist/bench/tokens.js [postgres://USER@HOST:PORT/DB]   (or VPMU_TEST_DATABASE_URL)
 *
 * Each measure runs VALIDATIONS validations of one token, PARALLEL at a time, after a warm-up;
 * figures are the medians of ROUNDS rounds: wall time and this process's CPU per validation.
 * PostgreSQL runs in a fresh schema, dropped after.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Store } from '../ports/store.js';
import {
  authenticate,
  bootstrapIdentity,
  TokenCache,
  validateToken,
  type IdentityDeps,
} from '../services/index.js';
import { openStore, type StoreOpener } from '../testing/store-worker.js';
import { median } from './measure.js';

const VALIDATIONS = 2000;
const PARALLEL = 8;
const ROUNDS = 5;

/** Microseconds of wall time and of CPU per validation, medians of the rounds. */
async function measure(deps: IdentityDeps, token: string): Promise<{ wall: number; cpu: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let round = 0; round <= ROUNDS; round++) {
    let next = 0;
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next++ < VALIDATIONS) await validateToken(deps, token);
      }),
    );
    const cpu = process.cpuUsage(cpuBefore);
    // Round 0 warms up.
    if (round === 0) continue;
    walls.push(((performance.now() - started) * 1000) / VALIDATIONS);
    cpus.push((cpu.user + cpu.system) / VALIDATIONS);
  }
  return { wall: median(walls), cpu: median(cpus) };
}

async function report(name: string, opener: StoreOpener): Promise<void> {
  const store: Store = await openStore(opener);
  try {
    const deps = {
      store,
      clock: { now: () => new Date() },
      ids: { newUuid: () => randomUUID(), newSecret: () => randomBytes(32).toString('base64url') },
      tokenTtlSeconds: 3600,
      lockout: { failureAttempts: 0, durationSeconds: 0 },
    };
    await bootstrapIdentity(deps, 'pw', { projects: [], users: [] });
    const { text } = await authenticate(deps, {
      method: {
        kind: 'password',
        user: { name: 'admin', domain: { id: 'default' } },
        password: 'pw',
      },
      project: { name: 'admin', domain: { id: 'default' } },
    });
    for (const [label, cache] of [
      ['uncached', undefined],
      ['cached', new TokenCache()],
    ] as const) {
      const { wall, cpu } = await measure(
        cache === undefined ? deps : { ...deps, tokenCache: cache },
        text,
      );
      process.stdout.write(
        `${name} ${label}: ${wall.toFixed(0)} µs wall, ${cpu.toFixed(0)} µs CPU per validation (${String(PARALLEL)} at a time)\n`,
      );
    }
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-bench-tokens-'));
  try {
    await report('sqlite', { kind: 'sqlite', file: path.join(dir, 'vpmu.db') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const url = process.argv[2] ?? process.env.VPMU_TEST_DATABASE_URL;
  if (url === undefined || url === '') {
    process.stdout.write('postgres: skipped (give a postgres:// URL)\n');
    return;
  }
  const schema = `bench_tokens_${String(process.pid)}`;
  try {
    await report('postgres', { kind: 'postgres', url, schema });
  } finally {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
}

await main();
