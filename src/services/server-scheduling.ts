/**
 * Where a server goes: the scheduler's filters and weighers over the hosts this service drives,
 * then the scheduler hints and the server group's policy, then an atomic claim on the first
 * chosen host that still has room (a lost race tries the next).
 */
import { orThrow } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ActionContext } from '../notifications/index.js';
import type { ServerRecord } from '../ports/store.js';
import {
  buildRequestSpec,
  HostIndex,
  placeByHints,
  placeInGroup,
  placeInZone,
  type HostState,
} from '../scheduler/index.js';
import { DEFAULT_AVAILABILITY_ZONE, zonesByHost } from './aggregates.js';
import { stateOf } from './compute-services.js';
import { toFlavor } from './flavors.js';
import { orThrowIssue, resourcesOf, serverImageToImage } from './server-checks.js';
import { bootFilesOf } from './guest-data.js';
import { hostsThatCanRun } from './server-design.js';
import { notifySelectDestinations } from './server-events.js';
import type { ServerWork } from './server-work.js';

/** Where the scheduler put a server, and the claim holding its resources there. */
export interface Placement {
  readonly host: string;
  readonly claimId: string;
  /** The host's availability zone when it was chosen. */
  readonly zone: string;
}

const NOTHING_USED = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 } as const;

/**
 * A server moving off its host (cold migrate, evacuate): never back to `from`, only to `to` when
 * named, holding its resources under `claimId` next to its claim on `from`. `requireVpmuTrait`
 * keeps a vPMU promise (see server-migrate.ts): CUSTOM_HW_VPMU is required whatever the prefilter.
 */
export interface MoveRequest {
  readonly from: string;
  readonly to?: string | undefined;
  readonly claimId: string;
  readonly requireVpmuTrait: boolean;
}

/**
 * Picks hosts in weighed order and claims on the first that still has room. A move (`move`)
 * leaves out the host it comes from, claims under the move's own consumer id, and keeps to the
 * server's hints and group policy.
 */
export async function schedule(
  work: ServerWork,
  server: ServerRecord,
  context: ActionContext,
  move?: MoveRequest,
): Promise<Placement> {
  const { deps } = work;
  const resolution = {
    requested: server.pmu?.requested ?? { flavor: null, image: null },
    resolved: server.pmu?.resolved ?? null,
    source: server.pmu?.source ?? 'unset',
  } as Parameters<typeof buildRequestSpec>[2];
  const request = orThrow(
    buildRequestSpec(toFlavor(server.flavor), serverImageToImage(server.image), resolution, {
      vpmuPrefilter: deps.vpmuPrefilter || move?.requireVpmuTrait === true,
    }),
  );
  notifySelectDestinations(deps, 'start', server);
  const records = (await deps.store.listComputeHosts()).filter(
    (h) =>
      deps.computes.has(h.name) &&
      (move === undefined || (h.name !== move.from && (move.to ?? h.name) === h.name)),
  );
  const settings = new Map(records.map((h) => [h.name, work.settingsOf(h)]));
  const usage = await deps.store.usageByHost();
  const states: HostState[] = records.map((h) => ({
    name: h.name,
    enabled: h.enabled,
    // A compute service forced down or silent too long takes nothing, as Nova's ComputeFilter.
    down: stateOf(deps, h) === 'down',
    inventory: h.inventory,
    used: usage.get(h.name) ?? NOTHING_USED,
    traits: new Set(h.traits),
  }));
  const zones = zonesByHost(await deps.store.listAggregates());
  const zoneOf = (host: string) => zones.get(host) ?? DEFAULT_AVAILABILITY_ZONE;
  const selection = new HostIndex(states).select(request, { count: Math.max(states.length, 1) });
  // As in Nova, NoValidHost ends the selection without an end event.
  if (!selection.ok) throw orThrowIssue(selection.issues);
  const inZone = placeInZone(
    selection.value.hosts,
    {
      ...(server.requestedZone === undefined ? {} : { zone: server.requestedZone }),
      // A move keeps the zone but not the host the create forced (Nova resets force_hosts).
      ...(server.forcedHost === undefined || move !== undefined ? {} : { host: server.forcedHost }),
    },
    zoneOf,
  );
  if (!inZone.ok) throw orThrowIssue(inZone.issues);
  const runnable = hostsThatCanRun(
    {
      flavor: toFlavor(server.flavor),
      image: serverImageToImage(server.image),
      name: server.domainName,
      uuid: server.id,
      owner: { projectId: server.projectId, userId: server.userId },
      bootFiles: bootFilesOf(server, deps.imageFile),
    },
    inZone.value,
    (name) => settings.get(name),
  );
  if (!runnable.ok) throw orThrowIssue(runnable.issues);
  // A move keeps to the server's hints and group policy too, as Nova's scheduler does.
  const claimId = move?.claimId ?? server.id;
  const byHints = await hostsByHints(work, server, runnable.value);
  const groupId = server.serverGroupId;
  if (groupId === undefined) return claimFirst(work, server, byHints, context, zoneOf, claimId);
  // Members of one group are placed one at a time, so each sees where the others went: the
  // same queue as a server's actions, keyed by the group.
  return work.serial(`group:${groupId}`, async () => {
    const group = await deps.store.getServerGroup(groupId);
    if (group === undefined) return claimFirst(work, server, byHints, context, zoneOf, claimId);
    const others = new Set(group.members.filter((m) => m !== server.id));
    const membersPerHost = new Map<string, number>();
    for (const host of (await hostsOf(work, others)).values()) {
      membersPerHost.set(host, (membersPerHost.get(host) ?? 0) + 1);
    }
    const hosts = placeInGroup(byHints, {
      name: group.name,
      policy: group.policy,
      maxServerPerHost: group.maxServerPerHost,
      membersPerHost,
    });
    if (!hosts.ok) throw orThrowIssue(hosts.issues);
    return claimFirst(work, server, hosts.value, context, zoneOf, claimId);
  });
}

