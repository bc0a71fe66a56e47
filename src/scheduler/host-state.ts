/** What the scheduler knows about one compute host: its inventory, what is used, its traits. */

/** Placement-style resource classes a guest consumes. */
export const RESOURCE_CLASSES = ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const;
export type ResourceClass = (typeof RESOURCE_CLASSES)[number];

/** One resource class on one host, as Placement models it. */
export interface Inventory {
  readonly total: number;
  /** Kept back for the host itself. */
  readonly reserved: number;
  /** Overcommit: capacity is (total - reserved) x ratio. */
  readonly allocationRatio: number;
}

export interface HostState {
  /** Unique, stable host name; the final tie-break between equally good hosts. */
  readonly name: string;
  /** Disabled hosts take no new guests (Nova's COMPUTE_STATUS_DISABLED). */
  readonly enabled: boolean;
  /**
   * Its compute service is down (forced down, or silent longer than service_down_time): it
   * takes nothing, as Nova's ComputeFilter. @default false
   */
  readonly down?: boolean;
  readonly inventory: Readonly<Record<ResourceClass, Inventory>>;
  /** What claims already hold, per resource class. */
  readonly used: Readonly<Record<ResourceClass, number>>;
  readonly traits: ReadonlySet<string>;
}

/** Nova's initial allocation ratios (initial_cpu/ram/disk_allocation_ratio). */
export const DEFAULT_ALLOCATION_RATIOS: Readonly<Record<ResourceClass, number>> = {
  VCPU: 4.0,
  MEMORY_MB: 1.0,
  DISK_GB: 1.0,
};

/** How much of a resource class is still free on a host (may be negative after a ratio cut). */
export function freeCapacity(host: HostState, resourceClass: ResourceClass): number {
  const { total, reserved, allocationRatio } = host.inventory[resourceClass];
  return (total - reserved) * allocationRatio - host.used[resourceClass];
}
