/**
 * Compute API: os-aggregates (admin only), with Nova's bodies and refusals
 * (nova/api/openstack/compute/aggregates.py and its schemas): create answers without `hosts` and
 * `metadata`; `uuid` is shown from 2.41; create, update, delete and the actions answer 200.
 * Image pre-caching (`POST /os-aggregates/{id}/images`, 2.81) is not offered: vpmu's hosts keep
 * no image cache to warm, so the route does not exist (404) rather than accepting and doing
 * nothing.
 */
import type { Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  addAggregateHost,
  createAggregate,
  deleteAggregate,
  listAggregates,
  removeAggregateHost,
  setAggregateMetadata,
  showAggregate,
  updateAggregate,
  zoneOf,
  type AggregateRecord,
} from '../services/index.js';
import {
  caller,
  invalidField,
  member,
  readJsonObject,
  refuseUnknownKeys,
  novaTime,
} from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Nova's parameter_types.fqdn for a host name. */
const FQDN = /^[a-zA-Z0-9-._]*$/u;
/** Nova's parameter_types.metadata_with_null key pattern. */
const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/u;

/** Adds the os-aggregates routes to the compute app (already behind the token check). */
export function addAggregateRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-aggregates', async (c) => {
    const mv = c.get('microversion');
    const aggregates = await listAggregates(deps, caller(c));
    return c.json({ aggregates: aggregates.map((a) => aggregateView(a, mv)) });
  });

  app.post('/v2.1/os-aggregates', async (c) => {
    const mv = c.get('microversion');
    const ctx = caller(c);
    const body = await readJsonObject(c, 'object with "aggregate"');
    refuseUnknownKeys('aggregate', body, ['aggregate']);
    const fields = member(body, 'aggregate');
    refuseUnknownKeys('aggregate', fields, ['name', 'availability_zone']);
    const name = checkName(fields.name, true);
    const zone =
      fields.availability_zone === undefined ? null : checkZone(fields.availability_zone);
    const aggregate = await createAggregate(deps, ctx, name, zone);
    const view = aggregateView(aggregate, mv);
    delete view.hosts;
    delete view.metadata;
    return c.json({ aggregate: view });
  });

  app.get('/v2.1/os-aggregates/:id', async (c) => {
    const mv = c.get('microversion');
    const aggregate = await showAggregate(deps, caller(c), aggregateId(c.req.param('id')));
    return c.json({ aggregate: aggregateView(aggregate, mv) });
  });

  app.put('/v2.1/os-aggregates/:id', async (c) => {
    const mv = c.get('microversion');
    const ctx = caller(c);
    const id = aggregateId(c.req.param('id'));
    const body = await readJsonObject(c, 'object with "aggregate"');
    refuseUnknownKeys('aggregate', body, ['aggregate']);
    const fields = member(body, 'aggregate');
    refuseUnknownKeys('aggregate', fields, ['name', 'availability_zone']);
    if (fields.name === undefined && fields.availability_zone === undefined) {
      throw invalidField(
        'aggregate',
        fields,
        "An update names 'name' or 'availability_zone' (or both)",
      );
    }
    const aggregate = await updateAggregate(deps, ctx, id, {
      // Nova's update schema allows surrounding spaces in the name, and strips them.
      ...(fields.name === undefined ? {} : { name: checkName(fields.name, false).trim() }),
      ...(fields.availability_zone === undefined
        ? {}
        : { zone: fields.availability_zone === null ? null : checkZone(fields.availability_zone) }),
    });
    return c.json({ aggregate: aggregateView(aggregate, mv) });
  });

  app.delete('/v2.1/os-aggregates/:id', async (c) => {
    await deleteAggregate(deps, caller(c), aggregateId(c.req.param('id')));
    return c.body(null, 200);
  });

  app.post('/v2.1/os-aggregates/:id/action', async (c) => {
    const mv = c.get('microversion');
    const ctx = caller(c);
    const id = aggregateId(c.req.param('id'));
    const body = await readJsonObject(c, 'object with one action');
    const [action, ...more] = Object.keys(body);
    if (action === undefined || more.length > 0) {
      // NOTE: Nova wording (nova/api/openstack/wsgi.py action dispatch).
      throw new ComputeError(
        'request.invalid',
        'There is no such action: ' + Object.keys(body).join(', '),
      );
    }
    const args = member(body, action);
    let aggregate: AggregateRecord;
    switch (action) {
      case 'add_host':
      case 'remove_host': {
        refuseUnknownKeys(action, args, ['host']);
        const host = checkHost(args.host);
        aggregate =
          action === 'add_host'
            ? await addAggregateHost(deps, ctx, id, host)
            : await removeAggregateHost(deps, ctx, id, host);
        break;
      }
      case 'set_metadata':
        refuseUnknownKeys(action, args, ['metadata']);
        aggregate = await setAggregateMetadata(deps, ctx, id, checkMetadata(args.metadata));
        break;
      default:
        throw new ComputeError('request.invalid', `There is no such action: ${action}`);
    }
    return c.json({ aggregate: aggregateView(aggregate, mv) });
  });
}