/** The hosts the `same_host` / `different_host` hints allow, where the named servers run now. */
async function hostsByHints(
  work: ServerWork,
  server: ServerRecord,
  hosts: readonly HostState[],
): Promise<HostState[]> {
  const hints = server.hostHints;
  if (hints === undefined) return [...hosts];
  const named = new Set([...(hints.sameHost ?? []), ...(hints.differentHost ?? [])]);
  const where = await hostsOf(work, named);
  const hostsOfIds = (ids: readonly string[]) => new Set(ids.flatMap((id) => where.get(id) ?? []));
  const placed = placeByHints(hosts, {
    ...(hints.sameHost === undefined ? {} : { sameHost: hostsOfIds(hints.sameHost) }),
    ...(hints.differentHost === undefined
      ? {}
      : { differentHost: hostsOfIds(hints.differentHost) }),
  });
  if (!placed.ok) throw orThrowIssue(placed.issues);
  return placed.value;
}

/** The host each of these servers holds its claim on (a server with no claim is absent). */
async function hostsOf(
  work: ServerWork,
  serverIds: ReadonlySet<string>,
): Promise<Map<string, string>> {
  const where = new Map<string, string>();
  if (serverIds.size === 0) return where;
  for (const a of await work.deps.store.listAllocations()) {
    if (serverIds.has(a.consumerId)) where.set(a.consumerId, a.host);
  }
  return where;
}

/** Claims on the first of the chosen hosts that still has room; the end of a selection. */
async function claimFirst(
  work: ServerWork,
  server: ServerRecord,
  hosts: readonly HostState[],
  context: ActionContext,
  zoneOf: (host: string) => string,
  claimId: string = server.id,
): Promise<Placement> {
  const { deps } = work;
  notifySelectDestinations(deps, 'end', server);
  for (const host of hosts) {
    if (
      await deps.store.claim({
        consumerId: claimId,
        host: host.name,
        resources: resourcesOf(server.flavor),
      })
    ) {
      return { host: host.name, claimId, zone: zoneOf(host.name) };
    }
    deps.log.info(
      { server: server.id, host: host.name, requestId: context.requestId },
      'claim lost a race; trying the next host',
    );
  }
  throw new ComputeError(
    'scheduler.no_valid_host',
    `No valid host was found. Every host that passed the filters (${hosts.map((h) => h.name).join(', ')}) was filled by concurrent claims before server ${server.id} could claim ${server.flavor.vcpus} VCPU, ${server.flavor.memoryMiB} MB RAM and ${server.flavor.diskGiB} GB disk.`,
  );
}
