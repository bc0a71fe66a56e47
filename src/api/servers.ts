/**
 * Compute API: servers, server actions and os-hypervisors (a Nova v2.1 subset). Request bodies
 * follow nova/api/openstack/compute/schemas/servers.py; the views follow
 * nova/api/openstack/compute/views/servers.py and hypervisors.py. The vPMU decision is shown as
 * the extension attribute `vpmu:pmu` (documented in docs/api.md).
 */
import { createHash } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  isAdmin,
  MAX_LIST_LIMIT,
  requireAdmin,
  type ComputeHostRecord,
  type RebootType,
  type RequestContext,
  type ServerRecord,
} from '../services/index.js';
import { caller, member, origin, readJsonObject } from './_http.js';
import { limitParam as lastLimit, nextHref, pageIsFull, queryParams } from './_query.js';
import { parseServerListQuery } from './server-query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Adds the server and hypervisor routes to the compute app (already behind the token check). */
export function addServerRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const servers = deps.servers;
  const list = async (c: Context<ApiEnv>, detail: boolean) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
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
        detail ? serverView(c, s, mv, ctx) : { id: s.id, name: s.name, links: links(c, s) },
      ),
      ...(next.length > 0 ? { servers_links: next } : {}),
    });
  };
  app.get('/v2.1/servers', (c) => list(c, false));
  app.get('/v2.1/servers/detail', (c) => list(c, true));

  app.post('/v2.1/servers', async (c) => {
    const body = member(await readJsonObject(c, 'object with "server"'), 'server');
    const server = await servers.create(caller(c), parseNewServer(body), {
      requestId: c.get('requestId'),
    });
    c.header('Location', `${origin(c)}/compute/v2.1/servers/${server.id}`);
    return c.json(
      { server: { id: server.id, links: links(c, server), 'OS-DCF:diskConfig': 'MANUAL' } },
      202,
    );
  });

  app.get('/v2.1/servers/:id', async (c) => {
    const ctx = caller(c);
    const server = await servers.show(ctx, c.req.param('id'));
    return c.json({ server: serverView(c, server, c.get('microversion'), ctx) });
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
        `Cannot act on server ${id}: the body must name exactly one action (os-start, os-stop, reboot, rebuild, resize, confirmResize, revertResize), not ${JSON.stringify(Object.keys(body))}`,
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
        throw new ComputeError(
          'request.invalid',
          `Cannot act on server ${id}: unknown action '${action}'; vpmu serves os-start, os-stop, reboot, rebuild, resize, confirmResize and revertResize`,
        );
    }
  });

  const hypervisors = async (c: Context<ApiEnv>, detail: boolean) => {
    requireAdmin(caller(c), 'os_compute_api:os-hypervisors:list');
    const hosts = await deps.store.listComputeHosts();
    const allocations = await deps.store.listAllocations();
    const all = await deps.store.listServers();
    return c.json({
      hypervisors: hosts.map((h, i) =>
        detail
          ? hypervisorView(h, i, allocations, all)
          : {
              id: i + 1,
              hypervisor_hostname: h.name,
              state: 'up',
              status: h.enabled ? 'enabled' : 'disabled',
            },
      ),
    });
  };
  // vpmu extension: whether notifications reach their transport, and how many were dropped.
  app.get('/v2.1/vpmu/notifier', (c) => {
    requireAdmin(caller(c), 'vpmu:notifier:show');
    return c.json({ notifier: { ...deps.notifierStats() } });
  });
  app.get('/v2.1/os-hypervisors', (c) => hypervisors(c, false));
  app.get('/v2.1/os-hypervisors/detail', (c) => hypervisors(c, true));
  app.get('/v2.1/os-hypervisors/:id', async (c) => {
    requireAdmin(caller(c), 'os_compute_api:os-hypervisors:show');
    const key = c.req.param('id');
    const hosts = await deps.store.listComputeHosts();
    const index = hosts.findIndex((h, i) => String(i + 1) === key || h.name === key);
    const host = hosts[index];
    if (host === undefined) {
      throw new ComputeError('hypervisor.host_not_found', `Hypervisor ${key} could not be found.`);
    }
    return c.json({
      hypervisor: hypervisorView(
        host,
        index,
        await deps.store.listAllocations(),
        await deps.store.listServers(),
      ),
    });
  });
}

function links(c: Context<ApiEnv>, server: ServerRecord): { rel: string; href: string }[] {
  return [
    { rel: 'self', href: `${origin(c)}/compute/v2.1/servers/${server.id}` },
    { rel: 'bookmark', href: `${origin(c)}/compute/servers/${server.id}` },
  ];
}

/** Nova's server view by microversion, plus `vpmu:pmu`. */
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
    ...(atLeast(mv, 2, 9) ? { locked: false } : {}),
    ...(atLeast(mv, 2, 19) ? { description: null } : {}),
    ...(atLeast(mv, 2, 26) ? { tags: [] } : {}),
    ...(atLeast(mv, 2, 63) ? { trusted_image_certificates: null } : {}),
    ...(atLeast(mv, 2, 73) ? { locked_reason: null } : {}),
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
    'vpmu:pmu':
      server.pmu === null
        ? null
        : {
            requested: server.pmu.requested,
            resolved: server.pmu.resolved,
            source: server.pmu.source,
            effective: server.pmu.effective,
            reason: server.pmu.reason,
          },
  };
  if (admin) view['vpmu:domain_xml'] = server.domainXml;
  return view;
}

function hypervisorView(
  host: ComputeHostRecord,
  index: number,
  allocations: readonly { host: string; resources: Record<string, number> }[],
  servers: readonly ServerRecord[],
): Record<string, unknown> {
  const used = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
  for (const a of allocations) {
    if (a.host !== host.name) continue;
    used.VCPU += a.resources.VCPU ?? 0;
    used.MEMORY_MB += a.resources.MEMORY_MB ?? 0;
    used.DISK_GB += a.resources.DISK_GB ?? 0;
  }
  const capacity = (rc: 'VCPU' | 'MEMORY_MB' | 'DISK_GB') => {
    const inv = host.inventory[rc];
    return (inv.total - inv.reserved) * inv.allocationRatio;
  };
  return {
    id: index + 1,
    hypervisor_hostname: host.name,
    hypervisor_type: host.hypervisorType,
    hypervisor_version: host.hypervisorVersion,
    host_ip: host.hostIp,
    service: { host: host.name, id: index + 1, disabled_reason: null },
    state: 'up',
    status: host.enabled ? 'enabled' : 'disabled',
    vcpus: host.inventory.VCPU.total,
    vcpus_used: used.VCPU,
    memory_mb: host.inventory.MEMORY_MB.total,
    memory_mb_used: used.MEMORY_MB,
    local_gb: host.inventory.DISK_GB.total,
    local_gb_used: used.DISK_GB,
    free_ram_mb: capacity('MEMORY_MB') - used.MEMORY_MB,
    free_disk_gb: capacity('DISK_GB') - used.DISK_GB,
    running_vms: servers.filter((s) => s.host === host.name && s.powerState === 1).length,
    current_workload: 0,
    disk_available_least: capacity('DISK_GB') - used.DISK_GB,
    cpu_info: host.cpuInfo,
    'vpmu:uri': host.hypervisorUri,
    'vpmu:traits': host.traits,
    'vpmu:inventory': host.inventory,
  };
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
