import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import type { HostSettings } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import { aComputeHost, aFlavorRecord, aServerRecord } from '../ports/store.contract.js';
import type { AllocationRecord, ComputeHostRecord, ServerRecord } from '../ports/store.js';
import { HostCache } from './host-cache.js';
import { schedule } from './server-scheduling.js';
import { ServerWork } from './server-work.js';

const SETTINGS: HostSettings = {
  virtType: 'kvm',
  arch: 'x86_64',
  cpuMode: 'host-model',
  instanceDir: '/var/lib/vpmu/instances',
  network: { type: 'none' },
};
const CONTEXT = { requestId: null, userId: null, projectId: null };
const NOW = new Date('2026-01-01T00:01:00Z');
const LIVE = { clock: { now: () => NOW }, serviceDownTime: 60 };
const ONE_VCPU = { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } as const;

/** A MemoryStore that counts the reads a scheduler makes. */
class CountingStore extends MemoryStore {
  readonly reads = { full: 0, changes: 0 };

  override async listComputeHosts(): Promise<ComputeHostRecord[]> {
    this.reads.full++;
    return super.listComputeHosts();
  }

  override async hostChangesSince(seq: number) {
    this.reads.changes++;
    return super.hostChangesSince(seq);
  }
}

/** `count` hosts host00, host01, …: the higher the number, the more room, so the better. */
function hosts(count: number): ComputeHostRecord[] {
  return Array.from({ length: count }, (_, i) =>
    aComputeHost({ name: `host${String(i).padStart(2, '0')}`, settings: SETTINGS }, 10 + i),
  );
}

