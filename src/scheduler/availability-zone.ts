/**
 * Nova's AvailabilityZoneFilter, with the forced host of `availability_zone: "zone:host"`: a host
 * passes when it is in the requested zone and, when a host was forced, is that host.
 */
import { fail, ok, type Result } from '../domain/index.js';

/** Where a create asked its server to be. */
export interface ZoneConstraint {
  /** The zone the server must be in; undefined when any will do. */
  readonly zone?: string;
  /** The host an admin forced; undefined when none. */
  readonly host?: string;
}

/** The hosts the constraint allows, in the given order, or NoValidHost saying why none is. */
export function placeInZone<H extends { readonly name: string }>(
  hosts: readonly H[],
  constraint: ZoneConstraint,
  zoneOf: (host: string) => string,
): Result<H[]> {
  const { zone, host } = constraint;
  const allowed = hosts.filter(
    (h) =>
      (zone === undefined || zoneOf(h.name) === zone) && (host === undefined || h.name === host),
  );
  if (allowed.length > 0 || (zone === undefined && host === undefined)) return ok(allowed);
  const why =
    host !== undefined
      ? `The forced host ${host}${zone === undefined ? '' : ` in availability zone ${zone}`} did not pass the filters (is it in that zone, enabled, with room?)`
      : `No host in availability zone ${zone} passed the filters (${hosts.length === 0 ? 'none did' : `those that did are in ${[...new Set(hosts.map((h) => zoneOf(h.name)))].sort().join(', ')}`})`;
  return fail({
    code: 'scheduler.no_valid_host',
    path: ['availability_zone'],
    message: `No valid host was found. ${why}.`,
  });
}
