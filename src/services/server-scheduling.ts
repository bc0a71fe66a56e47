/**
 * Where a server goes: the scheduler's filters and weighers over the hosts this service drives,
 * then the scheduler hints and the server group's policy, then an atomic claim on the first
 * chosen host that still has room (a lost race tries the next).
 */
import { orThrow, type Result } from '../domain/index.js';
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
  type RequestSpec,
} from '../scheduler/index.js';
import type { HostView } from './host-cache.js';
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

/** The best hosts a first look takes; when none of them will do, each next look takes 8x more. */
const FIRST_LOOK = 16;
const LOOK_GROWTH = 8;

/**
 * Picks hosts in weighed order and claims on the first that still has room. A move (`move`)
 * leaves out the host it comes from, claims under the move's own consumer id, and keeps to the
 * server's hints and group policy. The hosts come from this process's cached index, brought up
 * to date by what changed in the store since the last decision. `avoid`: hosts left out (those a
 * build already failed on).
 */
export async function schedule(
  work: ServerWork,
  server: ServerRecord,
  context: ActionContext,
  move?: MoveRequest,
  avoid: ReadonlySet<string> = new Set(),
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
  const excluded = new Set(avoid);
  if (move !== undefined && move.to === undefined) excluded.add(move.from);
  const look = new Look(work, server, request, move, excluded, await work.hosts.current());
  const claimId = move?.claimId ?? server.id;
  const groupId = server.serverGroupId;
  if (groupId === undefined) return claimLazily(work, server, context, look, claimId);
  // A group's placement needs every host that passed, in order (a soft policy reorders them).
  const passed = await look.filter(look.select(Infinity).hosts);
  if (!passed.ok) throw orThrowIssue(passed.issues);
  const byHints = passed.value;
  const zoneOf = look.zoneOf;
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

/**
 * One decision's view of the hosts: the index's best hosts for the request, then the filters that
 * follow it (zone, design, hints), which keep the weighed order and judge each host alone, so the
 * best `count` hosts filtered are the first of every host filtered.
 */
class Look {
  readonly #work: ServerWork;
  readonly #server: ServerRecord;
  readonly #request: RequestSpec;
  readonly #move: MoveRequest | undefined;
  readonly #excluded: ReadonlySet<string>;
  #view: HostView;
  #index: HostIndex;
  #where: Map<string, string> | undefined;

  constructor(
    work: ServerWork,
    server: ServerRecord,
    request: RequestSpec,
    move: MoveRequest | undefined,
    excluded: ReadonlySet<string>,
    view: HostView,
  ) {
    this.#work = work;
    this.#server = server;
    this.#request = request;
    this.#move = move;
    this.#excluded = excluded;
    this.#view = view;
    this.#index = this.#indexOf(view);
  }

  readonly zoneOf = (host: string): string => this.#view.zoneOf(host);

  /** After a lost claim: the hosts as the store has them now. */
  async refresh(): Promise<void> {
    this.#view = await this.#work.hosts.current();
    this.#index = this.#indexOf(this.#view);
  }

  /** The best `count` hosts that pass the index's filters; `complete` when that is all of them. */
  select(count: number): { hosts: readonly HostState[]; complete: boolean } {
    const size = Math.max(this.#index.size, 1);
    const wanted = Math.min(count, size);
    const selection = this.#index.select(this.#request, {
      count: wanted,
      excluded: this.#excluded,
    });
    // As in Nova, NoValidHost ends the selection without an end event.
    if (!selection.ok) throw orThrowIssue(selection.issues);
    return {
      hosts: selection.value.hosts,
      complete: wanted >= size || selection.value.hosts.length < wanted,
    };
  }

  /** The zone, design and hint filters, in that order, keeping the weighed order. */
  async filter(hosts: readonly HostState[]): Promise<Result<HostState[]>> {
    const server = this.#server;
    const inZone = placeInZone(
      hosts,
      {
        ...(server.requestedZone === undefined ? {} : { zone: server.requestedZone }),
        // A move keeps the zone but not the host the create forced (Nova resets force_hosts).
        ...(server.forcedHost === undefined || this.#move !== undefined
          ? {}
          : { host: server.forcedHost }),
      },
      this.zoneOf,
    );
    if (!inZone.ok) return inZone;
    const view = this.#view;
    const runnable = hostsThatCanRun(
      {
        flavor: toFlavor(server.flavor),
        image: serverImageToImage(server.image),
        name: server.domainName,
        uuid: server.id,
        owner: { projectId: server.projectId, userId: server.userId },
        bootFiles: bootFilesOf(server, this.#work.deps.imageFile),
      },
      inZone.value,
      (name) => {
        const record = view.record(name);
        return record === undefined ? undefined : this.#work.settingsOf(record);
      },
    );
    if (!runnable.ok) return runnable;
    // A move keeps to the server's hints too, as Nova's scheduler does.
    const hints = server.hostHints;
    if (hints === undefined) return runnable;
    this.#where ??= await hostsOf(
      this.#work,
      new Set([...(hints.sameHost ?? []), ...(hints.differentHost ?? [])]),
    );
    return byHints(runnable.value, hints, this.#where);
  }

  /** The index this decision chooses from: a move goes only to its target when it names one. */
  #indexOf(view: HostView): HostIndex {
    const move = this.#move;
    if (move?.to === undefined) return view.index;
    const target = move.to === move.from ? undefined : view.index.get(move.to);
    return new HostIndex(target === undefined ? [] : [target]);
  }
}

