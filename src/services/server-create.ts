/**
 * Server create: everything is checked first — a conflict or a bad value is a 400 and records
 * nothing — then each server is recorded (BUILD) and built in the background, at most
 * maxConcurrentBuilds at once: schedule, claim, spawn on the host's agent, ACTIVE. A failure
 * after the record leaves the server in ERROR with a fault, its claim released and no guest.
 */
import { POWER_STATE, serverStatus } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import { RpcTimeout } from '../ports/rpc.js';
import type { ActionContext } from '../notifications/index.js';
import type {
  FlavorRecord,
  HostHintRecord,
  ImageRecord,
  InstanceActionRecord,
  ServerPmu,
  ServerRecord,
} from '../ports/store.js';
import { resolveZoneRequest, type ZoneRequest } from './aggregates.js';
import { toFlavor } from './flavors.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';
import { toImage } from './images.js';
import {
  actionContext,
  checkImageFits,
  faultOf,
  invalidGroup,
  invalidHostHint,
  lookupFlavor,
  lookupImage,
  toServerImage,
  type CallInfo,
} from './server-checks.js';
import {
  checkMetadataQuota,
  checkServerGroupMembersQuota,
  checkServerQuota,
  withQuotaLock,
} from './quotas.js';
import { computeEventOf, newAction, type RecordedAction } from './server-instance-actions.js';
import { schedule, type Placement } from './server-scheduling.js';
import type { ServerFields, ServerWork } from './server-work.js';
import { Slots } from './slots.js';
import { resolveGuestData, type GuestDataFields, type GuestDataRequest } from './guest-data.js';

/** A create request, shape-checked by the API. */
export interface NewServer extends ServerFields, GuestDataRequest {
  readonly name: string;
  readonly flavorRef: string;
  readonly imageRef: string;
  /** `os:scheduler_hints.group`: the server group the server joins. */
  readonly serverGroupId?: string;
  /** `os:scheduler_hints.same_host` / `different_host`: servers to run beside or away from. */
  readonly hostHints?: HostHintRecord;
  /** `availability_zone`: `zone`, or `zone:host` / `zone::node` (admins) to force a host. */
  readonly availabilityZone?: string;
  /** Server tags given at create (2.52). */
  readonly tags?: readonly string[];
  /** Multiple create (Nova's min_count/max_count). @default 1 and 1 */
  readonly minCount?: number;
  readonly maxCount?: number;
}

/**
 * A recorded build handed to the process that runs it: the server, who asked (the context's
 * request id is its create action's), where a multiple create already placed it (or why it could
 * not), and the create's adminPass, which is never stored.
 */
export interface BuildOrder {
  readonly serverId: string;
  readonly context: ActionContext;
  readonly placement?:
    | { readonly host: string; readonly claimId: string; readonly zone: string }
    | { readonly failure: string };
  readonly adminPass?: string;
  /** The create action as recorded with the server, so the build need not read it back. */
  readonly action?: InstanceActionRecord;
}

/** Creates servers and runs their builds. */
export class ServerCreation {
  readonly #work: ServerWork;
  readonly #buildSlots: Slots;
  /** Builds waiting for a slot: nothing of them exists yet beyond the record. */
  readonly #queued = new Set<string>();

  constructor(work: ServerWork) {
    this.#work = work;
    this.#buildSlots = new Slots(work.deps.maxConcurrentBuilds ?? 10);
  }

  /**
   * Forgets a build still waiting for its slot, so the server can go at once (it has no host,
   * claim or guest yet); false when its build has started or is not queued here.
   */
  cancelQueued(id: string): boolean {
    return this.#queued.delete(id);
  }

  /**
   * Nova's multiple create: max_count servers (min_count 1 and max_count 1 unless asked) sharing
   * one reservation id, named `<name>-<n>` (Nova's default multi_instance_display_name_template
   * `%(name)s-%(count)d`, n from 1) when more than one. Everything is checked before anything is
   * recorded; then each server is scheduled and built on its own.
   */
  async createMany(
    ctx: RequestContext,
    input: NewServer,
    call: CallInfo = {},
  ): Promise<{ servers: ServerRecord[]; reservationId: string }> {
    requireWriter(ctx, 'create a server');
    // The quota check and the records it allows are one step (./quotas.ts).
    return withQuotaLock(this.#work.deps.store, ctx.projectId, () =>
      this.#createMany(ctx, input, call),
    );
  }

