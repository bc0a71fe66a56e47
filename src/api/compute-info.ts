/**
 * Compute API: availability zones and limits, with Nova's bodies
 * (nova/api/openstack/compute/availability_zone.py, limits.py and views/limits.py).
 *
 * - The zones are those of the compute hosts: a host aggregate's `availability_zone` puts its
 *   hosts in that zone, and a host in none is in `nova` (Nova's default_availability_zone). A
 *   zone with an enabled host is available, one whose hosts are all disabled is listed as not
 *   available, and a zone with no host is not listed, as in Nova. vpmu has no scheduler or
 *   conductor services of its own to list (os-services shows none), so detail shows no
 *   `internal` zone.
 * - The limits are the project's quotas (./quotas.ts), the usage totals what the quotas count.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  availabilityZones,
  DEFAULT_AVAILABILITY_ZONE,
  effectiveQuotas,
  isAdmin,
  quotaUsage,
  requireAdmin,
  stateOf,
} from '../services/index.js';
import { caller, novaTime } from './_http.js';
import { computeServiceDeps } from './compute-services.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast } from './microversion.js';

/** Nova's default_availability_zone: the zone of a host no aggregate puts in a zone. */
export const AVAILABILITY_ZONE = DEFAULT_AVAILABILITY_ZONE;

/** Adds os-availability-zone and limits to the compute app (already behind the token check). */
export function addComputeInfoRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-availability-zone', async (c) => {
    // Nova's default policy: any project member or reader.
    caller(c);
    const zones = await availabilityZones(deps.store);
    return c.json({
      availabilityZoneInfo: zones.map((z) => ({
        zoneName: z.name,
        zoneState: { available: z.available },
        hosts: null,
      })),
    });
  });

  app.get('/v2.1/os-availability-zone/detail', async (c) => {
    requireAdmin(caller(c), 'os_compute_api:os-availability-zone:detail');
    // NOTE: Nova leaves disabled services out of an available zone's hosts, and gives a zone
    // whose services are all disabled no hosts.
    const zones = await availabilityZones(deps.store);
    return c.json({
      availabilityZoneInfo: zones.map((z) => ({
        zoneName: z.name,
        zoneState: { available: z.available },
        hosts: z.available
          ? Object.fromEntries(
              z.hosts
                .filter((h) => h.enabled)
                .map((h) => [
                  h.name,
                  {
                    'nova-compute': {
                      // Up unless forced down or silent longer than service_down_time.
                      available: stateOf(computeServiceDeps(deps), h) === 'up',
                      active: true,
                      updated_at: novaTime(h.heartbeatAt ?? h.updatedAt),
                    },
                  },
                ]),
            )
          : null,
      })),
    });
  });

  app.get('/v2.1/limits', async (c) => limits(c, deps));
}

/** Nova's datetime in API bodies: microseconds, no zone ("2026-11-29T23:20:26.123000"). */

async function limits(c: Context<ApiEnv>, deps: ApiDeps) {
  const ctx = caller(c);
  const mv = c.get('microversion');
  const query = c.req.queries();
  if (atLeast(mv, 2, 75)) {
    const extra = Object.keys(query).filter((k) => k !== 'tenant_id' && k !== 'reserved');
    if (extra.length > 0) {
      throw new ComputeError(
        'request.invalid',
        `Invalid input for query parameters. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`,
      );
    }
  }
  let projectId = ctx.projectId;
  const tenant = query.tenant_id?.at(-1);
  if (tenant !== undefined) {
    if (!isAdmin(ctx)) requireAdmin(ctx, 'os_compute_api:limits:other_project');
    projectId = tenant;
  }
  const owner = { projectId };
  const quota = await effectiveQuotas(deps.store, owner);
  const used = await quotaUsage(deps.store, owner);
  // NOTE: Nova's views/limits.py filters these by microversion: floating IPs and security
  // groups go at 2.36, maxImageMeta at 2.39, the personality limits at 2.57.
  const before236 = !atLeast(mv, 2, 36);
  const absolute: Record<string, number> = {
    maxTotalRAMSize: quota.ram,
    maxTotalInstances: quota.instances,
    maxTotalCores: quota.cores,
    maxTotalKeypairs: quota.key_pairs,
    ...(before236 ? { maxTotalFloatingIps: quota.floating_ips } : {}),
    maxServerMeta: quota.metadata_items,
    ...(atLeast(mv, 2, 39) ? {} : { maxImageMeta: quota.metadata_items }),
    ...(atLeast(mv, 2, 57)
      ? {}
      : {
          maxPersonality: quota.injected_files,
          maxPersonalitySize: quota.injected_file_content_bytes,
        }),
    ...(before236
      ? {
          maxSecurityGroups: quota.security_groups,
          maxSecurityGroupRules: quota.security_group_rules,
        }
      : {}),
    maxServerGroups: quota.server_groups,
    maxServerGroupMembers: quota.server_group_members,
    totalRAMUsed: used.ram,
    totalCoresUsed: used.cores,
    totalInstancesUsed: used.instances,
    // vpmu has no floating IPs or security groups: none are in use.
    ...(before236 ? { totalFloatingIpsUsed: 0, totalSecurityGroupsUsed: 0 } : {}),
    totalServerGroupsUsed: used.server_groups,
  };
  return c.json({ limits: { rate: [], absolute } });
}
