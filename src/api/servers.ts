/**
 * Compute API: servers and server actions (a Nova v2.1 subset). Request bodies follow
 * nova/api/openstack/compute/schemas/servers.py; the views follow
 * nova/api/openstack/compute/views/servers.py. Server bodies carry exactly Nova's keys; the vPMU
 * decision has its own sub-resource, `GET /servers/{id}/os-vpmu`, and joins the server view only
 * when the client asks with `X-Vpmu-Include` (docs/api.md).
 */
import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  isAdmin,
  requireAdmin,
  type RebootType,
  type RequestContext,
  type ServerRecord,
} from '../services/index.js';
import { caller, member, origin, readJsonObject } from './_http.js';
import { parseSchedulerHints } from './server-groups.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';
import { addServerExtraRoutes, EXTRA_ACTIONS, serverExtraAction } from './server-extras.js';

/** Every server action vpmu serves: the ones below, then server-extras.ts's. */
const SERVED_ACTIONS: readonly string[] = [
  'os-start',
  'os-stop',
  'reboot',
  'rebuild',
  'resize',
  'confirmResize',
  'revertResize',
  ...EXTRA_ACTIONS,
];

/** Adds the server routes to the compute app (already behind the token check). */
export function addServerRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  addServerExtraRoutes(app, deps);
  const servers = deps.servers;
  const list = async (c: Context<ApiEnv>, detail: boolean) => {
    const ctx = caller(c);
    const allTenants = c.req.query('all_tenants');
    if (allTenants !== undefined && !isAdmin(ctx)) {
      requireAdmin(ctx, 'os_compute_api:servers:index:get_all_tenants');
    }
    const found = await servers.list(ctx, {
      ...(c.req.query('name') === undefined ? {} : { name: c.req.query('name') ?? '' }),
      ...(c.req.query('status') === undefined ? {} : { status: c.req.query('status') ?? '' }),
      allTenants: allTenants !== undefined && !['0', 'false', 'False'].includes(allTenants),
    });
    const mv = c.get('microversion');
    const extras = vpmuExtras(c, ctx);
    return c.json({
      servers: found.map((s) =>
        detail
          ? { ...serverView(c, s, mv, ctx), ...extras(s) }
          : { id: s.id, name: s.name, links: links(c, s) },
      ),
    });
  };
  app.get('/v2.1/servers', (c) => list(c, false));
  app.get('/v2.1/servers/detail', (c) => list(c, true));

  app.post('/v2.1/servers', async (c) => {
    const top = await readJsonObject(c, 'object with "server"');
    const body = member(top, 'server');
    const server = await servers.create(
      caller(c),
      { ...parseNewServer(body), ...parseSchedulerHints(top) },
      { requestId: c.get('requestId') },
    );
    c.header('Location', `${origin(c)}/compute/v2.1/servers/${server.id}`);
    return c.json(
      { server: { id: server.id, links: links(c, server), 'OS-DCF:diskConfig': 'MANUAL' } },
      202,
    );
  });

  app.get('/v2.1/servers/:id', async (c) => {
    const ctx = caller(c);
    const extras = vpmuExtras(c, ctx);
    const server = await servers.show(ctx, c.req.param('id'));
    const mv = c.get('microversion');
    return c.json({
      server: {
        ...serverView(c, server, mv, ctx),
        ...serverGroupsOf(server, mv),
        ...extras(server),
      },
    });
  });

  // vpmu extension: the server's vPMU decision, with the domain XML for admins.
  app.get('/v2.1/servers/:id/os-vpmu', async (c) => {
    const ctx = caller(c);
    const server = await servers.show(ctx, c.req.param('id'));
    return c.json({
      vpmu: { ...pmuView(server), ...(isAdmin(ctx) ? { domain_xml: server.domainXml } : {}) },
    });
  });

  app.delete('/v2.1/servers/:id', async (c) => {
    await servers.delete(caller(c), c.req.param('id'), { requestId: c.get('requestId') });
    return c.body(null, 204);
  });

  app.post('/v2.1/servers/:id/action', async (c) => {
    const ctx = caller(c);
    const id = c.req.param('id');
    const call = { requestId: c.get('requestId') };
    const body = await readJsonObject(c, 'object naming one action');
    const [action, ...rest] = Object.keys(body);
    if (action === undefined || rest.length > 0) {
      throw new ComputeError(
        'request.invalid',
        `Cannot act on server ${id}: the body must name exactly one action (${SERVED_ACTIONS.join(', ')}), not ${JSON.stringify(Object.keys(body))}`,
      );
    }
    const mv = c.get('microversion');
    switch (action) {
      case 'os-start':
        await servers.start(ctx, id, call);
        return c.body(null, 202);
      case 'os-stop':
        await servers.stop(ctx, id, call);
        return c.body(null, 202);
      case 'reboot': {
        const type = member(body, 'reboot').type;
        if (type !== 'SOFT' && type !== 'HARD' && type !== 'soft' && type !== 'hard') {
          throw invalidField('reboot.type', type, "The reboot type must be 'SOFT' or 'HARD'");
        }
        await servers.reboot(ctx, id, type.toUpperCase() as RebootType, call);
        return c.body(null, 202);
      }
      case 'rebuild': {
        const imageRef = member(body, 'rebuild').imageRef;
        if (typeof imageRef !== 'string' || imageRef === '') {
          throw invalidField('rebuild.imageRef', imageRef, 'An image id is required');
        }
        const server = await servers.rebuild(ctx, id, imageRef, call);
        return c.json({ server: serverView(c, server, mv, ctx) }, 202);
      }
      case 'resize': {
        const flavorRef = member(body, 'resize').flavorRef;
        if ((typeof flavorRef !== 'string' || flavorRef === '') && typeof flavorRef !== 'number') {
          throw invalidField('resize.flavorRef', flavorRef, 'A flavor id is required');
        }
        await servers.resize(ctx, id, String(flavorRef), call);
        return c.body(null, 202);
      }
      case 'confirmResize':
        await servers.confirmResize(ctx, id, call);
        return c.body(null, 204);
      case 'revertResize':
        await servers.revertResize(ctx, id, call);
        return c.body(null, 202);
      default:
        return serverExtraAction(c, deps, ctx, id, action, body, SERVED_ACTIONS);
    }
  });

  // vpmu extension: whether notifications reach their transport, and how many were dropped.
  app.get('/v2.1/vpmu/notifier', (c) => {
    requireAdmin(caller(c), 'vpmu:notifier:show');
    return c.json({ notifier: { ...deps.notifierStats() } });
  });
}