  async #createMany(
    ctx: RequestContext,
    input: NewServer,
    call: CallInfo,
  ): Promise<{ servers: ServerRecord[]; reservationId: string }> {
    const { deps } = this.#work;
    const flavorRecord = await lookupFlavor(deps, ctx, input.flavorRef);
    const imageRecord = await lookupImage(deps, ctx, input.imageRef);
    if (input.serverGroupId !== undefined) {
      const group = await deps.store.getServerGroup(input.serverGroupId);
      if (group === undefined || (group.projectId !== ctx.projectId && !isAdmin(ctx))) {
        throw invalidGroup(input.serverGroupId, input.name);
      }
    }
    const { sameHost = [], differentHost = [] } = input.hostHints ?? {};
    for (const [hint, ids] of [
      ['same_host', sameHost],
      ['different_host', differentHost],
    ] as const) {
      for (const other of ids) {
        const known = await deps.store.getServer(other);
        if (known === undefined || (known.projectId !== ctx.projectId && !isAdmin(ctx))) {
          throw invalidHostHint(hint, other, input.name);
        }
      }
    }
    const zone =
      input.availabilityZone === undefined
        ? {}
        : await resolveZoneRequest(deps.store, ctx, input.availabilityZone);
    checkImageFits(flavorRecord, toServerImage(imageRecord));
    await checkMetadataQuota(deps.store, ctx, input.metadata ?? {});
    const guestData = await resolveGuestData(deps, ctx, input, imageRecord);
    const maxCount = input.maxCount ?? input.minCount ?? 1;
    if (input.serverGroupId !== undefined) {
      await checkServerGroupMembersQuota(deps.store, ctx, input.serverGroupId, maxCount);
    }
    const count = await checkServerQuota(
      deps.store,
      ctx,
      flavorRecord,
      input.minCount ?? 1,
      maxCount,
    );
    const ids = Array.from({ length: count }, () => deps.ids.newUuid());
    const [firstId = ''] = ids;
    const pmu = await this.#work.precheck(
      toFlavor(flavorRecord),
      toImage(imageRecord),
      firstId,
      `instance-${firstId}`,
      ctx,
      guestData,
    );
    // Nova's reservation ids are `r-` and 8 random characters: the first server's uuid's last 8.
    const reservationId = `r-${(ids[0] ?? '').slice(-8)}`;
    const servers: ServerRecord[] = [];
    for (const [index, id] of ids.entries()) {
      servers.push(
        this.#newRecord(ctx, { ...input, ...zone }, flavorRecord, imageRecord, pmu, guestData, {
          id,
          name: count > 1 ? `${input.name}-${index + 1}` : input.name,
          reservationId,
          launchIndex: index,
        }),
      );
    }
    // Members join their group before any is placed, so each placement sees the others.
    if (input.serverGroupId !== undefined) {
      for (const id of ids) {
        if (!(await deps.store.addServerGroupMember(input.serverGroupId, id))) {
          // The group went away since it was looked up: nothing of the request exists.
          throw invalidGroup(input.serverGroupId, input.name);
        }
      }
    }
    const context = actionContext(ctx, call);
    const placements = count > 1 ? await this.#scheduleAll(servers, context) : undefined;
    for (const [index, server] of servers.entries()) {
      const placed = placements?.[index];
      const record =
        placed === undefined || placed instanceof Error
          ? server
          : { ...server, claimId: placed.claimId };
      // The server and its create action in one write.
      const recorded = newAction(deps, record, context, 'create');
      await deps.store.createServer(record, recorded.current);
      if (deps.dispatchBuild === undefined) {
        this.#work.track(
          server.id,
          this.#build(record, context, recorded, placed, input.adminPass),
        );
        continue;
      }
      await this.#dispatch(deps.dispatchBuild, record, {
        serverId: record.id,
        context: { ...context, requestId: recorded.requestId },
        action: recorded.current,
        ...(placed === undefined
          ? {}
          : {
              placement:
                placed instanceof Error
                  ? { failure: placed.message }
                  : { host: placed.host, claimId: placed.claimId, zone: placed.zone },
            }),
        ...(input.adminPass === undefined ? {} : { adminPass: input.adminPass }),
      });
    }
    return { servers, reservationId };
  }

  /** Hands the build over; when it cannot go, the server fails as a build would (ERROR, fault). */
  async #dispatch(
    dispatchBuild: (order: BuildOrder) => Promise<void>,
    server: ServerRecord,
    order: BuildOrder,
  ): Promise<void> {
    try {
      await dispatchBuild(order);
    } catch (error) {
      this.#work.deps.log.error(
        { server: server.id, err: String(error) },
        'cannot hand the build to a conductor',
      );
      const failed = await this.#work.fail(server, error, 'create');
      this.#work.notify('create', 'error', failed, order.context, error);
    }
  }

  /**
   * Runs a build another process recorded and dispatched (`ServerDeps.dispatchBuild`): the
   * conductor's side of Nova's build_instances. A server deleted or placed since is left alone.
   */
  async runBuild(order: BuildOrder): Promise<void> {
    const { deps } = this.#work;
    const server = await deps.store.getServer(order.serverId);
    if (server?.status !== 'BUILD' || server.host !== null || server.taskState === 'deleting') {
      deps.log.info({ server: order.serverId }, 'build order: the server is no longer waiting');
      return;
    }
    deps.log.info({ server: server.id }, 'build order taken');
    // The order carries the action it was recorded with (older senders' orders do not).
    const action =
      order.action?.serverId === server.id &&
      order.action.requestId === order.context.requestId &&
      order.action.action === 'create'
        ? order.action
        : (await deps.store.listInstanceActions(server.id)).find(
            (a) => a.requestId === order.context.requestId && a.action === 'create',
          );
    const recorded =
      action === undefined
        ? await this.#work.record(server, order.context, 'create')
        : this.#work.recorded(action);
    const placed =
      order.placement === undefined
        ? undefined
        : 'failure' in order.placement
          ? new ComputeError('scheduler.no_valid_host', order.placement.failure)
          : order.placement;
    this.#work.track(
      server.id,
      this.#build(
        {
          ...server,
          ...(placed instanceof Error || placed === undefined ? {} : { claimId: placed.claimId }),
        },
        order.context,
        recorded,
        placed,
        order.adminPass,
      ),
    );
  }

  /**
   * A multiple create is placed all or nothing, as Nova's scheduler does: every server is claimed
   * before any is built, and when one cannot be, the claims made go back and every server of the
   * request fails with No valid host.
   */
  async #scheduleAll(
    servers: readonly ServerRecord[],
    context: ActionContext,
  ): Promise<(Placement | Error)[]> {
    const placed: Placement[] = [];
    try {
      for (const server of servers) placed.push(await schedule(this.#work, server, context));
      return placed;
    } catch (error) {
      for (const p of placed) await this.#work.deps.store.releaseClaim(p.claimId);
      const why = error instanceof Error ? error.message : String(error);
      const failure = new ComputeError(
        'scheduler.no_valid_host',
        `No valid host was found. There are not enough hosts available for all ${servers.length} servers of the request (Nova places a multiple create all or nothing): ${why}`,
      );
      return servers.map(() => failure);
    }
  }

  #newRecord(
    ctx: RequestContext,
    input: NewServer & ZoneRequest,
    flavorRecord: FlavorRecord,
    imageRecord: ImageRecord,
    pmu: ServerPmu,
    guestData: GuestDataFields,
    slot: { id: string; name: string; reservationId: string; launchIndex: number },
  ): ServerRecord {
    const { id } = slot;
    const domainName = `instance-${id}`;
    const now = this.#work.now();
    return {
      id,
      name: slot.name,
      projectId: ctx.projectId,
      userId: ctx.userId,
      flavor: flavorRecord,
      image: toServerImage(imageRecord),
      host: null,
      domainName,
      status: serverStatus('building', 'scheduling'),
      vmState: 'building',
      taskState: 'scheduling',
      powerState: POWER_STATE.NOSTATE,
      fault: null,
      pmu,
      claimId: null,
      resize: null,
      domainXml: null,
      createdAt: now,
      updatedAt: now,
      launchedAt: null,
      ...(input.serverGroupId === undefined ? {} : { serverGroupId: input.serverGroupId }),
      ...(input.hostHints === undefined ? {} : { hostHints: input.hostHints }),
      ...(input.zone === undefined
        ? {}
        : { availabilityZone: input.zone, requestedZone: input.zone }),
      ...(input.host === undefined ? {} : { forcedHost: input.host }),
      lock: null,
      tags: [...(input.tags ?? [])],
      metadata: { ...(input.metadata ?? {}) },
      accessIPv4: input.accessIPv4 ?? '',
      accessIPv6: input.accessIPv6 ?? '',
      description: input.description ?? null,
      diskConfig: input.diskConfig ?? 'MANUAL',
      reservationId: slot.reservationId,
      launchIndex: slot.launchIndex,
      ...guestData,
    };
  }

  async #build(
    server: ServerRecord,
    context: ActionContext,
    recorded: RecordedAction,
    placed: Placement | Error | undefined,
    adminPass: string | undefined,
  ): Promise<void> {
    this.#queued.add(server.id);
    const release = await this.#buildSlots.acquire();
    try {
      if (!this.#queued.delete(server.id)) return; // deleted while it waited
      await this.#buildInSlot(server, context, recorded, placed, adminPass);
    } finally {
      release();
    }
  }

  async #buildInSlot(
    server: ServerRecord,
    context: ActionContext,
    recorded: RecordedAction,
    preplaced: Placement | Error | undefined,
    adminPass: string | undefined,
  ): Promise<void> {
    const work = this.#work;
    const maxAttempts = work.deps.schedulerMaxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    work.notify('create', 'start', server, context);
    let current = server;
    // The hosts a build failed on: a reschedule leaves them out, as Nova's alternates do.
    const failedOn = new Set<string>();
    let lastFailure: unknown;
    for (let attempt = 1; ; attempt++) {
      let placed: Placement | undefined;
      try {
        // Nova's two steps: the conductor places the server, the compute host builds it.
        placed = await recorded.event(
          'conductor_schedule_and_build_instances',
          () => null,
          async () => {
            if (attempt === 1 && preplaced !== undefined) {
              if (preplaced instanceof Error) throw preplaced;
              return preplaced;
            }
            return schedule(work, current, context, undefined, failedOn).catch((error: unknown) => {
              if (attempt === 1 || !isNoValidHost(error)) throw error;
              // No other host can take it: the build's own failure says the most.
              throw attempt === 2
                ? lastFailure
                : maxRetries(
                    current,
                    `Exhausted all hosts available for retrying build failures for instance ${current.id}.`,
                    lastFailure,
                  );
            });
          },
          // Fewer writes, the same records: the schedule's end is written with the compute
          // step's start, and the compute step's end with the ACTIVE save.
          { finishLater: true },
        );
        current = await work.save(current, {
          host: placed.host,
          claimId: placed.claimId,
          availabilityZone: placed.zone,
          taskState: 'spawning',
        });
        current = await recorded.event(
          computeEventOf('create'),
          () => placed?.host ?? null,
          async (along) => {
            const agent = work.agentOf(current);
            if (agent === undefined)
              throw new TypeError(`no agent for host ${String(placed?.host)}`);
            return work.save(
              current,
              await work.spawn(agent, current, adminPass === undefined ? {} : { adminPass }),
              along,
            );
          },
        );
        work.notify('create', 'end', current, context);
        return;
      } catch (error) {
        // A schedule that ended well before a failed save is recorded as before.
        await recorded.flush();
        if (placed !== undefined && current.claimId !== placed.claimId) {
          // The save that was to record the claim failed: release it here, or it leaks.
          await work.deps.store.releaseClaim(placed.claimId).catch((releaseError: unknown) => {
            work.deps.log.error(
              { server: server.id, claim: placed?.claimId, err: String(releaseError) },
              'cannot release the claim of a failed build; the claim sweep will',
            );
          });
        }
        const agent = work.agentOf(current);
        if (agent !== undefined) await work.removeAfterFailure(agent, current);
        let failure = error;
        if (placed !== undefined && reschedulable(current, error)) {
          if (attempt < maxAttempts) {
            const retried = await this.#reschedule(current, placed.host, error).catch(
              (saveError: unknown) => {
                work.deps.log.error(
                  { server: server.id, err: String(saveError) },
                  'cannot record a reschedule',
                );
                return undefined;
              },
            );
            if (retried !== undefined) {
              failedOn.add(placed.host);
              lastFailure = error;
              current = retried;
              continue;
            }
          } else if (maxAttempts > 1) {
            failure = maxRetries(
              current,
              `Exceeded max scheduling attempts ${maxAttempts} for instance ${current.id}.`,
              error,
            );
          }
        }
        // A build no other host could take ends on the host it last failed on, as one that was
        // never rescheduled: an admin sees where, and a hard reboot or rebuild tries there again.
        const lastHost = [...failedOn].at(-1);
        if (placed === undefined && lastHost !== undefined) {
          current = await work.save(current, { host: lastHost }).catch((saveError: unknown) => {
            work.deps.log.error(
              { server: server.id, err: String(saveError) },
              'cannot record the host a build failed on',
            );
            return current;
          });
        }
        const failed = await work.fail(current, failure, 'create').catch((saveError: unknown) => {
          work.deps.log.error(
            { server: server.id, err: String(saveError) },
            'cannot record the failure of a build',
          );
          return current;
        });
        work.notify('create', 'error', failed, context, failure);
        return;
      }
    }
  }

  /** A build failed on `host`: its claim goes back and the server waits for another host. */
  async #reschedule(server: ServerRecord, host: string, error: unknown): Promise<ServerRecord> {
    const work = this.#work;
    work.deps.log.warn(
      { server: server.id, host, err: error instanceof Error ? error.message : String(error) },
      'build failed on a host; rescheduling to another',
    );
    await work.releaseAll(server);
    return work.save(server, {
      host: null,
      claimId: null,
      taskState: 'scheduling',
    });
  }
}

