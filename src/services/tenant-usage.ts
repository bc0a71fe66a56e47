/**
 * Usage per project over a period (Nova's os-simple-tenant-usage), from the server records: a
 * server counts from its launch to the end of the period (or its deletion), with its flavor's
 * vCPUs, RAM and disk. Policy (Nova's defaults): every project's usage for admins; one project's
 * for its members and readers.
 *
 * vpmu forgets a server when it is deleted, so deleted servers are not counted (Nova counts them
 * up to their deletion): see docs/compatibility.md.
 */
import type { ServerRecord, Store } from '../ports/store.js';
import { requireAdmin, type RequestContext } from './identity.js';

/** One server's usage in the period (Nova's server_usages item). */
export interface ServerUsage {
  readonly instanceId: string;
  readonly name: string;
  readonly tenantId: string;
  readonly flavor: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** The flavor's root and ephemeral disks, GiB. */
  readonly localGiB: number;
  /** Hours of the period the server ran. */
  readonly hours: number;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly state: string;
  /** Seconds since launch. */
  readonly uptime: number;
}

/** One project's usage in the period. */
export interface TenantUsage {
  readonly tenantId: string;
  readonly start: Date;
  readonly stop: Date;
  readonly totalHours: number;
  readonly totalVcpusUsage: number;
  readonly totalMemoryMbUsage: number;
  readonly totalLocalGbUsage: number;
  readonly servers: readonly ServerUsage[];
}

/** The period and page of a usage request. */
export interface UsageQuery {
  readonly start: Date;
  readonly stop: Date;
  readonly now: Date;
  /** Servers after this one (by launch order) only; undefined from the first. */
  readonly marker?: string;
  readonly limit?: number;
}

/** The servers a page covers, in Nova's order (created, then id), and the projects' usage. */
export interface UsagePage {
  readonly usages: TenantUsage[];
  /** The last server of a full page, for the `next` link; undefined when the page is not full. */
  readonly lastServerId: string | undefined;
}

/** Every project's usage (admins only). */
export async function listTenantUsage(
  store: Store,
  ctx: RequestContext,
  query: UsageQuery,
): Promise<UsagePage | 'marker-not-found'> {
  requireAdmin(ctx, 'os_compute_api:os-simple-tenant-usage:list');
  return usagePage(await store.listServers(), query);
}

/** One project's usage: its own members and readers, or admins. */
export async function showTenantUsage(
  store: Store,
  ctx: RequestContext,
  tenantId: string,
  query: UsageQuery,
): Promise<UsagePage | 'marker-not-found'> {
  if (tenantId !== ctx.projectId) requireAdmin(ctx, 'os_compute_api:os-simple-tenant-usage:show');
  return usagePage(await store.listServers({ projectId: tenantId }), query);
}

function usagePage(all: ServerRecord[], query: UsageQuery): UsagePage | 'marker-not-found' {
  // NOTE: Nova's get_active_by_window_joined: launched before the period's end, not gone before its start.
  let servers = all.filter(
    (s) =>
      s.vmState !== 'deleted' &&
      s.launchedAt !== null &&
      Date.parse(s.launchedAt) < query.stop.getTime(),
  );
  if (query.marker !== undefined) {
    const at = servers.findIndex((s) => s.id === query.marker);
    if (at < 0) return 'marker-not-found';
    servers = servers.slice(at + 1);
  }
  if (query.limit !== undefined) servers = servers.slice(0, query.limit);
  const byTenant = new Map<string, ServerUsage[]>();
  for (const s of servers) {
    const usage = serverUsage(s, query);
    const list = byTenant.get(s.projectId) ?? [];
    list.push(usage);
    byTenant.set(s.projectId, list);
  }
  const usages = [...byTenant.entries()].map(([tenantId, list]) => ({
    tenantId,
    start: query.start,
    stop: query.stop,
    totalHours: sum(list, (u) => u.hours),
    totalVcpusUsage: sum(list, (u) => u.vcpus * u.hours),
    totalMemoryMbUsage: sum(list, (u) => u.memoryMiB * u.hours),
    totalLocalGbUsage: sum(list, (u) => u.localGiB * u.hours),
    servers: list,
  }));
  const full = query.limit !== undefined && query.limit > 0 && servers.length === query.limit;
  return { usages, lastServerId: full ? servers.at(-1)?.id : undefined };
}

function serverUsage(s: ServerRecord, query: UsageQuery): ServerUsage {
  const launched = Date.parse(s.launchedAt ?? s.createdAt);
  const from = Math.max(launched, query.start.getTime());
  const to = query.stop.getTime();
  return {
    instanceId: s.id,
    name: s.name,
    tenantId: s.projectId,
    flavor: s.flavor.name,
    vcpus: s.flavor.vcpus,
    memoryMiB: s.flavor.memoryMiB,
    localGiB: s.flavor.diskGiB + s.flavor.ephemeralGiB,
    hours: Math.max(0, to - from) / 3_600_000,
    startedAt: new Date(launched).toISOString(),
    endedAt: null,
    state: s.vmState,
    uptime: Math.trunc((query.now.getTime() - launched) / 1000),
  };
}

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  return items.reduce((n, item) => n + f(item), 0);
}
