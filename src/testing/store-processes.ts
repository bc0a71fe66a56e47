/**
 * The store contract for several processes sharing one store (SQLite file or PostgreSQL
 * database): each process is a store-worker.js child, bounded and killed on every path.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { aComputeHost, UsageFollower } from '../ports/store.contract.js';
import type { Store } from '../ports/store.js';
import { startChild, type TestChild } from './processes.js';
import type { StoreOpener, WorkerResult, WorkerTask } from './store-worker.js';

const WORKER = fileURLToPath(new URL('./store-worker.js', import.meta.url));

/**
 * Runs one worker per task against the store `opener` opens, started together once every one has
 * opened it; resolves with their results in task order.
 */
export async function runWorkers(
  opener: StoreOpener,
  tasks: readonly WorkerTask[],
): Promise<WorkerResult[]> {
  const children: TestChild[] = [];
  try {
    for (const task of tasks) {
      children.push(
        startChild(process.execPath, [WORKER, JSON.stringify(opener), JSON.stringify(task)]),
      );
    }
    for (const child of children) await child.waitFor(/^ready$/m);
    for (const child of children) child.signal('SIGUSR2');
    const results: WorkerResult[] = [];
    for (const child of children) {
      const [, json] = await child.waitFor(/^result (.*)$/m);
      results.push(JSON.parse(json ?? '') as WorkerResult);
    }
    return results;
  } finally {
    await Promise.all(children.map((child) => child.stop()));
  }
}

/** A store for one test, and how another process opens the same one. */
export interface SharedStore {
  readonly store: Store;
  readonly opener: StoreOpener;
}

/** Two processes against one store: claims never overcommit, creates clash as `*.exists`. */
export function multiProcessContract(name: string, make: () => Promise<SharedStore>): void {
  describe(`Store contract, two processes: ${name}`, () => {
    it('2 processes x 150 claims of 1 vCPU on a host with 50 vCPUs claim exactly 50', async () => {
      const { store, opener } = await make();
      try {
        await store.putComputeHost(aComputeHost({}, 50));
        const results = await runWorkers(opener, [
          { kind: 'claims', host: 'host1', count: 150, prefix: 'a' },
          { kind: 'claims', host: 'host1', count: 150, prefix: 'b' },
        ]);
        const claimed = results.reduce((sum, r) => sum + r.claimed, 0);
        assert.equal(claimed, 50, `granted ${results.map((r) => r.claimed).join(' + ')}`);
        assert.equal((await store.usageByHost()).get('host1')?.VCPU, 50);
        assert.equal((await store.listAllocations('host1')).length, 50);
      } finally {
        await store.close();
      }
    });

    it('a reader following the host change sequence misses nothing 3 writing processes commit', async () => {
      const { store, opener } = await make();
      try {
        // Each host is written by one process only, and its last write is the one a reader must
        // see: a change skipped by the reader is never repaired by a later one on that host.
        const hosts = Array.from({ length: 600 }, (_, i) => `host${String(i).padStart(3, '0')}`);
        for (const name of hosts) await store.putComputeHost(aComputeHost({ name }, 10_000));
        const follower = new UsageFollower(store);
        await follower.start();
        const writers = { running: true };
        let reads = 0;
        const reader = (async () => {
          while (writers.running) {
            await follower.follow();
            reads++;
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        try {
          await runWorkers(
            opener,
            ['a', 'b', 'c'].map((prefix, i) => ({
              kind: 'churn' as const,
              // Interleaved across processes in time, never on one host.
              hosts: hosts.filter((_, n) => n % 3 === i),
              count: 200,
              prefix,
            })),
          );
        } finally {
          writers.running = false;
          await reader;
        }
        await follower.follow();
        await follower.assertCurrent(hosts);
        assert.ok(reads > 1, `the reader read ${String(reads)} times while the writers ran`);
      } finally {
        await store.close();
      }
    });

    it('creates of the same server ids in 2 processes: one wins each, the other gets server.exists', async () => {
      const { store, opener } = await make();
      try {
        const ids = Array.from(
          { length: 60 },
          (_, n) => `a0000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        );
        const results = await runWorkers(opener, [
          { kind: 'createServers', ids },
          { kind: 'createServers', ids },
        ]);
        for (const id of ids) {
          const outcomes = results.map((r) => r.outcomes[id]).sort();
          assert.deepEqual(outcomes, ['ok', 'server.exists'], `server ${id}`);
        }
        assert.equal((await store.listServers()).length, ids.length);
      } finally {
        await store.close();
      }
    });
  });
}