/** Nova's [scheduler] max_attempts default: a build is tried on at most three hosts. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * Whether a build that failed on its host may go to another, as Nova's RescheduledException: not
 * for a host named by the request (Nova keeps no alternates for a forced host), not when the host
 * may still be building (no answer in time), not for image data, which every host reads alike,
 * and not when the server changed or was deleted meanwhile.
 */
function reschedulable(server: ServerRecord, error: unknown): boolean {
  if (server.forcedHost !== undefined) return false;
  if (error instanceof RpcTimeout) return false;
  // The server itself changed or went (server.*), or the request is one no host can run.
  return !(error instanceof ComputeError && /^(image|server|input)\./u.test(error.code));
}

function isNoValidHost(error: unknown): boolean {
  return error instanceof ComputeError && error.code === 'scheduler.no_valid_host';
}

/**
 * Nova's MaxRetriesExceeded (nova/conductor/manager.py, nova/scheduler/utils.py): why the build
 * stops being rescheduled, then the last host's failure as a tenant may see it; admins see its
 * cause in the fault's details.
 */
function maxRetries(server: ServerRecord, why: string, last: unknown): ComputeError {
  return new ComputeError(
    'scheduler.no_valid_host',
    // NOTE: Nova wording.
    `Exceeded maximum number of retries. ${why} Last exception: ${faultOf(last, server.id, 'create').message}`,
    { cause: last },
  );
}
