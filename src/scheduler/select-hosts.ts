/**
 * Host filters and weighers over plain data. One pass filters and scores, a second normalises, so
 * a decision grows linearly with the number of hosts; equal weights are broken by host name so the
 * same inputs always choose the same host.
 */
import { fail, ok, type Result } from '../domain/index.js';
import { freeCapacity, RESOURCE_CLASSES, type HostState } from './host-state.js';
import type { RequestSpec } from './request-spec.js';

/** Weigher multipliers (Nova's ram/cpu/disk_weight_multiplier; positive spreads, negative packs). */
export interface WeigherMultipliers {
  readonly ram: number;
  readonly cpu: number;
  readonly disk: number;
}

export const DEFAULT_MULTIPLIERS: WeigherMultipliers = { ram: 1.0, cpu: 1.0, disk: 0.0 };

/** Why a host was rejected, for the scheduler's log. */
export type RejectReason = 'disabled' | 'VCPU' | 'MEMORY_MB' | 'DISK_GB' | 'traits';

/** The chosen hosts, best first, and how many each filter rejected. */
export interface Selection {
  readonly hosts: readonly HostState[];
  readonly rejected: Readonly<Record<RejectReason, number>>;
}

/** Undefined when a host passes every filter; otherwise the first reason it fails. */
export function checkHost(host: HostState, request: RequestSpec): RejectReason | undefined {
  return rejectReason(host, request, [...request.requiredTraits], [...request.forbiddenTraits]);
}

// Traits come as arrays so the hot loop does not build a Set iterator per host.
function rejectReason(
  host: HostState,
  request: RequestSpec,
  required: readonly string[],
  forbidden: readonly string[],
): RejectReason | undefined {
  if (!host.enabled) return 'disabled';
  for (const resourceClass of RESOURCE_CLASSES) {
    if (freeCapacity(host, resourceClass) < request.resources[resourceClass]) return resourceClass;
  }
  for (const trait of required) if (!host.traits.has(trait)) return 'traits';
  for (const trait of forbidden) if (host.traits.has(trait)) return 'traits';
  return undefined;
}

/**
 * Filters and weighs the hosts and returns up to `count` of them, best first (the first is the
 * choice; the rest are alternates). No host passing is "No valid host was found."
 */
export function selectHosts(
  hosts: readonly HostState[],
  request: RequestSpec,
  options: { readonly count?: number; readonly multipliers?: WeigherMultipliers } = {},
): Result<Selection> {
  const count = options.count ?? 1;
  const multipliers = options.multipliers ?? DEFAULT_MULTIPLIERS;
  const required = [...request.requiredTraits];
  const forbidden = [...request.forbiddenTraits];
  const rejected: Record<RejectReason, number> = {
    disabled: 0,
    VCPU: 0,
    MEMORY_MB: 0,
    DISK_GB: 0,
    traits: 0,
  };
  const passed = new Int32Array(hosts.length);
  const free = {
    ram: new Float64Array(hosts.length),
    cpu: new Float64Array(hosts.length),
    disk: new Float64Array(hosts.length),
  };
  let found = 0;
  for (let i = 0; i < hosts.length; i++) {
    const host = hosts[i];
    if (host === undefined) continue;
    const reason = rejectReason(host, request, required, forbidden);
    if (reason !== undefined) {
      rejected[reason]++;
      continue;
    }
    passed[found] = i;
    free.ram[found] = freeCapacity(host, 'MEMORY_MB');
    free.cpu[found] = freeCapacity(host, 'VCPU');
    free.disk[found] = freeCapacity(host, 'DISK_GB');
    found++;
  }
  if (found === 0) {
    return fail({
      code: 'scheduler.no_valid_host',
      path: [],
      // NOTE: Nova wording (nova/exception.py NoValidHost), then what the filters saw.
      message: `No valid host was found. ${describeRejections(hosts.length, rejected)}`,
    });
  }
  const weights = new Float64Array(found);
  addNormalised(weights, free.ram, found, multipliers.ram);
  addNormalised(weights, free.cpu, found, multipliers.cpu);
  addNormalised(weights, free.disk, found, multipliers.disk);
  const best = topIndexes(hosts, passed, weights, found, count);
  return ok({ hosts: best.flatMap((i) => hosts[i] ?? []), rejected });
}

/** Adds multiplier x (value scaled to 0..1 across hosts), as Nova's weighers normalise. */
function addNormalised(
  weights: Float64Array,
  values: Float64Array,
  length: number,
  multiplier: number,
): void {
  if (multiplier === 0) return;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < length; i++) {
    const value = values[i] ?? 0;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  const range = max - min;
  if (range === 0) return;
  for (let i = 0; i < length; i++)
    weights[i] = (weights[i] ?? 0) + (multiplier * ((values[i] ?? min) - min)) / range;
}

/** Indexes (into `hosts`) of the `count` best by weight, then name; a bounded insertion keeps this linear. */
function topIndexes(
  hosts: readonly HostState[],
  passed: Int32Array,
  weights: Float64Array,
  length: number,
  count: number,
): number[] {
  const best: { index: number; weight: number }[] = [];
  const better = (a: { index: number; weight: number }, b: { index: number; weight: number }) =>
    a.weight > b.weight ||
    (a.weight === b.weight && (hosts[a.index]?.name ?? '') < (hosts[b.index]?.name ?? ''));
  for (let i = 0; i < length; i++) {
    const candidate = { index: passed[i] ?? 0, weight: weights[i] ?? 0 };
    const last = best[best.length - 1];
    if (best.length === count && last !== undefined && !better(candidate, last)) continue;
    let at = best.length;
    for (
      let previous = best[at - 1];
      previous && better(candidate, previous);
      previous = best[at - 1]
    ) {
      at--;
    }
    best.splice(at, 0, candidate);
    if (best.length > count) best.pop();
  }
  return best.map((entry) => entry.index);
}

function describeRejections(
  total: number,
  rejected: Readonly<Record<RejectReason, number>>,
): string {
  if (total === 0) return 'There are no compute hosts.';
  const parts = Object.entries(rejected)
    .filter(([, n]) => n > 0)
    .map(
      ([reason, n]) =>
        `${n} ${reason === 'disabled' ? 'disabled' : reason === 'traits' ? 'without the required traits' : `without enough ${reason}`}`,
    );
  return `${total} host${total === 1 ? '' : 's'} checked: ${parts.join(', ')}.`;
}
