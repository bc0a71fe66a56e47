/**
 * Host filters and weighers. Hosts are laid out column by column (free capacity in typed arrays,
 * one membership column per trait), so a decision is one tight pass over numbers: it grows
 * linearly with the number of hosts and allocates nothing per host. Equal weights are broken by
 * host name, so the same inputs always choose the same host.
 */
import { fail, ok, type Result } from '../domain/index.js';
import { freeCapacity, type HostState } from './host-state.js';
import type { RequestSpec } from './request-spec.js';

/** Weigher multipliers (Nova's ram/cpu/disk_weight_multiplier; positive spreads, negative packs). */
export interface WeigherMultipliers {
  readonly ram: number;
  readonly cpu: number;
  readonly disk: number;
}

export const DEFAULT_MULTIPLIERS: WeigherMultipliers = { ram: 1.0, cpu: 1.0, disk: 0.0 };

/** Why a host was rejected, for the scheduler's log. */
export type RejectReason = 'disabled' | 'down' | 'VCPU' | 'MEMORY_MB' | 'DISK_GB' | 'traits';

/** The chosen hosts, best first, and how many each filter rejected. */
export interface Selection {
  readonly hosts: readonly HostState[];
  readonly rejected: Readonly<Record<RejectReason, number>>;
}

export interface SelectOptions {
  /** How many hosts to return: the choice plus alternates. @default 1 */
  readonly count?: number;
  readonly multipliers?: WeigherMultipliers;
  /** Hosts of the index left out of this decision, as if absent (a move's source). */
  readonly excluded?: ReadonlySet<string>;
}

/** Above this many hosts wanted, the best are found by sorting rather than by insertion. */
const INSERTION_LIMIT = 64;

/** Undefined when a host passes every filter; otherwise the first reason it fails. */
export function checkHost(host: HostState, request: RequestSpec): RejectReason | undefined {
  if (!host.enabled) return 'disabled';
  if (host.down === true) return 'down';
  if (freeCapacity(host, 'VCPU') < request.resources.VCPU) return 'VCPU';
  if (freeCapacity(host, 'MEMORY_MB') < request.resources.MEMORY_MB) return 'MEMORY_MB';
  if (freeCapacity(host, 'DISK_GB') < request.resources.DISK_GB) return 'DISK_GB';
  for (const trait of request.requiredTraits) if (!host.traits.has(trait)) return 'traits';
  for (const trait of request.forbiddenTraits) if (host.traits.has(trait)) return 'traits';
  return undefined;
}

/** Filters and weighs the hosts once; for repeated decisions keep a HostIndex instead. */
export function selectHosts(
  hosts: readonly HostState[],
  request: RequestSpec,
  options: SelectOptions = {},
): Result<Selection> {
  return new HostIndex(hosts).select(request, options);
}

/**
 * The hosts in columns, kept current with `update()` as claims change them, so each decision
 * costs one pass over typed arrays.
 */
export class HostIndex {
  private readonly hosts: HostState[];
  private readonly positions = new Map<string, number>();
  /** 1: takes guests; 0: disabled; 2: enabled but its compute service is down. */
  private readonly enabled: Uint8Array;
  private readonly free: { vcpu: Int32Array; ram: Int32Array; disk: Int32Array };
  private readonly traitColumns = new Map<string, Uint8Array>();
  // Scratch space reused by every decision.
  private readonly passed: Int32Array;
  private readonly weights: Float64Array;

  constructor(hosts: readonly HostState[]) {
    this.hosts = [...hosts];
    const n = hosts.length;
    this.enabled = new Uint8Array(n);
    this.free = { vcpu: new Int32Array(n), ram: new Int32Array(n), disk: new Int32Array(n) };
    this.passed = new Int32Array(n);
    this.weights = new Float64Array(n);
    this.hosts.forEach((host, i) => {
      if (this.positions.has(host.name))
        throw new RangeError(`Host name "${host.name}" is not unique`);
      this.positions.set(host.name, i);
      this.write(i, host);
    });
  }

  /** Replaces the state of a host already in the index (after a claim or a release). */
  update(host: HostState): void {
    const i = this.positions.get(host.name);
    if (i === undefined) throw new RangeError(`Host "${host.name}" is not in the index`);
    for (const column of this.traitColumns.values()) column[i] = 0;
    this.hosts[i] = host;
    this.write(i, host);
  }

  /** How many hosts the index holds. */
  get size(): number {
    return this.hosts.length;
  }

  /** The host's state as the index holds it; undefined when it is not in the index. */
  get(name: string): HostState | undefined {
    const i = this.positions.get(name);
    return i === undefined ? undefined : this.hosts[i];
  }