/**
 * Claims on the best host that still has room, looking at the few best hosts first and at more
 * only when none of those passes the filters or has room: the same host, or the same refusal, as
 * looking at every host at once.
 */
async function claimLazily(
  work: ServerWork,
  server: ServerRecord,
  context: ActionContext,
  look: Look,
  claimId: string,
): Promise<Placement> {
  const { deps } = work;
  const tried = new Set<string>();
  let ended = false;
  for (let count = FIRST_LOOK; ; count *= LOOK_GROWTH) {
    const { hosts, complete } = look.select(count);
    const passed = await look.filter(hosts);
    if (!passed.ok) {
      if (complete) throw orThrowIssue(passed.issues);
      continue;
    }
    if (!ended) {
      notifySelectDestinations(deps, 'end', server);
      ended = true;
    }
    let lost = false;
    for (const host of passed.value) {
      if (tried.has(host.name)) continue;
      tried.add(host.name);
      if (await claimOn(work, server, host, claimId)) {
        return { host: host.name, claimId, zone: look.zoneOf(host.name) };
      }
      logLost(work, server, host, context);
      lost = true;
    }
    if (complete) throw filledMeanwhile(server, passed.value);
    // Other decisions claimed what this one saw free: look again at the hosts as they are now.
    if (lost) await look.refresh();
  }
}

/** The hosts the `same_host` / `different_host` hints allow, given where the named servers run. */
function byHints(
  hosts: readonly HostState[],
  hints: NonNullable<ServerRecord['hostHints']>,
  where: ReadonlyMap<string, string>,
): Result<HostState[]> {
  const hostsOfIds = (ids: readonly string[]) => new Set(ids.flatMap((id) => where.get(id) ?? []));
  return placeByHints(hosts, {
    ...(hints.sameHost === undefined ? {} : { sameHost: hostsOfIds(hints.sameHost) }),
    ...(hints.differentHost === undefined
      ? {}
      : { differentHost: hostsOfIds(hints.differentHost) }),
  });
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
  notifySelectDestinations(work.deps, 'end', server);
  for (const host of hosts) {
    if (await claimOn(work, server, host, claimId)) {
      return { host: host.name, claimId, zone: zoneOf(host.name) };
    }
    logLost(work, server, host, context);
  }
  throw filledMeanwhile(server, hosts);
}

function claimOn(
  work: ServerWork,
  server: ServerRecord,
  host: HostState,
  claimId: string,
): Promise<boolean> {
  return work.deps.store.claim({
    consumerId: claimId,
    host: host.name,
    resources: resourcesOf(server.flavor),
  });
}

function logLost(
  work: ServerWork,
  server: ServerRecord,
  host: HostState,
  context: ActionContext,
): void {
  work.deps.log.info(
    { server: server.id, host: host.name, requestId: context.requestId },
    'claim lost a race; trying the next host',
  );
}

function filledMeanwhile(server: ServerRecord, hosts: readonly HostState[]): ComputeError {
  return new ComputeError(
    'scheduler.no_valid_host',
    `No valid host was found. Every host that passed the filters (${hosts.map((h) => h.name).join(', ')}) was filled by concurrent claims before server ${server.id} could claim ${server.flavor.vcpus} VCPU, ${server.flavor.memoryMiB} MB RAM and ${server.flavor.diskGiB} GB disk.`,
  );
}
