/**
 * Compute API: os-hypervisors, exactly as Nova answers it for each microversion
 * (nova/api/openstack/compute/hypervisors.py and its query schemas; Tempest's response schemas
 * in tempest/lib/api_schema/response/compute/v2_1, v2_28, v2_33 and v2_53 check the bodies):
 *
 * - 2.1: integer ids; `cpu_info` is the JSON text; `/statistics`, `/{id}/uptime`,
 *   `/{pattern}/search` and `/{pattern}/servers`.
 * - 2.28: `cpu_info` is an object.
 * - 2.33: `limit` and `marker` paging with `hypervisors_links`.
 * - 2.53: ids (and service ids) are UUIDs, derived from the host name so they never change;
 *   `with_servers` and `hypervisor_hostname_pattern` replace `/search` and `/servers`, which
 *   answer 404; unknown query parameters are refused.
 * - 2.75: `with_servers` shows `servers: []` for a host without servers.
 * - 2.88: the detail drops the usage fields and shows `uptime`; `/statistics` and `/uptime` 404.
 *
 * Everything is admin-only (Nova's default policy).
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  hostUuid,
  requireAdmin,
  stateOf,
  type ComputeHostRecord,
  type ServerRecord,
} from '../services/index.js';
import { caller, origin } from './_http.js';
import { computeServiceDeps } from './compute-services.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Nova's api.max_limit: the most items one page holds. */
const MAX_LIMIT = 1000;

/** One compute host as the views need it: its record, its integer id and its UUIDs. */
interface Hypervisor {
  readonly host: ComputeHostRecord;
  /** 1-based position in name order: Nova's compute node id before 2.53. */
  readonly id: number;
  readonly uuid: string;
  readonly serviceUuid: string;
  /** Its compute service's state (serviceState: forced down, or its heartbeat too old). */
  readonly state: 'up' | 'down';
}

/** What the views read besides the hosts: claims and servers, once per request. */
interface Usage {
  readonly allocations: Awaited<ReturnType<ApiDeps['store']['listAllocations']>>;
  readonly servers: readonly ServerRecord[];
}

