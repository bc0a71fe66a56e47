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
  MAX_LIST_LIMIT,
  requireAdmin,
  type RebootType,
  type RequestContext,
  type ServerRecord,
} from '../services/index.js';
import { caller, invalidField, member, origin, readJsonObject } from './_http.js';
import { parseSchedulerHints } from './server-groups.js';
import { limitParam as lastLimit, nextHref, pageIsFull, queryParams } from './_query.js';
import { parseServerListQuery } from './server-query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';
import { addServerExtraRoutes, EXTRA_ACTIONS, serverExtraAction } from './server-extras.js';
import { addServerMetadataRoutes } from './server-metadata.js';
import { consoleOutputAction } from './console-output.js';
import { addInstanceActionRoutes } from './instance-actions.js';
import { addMigrationRoutes, MIGRATE_ACTIONS, migrateAction } from './server-migrate.js';
import { parseCreateBackup, parseCreateImage } from './server-snapshot-fields.js';
import { parseUnshelve } from './server-shelve-fields.js';
import {
  AVAILABILITY_ZONE,
  parseNewServer,
  parseRebuild,
  parseResize,
  parseServerUpdate,
} from './server-fields.js';

/** Every server action vpmu serves: the ones below, then server-extras.ts's. */
const SERVED_ACTIONS: readonly string[] = [
  'os-start',
  'os-stop',
  'reboot',
  'rebuild',
  'resize',
  'confirmResize',
  'revertResize',
  'os-getConsoleOutput',
  'pause',
  'unpause',
  'suspend',
  'resume',
  'createImage',
  'createBackup',
  ...MIGRATE_ACTIONS,
  'shelve',
  'shelveOffload',
  'unshelve',
  ...EXTRA_ACTIONS,
];

