/**
 * The PostgreSQL store passes the store contract, each test in a schema of its own.
 *
 * Needs VPMU_TEST_DATABASE_URL (`.ci/run` starts a private cluster with scripts/postgres.sh and
 * sets it); without it these tests skip locally and fail in CI.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { storeContract } from '../../ports/store.contract.js';
import type { Store } from '../../ports/store.js';
import { multiProcessContract } from '../../testing/store-processes.js';
import { requireEnv } from '../../testing/tools.js';
import { openPostgresStore } from './postgres-store.js';

const { value: DATABASE_URL, skip: SKIP } = requireEnv(
  'VPMU_TEST_DATABASE_URL',
  'bash scripts/postgres.sh start DIR prints one; .ci/run sets it',
);

const schemas: string[] = [];
const open: Store[] = [];
const schemaOf = new WeakMap<Store, string>();

async function openIn(schema: string): Promise<Store> {
  const store = await openPostgresStore(DATABASE_URL ?? '', { schema, maxConnections: 4 });
  schemaOf.set(store, schema);
  open.push(store);
  return store;
}

/** A schema no other test (or test process) uses. */
function newSchema(): string {
  const schema = `test_${String(process.pid)}_${String(schemas.length + 1)}`;
  schemas.push(schema);
  return schema;
}

after(async () => {
  for (const store of open) await store.close().catch(() => undefined);
  if (DATABASE_URL === undefined || schemas.length === 0) return;
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
});

if (SKIP === false) {
  storeContract(
    'PostgresStore',
    async () => openIn(newSchema()),
    async (store) => {
      const schema = schemaOf.get(store);
      assert.ok(schema !== undefined);
      await store.close();
      return openIn(schema);
    },
  );
  describe('PostgresStore withLock()', () => {
    it('excludes another process (another pool) holding the same name', async () => {
      const schema = newSchema();
      const [a, b] = [await openIn(schema), await openIn(schema)];
      let release = (): void => undefined;
      let taken = (): void => undefined;
      const held = new Promise<void>((resolve) => (taken = resolve));
      const holding = a.withLock('sweep', async () => {
        taken();
        await new Promise<void>((resolve) => (release = resolve));
      });
      await held;
      assert.deepEqual(await b.withLock('sweep', async () => 1, 'skip'), { ran: false });
      const waiting = b.withLock('sweep', async () => 2);
      release();
      await holding;
      assert.deepEqual(await waiting, { ran: true, value: 2 });
      // Another schema is another deployment: its lock of the same name is its own.
      const other = await openIn(newSchema());
      const again = a.withLock('sweep', async () => {
        assert.deepEqual(await other.withLock('sweep', async () => 3, 'skip'), {
          ran: true,
          value: 3,
        });
      });
      await again;
    });
  });
  multiProcessContract('PostgresStore', async () => {
    const schema = newSchema();
    const store = await openIn(schema);
    return { store, opener: { kind: 'postgres', url: DATABASE_URL, schema } };
  });
} else {
  describe('Store contract: PostgresStore', { skip: SKIP }, () => {
    it('passes the store contract', () => undefined);
  });
}