/** Nova's aggregate view; `uuid` from 2.41. */
function aggregateView(a: AggregateRecord, mv: Microversion): Record<string, unknown> {
  return {
    availability_zone: zoneOf(a),
    created_at: novaTime(a.createdAt),
    deleted: false,
    deleted_at: null,
    hosts: [...a.hosts],
    id: a.id,
    metadata: { ...a.metadata },
    name: a.name,
    updated_at: a.updatedAt === null ? null : novaTime(a.updatedAt),
    ...(atLeast(mv, 2, 41) ? { uuid: a.uuid } : {}),
  };
}

/** The path's aggregate id: an integer, as Nova's utils.validate_integer requires. */
function aggregateId(raw: string): number {
  if (!/^-?\d{1,15}$/u.test(raw)) {
    // NOTE: Nova wording (nova/utils.py validate_integer, raised as InvalidInput).
    throw new ComputeError('request.invalid', 'Invalid input received: id must be an integer');
  }
  return Number(raw);
}

/** Nova's parameter_types.name (create) or name_with_leading_trailing_spaces (update). */
function checkName(value: unknown, strict: boolean): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
    throw invalidField('name', value, 'An aggregate name is a string of 1 to 255 characters');
  }
  if (value.trim().length === 0 || (strict && value.trim() !== value)) {
    throw invalidField(
      'name',
      value,
      'An aggregate name must not be blank or have leading or trailing whitespace',
    );
  }
  return value;
}

/** Nova's parameter_types.az_name: 1 to 255 characters, no ':', no surrounding whitespace. */
function checkZone(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
    throw invalidField(
      'availability_zone',
      value,
      'An availability zone is a string of 1 to 255 characters, or null',
    );
  }
  if (value.includes(':') || value.trim() !== value) {
    throw invalidField(
      'availability_zone',
      value,
      "An availability zone name must not contain ':' or have leading or trailing whitespace",
    );
  }
  return value;
}

/** Nova's parameter_types.fqdn. */
function checkHost(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255 || !FQDN.test(value)) {
    throw invalidField(
      'host',
      value,
      'A host name is 1 to 255 letters, digits, hyphens, dots and underscores',
    );
  }
  return value;
}

/** Nova's parameter_types.metadata_with_null: keys matched, values strings of ≤ 255 or null. */
function checkMetadata(value: unknown): Record<string, string | null> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField('metadata', value, "'metadata' is a required object");
  }
  const out: Record<string, string | null> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!METADATA_KEY.test(key)) {
      throw invalidField(
        'metadata',
        value,
        `Metadata key '${key}' is 1 to 255 letters, digits, spaces and - _ : .`,
      );
    }
    if (v !== null && (typeof v !== 'string' || v.length > 255)) {
      throw invalidField(
        `metadata.${key}`,
        v,
        'A metadata value is a string of at most 255 characters, or null to delete the key',
      );
    }
    out[key] = v;
  }
  // An empty zone is refused by the service with Nova's message.
  const zone = out.availability_zone;
  if (typeof zone === 'string' && zone !== '') checkZone(zone);
  return out;
}

/** Nova's datetime in API bodies: microseconds, no zone ("2026-11-29T23:20:26.123000"). */
