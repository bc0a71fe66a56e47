/**
 * Moving servers, as Nova's API takes it: the `migrate` action (migrate_server.py; `host` from
 * 2.56), the `evacuate` action (evacuate.py; `onSharedStorage` before 2.14, `force` from 2.29 to
 * 2.67), `GET /os-migrations` (migrations.py; `migration_type` from 2.23, `uuid` from 2.59,
 * `user_id` and `project_id` from 2.80) and `GET /servers/{id}/migrations` (2.23; only live
 * migrations in progress, which vpmu never has). Admin only, as Nova's default policy.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  requireAdmin,
  type MigrationQuery,
  type MigrationRecord,
  type RequestContext,
} from '../services/index.js';
import { caller, invalidField, refuseUnknownKeys, novaTime } from './_http.js';
import { lastValue, queryParams, type QueryParams } from './_query.js';
import { novaBoolean } from './compute.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';
import { parseAdminPass } from './server-fields.js';

/** The actions served here. */
export const MIGRATE_ACTIONS = ['migrate', 'evacuate'] as const;

/** Nova's hostname parameter: 1 to 255 characters of letters, digits, `-`, `.`, `_`, `:`. */
const HOSTNAME = /^[a-zA-Z0-9\-._:]{1,255}$/u;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{"migrate": null}`, or `{"migrate": {"host": "<host>" | null}}` from 2.56. */
export function parseMigrate(value: unknown, mv: Microversion): string | undefined {
  if (value === null) return undefined;
  if (!isObject(value)) {
    throw invalidField(
      'migrate',
      value,
      `${JSON.stringify(value)} is not of type 'object', 'null'`,
    );
  }
  if (!atLeast(mv, 2, 56)) {
    if (Object.keys(value).length === 0) return undefined;
    throw invalidField(
      'migrate',
      value,
      'Before microversion 2.56 migrate takes no arguments (null); a destination host needs 2.56 or later.',
    );
  }
  refuseUnknownKeys('migrate', value, ['host']);
  const { host } = value;
  if (host === undefined || host === null) return undefined;
  if (typeof host !== 'string' || !HOSTNAME.test(host)) {
    throw invalidField(
      'migrate/host',
      host,
      typeof host === 'string'
        ? `${JSON.stringify(host)} is not a valid host name (1 to 255 letters, digits, '-', '.', '_' or ':')`
        : `${JSON.stringify(host)} is not of type 'string', 'null'`,
    );
  }
  return host;
}

/** The evacuate body of the microversion; what vpmu cannot honour is refused by name. */
export function parseEvacuate(
  value: unknown,
  mv: Microversion,
): { host?: string; adminPass?: string } {
  if (!isObject(value)) {
    throw invalidField('evacuate', value, `${JSON.stringify(value)} is not of type 'object'`);
  }
  const allowed = ['host', 'adminPass'];
  if (!atLeast(mv, 2, 14)) allowed.push('onSharedStorage');
  if (atLeast(mv, 2, 29) && !atLeast(mv, 2, 68)) allowed.push('force');
  refuseUnknownKeys('evacuate', value, allowed);
  const { host, adminPass, onSharedStorage, force } = value;
  if (host !== undefined && (typeof host !== 'string' || !HOSTNAME.test(host))) {
    throw invalidField(
      'evacuate/host',
      host,
      typeof host === 'string'
        ? `${JSON.stringify(host)} is not a valid host name (1 to 255 letters, digits, '-', '.', '_' or ':')`
        : `${JSON.stringify(host)} is not of type 'string'`,
    );
  }
  if (!atLeast(mv, 2, 14)) {
    if (onSharedStorage === undefined) {
      throw invalidField('evacuate', value, "'onSharedStorage' is a required property");
    }
    const shared = novaBoolean(onSharedStorage);
    if (shared === undefined) {
      throw invalidField(
        'evacuate/onSharedStorage',
        onSharedStorage,
        `${JSON.stringify(onSharedStorage)} is not of type 'boolean'`,
      );
    }
    if (shared) {
      throw invalidField(
        'evacuate/onSharedStorage',
        onSharedStorage,
        "vpmu's hosts share no instance storage: an evacuated server is built again from its image (onSharedStorage false).",
      );
    }
  }
  if (force !== undefined) {
    const forced = novaBoolean(force);
    if (forced === undefined) {
      throw invalidField(
        'evacuate/force',
        force,
        `${JSON.stringify(force)} is not of type 'boolean'`,
      );
    }
    if (forced && host === undefined) {
      // NOTE: Nova wording (nova/api/openstack/compute/evacuate.py).
      throw new ComputeError('request.invalid', "Can't force to a non-provided destination");
    }
  }
  return {
    ...(typeof host === 'string' ? { host } : {}),
    ...(adminPass === undefined ? {} : { adminPass: parseAdminPass(adminPass) }),
  };
}

/** Answers `migrate` or `evacuate` for the servers.ts action dispatcher. */
export async function migrateAction(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  ctx: RequestContext,
  id: string,
  action: (typeof MIGRATE_ACTIONS)[number],
  value: unknown,
): Promise<Response> {
  const mv = c.get('microversion');
  const call = { requestId: c.get('requestId') };
  if (action === 'migrate') {
    await deps.servers.migrate(ctx, id, parseMigrate(value, mv), call);
    return c.body(null, 202);
  }
  await deps.servers.evacuate(ctx, id, parseEvacuate(value, mv), call);
  // Nova answers 200; with no password to tell (vpmu sets none), no body.
  return c.body(null, 200);
}

/** Adds os-migrations and the server's migrations (already behind the token check). */
export function addMigrationRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-migrations', async (c) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
    const query = parseMigrationQuery(queryParams(c), mv);
    const found = await deps.servers.listMigrations(ctx, query);
    return c.json({ migrations: found.map((m) => migrationView(m, mv)) });
  });

  app.get('/v2.1/servers/:id/migrations', async (c) => {
    const ctx = caller(c);
    if (!atLeast(c.get('microversion'), 2, 23)) {
      throw new ComputeError(
        'route.not_found',
        'The resource could not be found: server migrations need microversion 2.23 or later.',
      );
    }
    requireAdmin(ctx, 'os_compute_api:servers:migrations:index');
    await deps.servers.show(ctx, c.req.param('id'));
    // Only live migrations in progress are listed here, and vpmu does no live migration.
    return c.json({ migrations: [] });
  });
}

const MIGRATION_TYPES = ['migration', 'resize', 'evacuation', 'live-migration'] as const;

function parseMigrationQuery(params: QueryParams, mv: Microversion): MigrationQuery {
  const known = ['host', 'status', 'instance_uuid', 'source_compute'];
  if (atLeast(mv, 2, 23)) known.push('migration_type');
  const unknown = [...params.keys()].find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw invalidField(
      unknown,
      lastValue(params, unknown),
      `vpmu filters migrations by ${known.join(', ')} only at this microversion (no paging).`,
    );
  }
  const type = lastValue(params, 'migration_type');
  if (type !== undefined && !(MIGRATION_TYPES as readonly string[]).includes(type)) {
    throw invalidField(
      'migration_type',
      type,
      `${JSON.stringify(type)} is not one of ${JSON.stringify(MIGRATION_TYPES)}`,
    );
  }
  return {
    host: lastValue(params, 'host'),
    sourceCompute: lastValue(params, 'source_compute'),
    status: lastValue(params, 'status'),
    serverId: lastValue(params, 'instance_uuid'),
    // vpmu does no live migration: that filter matches nothing.
    migrationType: type as MigrationQuery['migrationType'],
  };
}

/** Nova's migration view by microversion. */
function migrationView(m: MigrationRecord, mv: Microversion): Record<string, unknown> {
  return {
    id: m.id,
    status: m.status,
    instance_uuid: m.serverId,
    source_node: m.sourceCompute,
    source_compute: m.sourceCompute,
    dest_node: m.destCompute,
    dest_compute: m.destCompute,
    // Nova's dest_host is the destination's IP address, which vpmu does not know.
    dest_host: null,
    // Nova's integer flavor ids; vpmu's flavors have only their string ids.
    old_instance_type_id: null,
    new_instance_type_id: null,
    created_at: novaTime(m.createdAt),
    updated_at: m.updatedAt === null ? null : novaTime(m.updatedAt),
    ...(atLeast(mv, 2, 23) ? { migration_type: m.migrationType } : {}),
    ...(atLeast(mv, 2, 59) ? { uuid: m.uuid } : {}),
    ...(atLeast(mv, 2, 80) ? { user_id: m.userId, project_id: m.projectId } : {}),
  };
}

/** Nova's times: microseconds, no zone. */
