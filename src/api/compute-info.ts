/**
 * Compute API: availability zones and limits, with Nova's bodies
 * (nova/api/openstack/compute/availability_zone.py, limits.py and views/limits.py).
 *
 * - vpmu has one availability zone, `nova` (Nova's default_availability_zone), holding every
 *   enabled compute host; it is listed while at least one is enabled, as Nova lists a zone with
 *   an enabled nova-compute service.
 * - vpmu has no quotas yet: every quota maximum is -1 (unlimited), which is what the service
 *   enforces today; the usage totals are the project's servers in the store.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  isAdmin,
  KEYPAIRS_PER_USER,
  METADATA_ITEMS_LIMIT,
  requireAdmin,
} from '../services/index.js';
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
  const servers = (await deps.store.listServers({ projectId })).filter(
    (s) => s.vmState !== 'deleted',
  );
  const groups = await deps.store.listServerGroups(projectId);
  const used = {
    instances: servers.length,
    cores: servers.reduce((n, s) => n + s.flavor.vcpus, 0),
    ram: servers.reduce((n, s) => n + s.flavor.memoryMiB, 0),
  };
  // NOTE: Nova's views/limits.py filters these by microversion: floating IPs and security
  // groups go at 2.36, maxImageMeta at 2.39, the personality limits at 2.57.
  const before236 = !atLeast(mv, 2, 36);
  const absolute: Record<string, number> = {
    maxTotalRAMSize: -1,
    maxTotalInstances: -1,
    maxTotalCores: -1,
    // The limits vpmu enforces are shown; the others are unlimited (no quota API yet: issue 16).
    maxTotalKeypairs: KEYPAIRS_PER_USER,
    ...(before236 ? { maxTotalFloatingIps: -1 } : {}),
    maxServerMeta: METADATA_ITEMS_LIMIT,
    ...(atLeast(mv, 2, 39) ? {} : { maxImageMeta: -1 }),
    ...(atLeast(mv, 2, 57) ? {} : { maxPersonality: -1, maxPersonalitySize: -1 }),
    ...(before236 ? { maxSecurityGroups: -1, maxSecurityGroupRules: -1 } : {}),
    maxServerGroups: -1,
    maxServerGroupMembers: -1,
    totalRAMUsed: used.ram,
    totalCoresUsed: used.cores,
    totalInstancesUsed: used.instances,
    // vpmu has no floating IPs or security groups: none are in use.
    ...(before236 ? { totalFloatingIpsUsed: 0, totalSecurityGroupsUsed: 0 } : {}),
    totalServerGroupsUsed: groups.length,
  };
  return c.json({ limits: { rate: [], absolute } });
}
