/**
 * Compute API: availability zones and limits, with Nova's bodies
 * (nova/api/openstack/compute/availability_zone.py, limits.py and views/limits.py).
 *
 * - vpmu has one availability zone, `nova` (Nova's default_availability_zone), holding every
 *   enabled compute host; it is listed while at least one is enabled, as Nova lists a zone with
 *   an enabled nova-compute service.
 * - The limits are the project's quotas (./quotas.ts), the usage totals what the quotas count.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import { effectiveQuotas, isAdmin, quotaUsage, requireAdmin } from '../services/index.js';
import { caller } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast } from './microversion.js';

/** Nova's default_availability_zone: the zone of every vpmu host and server. */
export const AVAILABILITY_ZONE = 'nova';

/** Adds os-availability-zone and limits to the compute app (already behind the token check). */
export function addComputeInfoRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-availability-zone', async (c) => {
    // Nova's default policy: any project member or reader.
    caller(c);
    const available = (await deps.store.listComputeHosts()).some((h) => h.enabled);
    return c.json({
      availabilityZoneInfo: available
        ? [{ zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts: null }]
        : [],
    });
  });

  app.get('/v2.1/os-availability-zone/detail', async (c) => {
    requireAdmin(caller(c), 'os_compute_api:os-availability-zone:detail');
    // NOTE: Nova leaves disabled services out of the hosts, and a zone without an enabled
    // compute service out of the list.
    const enabled = (await deps.store.listComputeHosts()).filter((h) => h.enabled);
    if (enabled.length === 0) return c.json({ availabilityZoneInfo: [] });
    const hosts = Object.fromEntries(
      enabled.map((h) => [
        h.name,
        {
          'nova-compute': {
            // The compute service is this process: up while it answers.
            available: true,
            active: true,
            updated_at: novaTime(h.updatedAt),
          },
        },
      ]),
    );
    return c.json({
      availabilityZoneInfo: [
        { zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts },
      ],
    });
  });

  app.get('/v2.1/limits', async (c) => limits(c, deps));
}

/** Nova's datetime in API bodies: microseconds, no zone ("2026-11-29T23:20:26.123000"). */
function novaTime(iso: string): string {
  const [whole, fraction = ''] = iso.replace(/Z$/u, '').split('.');
  return `${whole ?? ''}.${fraction.padEnd(6, '0').slice(0, 6)}`;
}

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
