/**
 * Compute API microversions (Nova's `OpenStack-API-Version: compute X.Y` and the legacy
 * `X-OpenStack-Nova-API-Version: X.Y`). Version history of what this service honours:
 *
 * - 2.1: base
 * - 2.3: admins see the extra OS-EXT-SRV-ATTR server attributes (reservation_id, launch_index, …)
 * - 2.19: server `description` (create, update, rebuild, views)
 * - 2.37: `networks` required on create (`none`; vpmu has no networking service)
 * - 2.55: flavor `description`
 * - 2.61: flavor `extra_specs` in flavor bodies
 * - 2.71: `server_groups` in server views
 * - 2.75: flavor `swap` is 0, not "", when there is none; update and rebuild answer the whole
 *   server view
 * - 2.86: unknown extra-spec keys in validated namespaces are refused (bad values for keys
 *   vpmu knows are refused at every version, DESIGN §2.4)
 */
import { ComputeError } from '../errors/index.js';

/** A microversion as [major, minor]. */
export interface Microversion {
  readonly major: number;
  readonly minor: number;
}

export const MIN_VERSION: Microversion = { major: 2, minor: 1 };
export const MAX_VERSION: Microversion = { major: 2, minor: 96 };

/** "2.61". */
export function formatVersion(v: Microversion): string {
  return `${v.major}.${v.minor}`;
}

/** True when `v` is at least `major.minor`. */
export function atLeast(v: Microversion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * The microversion a request asks for: the `compute` entry of OpenStack-API-Version, else
 * X-OpenStack-Nova-API-Version, else 2.1. `latest` means the maximum.
 */
export function negotiateVersion(
  openstackHeader: string | undefined,
  novaHeader: string | undefined,
): Microversion {
  const fromGeneric = openstackHeader
    ?.split(',')
    .map((part) => part.trim().split(/\s+/u))
    .find(([service]) => service?.toLowerCase() === 'compute')?.[1];
  const requested = fromGeneric ?? novaHeader?.trim();
  if (requested === undefined || requested === '') return MIN_VERSION;
  if (requested.toLowerCase() === 'latest') return MAX_VERSION;
  const match = /^([1-9]\d*)\.(0|[1-9]\d*)$/u.exec(requested);
  if (match === null) {
    // NOTE: Nova wording (nova/exception.py InvalidAPIVersionString).
    throw new ComputeError(
      'request.invalid',
      `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`,
    );
  }
  const version = { major: Number(match[1]), minor: Number(match[2]) };
  if (
    !atLeast(version, MIN_VERSION.major, MIN_VERSION.minor) ||
    atLeast(version, MAX_VERSION.major, MAX_VERSION.minor + 1) ||
    version.major !== 2
  ) {
    // NOTE: Nova wording (nova/api/openstack/wsgi.py).
    throw new ComputeError(
      'request.not_acceptable',
      `Version ${requested} is not supported by the API. Minimum is ${formatVersion(MIN_VERSION)} and maximum is ${formatVersion(MAX_VERSION)}.`,
    );
  }
  return version;
}
