/**
 * Server group placement, in the spirit of Nova's ServerGroupAffinityFilter,
 * ServerGroupAntiAffinityFilter and the soft-(anti-)affinity weighers: applied to the hosts that
 * passed every other filter, in their weighed order, given where the group's members already run.
 */
import { fail, ok, type Result } from '../domain/index.js';

export type GroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity';

export interface GroupConstraint {
  readonly name: string;
  readonly policy: GroupPolicy;
  /** anti-affinity only: how many members one host may hold. @default 1 */
  readonly maxServerPerHost: number | null;
  /** How many of the group's other members each host holds now. */
  readonly membersPerHost: ReadonlyMap<string, number>;
}

/**
 * The hosts the group allows, best first. Hard policies remove hosts (affinity keeps only the
 * host its members are on, once there are any; anti-affinity drops hosts that are full for the
 * group); soft policies only reorder (most members first, or fewest), keeping the weighed order
 * among equals.
 */
export function placeInGroup<H extends { readonly name: string }>(
  hosts: readonly H[],
  group: GroupConstraint,
): Result<H[]> {
  const members = (h: H) => group.membersPerHost.get(h.name) ?? 0;
  const placed = [...group.membersPerHost.values()].some((n) => n > 0);
  let allowed: H[];
  switch (group.policy) {
    case 'affinity':
      allowed = placed ? hosts.filter((h) => members(h) > 0) : [...hosts];
      break;
    case 'anti-affinity': {
      const max = group.maxServerPerHost ?? 1;
      allowed = hosts.filter((h) => members(h) < max);
      break;
    }
    case 'soft-affinity':
      // Array.prototype.sort is stable: equals keep their weighed order.
      allowed = [...hosts].sort((a, b) => members(b) - members(a));
      break;
    case 'soft-anti-affinity':
      allowed = [...hosts].sort((a, b) => members(a) - members(b));
      break;
  }
  if (allowed.length > 0) return ok(allowed);
  const why =
    group.policy === 'affinity'
      ? `the host of its other members (${[...group.membersPerHost.keys()].join(', ')}) has no room or did not pass the other filters`
      : `every host that passed the other filters already holds ${group.maxServerPerHost ?? 1} of its members`;
  return fail({
    code: 'scheduler.no_valid_host',
    path: ['os:scheduler_hints', 'group'],
    message: `No valid host was found. Server group '${group.name}' has policy ${group.policy}, and ${why}.`,
  });
}
