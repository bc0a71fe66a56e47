import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  aComputeHost,
  aFlavorRecord,
  anImageRecord,
  aServerRecord,
  storeContract,
} from '../../ports/store.contract.js';
import type { Store } from '../../ports/store.js';
import { multiProcessContract } from '../../testing/store-processes.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-sqlite-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});
let n = 0;
const files = new WeakMap<Store, string>();

storeContract(
  'SqliteStore',
  async () => {
    const file = path.join(dir, `store-${++n}.db`);
    const store = await openSqliteStore(file);
    files.set(store, file);
    return store;
  },
  async (store) => {
    const file = files.get(store);
    assert.ok(file !== undefined);
    await store.close();
    return openSqliteStore(file);
  },
);

multiProcessContract('SqliteStore (one file)', async () => {
  const file = path.join(dir, `shared-${++n}.db`);
  return { store: await openSqliteStore(file), opener: { kind: 'sqlite', file } };
});

describe('openSqliteStore()', () => {
  it('stores 20,000 image properties and 20,000 extra specs (no "too many SQL variables")', async () => {
    const store = await openSqliteStore(path.join(dir, 'many-rows.db'));
    try {
      const many = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, `v${i}`]));
      await store.createImage(anImageRecord({ id: 'many', properties: many }));
      assert.equal(Object.keys((await store.getImage('many'))?.properties ?? {}).length, 20_000);
      await store.saveImage(anImageRecord({ id: 'many', properties: { ...many, extra: 'x' } }));
      assert.equal(Object.keys((await store.getImage('many'))?.properties ?? {}).length, 20_001);
      await store.createFlavor(aFlavorRecord({ id: 'many' }), []);
      const specs = await store.setExtraSpecs('many', many);
      assert.equal(Object.keys(specs.extraSpecs).length, 20_000);
    } finally {
      await store.close();
    }
  });

  it('applies migrations once: opening an existing file twice keeps its data', async () => {
    const file = path.join(dir, 'twice.db');
    const first = await openSqliteStore(file);
    await first.createProject({
      id: 'p',
      name: 'p',
      domainId: 'default',
      description: '',
      enabled: true,
    });
    await first.close();
    const second = await openSqliteStore(file);
    assert.equal((await second.listProjects()).length, 1);
    await second.close();
  });

  it('fills host usage from the allocations of a database made before it was kept', async () => {
    const file = path.join(dir, 'usage.db');
    const store = await openSqliteStore(file);
    await store.putComputeHost(aComputeHost({}, 8));
    for (const [consumerId, vcpu] of [
      ['a', 1],
      ['b', 2],
    ] as const)
      await store.claim({
        consumerId,
        host: 'host1',
        resources: { VCPU: vcpu, MEMORY_MB: 1, DISK_GB: 1 },
      });
    await store.close();
    // Back to the schema before 0003_host_usage (and the later ones), allocations kept.
    const raw = new Database(file);
    raw.exec(
      "drop table host_changes; drop table host_change_seq; drop index compute_hosts_heartbeat_at; alter table compute_hosts drop column heartbeat_at; drop table aggregates; drop table migrations; drop table instance_actions; drop table quota_limits; drop table application_credentials; drop table roles; drop index tokens_user; alter table tokens drop column methods; alter table tokens drop column app_cred_id; alter table projects drop column parent_id; alter table projects drop column extra; alter table users drop column default_project_id; alter table users drop column extra; drop table metadef_namespaces; drop table image_members; drop table keypairs; drop table host_usage; drop table login_failures; drop table server_group_members; drop table server_groups; alter table servers drop column locked_by; alter table servers drop column locked_reason; alter table servers drop column tags; delete from kysely_migration where name >= '0003'",
    );
    raw.close();
    const migrated = await openSqliteStore(file);
    assert.deepEqual((await migrated.usageByHost()).get('host1'), {
      VCPU: 3,
      MEMORY_MB: 2,
      DISK_GB: 2,
    });
    await migrated.close();
  });

  it('gives servers recorded before 0006_server_lock_tags no lock and no tags', async () => {
    const file = path.join(dir, 'lock-tags.db');
    const store = await openSqliteStore(file);
    await store.createServer(aServerRecord({ lock: { by: 'owner', reason: null }, tags: ['t'] }));
    await store.close();
    const raw = new Database(file);
    raw.exec(
      "drop table host_changes; drop table host_change_seq; drop index compute_hosts_heartbeat_at; alter table compute_hosts drop column heartbeat_at; drop table aggregates; drop table migrations; drop table instance_actions; drop table quota_limits; drop table application_credentials; drop table roles; drop index tokens_user; alter table tokens drop column methods; alter table tokens drop column app_cred_id; alter table projects drop column parent_id; alter table projects drop column extra; alter table users drop column default_project_id; alter table users drop column extra; drop table metadef_namespaces; drop table image_members; drop table keypairs; alter table servers drop column locked_by; alter table servers drop column locked_reason; alter table servers drop column tags; delete from kysely_migration where name >= '0006'",
    );
    raw.close();
    const migrated = await openSqliteStore(file);
    // The record as first created, but with no lock and no tags.
    assert.deepEqual(await migrated.getServer(aServerRecord().id), aServerRecord());
    await migrated.close();
  });

  it('rolls back a failed flavor create: no extra specs are left behind', async () => {
    const store = await openSqliteStore(path.join(dir, 'atomic.db'));
    await store.createFlavor({
      id: 'f1',
      name: 'a',
      vcpus: 1,
      memoryMiB: 1,
      diskGiB: 0,
      swapMiB: 0,
      ephemeralGiB: 0,
      rxtxFactor: 1,
      isPublic: true,
      description: null,
      extraSpecs: {},
      createdAt: 'now',
    });
    await assert.rejects(
      store.createFlavor({
        id: 'f2',
        name: 'a',
        vcpus: 1,
        memoryMiB: 1,
        diskGiB: 0,
        swapMiB: 0,
        ephemeralGiB: 0,
        rxtxFactor: 1,
        isPublic: true,
        description: null,
        extraSpecs: { 'hw:pmu': 'on' },
        createdAt: 'now',
      }),
    );
    assert.equal(await store.getFlavor('f2'), undefined);
    await assert.rejects(store.setExtraSpecs('f2', { 'hw:pmu': 'on' }));
    await store.close();
  });
});
