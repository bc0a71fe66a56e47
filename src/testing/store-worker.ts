/**
 * One process of a multi-process store test or benchmark: opens the store named on its command
 * line, says `ready`, waits for SIGUSR2 (so that every process starts together), does its task
 * and prints one JSON line with the outcome.
 *
 *   node store-worker.js '<StoreOpener as JSON>' '<WorkerTask as JSON>'
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openPostgresStore } from '../adapters/store/postgres-store.js';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import { ComputeError } from '../errors/index.js';
import { aServerRecord } from '../ports/store.contract.js';
import type { Store } from '../ports/store.js';
import { bootstrapIdentity, type IdentitySeed } from '../services/identity.js';

/** How a process opens the shared store. */
export type StoreOpener =
  | { readonly kind: 'sqlite'; readonly file: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string };

/** What a process does once started. */
export type WorkerTask =
  | {
      readonly kind: 'claims';
      readonly host: string;
      readonly count: number;
      /** Consumer ids are `<prefix>-<n>`, so processes need different prefixes. */
      readonly prefix: string;
    }
  | { readonly kind: 'createServers'; readonly ids: readonly string[] }
  /** What `vpmu serve` does to identity at start; its outcome is under `bootstrap`. */
  | {
      readonly kind: 'bootstrapIdentity';
      readonly adminPassword: string;
      readonly seed: IdentitySeed;
    }
  | {
      /** Claims of 1 vCPU spread over the hosts, every third released again. */
      readonly kind: 'churn';
      readonly hosts: readonly string[];
      readonly count: number;
      readonly prefix: string;
    };

/** The JSON line a worker prints when done. */
export interface WorkerResult {
  /** Claims granted (claims task). */
  readonly claimed: number;
  /** Per server id (or `bootstrap`): `ok`, or the error's code (or its message when it has none). */
  readonly outcomes: Readonly<Record<string, string>>;
  /** Time from the start signal to the end of the task. */
  readonly ms: number;
}

export async function openStore(opener: StoreOpener): Promise<Store> {
  return opener.kind === 'sqlite'
    ? openSqliteStore(opener.file)
    : openPostgresStore(opener.url, {
        ...(opener.schema === undefined ? {} : { schema: opener.schema }),
        maxConnections: 2,
      });
}

async function run(task: WorkerTask, store: Store): Promise<WorkerResult> {
  const started = performance.now();
  let claimed = 0;
  const outcomes: Record<string, string> = {};
  if (task.kind === 'claims') {
    for (let n = 0; n < task.count; n++) {
      const granted = await store.claim({
        consumerId: `${task.prefix}-${String(n)}`,
        host: task.host,
        resources: { VCPU: 1, MEMORY_MB: 1, DISK_GB: 0 },
      });
      if (granted) claimed++;
    }
  } else if (task.kind === 'bootstrapIdentity') {
    try {
      const ids = { newUuid: () => randomUUID(), newSecret: () => randomUUID() };
      const deps = { store, clock: { now: () => new Date() }, ids, tokenTtlSeconds: 3600 };
      await bootstrapIdentity(deps, task.adminPassword, task.seed);
      outcomes.bootstrap = 'ok';
    } catch (error) {
      outcomes.bootstrap = outcomeOf(error);
    }
  } else if (task.kind === 'churn') {
    for (let n = 0; n < task.count; n++) {
      const consumerId = `${task.prefix}-${String(n)}`;
      const host = task.hosts[n % task.hosts.length] ?? '';
      if (await store.claim({ consumerId, host, resources: { VCPU: 1, MEMORY_MB: 1, DISK_GB: 0 } }))
        claimed++;
      if (n % 3 === 1) await store.releaseClaim(consumerId);
    }
  } else {
    for (const id of task.ids) {
      try {
        await store.createServer(aServerRecord({ id }));
        outcomes[id] = 'ok';
      } catch (error) {
        outcomes[id] = outcomeOf(error);
      }
    }
  }
  return { claimed, outcomes, ms: performance.now() - started };
}

/** An error's code, or its message when it has none. */
function outcomeOf(error: unknown): string {
  return error instanceof ComputeError
    ? error.code
    : `raw: ${error instanceof Error ? error.message : String(error)}`;
}

async function main(): Promise<void> {
  const [openerText, taskText] = process.argv.slice(2);
  if (openerText === undefined || taskText === undefined) {
    throw new Error('usage: store-worker.js OPENER_JSON TASK_JSON');
  }
  const store = await openStore(JSON.parse(openerText) as StoreOpener);
  try {
    // A signal handler alone does not keep node running (nothing else may: SQLite is synchronous).
    const waiting = setInterval(() => undefined, 60_000);
    const go = new Promise<void>((resolve) =>
      process.once('SIGUSR2', () => {
        clearInterval(waiting);
        resolve();
      }),
    );
    process.stdout.write('ready\n');
    await go;
    const result = await run(JSON.parse(taskText) as WorkerTask, store);
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
  }
}

// Run as a script (not when imported for its types).
if (process.argv[1]?.endsWith('store-worker.js') === true) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