function links(c: Context<ApiEnv>, server: ServerRecord): { rel: string; href: string }[] {
  return [
    { rel: 'self', href: `${origin(c)}/compute/v2.1/servers/${server.id}` },
    { rel: 'bookmark', href: `${origin(c)}/compute/servers/${server.id}` },
  ];
}

/** Nova's server view by microversion: exactly Nova's keys. */
export function serverView(
  c: Context<ApiEnv>,
  server: ServerRecord,
  mv: Microversion,
  ctx: RequestContext,
): Record<string, unknown> {
  const base = origin(c);
  const flavor = atLeast(mv, 2, 47)
    ? {
        vcpus: server.flavor.vcpus,
        ram: server.flavor.memoryMiB,
        disk: server.flavor.diskGiB,
        ephemeral: server.flavor.ephemeralGiB,
        swap: server.flavor.swapMiB,
        original_name: server.flavor.name,
        extra_specs: server.flavor.extraSpecs,
      }
    : {
        id: server.flavor.id,
        links: [{ rel: 'bookmark', href: `${base}/compute/flavors/${server.flavor.id}` }],
      };
  const admin = isAdmin(ctx);
  const view: Record<string, unknown> = {
    id: server.id,
    name: server.name,
    status: server.status,
    tenant_id: server.projectId,
    user_id: server.userId,
    metadata: {},
    hostId:
      server.host === null
        ? ''
        : createHash('sha224')
            .update(server.projectId + server.host)
            .digest('hex'),
    image: {
      id: server.image.id,
      links: [{ rel: 'bookmark', href: `${base}/compute/images/${server.image.id}` }],
    },
    flavor,
    created: isoSeconds(server.createdAt),
    updated: isoSeconds(server.updatedAt),
    addresses: {},
    accessIPv4: '',
    accessIPv6: '',
    links: links(c, server),
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': 'nova',
    config_drive: '',
    key_name: null,
    // NOTE: Nova shows launched_at with microseconds and no zone.
    'OS-SRV-USG:launched_at':
      server.launchedAt === null ? null : server.launchedAt.replace(/Z$/u, '000'),
    'OS-SRV-USG:terminated_at': null,
    'OS-EXT-STS:task_state': server.taskState,
    'OS-EXT-STS:vm_state': server.vmState,
    'OS-EXT-STS:power_state': server.powerState,
    'os-extended-volumes:volumes_attached': [],
    ...(server.status === 'BUILD' || server.status === 'ACTIVE' ? { progress: 0 } : {}),
    ...(admin
      ? {
          'OS-EXT-SRV-ATTR:host': server.host,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': server.host,
          'OS-EXT-SRV-ATTR:instance_name': server.domainName,
        }
      : {}),
    ...(atLeast(mv, 2, 9) ? { locked: server.lock !== null } : {}),
    ...(atLeast(mv, 2, 19) ? { description: null } : {}),
    ...(atLeast(mv, 2, 26) ? { tags: [...server.tags] } : {}),
    ...(atLeast(mv, 2, 63) ? { trusted_image_certificates: null } : {}),
    ...(atLeast(mv, 2, 73) ? { locked_reason: server.lock?.reason ?? null } : {}),
    ...(server.status === 'ERROR' && server.fault !== null
      ? {
          fault: {
            code: server.fault.code,
            created: isoSeconds(server.fault.created),
            message: server.fault.message,
            ...(admin
              ? {
                  details: `${server.fault.details ?? server.fault.message} (vpmu error code ${server.fault.errorCode})`,
                }
              : {}),
          },
        }
      : {}),
  };
  return view;
}