/** Adds the server routes to the compute app (already behind the token check). */
export function addServerRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  addServerExtraRoutes(app, deps);
  addInstanceActionRoutes(app, deps);
  addMigrationRoutes(app, deps);
  const servers = deps.servers;
  const list = async (c: Context<ApiEnv>, detail: boolean) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
    const extras = vpmuExtras(c, ctx);
    const params = queryParams(c);
    const query = parseServerListQuery(params, mv, isAdmin(ctx));
    if (query.allTenants && !isAdmin(ctx)) {
      requireAdmin(ctx, `os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants`);
    }
    const found = await servers.list(ctx, query);
    const last = found.at(-1);
    const next =
      last !== undefined && pageIsFull(found.length, lastLimit(params), MAX_LIST_LIMIT)
        ? [
            {
              rel: 'next',
              href: nextHref(
                `${origin(c)}/compute/v2.1/servers${detail ? '/detail' : ''}`,
                params,
                last.id,
              ),
            },
          ]
        : [];
    return c.json({
      servers: found.map((s) =>
        detail
          ? { ...serverView(c, s, mv, ctx, 'list'), ...extras(s) }
          : { id: s.id, name: s.name, links: links(c, s) },
      ),
      ...(next.length > 0 ? { servers_links: next } : {}),
    });
  };
  app.get('/v2.1/servers', (c) => list(c, false));
  app.get('/v2.1/servers/detail', (c) => list(c, true));

  app.post('/v2.1/servers', async (c) => {
    const whole = await readJsonObject(c, 'object with "server"');
    // Refuses every top-level key but "server" and the scheduler hints.
    const hints = parseSchedulerHints(whole);
    const body = member(whole, 'server');
    const request = parseNewServer(body, c.get('microversion'));
    const { servers: created, reservationId } = await servers.createMany(
      caller(c),
      { ...request.server, ...hints },
      { requestId: c.get('requestId') },
    );
    if (request.returnReservationId) return c.json({ reservation_id: reservationId }, 202);
    const [server] = created;
    if (server === undefined) throw new TypeError('a create made no server');
    c.header('Location', `${origin(c)}/compute/v2.1/servers/${server.id}`);
    return c.json(
      {
        server: {
          id: server.id,
          links: links(c, server),
          'OS-DCF:diskConfig': server.diskConfig ?? 'MANUAL',
        },
      },
      202,
    );
  });

  app.put('/v2.1/servers/:id', async (c) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
    const body = member(await readJsonObject(c, 'object with "server"'), 'server');
    const server = await servers.update(ctx, c.req.param('id'), parseServerUpdate(body, mv));
    return c.json({ server: serverView(c, server, mv, ctx, 'update') });
  });

  addServerMetadataRoutes(app, deps);

  app.get('/v2.1/servers/:id', async (c) => {
    const ctx = caller(c);
    const extras = vpmuExtras(c, ctx);
    const server = await servers.show(ctx, c.req.param('id'));
    const mv = c.get('microversion');
    return c.json({
      server: {
        ...serverView(c, server, mv, ctx),
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
        const { imageRef, options } = parseRebuild(member(body, 'rebuild'), mv);
        const server = await servers.rebuild(ctx, id, imageRef, call, options);
        return c.json({ server: serverView(c, server, mv, ctx, 'rebuild') }, 202);
      }
      case 'resize': {
        const { flavorRef, diskConfig } = parseResize(member(body, 'resize'));
        await servers.resize(ctx, id, flavorRef, call);
        // Nova takes OS-DCF:diskConfig with a resize; the server keeps it once resized.
        if (diskConfig !== undefined) await servers.update(ctx, id, { diskConfig });
        return c.body(null, 202);
      }
      case 'confirmResize':
        await servers.confirmResize(ctx, id, call);
        return c.body(null, 204);
      case 'revertResize':
        await servers.revertResize(ctx, id, call);
        return c.body(null, 202);
      case 'os-getConsoleOutput':
        return consoleOutputAction(c, deps, ctx, id, body);
      // NOTE: Nova's pause, unpause, suspend and resume take any value (clients send null).
      case 'pause':
      case 'unpause':
      case 'suspend':
      case 'resume':
        await servers.hold(ctx, id, action, call);
        return c.body(null, 202);
      case 'createImage':
      case 'createBackup': {
        const request =
          action === 'createImage'
            ? parseCreateImage(body.createImage)
            : parseCreateBackup(body.createBackup);
        const image = await servers.createImage(ctx, id, request, deps, call);
        // Nova: a Location header naming the image before 2.45, a body with its id from 2.45.
        if (atLeast(mv, 2, 45)) return c.json({ image_id: image.id }, 202);
        c.header('Location', `${origin(c)}/image/v2/images/${image.id}`);
        return c.body(null, 202);
      }
      case 'migrate':
      case 'evacuate':
        return migrateAction(c, deps, ctx, id, action, body[action]);
      // NOTE: Nova's shelve and shelveOffload take any value (clients send null).
      case 'shelve':
        await servers.shelve(ctx, id, deps, call);
        return c.body(null, 202);
      case 'shelveOffload':
        await servers.shelveOffload(ctx, id, call);
        return c.body(null, 202);
      case 'unshelve':
        await servers.unshelve(ctx, id, parseUnshelve(body.unshelve, mv), call);
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

/**
 * Nova's server view by microversion: exactly Nova's keys. `update` and `rebuild` answer Nova's
 * smaller body before 2.75 (no OS-EXT-* attributes, no AZ, config drive, key name, volumes or
 * usage times; rebuild adds key_name from 2.54 and user_data from 2.57), the whole view from 2.75.
 */
export function serverView(
  c: Context<ApiEnv>,
  server: ServerRecord,
  mv: Microversion,
  ctx: RequestContext,
  kind: 'show' | 'list' | 'update' | 'rebuild' = 'show',
): Record<string, unknown> {
  const full = kind === 'show' || kind === 'list' || atLeast(mv, 2, 75);
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
    metadata: { ...(server.metadata ?? {}) },
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
    accessIPv4: server.accessIPv4 ?? '',
    accessIPv6: server.accessIPv6 ?? '',
    links: links(c, server),
    'OS-DCF:diskConfig': server.diskConfig ?? 'MANUAL',
    ...(full
      ? {
          'OS-EXT-AZ:availability_zone': server.availabilityZone ?? AVAILABILITY_ZONE,
          config_drive: server.configDrive === true ? 'True' : '',
          key_name: server.keypair?.name ?? null,
          // NOTE: Nova shows launched_at with microseconds and no zone.
          'OS-SRV-USG:launched_at':
            server.launchedAt === null ? null : server.launchedAt.replace(/Z$/u, '000'),
          'OS-SRV-USG:terminated_at': null,
          'OS-EXT-STS:task_state': server.taskState,
          'OS-EXT-STS:vm_state': server.vmState,
          'OS-EXT-STS:power_state': server.powerState,
          'os-extended-volumes:volumes_attached': [],
        }
      : {}),
    ...(kind === 'rebuild' && !full && atLeast(mv, 2, 54)
      ? { key_name: server.keypair?.name ?? null }
      : {}),
    ...(kind === 'rebuild' && atLeast(mv, 2, 57) ? { user_data: server.userData ?? null } : {}),
    ...(server.status === 'BUILD' || server.status === 'ACTIVE' ? { progress: 0 } : {}),
    ...(admin && full
      ? {
          'OS-EXT-SRV-ATTR:host': server.host,
          'OS-EXT-SRV-ATTR:hypervisor_hostname': server.host,
          'OS-EXT-SRV-ATTR:instance_name': server.domainName,
          ...(atLeast(mv, 2, 3)
            ? {
                'OS-EXT-SRV-ATTR:reservation_id': server.reservationId ?? '',
                'OS-EXT-SRV-ATTR:launch_index': server.launchIndex ?? 0,
                'OS-EXT-SRV-ATTR:hostname': hostnameOf(server.name),
                'OS-EXT-SRV-ATTR:kernel_id': server.bootImages?.kernel.id ?? '',
                'OS-EXT-SRV-ATTR:ramdisk_id': server.bootImages?.ramdisk?.id ?? '',
                'OS-EXT-SRV-ATTR:root_device_name': null,
                ...(kind === 'rebuild'
                  ? {}
                  : { 'OS-EXT-SRV-ATTR:user_data': server.userData ?? null }),
              }
            : {}),
        }
      : {}),
    ...(atLeast(mv, 2, 9) ? { locked: server.lock !== null } : {}),
    ...(atLeast(mv, 2, 19) ? { description: server.description ?? null } : {}),
    ...(atLeast(mv, 2, 26) ? { tags: [...server.tags] } : {}),
    ...(atLeast(mv, 2, 63) ? { trusted_image_certificates: null } : {}),
    ...(kind === 'list' ? {} : serverGroupsOf(server, mv)),
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
function serverGroupsOf(server: ServerRecord, mv: Microversion): Record<string, unknown> {
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

/** Nova's hostname from a display name (sanitize_hostname): lower case, [a-z0-9-], at most 63. */
function hostnameOf(name: string): string {
  const host = name
    .toLowerCase()
    .replace(/[ _]/gu, '-')
    .replace(/[^a-z0-9.-]/gu, '')
    .replace(/\.+/gu, '-')
    .replace(/^[.-]+|[.-]+$/gu, '')
    .slice(0, 63)
    .replace(/[.-]+$/u, '');
  return host === '' ? 'server' : host;
}

function isoSeconds(iso: string): string {
  return iso.replace(/\.\d+Z$/u, 'Z');
}
