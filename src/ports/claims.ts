/** The capacity rule every Store adapter applies inside its atomic claim. */
import type {
  AllocationRecord,
  ClaimResourceClass,
  ComputeHostRecord,
  HostUsage,
} from './store.js';

/** The resource classes a claim checks. */
export const CLAIM_RESOURCE_CLASSES: readonly ClaimResourceClass[] = [
  'VCPU',
  'MEMORY_MB',
  'DISK_GB',
];

/** Sums what the allocations hold, per resource class. */
export function usedOnHost(held: readonly AllocationRecord[]): Record<ClaimResourceClass, number> {
  const used: Record<ClaimResourceClass, number> = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
  for (const allocation of held) {
    for (const rc of CLAIM_RESOURCE_CLASSES) used[rc] += allocation.resources[rc];
  }
  return used;
}

/**
 * Whether `requested` still fits on an enabled host next to what is `used` there: for every class,
 * (total - reserved) x allocation ratio - used >= requested (Placement's capacity rule).
 */
export function fitsOnHost(
  host: ComputeHostRecord,
  used: HostUsage,
  requested: Readonly<Record<ClaimResourceClass, number>>,
): boolean {
  if (!host.enabled) return false;
  return CLAIM_RESOURCE_CLASSES.every((rc) => {
    const { total, reserved, allocationRatio } = host.inventory[rc];
    return (total - reserved) * allocationRatio - used[rc] >= requested[rc];
  });
}