/** 2.71: the group a server joined, in its show, update and rebuild bodies (not in lists). */
export function serverGroupsOf(server: ServerRecord, mv: Microversion): Record<string, unknown> {
  if (!atLeast(mv, 2, 71)) return {};
  return { server_groups: server.serverGroupId === undefined ? [] : [server.serverGroupId] };
}

/** The vPMU decision of a server: what was asked, what it resolved to, and what the guest got. */
function pmuView(server: ServerRecord): Record<string, unknown> {
  const pmu = server.pmu;
  return {
    requested: pmu?.requested ?? { flavor: null, image: null },
    resolved: pmu?.resolved ?? null,
    source: pmu?.source ?? null,
    effective: pmu?.effective ?? null,
    reason: pmu?.reason ?? null,
  };
}

/** What `X-Vpmu-Include` may ask to add to server views. */
const VPMU_INCLUDES = ['pmu', 'domain_xml'] as const;

/**
 * The vpmu keys a client asked for with `X-Vpmu-Include: pmu[,domain_xml]`, as a function of the
 * server. Nova's strict schemas allow no extra keys, so they are never sent unasked; an unknown
 * value is refused rather than ignored, and the domain XML is for admins only.
 */
function vpmuExtras(
  c: Context<ApiEnv>,
  ctx: RequestContext,
): (server: ServerRecord) => Record<string, unknown> {
  const header = c.req.header('X-Vpmu-Include');
  if (header === undefined) return () => ({});
  const asked = header
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  for (const value of asked) {
    if (!(VPMU_INCLUDES as readonly string[]).includes(value)) {
      throw new ComputeError(
        'request.invalid',
        `Invalid X-Vpmu-Include header: '${value}' is not one of ${VPMU_INCLUDES.join(', ')}`,
      );
    }
  }
  if (asked.includes('domain_xml')) requireAdmin(ctx, 'vpmu:servers:domain_xml');
  return (server) => ({
    ...(asked.includes('pmu') ? { 'vpmu:pmu': pmuView(server) } : {}),
    ...(asked.includes('domain_xml') ? { 'vpmu:domain_xml': server.domainXml } : {}),
  });
}

function isoSeconds(iso: string): string {
  return iso.replace(/\.\d+Z$/u, 'Z');
}

// NOTE: Nova's jsonschema message shape: "Invalid input for field/attribute <f>. Value: <v>. <why>".
function invalidField(field: string, value: unknown, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute ${field}. Value: ${typeof value === 'string' ? value : JSON.stringify(value ?? null)}. ${why}`,
  );
}

const SERVER_FIELDS = new Set([
  'name',
  'imageRef',
  'flavorRef',
  'networks',
  'min_count',
  'max_count',
  'return_reservation_id',
  'metadata',
  'description',
  'security_groups',
  'config_drive',
  'key_name',
  'availability_zone',
  'OS-DCF:diskConfig',
  'adminPass',
  'user_data',
]);

function parseNewServer(body: Record<string, unknown>): {
  name: string;
  flavorRef: string;
  imageRef: string;
} {
  for (const key of Object.keys(body)) {
    if (!SERVER_FIELDS.has(key)) {
      throw new ComputeError(
        'request.invalid',
        `Invalid input for field/attribute server. Value: ${JSON.stringify(body)}. Additional properties are not allowed ('${key}' was unexpected)`,
      );
    }
  }
  const { name, imageRef, flavorRef } = body;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) {
    throw invalidField('name', name, 'A server name of 1 to 255 characters is required');
  }
  if (typeof imageRef !== 'string' || imageRef === '') {
    throw invalidField(
      'imageRef',
      imageRef,
      `Server '${name}' needs imageRef, the id of an image (vpmu boots from images only)`,
    );
  }
  if ((typeof flavorRef !== 'string' || flavorRef === '') && typeof flavorRef !== 'number') {
    throw invalidField('flavorRef', flavorRef, `Server '${name}' needs flavorRef, a flavor id`);
  }
  for (const count of ['min_count', 'max_count'] as const) {
    const value = body[count];
    if (value !== undefined && value !== 1 && value !== '1') {
      throw invalidField(
        count,
        value,
        `Server '${name}': vpmu boots one server per request, so ${count} must be 1`,
      );
    }
  }
  return { name, imageRef, flavorRef: String(flavorRef) };
}