/** Adds the os-hypervisors routes to the compute app (already behind the token check). */
export function addHypervisorRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const hypervisors = async (): Promise<Hypervisor[]> =>
    (await deps.store.listComputeHosts()).map((host, i) => ({
      host,
      id: i + 1,
      uuid: hostUuid(host.name, 'compute-node'),
      serviceUuid: hostUuid(host.name, 'service'),
      state: stateOf(computeServiceDeps(deps), host),
    }));
  const usage = async (): Promise<Usage> => ({
    allocations: await deps.store.listAllocations(),
    servers: (await deps.store.listServers()).filter((s) => s.vmState !== 'deleted'),
  });
  const mvOf = (c: Context<ApiEnv>) => c.get('microversion');

  const list = async (c: Context<ApiEnv>, detail: boolean) => {
    requireAdmin(caller(c), `os_compute_api:os-hypervisors:${detail ? 'detail' : 'list'}`);
    const mv = mvOf(c);
    const query = c.req.queries();
    let withServers = false;
    let pattern: string | undefined;
    if (atLeast(mv, 2, 53)) {
      refuseUnknown(query, ['limit', 'marker', 'hypervisor_hostname_pattern', 'with_servers']);
      withServers = booleanQuery(query, 'with_servers') ?? false;
      pattern = lastOf(query, 'hypervisor_hostname_pattern');
    }
    let found = await hypervisors();
    let paged = false;
    if (pattern !== undefined) {
      // NOTE: Nova wording (hypervisors.py _get_hypervisors).
      if (query.limit !== undefined || query.marker !== undefined) {
        throw new ComputeError(
          'request.invalid',
          'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.',
        );
      }
      found = matching(found, pattern);
      if (found.length === 0) {
        throw new ComputeError(
          'hypervisor.host_not_found',
          `No hypervisor matching '${pattern}' could be found.`,
        );
      }
    } else if (atLeast(mv, 2, 33)) {
      paged = true;
      found = page(found, query, mv);
    }
    const used = withServers || detail ? await usage() : undefined;
    const uptimes = detail && atLeast(mv, 2, 88) ? await uptimesOf(deps, found) : undefined;
    const body: Record<string, unknown> = {
      hypervisors: found.map((h) =>
        view(h, mv, detail, used, withServers, uptimes?.get(h.host.name)),
      ),
    };
    if (paged) {
      const next = nextLink(c, found, mv, detail);
      if (next !== undefined) body.hypervisors_links = [next];
    }
    return c.json(body);
  };
  app.get('/v2.1/os-hypervisors', (c) => list(c, false));
  app.get('/v2.1/os-hypervisors/detail', (c) => list(c, true));

  app.get('/v2.1/os-hypervisors/statistics', async (c) => {
    const mv = mvOf(c);
    if (atLeast(mv, 2, 88)) throw versionNotFound();
    requireAdmin(caller(c), 'os_compute_api:os-hypervisors:statistics');
    // Nova sums the compute nodes whose nova-compute service is enabled.
    const enabled = (await hypervisors()).filter((h) => h.host.enabled);
    const used = await usage();
    const totals = {
      count: enabled.length,
      vcpus: 0,
      memory_mb: 0,
      local_gb: 0,
      vcpus_used: 0,
      memory_mb_used: 0,
      local_gb_used: 0,
      free_ram_mb: 0,
      free_disk_gb: 0,
      current_workload: 0,
      running_vms: 0,
      disk_available_least: 0,
    };
    for (const h of enabled) {
      const fields = usageFields(h.host, used);
      for (const key of Object.keys(fields) as (keyof typeof fields)[]) totals[key] += fields[key];
    }
    return c.json({ hypervisor_statistics: totals });
  });

  app.get('/v2.1/os-hypervisors/:id', async (c) => {
    const mv = mvOf(c);
    requireAdmin(caller(c), 'os_compute_api:os-hypervisors:show');
    let withServers = false;
    if (atLeast(mv, 2, 53)) {
      const query = c.req.queries();
      refuseUnknown(query, ['with_servers']);
      withServers = booleanQuery(query, 'with_servers') ?? false;
    }
    const found = byId(await hypervisors(), c.req.param('id'), mv);
    const uptimes = atLeast(mv, 2, 88) ? await uptimesOf(deps, [found]) : undefined;
    return c.json({
      hypervisor: view(found, mv, true, await usage(), withServers, uptimes?.get(found.host.name)),
    });
  });

  app.get('/v2.1/os-hypervisors/:id/uptime', async (c) => {
    const mv = mvOf(c);
    if (atLeast(mv, 2, 88)) throw versionNotFound();
    requireAdmin(caller(c), 'os_compute_api:os-hypervisors:uptime');
    const found = byId(await hypervisors(), c.req.param('id'), mv);
    const uptime = await hostUptime(deps, found.host.name);
    return c.json({ hypervisor: { ...view(found, mv, false, undefined, false), uptime } });
  });

  const byPattern = (what: 'search' | 'servers') => async (c: Context<ApiEnv>) => {
    const mv = mvOf(c);
    if (atLeast(mv, 2, 53)) throw versionNotFound();
    requireAdmin(caller(c), `os_compute_api:os-hypervisors:${what}`);
    const pattern = c.req.param('id') ?? '';
    const found = matching(await hypervisors(), pattern);
    if (found.length === 0) {
      // NOTE: Nova wording (hypervisors.py _get_compute_nodes_by_name_pattern).
      throw new ComputeError(
        'hypervisor.host_not_found',
        `No hypervisor matching '${pattern}' could be found.`,
      );
    }
    const used = what === 'servers' ? await usage() : undefined;
    return c.json({
      hypervisors: found.map((h) => view(h, mv, false, used, what === 'servers')),
    });
  };
  app.get('/v2.1/os-hypervisors/:id/search', byPattern('search'));
  app.get('/v2.1/os-hypervisors/:id/servers', byPattern('servers'));
}

/**
 * The host's uptime as Nova's libvirt driver reports it: the compute host's `uptime` output.
 * A host without an agent in this service is Nova's 400 (the servers service throws it); a host
 * whose agent cannot tell, Nova's 501.
 */
async function hostUptime(deps: ApiDeps, host: string): Promise<string> {
  const uptime = await deps.servers.hostUptime(host);
  if (uptime === undefined) {
    // NOTE: Nova wording (nova/api/openstack/common.py raise_feature_not_supported).
    throw new ComputeError(
      'feature.not_supported',
      'The requested functionality is not supported.',
    );
  }
  return uptime;
}