  /** Filters and weighs; returns up to `count` hosts, best first, or "No valid host was found." */
  select(request: RequestSpec, options: SelectOptions = {}): Result<Selection> {
    const n = this.hosts.length;
    const { enabled, free, passed } = this;
    const skip = this.excludedColumn(options.excluded);
    let checked = n;
    const rejected: Record<RejectReason, number> = {
      disabled: 0,
      down: 0,
      VCPU: 0,
      MEMORY_MB: 0,
      DISK_GB: 0,
      traits: 0,
    };
    const empty = new Uint8Array(0);
    const required = [...request.requiredTraits].map(
      (trait) => this.traitColumns.get(trait) ?? empty,
    );
    const forbidden = [...request.forbiddenTraits].flatMap(
      (trait) => this.traitColumns.get(trait) ?? [],
    );
    const { VCPU: vcpu, MEMORY_MB: ram, DISK_GB: disk } = request.resources;
    let found = 0;
    hosts: for (let i = 0; i < n; i++) {
      if (skip?.[i] === 1) {
        checked--;
      } else if (enabled[i] !== 1) {
        if (enabled[i] === 0) rejected.disabled++;
        else rejected.down++;
      } else if ((free.vcpu[i] ?? 0) < vcpu) {
        rejected.VCPU++;
      } else if ((free.ram[i] ?? 0) < ram) {
        rejected.MEMORY_MB++;
      } else if ((free.disk[i] ?? 0) < disk) {
        rejected.DISK_GB++;
      } else {
        for (const column of required) {
          if (column[i] !== 1) {
            rejected.traits++;
            continue hosts;
          }
        }
        for (const column of forbidden) {
          if (column[i] === 1) {
            rejected.traits++;
            continue hosts;
          }
        }
        passed[found++] = i;
      }
    }
    if (found === 0) {
      return fail({
        code: 'scheduler.no_valid_host',
        path: [],
        // NOTE: Nova wording (nova/exception.py NoValidHost), then what the filters saw.
        message: `No valid host was found. ${describeRejections(checked, rejected)}`,
      });
    }
    const multipliers = options.multipliers ?? DEFAULT_MULTIPLIERS;
    this.weights.fill(0, 0, found);
    this.addNormalised(free.ram, found, multipliers.ram);
    this.addNormalised(free.vcpu, found, multipliers.cpu);
    this.addNormalised(free.disk, found, multipliers.disk);
    return ok({ hosts: this.best(found, options.count ?? 1), rejected });
  }

  /** 1 for each host of the index to leave out; undefined when none is. */
  private excludedColumn(excluded: ReadonlySet<string> | undefined): Uint8Array | undefined {
    if (excluded === undefined || excluded.size === 0) return undefined;
    const column = new Uint8Array(this.hosts.length);
    for (const name of excluded) {
      const i = this.positions.get(name);
      if (i !== undefined) column[i] = 1;
    }
    return column;
  }

  private write(i: number, host: HostState): void {
    this.enabled[i] = !host.enabled ? 0 : host.down === true ? 2 : 1;
    // Requests are whole units, so flooring keeps "fits" exact and halves the working set.
    this.free.vcpu[i] = clampToInt32(freeCapacity(host, 'VCPU'));
    this.free.ram[i] = clampToInt32(freeCapacity(host, 'MEMORY_MB'));
    this.free.disk[i] = clampToInt32(freeCapacity(host, 'DISK_GB'));
    for (const trait of host.traits) {
      let column = this.traitColumns.get(trait);
      if (column === undefined) {
        column = new Uint8Array(this.hosts.length);
        this.traitColumns.set(trait, column);
      }
      column[i] = 1;
    }
  }

  /** Adds multiplier x (free capacity scaled to 0..1 across passing hosts), as Nova's weighers do. */
  private addNormalised(values: Int32Array, found: number, multiplier: number): void {
    if (multiplier === 0) return;
    const { passed, weights } = this;
    let min = Infinity;
    let max = -Infinity;
    for (let k = 0; k < found; k++) {
      const value = values[passed[k] ?? 0] ?? 0;
      if (value < min) min = value;
      if (value > max) max = value;
    }
    const range = max - min;
    if (range === 0) return;
    for (let k = 0; k < found; k++) {
      weights[k] = (weights[k] ?? 0) + (multiplier * ((values[passed[k] ?? 0] ?? 0) - min)) / range;
    }
  }

  /**
   * The `count` best passing hosts by weight, then name: a bounded insertion for a few (linear),
   * a sort for many.
   */
  private best(found: number, count: number): HostState[] {
    const { hosts, passed, weights } = this;
    if (count > INSERTION_LIMIT) {
      const order = Array.from({ length: found }, (_, k) => k);
      order.sort((a, b) => {
        const wa = weights[a] ?? 0;
        const wb = weights[b] ?? 0;
        if (wa !== wb) return wb - wa;
        const na = hosts[passed[a] ?? 0]?.name ?? '';
        const nb = hosts[passed[b] ?? 0]?.name ?? '';
        return na < nb ? -1 : na > nb ? 1 : 0;
      });
      return order.slice(0, count).flatMap((k) => {
        const host = hosts[passed[k] ?? 0];
        return host === undefined ? [] : [host];
      });
    }
    const top: { host: HostState; weight: number }[] = [];
    const better = (a: (typeof top)[number], b: (typeof top)[number]) =>
      a.weight > b.weight || (a.weight === b.weight && a.host.name < b.host.name);
    for (let k = 0; k < found; k++) {
      const host = hosts[passed[k] ?? 0];
      if (host === undefined) continue;
      const candidate = { host, weight: weights[k] ?? 0 };
      const last = top[top.length - 1];
      if (top.length === count && last !== undefined && !better(candidate, last)) continue;
      let at = top.length;
      for (
        let previous = top[at - 1];
        previous && better(candidate, previous);
        previous = top[at - 1]
      ) {
        at--;
      }
      top.splice(at, 0, candidate);
      if (top.length > count) top.pop();
    }
    return top.map((entry) => entry.host);
  }
}

function clampToInt32(value: number): number {
  return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.floor(value)));
}

function describeRejections(
  total: number,
  rejected: Readonly<Record<RejectReason, number>>,
): string {
  if (total === 0) return 'There are no compute hosts.';
  const parts = Object.entries(rejected)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => {
      if (reason === 'disabled') return `${n} disabled`;
      if (reason === 'down') return `${n} with the compute service down`;
      if (reason === 'traits') return `${n} without the required traits`;
      return `${n} without enough ${reason}`;
    });
  return `${total} host${total === 1 ? '' : 's'} checked: ${parts.join(', ')}.`;
}
