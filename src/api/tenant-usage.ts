/**
 * Compute API: os-simple-tenant-usage, with Nova's bodies (nova/api/openstack/compute/
 * simple_tenant_usage.py): `start` and `end` (default now) in one of Nova's three datetime
 * formats, `detailed=1` for the server list in the index, `limit`/`marker` paging over servers
 * with `tenant_usages_links`/`tenant_usage_links` from 2.40, unknown parameters refused from 2.75.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  listTenantUsage,
  MAX_LIST_LIMIT,
  showTenantUsage,
  type TenantUsage,
  type UsagePage,
  type UsageQuery,
} from '../services/index.js';
import { caller, origin } from './_http.js';
import {
  lastValue,
  limitParam,
  nextHref,
  pageIsFull,
  queryParams,
  rejectUnknownParams,
  type QueryParams,
} from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast } from './microversion.js';

/** Adds os-simple-tenant-usage to the compute app (already behind the token check). */
export function addTenantUsageRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-simple-tenant-usage', async (c) => {
    // `os-simple-tenant-usage/` names an empty tenant id, which Nova does not route: a 404.
    if (new URL(c.req.url).pathname.endsWith('/')) {
      throw new ComputeError('route.not_found', 'The resource could not be found.');
    }
    const params = queryParams(c);
    const query = usageQuery(c, deps, params);
    const detailed = lastValue(params, 'detailed') === '1';
    const page = found(await listTenantUsage(deps.store, caller(c), query), query);
    const links = pageLinks(c, params, page, query, '/os-simple-tenant-usage');
    return c.json({
      tenant_usages: page.usages.map((u) => tenantUsageView(u, detailed)),
      ...(links === undefined ? {} : { tenant_usages_links: links }),
    });
  });

  app.get('/v2.1/os-simple-tenant-usage/:tenant', async (c) => {
    const params = queryParams(c);
    const query = usageQuery(c, deps, params);
    const tenant = c.req.param('tenant');
    const page = found(await showTenantUsage(deps.store, caller(c), tenant, query), query);
    const [usage] = page.usages;
    const links = pageLinks(c, params, page, query, `/os-simple-tenant-usage/${tenant}`);
    return c.json({
      tenant_usage: usage === undefined ? {} : tenantUsageView(usage, true),
      ...(links === undefined ? {} : { tenant_usage_links: links }),
    });
  });
}

function usageQuery(c: Context<ApiEnv>, deps: ApiDeps, params: QueryParams): UsageQuery {
  const mv = c.get('microversion');
  const paged = atLeast(mv, 2, 40);
  if (atLeast(mv, 2, 75)) {
    rejectUnknownParams(params, new Set(['start', 'end', 'detailed', 'limit', 'marker']));
  }
  const now = deps.clock.now();
  const start = parseTime(lastValue(params, 'start'), now);
  const stop = parseTime(lastValue(params, 'end'), now);
  const explicit = params.has('start') && params.has('end');
  if (start > stop || (explicit && start.getTime() === stop.getTime())) {
    // NOTE: Nova wording.
    throw new ComputeError(
      'request.invalid',
      'Invalid start time. The start time cannot occur after the end time.',
    );
  }
  const limit = paged ? limitParam(params) : undefined;
  const marker = paged ? lastValue(params, 'marker') : undefined;
  return {
    start,
    stop,
    now,
    ...(marker === undefined ? {} : { marker }),
    ...(paged ? { limit: Math.min(limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT) } : {}),
  };
}

function found(page: UsagePage | 'marker-not-found', query: UsageQuery): UsagePage {
  if (page === 'marker-not-found') {
    // NOTE: Nova wording (nova/exception.py MarkerNotFound).
    throw new ComputeError('request.invalid', `Marker ${query.marker ?? ''} could not be found.`);
  }
  return page;
}

function pageLinks(
  c: Context<ApiEnv>,
  params: QueryParams,
  page: UsagePage,
  query: UsageQuery,
  path: string,
): { rel: string; href: string }[] | undefined {
  if (query.limit === undefined || page.lastServerId === undefined) return undefined;
  const asked = limitParam(params);
  const count = page.usages.reduce((n, u) => n + u.servers.length, 0);
  if (!pageIsFull(count, asked, MAX_LIST_LIMIT)) return undefined;
  return [
    {
      rel: 'next',
      href: nextHref(`${origin(c)}/compute/v2.1${path}`, params, page.lastServerId),
    },
  ];
}

/** Nova's datetime formats: `YYYY-MM-DDTHH:MM:SS`, with `.ffffff`, or with a space and `.ffffff`. */
const TIME_FORMATS = [
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/u,
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,6})$/u,
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,6})$/u,
];

function parseTime(text: string | undefined, now: Date): Date {
  if (text === undefined || text === '') return now;
  for (const format of TIME_FORMATS) {
    const m = format.exec(text);
    if (m === null) continue;
    const [, y, mo, d, h, mi, s, frac = ''] = m.map((part) => part);
    const micros = Number(frac.padEnd(6, '0'));
    const date = new Date(
      Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)),
    );
    // A date that JavaScript rolled over (February 30th) is not a date Python accepts.
    if (
      date.getUTCDate() === Number(d) &&
      date.getUTCMonth() === Number(mo) - 1 &&
      Number(h) < 24 &&
      Number(mi) < 60 &&
      Number(s) < 60
    ) {
      return new Date(date.getTime() + Math.floor(micros / 1000));
    }
  }
  // NOTE: Nova wording (nova/exception.py InvalidStrTime).
  throw new ComputeError(
    'request.invalid',
    'Invalid datetime string: Datetime is in invalid format',
  );
}

/** Nova's datetime in these bodies: microseconds, no zone. */
function novaTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}.${String(date.getUTCMilliseconds() * 1000).padStart(6, '0')}`;
}

function tenantUsageView(u: TenantUsage, detailed: boolean): Record<string, unknown> {
  return {
    ...(detailed
      ? {
          server_usages: u.servers.map((s) => ({
            ended_at: s.endedAt === null ? null : novaTime(new Date(s.endedAt)),
            flavor: s.flavor,
            hours: s.hours,
            instance_id: s.instanceId,
            local_gb: s.localGiB,
            memory_mb: s.memoryMiB,
            name: s.name,
            started_at: novaTime(new Date(s.startedAt)),
            state: s.state,
            tenant_id: s.tenantId,
            uptime: s.uptime,
            vcpus: s.vcpus,
          })),
        }
      : {}),
    start: novaTime(u.start),
    stop: novaTime(u.stop),
    tenant_id: u.tenantId,
    total_hours: u.totalHours,
    total_local_gb_usage: u.totalLocalGbUsage,
    total_memory_mb_usage: u.totalMemoryMbUsage,
    total_vcpus_usage: u.totalVcpusUsage,
  };
}