/** The detail's `uptime` from 2.88: null where the host cannot say, as Nova shows it. */
async function uptimesOf(
  deps: ApiDeps,
  hosts: readonly Hypervisor[],
): Promise<Map<string, string | null>> {
  const entries = await Promise.all(
    hosts.map(async (h): Promise<[string, string | null]> => {
      try {
        return [h.host.name, (await deps.servers.hostUptime(h.host.name)) ?? null];
      } catch {
        return [h.host.name, null];
      }
    }),
  );
  return new Map(entries);
}

/** Nova's answer to a method its microversion does not have (VersionNotFoundForAPIMethod). */
function versionNotFound(): ComputeError {
  return new ComputeError('route.not_found', 'The resource could not be found.');
}

/** The hosts whose name matches `pattern` as SQL's LIKE '%pattern%' does (case-insensitive). */
function matching(all: readonly Hypervisor[], pattern: string): Hypervisor[] {
  const source = Array.from(pattern)
    .map((ch) =>
      ch === '%' ? '.*' : ch === '_' ? '.' : ch.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&'),
    )
    .join('');
  const re = new RegExp(source, 'iu');
  return all.filter((h) => re.test(h.host.name));
}

function byId(all: readonly Hypervisor[], id: string, mv: Microversion): Hypervisor {
  // NOTE: Nova wording (hypervisors.py _validate_id and show).
  if (atLeast(mv, 2, 53)) {
    if (!UUID.test(id)) throw new ComputeError('request.invalid', `Invalid uuid ${id}`);
  }
  const found = all.find((h) =>
    atLeast(mv, 2, 53) ? h.uuid === id.toLowerCase() : String(h.id) === id,
  );
  if (found === undefined) {
    throw new ComputeError(
      'hypervisor.host_not_found',
      `Hypervisor with ID '${id}' could not be found.`,
    );
  }
  return found;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/iu;

function lastOf(query: Record<string, string[]>, key: string): string | undefined {
  const values = query[key];
  return values === undefined ? undefined : values[values.length - 1];
}

// NOTE: Nova's query-schema message shape (nova/api/validation/validators.py).
function invalidQuery(key: string, value: string, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for query parameters ${key}. Value: ${value}. ${why}`,
  );
}

function refuseUnknown(query: Record<string, string[]>, allowed: readonly string[]): void {
  const extra = Object.keys(query).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for query parameters. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`,
    );
  }
}

const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];

/** Nova's parameter_types.boolean for a query parameter (oslo strutils, strict). */
function booleanQuery(query: Record<string, string[]>, key: string): boolean | undefined {
  const raw = lastOf(query, key);
  if (raw === undefined) return undefined;
  if (TRUE.includes(raw.toLowerCase())) return true;
  if (FALSE.includes(raw.toLowerCase())) return false;
  throw invalidQuery(key, raw, `'${raw}' is not one of the accepted boolean values`);
}

/** Nova's `limit` and `marker` paging over the hosts in id order (2.33 and later). */
function page(
  all: readonly Hypervisor[],
  query: Record<string, string[]>,
  mv: Microversion,
): Hypervisor[] {
  const rawLimit = lastOf(query, 'limit');
  let limit = MAX_LIMIT;
  if (rawLimit !== undefined) {
    if (!/^[0-9]*$/u.test(rawLimit) || rawLimit === '') {
      throw invalidQuery('limit', rawLimit, `'${rawLimit}' does not match '^[0-9]*$'`);
    }
    limit = Math.min(Number(rawLimit), MAX_LIMIT);
  }
  const marker = lastOf(query, 'marker');
  let start = 0;
  if (marker !== undefined) {
    if (atLeast(mv, 2, 53) && !UUID.test(marker)) {
      throw invalidQuery('marker', marker, `'${marker}' is not a 'uuid'`);
    }
    const at = all.findIndex((h) =>
      atLeast(mv, 2, 53) ? h.uuid === marker.toLowerCase() : String(h.id) === marker,
    );
    // NOTE: Nova wording (hypervisors.py _get_hypervisors, MarkerNotFound).
    if (at < 0) throw new ComputeError('request.invalid', `marker [${marker}] not found`);
    start = at + 1;
  }
  return all.slice(start, start + limit);
}

