/**
 * The conductor's host index, kept current by deltas, as Nova's host manager keeps one per
 * scheduler: the first decision reads every host, its usage and the aggregates; each later one
 * reads only what changed since (the store's host change sequence: one query when nothing did).
 * The store's atomic claim stays the authority: a claim lost to another process's tries the next
 * host, and the next read of the cache brings in what that process claimed. Heartbeats move no
 * change: each decision asks the store which hosts have gone silent (the few, by an index).
 */
import type { ComputeHostRecord, HostUsage, Store } from '../ports/store.js';
import { HostIndex, type HostState } from '../scheduler/index.js';
import { DEFAULT_AVAILABILITY_ZONE, zonesByHost } from './aggregates.js';
import { silentBefore, type ComputeServiceDeps } from './compute-services.js';

const NOTHING_USED: HostUsage = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };

/** The hosts as one decision sees them. */
export interface HostView {
  /** The hosts this process may place on, in columns. */
  readonly index: HostIndex;
  /** A host's record (any host the store knows). */
  record(name: string): ComputeHostRecord | undefined;
  /** A host's availability zone. */
  zoneOf(host: string): string;
}

/** What telling a silent host needs: the time, and Nova's service_down_time. */
type Liveness = Omit<ComputeServiceDeps, 'store'>;

export interface HostCacheOptions {
  /**
   * Reads every host, its usage and the aggregates and builds a new index for every decision,
   * as the scheduler did before the cache: the benchmarks' reference. @default false
   */
  readonly fullReads?: boolean;
}

/** One per process (per ServerWork): the hosts, their usage and zones, and the index over them. */
export class HostCache {
  readonly #store: Store;
  readonly #places: (host: string) => boolean;
  readonly #fullReads: boolean;
  readonly #liveness: Liveness;
  /** The point of the store's change sequence the cache is complete up to; undefined: not read. */
  #seq: number | undefined;
  #records = new Map<string, ComputeHostRecord>();
  #usage = new Map<string, HostUsage>();
  #zones = new Map<string, string>();
  /** Hosts whose heartbeat is older than service_down_time, as of the last decision. */
  #silent = new Set<string>();
  /** Every record, in name order; undefined when one came, went or changed other than usage. */
  #list: readonly ComputeHostRecord[] | undefined;
  /** Undefined when hosts came or went: built again at the next decision. */
  #index: HostIndex | undefined;

  /** `places`: whether this process places guests on the host (it has its compute agent). */
  constructor(
    store: Store,
    places: (host: string) => boolean,
    liveness: Liveness,
    options: HostCacheOptions = {},
  ) {
    this.#store = store;
    this.#places = places;
    this.#liveness = liveness;
    this.#fullReads = options.fullReads === true;
  }

  /** Every host's record, in name order, brought up to date (no liveness: a precheck's view). */
  async records(): Promise<readonly ComputeHostRecord[]> {
    await this.#update();
    this.#list ??= [...this.#records.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return this.#list;
  }

  /** Brings the cache up to date with the store, and returns it. */
  async current(): Promise<HostView> {
    await this.#update();
    await this.#readSilent();
    let index = this.#index;
    if (index === undefined) {
      index = new HostIndex(
        [...this.#records.values()]
          .filter((record) => this.#places(record.name))
          .map((record) => this.#stateOf(record)),
      );
      this.#index = index;
    }
    const records = this.#records;
    const zones = this.#zones;
    return {
      index,
      record: (name) => records.get(name),
      zoneOf: (host) => zones.get(host) ?? DEFAULT_AVAILABILITY_ZONE,
    };
  }

  async #update(): Promise<void> {
    if (this.#seq === undefined || this.#fullReads) await this.#load();
    else await this.#follow(this.#seq);
  }

  /** The hosts silent too long now; those whose state that changes are written to the index. */
  async #readSilent(): Promise<void> {
    const silent = new Set(await this.#store.silentHosts(silentBefore(this.#liveness)));
    const before = this.#silent;
    this.#silent = silent;
    const index = this.#index;
    if (index === undefined) return;
    for (const name of new Set([...before, ...silent])) {
      if (before.has(name) === silent.has(name)) continue;
      const record = this.#records.get(name);
      if (record !== undefined && index.get(name) !== undefined)
        index.update(this.#stateOf(record));
    }
  }

  /** Everything, read after the sequence's point, so what changes after it comes again later. */
  async #load(): Promise<void> {
    const seq = await this.#store.hostChangeSeq();
    const records = await this.#store.listComputeHosts();
    const usage = await this.#store.usageByHost();
    const aggregates = await this.#store.listAggregates();
    // Two first decisions read at once: keep the later read.
    if (this.#seq !== undefined && seq < this.#seq && !this.#fullReads) return;
    this.#seq = seq;
    this.#records = new Map(records.map((record) => [record.name, record]));
    this.#usage = usage;
    this.#zones = zonesByHost(aggregates);
    this.#index = undefined;
    this.#list = undefined;
  }

  /** What changed since `since`, into the records and the index. */
  async #follow(since: number): Promise<void> {
    const changes = await this.#store.hostChangesSince(since);
    // Decisions running at once each read; one that read a later point has applied more.
    if (this.#seq !== undefined && changes.seq <= this.#seq) return;
    for (const record of changes.hosts) {
      if (!sameRecord(this.#records.get(record.name), record)) this.#list = undefined;
      this.#records.set(record.name, record);
      const used = changes.usage.get(record.name);
      if (used === undefined) this.#usage.delete(record.name);
      else this.#usage.set(record.name, used);
      if (this.#index === undefined || !this.#places(record.name)) continue;
      if (this.#index.get(record.name) === undefined) this.#index = undefined;
      else this.#index.update(this.#stateOf(record));
    }
    for (const name of changes.removed) {
      this.#list = undefined;
      this.#records.delete(name);
      this.#usage.delete(name);
      if (this.#index?.get(name) !== undefined) this.#index = undefined;
    }
    if (changes.aggregates !== undefined) this.#zones = zonesByHost(changes.aggregates);
    this.#seq = changes.seq;
  }

  #stateOf(record: ComputeHostRecord): HostState {
    return {
      name: record.name,
      enabled: record.enabled,
      // A compute service forced down or silent too long takes nothing, as Nova's ComputeFilter.
      down: record.forcedDown === true || this.#silent.has(record.name),
      inventory: record.inventory,
      used: this.#usage.get(record.name) ?? NOTHING_USED,
      traits: new Set(record.traits),
    };
  }
}

/** Whether two records of a host say the same, but for the heartbeat (a usage change moves none). */
function sameRecord(a: ComputeHostRecord | undefined, b: ComputeHostRecord): boolean {
  if (a === undefined) return false;
  const { heartbeatAt: _a, ...restA } = a;
  const { heartbeatAt: _b, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}