function workOn(store: MemoryStore, names: readonly string[]): ServerWork {
  const agent = { settings: SETTINGS } as unknown as ComputeAgent;
  return new ServerWork({
    store,
    clock: LIVE.clock,
    serviceDownTime: LIVE.serviceDownTime,
    ids: { newUuid: () => 'u', newSecret: () => 's' },
    computes: new Map(names.map((name) => [name, agent])),
    imageFile: (location) => location,
    vpmuPrefilter: false,
    stopTimeoutMs: 1000,
    publish: () => undefined,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

let n = 0;
function aGuest(overrides: Partial<ServerRecord> = {}): ServerRecord {
  const id = `a0000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  return aServerRecord({
    id,
    domainName: `instance-${id}`,
    flavor: aFlavorRecord({ vcpus: 1, memoryMiB: 512, diskGiB: 1 }),
    ...overrides,
  });
}

async function storeWith(records: readonly ComputeHostRecord[]): Promise<CountingStore> {
  const store = new CountingStore();
  for (const record of records) await store.putComputeHost(record);
  return store;
}

describe('HostCache', () => {
  it('reads everything once, then only what changed: one read when nothing did', async () => {
    const store = await storeWith(hosts(3));
    const cache = new HostCache(store, () => true, LIVE);
    const first = await cache.current();
    assert.deepEqual(store.reads, { full: 1, changes: 0 });
    assert.equal(first.index.size, 3);
    await cache.current();
    await cache.current();
    assert.deepEqual(store.reads, { full: 1, changes: 2 });
  });

  it("follows claims, releases, operators' changes, new and deleted hosts, and zones", async () => {
    const store = await storeWith(hosts(3));
    const cache = new HostCache(store, (host) => host !== 'elsewhere', LIVE);
    await cache.current();
    // Another process claims and releases, an operator disables a host, hosts come and go.
    await store.claim({ consumerId: 'c1', host: 'host00', resources: ONE_VCPU });
    await store.claim({ consumerId: 'c2', host: 'host01', resources: ONE_VCPU });
    await store.releaseClaim('c2');
    await store.putComputeHost({
      ...aComputeHost({ name: 'host02', settings: SETTINGS }, 12),
      enabled: false,
    });
    await store.putComputeHost(aComputeHost({ name: 'host99', settings: SETTINGS }));
    await store.putComputeHost(aComputeHost({ name: 'elsewhere', settings: SETTINGS }));
    await store.deleteComputeHost('host01');
    await store.createAggregate({
      uuid: 'u-a',
      name: 'a',
      hosts: ['host00'],
      metadata: { availability_zone: 'az1' },
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: null,
    });
    const view = await cache.current();
    assert.deepEqual(store.reads.full, 1);
    assert.equal(view.index.size, 3, 'host00, host02, host99; not host01, not elsewhere');
    assert.deepEqual(view.index.get('host00')?.used, ONE_VCPU);
    assert.equal(view.index.get('host01'), undefined);
    assert.equal(view.index.get('host02')?.enabled, false);
    assert.ok(view.index.get('host99') !== undefined);
    assert.equal(view.record('elsewhere')?.name, 'elsewhere');
    assert.deepEqual([view.zoneOf('host00'), view.zoneOf('host02')], ['az1', 'nova']);
    // What it holds is what a full read gives.
    const fresh = await new HostCache(store, (host) => host !== 'elsewhere', LIVE).current();
    for (const name of ['host00', 'host02', 'host99']) {
      assert.deepEqual(view.index.get(name), fresh.index.get(name), name);
    }
  });

  it('tells silent hosts down at every decision, and up again once they report', async () => {
    const store = await storeWith(hosts(3));
    const cache = new HostCache(store, () => true, LIVE);
    const beat = (name: string, secondsAgo: number) =>
      store.reportHeartbeat(name, new Date(NOW.getTime() - secondsAgo * 1000).toISOString());
    await beat('host00', 5);
    await beat('host01', 61);
    const first = await cache.current();
    assert.deepEqual(
      ['host00', 'host01', 'host02'].map((name) => first.index.get(name)?.down),
      [false, true, false],
      'host02 never reported: up, as serviceState counts it',
    );
    await beat('host01', 0);
    await beat('host00', 70);
    const later = await cache.current();
    assert.deepEqual(
      ['host00', 'host01'].map((name) => later.index.get(name)?.down),
      [true, false],
    );
    assert.equal(store.reads.full, 1, 'heartbeats never force a full read');
  });

  it('keeps its record list across claims, and makes it again when a record changes', async () => {
    const store = await storeWith(hosts(2));
    const cache = new HostCache(store, () => true, LIVE);
    const list = await cache.records();
    assert.deepEqual(
      list.map((r) => r.name),
      ['host00', 'host01'],
    );
    await store.claim({ consumerId: 'c1', host: 'host00', resources: ONE_VCPU });
    await store.reportHeartbeat('host00', NOW.toISOString());
    assert.equal(await cache.records(), list, 'a claim or a heartbeat changes no record');
    await store.putComputeHost({
      ...aComputeHost({ name: 'host01', settings: SETTINGS }, 11),
      enabled: false,
    });
    const changed = await cache.records();
    assert.notEqual(changed, list);
    assert.equal(changed[1]?.enabled, false);
  });

  it('with fullReads, reads everything for every decision (the benchmarks’ reference)', async () => {
    const store = await storeWith(hosts(2));
    const cache = new HostCache(store, () => true, LIVE, { fullReads: true });
    await cache.current();
    await cache.current();
    assert.deepEqual(store.reads, { full: 2, changes: 0 });
  });
});

describe('schedule() on the cached index', () => {
  it('places each guest on the best host with room, as the store has them now', async () => {
    const store = await storeWith(hosts(40));
    const work = workOn(
      store,
      hosts(40).map((h) => h.name),
    );
    const placed = await schedule(work, aGuest(), CONTEXT);
    assert.equal(placed.host, 'host39');
    // Another process fills host39: the next decision knows it without a full read.
    for (let i = 0; i < 48; i++) {
      await store.claim({ consumerId: `other-${String(i)}`, host: 'host39', resources: ONE_VCPU });
    }
    assert.equal((await schedule(work, aGuest(), CONTEXT)).host, 'host38');
    assert.equal(store.reads.full, 1);
  });

  it('avoids a host whose compute service went silent, and counts it in the refusal', async () => {
    const store = await storeWith(hosts(2));
    const work = workOn(store, ['host00', 'host01']);
    assert.equal((await schedule(work, aGuest(), CONTEXT)).host, 'host01');
    await store.reportHeartbeat('host01', new Date(NOW.getTime() - 61_000).toISOString());
    assert.equal((await schedule(work, aGuest(), CONTEXT)).host, 'host00');
    await store.reportHeartbeat('host00', new Date(NOW.getTime() - 61_000).toISOString());
    await assert.rejects(
      schedule(work, aGuest(), CONTEXT),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.message ===
          'No valid host was found. 2 hosts checked: 2 with the compute service down.',
    );
  });

  it('after a claim lost to another process, tries the next host', async () => {
    const store = await storeWith(hosts(20));
    const work = workOn(
      store,
      hosts(20).map((h) => h.name),
    );
    await work.hosts.current();
    // Another process takes all of host19 between this decision's refresh and its claim.
    const claim = store.claim.bind(store);
    let raced = false;
    store.claim = async (allocation: AllocationRecord) => {
      if (!raced) {
        raced = true;
        for (let i = 0; i < 29; i++) {
          await claim({ consumerId: `other-${String(i)}`, host: 'host19', resources: ONE_VCPU });
        }
      }
      return claim(allocation);
    };
    assert.equal((await schedule(work, aGuest(), CONTEXT)).host, 'host18');
  });

  it('looks past the best hosts for one in the requested zone or the forced host, and refuses as before', async () => {
    const store = await storeWith(hosts(40));
    await store.createAggregate({
      uuid: 'u-a',
      name: 'small',
      hosts: ['host00', 'host01', 'host02'],
      metadata: { availability_zone: 'az1' },
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: null,
    });
    const work = workOn(
      store,
      hosts(40).map((h) => h.name),
    );
    assert.equal((await schedule(work, aGuest({ requestedZone: 'az1' }), CONTEXT)).host, 'host02');
    assert.equal((await schedule(work, aGuest({ forcedHost: 'host05' }), CONTEXT)).host, 'host05');
    await assert.rejects(
      schedule(work, aGuest({ requestedZone: 'nowhere' }), CONTEXT),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.message ===
          'No valid host was found. No host in availability zone nowhere passed the filters (those that did are in az1, nova).',
    );
  });
});
