/**
 * The unshelve action's value, as Nova's schemas take it (nova/api/openstack/compute/schemas/
 * shelve.py): anything before 2.77 (no schema); from 2.77 null or `{"availability_zone": <name>}`;
 * from 2.91 null or an object with an optional `availability_zone` (a string, or null to unpin)
 * and an optional `host`. The zone is checked as on create (an unknown one is Nova's 400).
 */
import type { UnshelveRequest } from '../services/index.js';
import { invalidField, refuseUnknownKeys } from './_http.js';
import { atLeast, type Microversion } from './microversion.js';

export function parseUnshelve(value: unknown, mv: Microversion): UnshelveRequest {
  if (!atLeast(mv, 2, 77) || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidField(
      'unshelve',
      value,
      `${JSON.stringify(value)} is not of type 'object', 'null'`,
    );
  }
  const fields = value as Record<string, unknown>;
  const withHost = atLeast(mv, 2, 91);
  refuseUnknownKeys(
    'unshelve',
    fields,
    withHost ? ['availability_zone', 'host'] : ['availability_zone'],
  );
  const az = fields.availability_zone;
  if (!withHost && az === undefined) {
    throw invalidField('unshelve', fields, "'availability_zone' is a required property");
  }
  if (az !== undefined && typeof az !== 'string' && !(withHost && az === null)) {
    throw invalidField(
      'unshelve/availability_zone',
      az,
      `${JSON.stringify(az)} is not of type ${withHost ? "'string', 'null'" : "'string'"}`,
    );
  }
  const host = fields.host;
  if (host !== undefined && (typeof host !== 'string' || host.length === 0)) {
    throw invalidField('unshelve/host', host, `${JSON.stringify(host)} is not a host name`);
  }
  return {
    ...(az === undefined ? {} : { availabilityZone: az }),
    ...(host === undefined ? {} : { host }),
  };
}