/** Nova's `next` link: a full page gets one, with the last id as the marker. */
function nextLink(
  c: Context<ApiEnv>,
  shown: readonly Hypervisor[],
  mv: Microversion,
  detail: boolean,
): { rel: string; href: string } | undefined {
  const rawLimit = c.req.query('limit');
  const limit = Math.min(rawLimit === undefined ? MAX_LIMIT : Number(rawLimit), MAX_LIMIT);
  const last = shown[shown.length - 1];
  if (limit === 0 || shown.length !== limit || last === undefined) return undefined;
  const params = new URLSearchParams();
  const given = new URL(c.req.url).searchParams;
  for (const key of [...new Set(given.keys())].sort()) {
    if (key !== 'marker') params.set(key, given.getAll(key).at(-1) ?? '');
  }
  params.set('marker', atLeast(mv, 2, 53) ? last.uuid : String(last.id));
  return {
    rel: 'next',
    href: `${origin(c)}/compute/v2.1/os-hypervisors${detail ? '/detail' : ''}?${params.toString()}`,
  };
}

/** The usage fields Nova's compute node shows (nova/compute/resource_tracker.py). */
function usageFields(host: ComputeHostRecord, used: Usage) {
  const held = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
  for (const a of used.allocations) {
    if (a.host !== host.name) continue;
    held.VCPU += a.resources.VCPU;
    held.MEMORY_MB += a.resources.MEMORY_MB;
    held.DISK_GB += a.resources.DISK_GB;
  }
  const { VCPU, MEMORY_MB, DISK_GB } = host.inventory;
  const on = used.servers.filter((s) => s.host === host.name);
  // NOTE: Nova counts the reserved memory and disk as used (the resource tracker starts
  // memory_mb_used at reserved_host_memory_mb), and free_* is total minus used.
  const memoryUsed = MEMORY_MB.reserved + held.MEMORY_MB;
  const diskUsed = DISK_GB.reserved + held.DISK_GB;
  return {
    vcpus: VCPU.total,
    memory_mb: MEMORY_MB.total,
    local_gb: DISK_GB.total,
    vcpus_used: held.VCPU,
    memory_mb_used: memoryUsed,
    local_gb_used: diskUsed,
    free_ram_mb: MEMORY_MB.total - memoryUsed,
    free_disk_gb: DISK_GB.total - diskUsed,
    // Nova's stats: building instances and those resizing or rebuilding.
    current_workload: on.filter(
      (s) =>
        s.vmState === 'building' || s.taskState === 'rebuilding' || s.taskState === 'resize_prep',
    ).length,
    running_vms: on.length,
    // NOTE: Nova's libvirt driver measures the free disk less what thin disks may still grow
    // to; vpmu's claims already hold each disk's full size, so what is left is free_disk_gb.
    disk_available_least: DISK_GB.total - diskUsed,
  };
}

/** Nova's _view_hypervisor. */
function view(
  h: Hypervisor,
  mv: Microversion,
  detail: boolean,
  used: Usage | undefined,
  withServers: boolean,
  uptime?: string | null,
): Record<string, unknown> {
  const uuids = atLeast(mv, 2, 53);
  const out: Record<string, unknown> = {
    id: uuids ? h.uuid : h.id,
    hypervisor_hostname: h.host.name,
    state: h.state,
    status: h.host.enabled ? 'enabled' : 'disabled',
  };
  if (detail) {
    out.hypervisor_type = h.host.hypervisorType;
    out.hypervisor_version = h.host.hypervisorVersion;
    out.host_ip = h.host.hostIp;
    out.service = {
      id: uuids ? h.serviceUuid : h.id,
      host: h.host.name,
      disabled_reason: h.host.disabledReason ?? null,
    };
    if (!atLeast(mv, 2, 88) && used !== undefined) Object.assign(out, usageFields(h.host, used));
    out.cpu_info = atLeast(mv, 2, 28) ? cpuInfoObject(h.host.cpuInfo) : h.host.cpuInfo;
    if (atLeast(mv, 2, 88)) out.uptime = uptime ?? null;
  }
  const servers = used?.servers.filter((s) => s.host === h.host.name) ?? [];
  if (servers.length > 0 && withServers) {
    out.servers = servers.map((s) => ({ name: s.domainName, uuid: s.id }));
  } else if (withServers && atLeast(mv, 2, 75)) {
    out.servers = [];
  }
  return out;
}

function cpuInfoObject(text: string): Record<string, unknown> {
  if (text === '') return {};
  const parsed: unknown = JSON.parse(text);
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : {};
}
