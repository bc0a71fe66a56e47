/**
 * shelve, shelveOffload and unshelve (Nova's os-shelve). Shelve powers the guest off and saves
 * its root disk as an image of the server's project, `<name>-shelved`, carrying the properties of
 * the image the server was built from (its `hw_pmu` among them) as createImage does; the server
 * is then SHELVED. Offload (at once when `shelvedOffloadTime` is 0, the default) removes the guest
 * and its instance directory from the host and releases the host's claim: SHELVED_OFFLOADED, on
 * no host. Unshelve powers a SHELVED server on again, or schedules an offloaded one anew (its
 * cores and ram counted against the quota again) and builds it from the shelve image; either way
 * the image is then deleted and the server is ACTIVE, with its own flavor and its vPMU decision
 * made again from the same inputs.
 */
import { POWER_STATE, type ServerStatus } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ActionContext } from '../notifications/index.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import type { ImageRecord, ServerRecord } from '../ports/store.js';
import { isAdmin, requireAdmin, requireWriter, type RequestContext } from './identity.js';
import { createImage, uploadImageData, type ImageDeps } from './images.js';
import { resolveZoneRequest } from './aggregates.js';
import { checkUnshelveQuota, withQuotaLock } from './quotas.js';
import { actionContext, invalidState, toServerImage, type CallInfo } from './server-checks.js';
import { computeEventOf } from './server-instance-actions.js';
import { refuseIfLocked } from './server-locks.js';
import { schedule, type Placement } from './server-scheduling.js';
import { snapshotProperties } from './server-snapshot.js';
import { RUNNING_STATE, type ServerWork } from './server-work.js';

/** What unshelve may ask for (checked by the API at its microversion). */
export interface UnshelveRequest {
  /** 2.77: the availability zone to unshelve into (vpmu has one); 2.91: null unpins it. */
  readonly availabilityZone?: string | null;
  /** 2.91, admin only: the compute host to unshelve on. */
  readonly host?: string;
}

/** The states Nova shelves a server in (check_instance_state of compute API shelve). */
const SHELVE_STATES: readonly ServerStatus[] = ['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'];
const UNSHELVE_STATES: readonly ServerStatus[] = ['SHELVED', 'SHELVED_OFFLOADED'];

/** The shelve actions of servers. */
export class ServerShelves {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /** shelve: image of the root disk, guest off, SHELVED; offloaded at once when so configured. */
  async shelve(
    ctx: RequestContext,
    id: string,
    images: ImageDeps,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'shelve',
      SHELVE_STATES,
      async (server, agent, context) => {
        const shelving = await work.save(server, { taskState: 'shelving' });
        work.notify('shelve', 'start', shelving, context);
        let image: ImageRecord | undefined;
        try {
          // A paused guest cannot answer a shutdown request: it is powered off at once.
          if (server.powerState !== POWER_STATE.SHUTDOWN) {
            const stopTimeoutMs = server.status === 'PAUSED' ? 0 : work.deps.stopTimeoutMs;
            await agent.power(server.id, 'off', { stopTimeoutMs });
          }
          await work.save(shelving, { taskState: 'shelving_image_pending_upload' });
          const { diskFormat, data } = await agent.snapshot(server.id);
          image = await createImage(images, ctx, {
            name: `${server.name}-shelved`,
            visibility: 'private',
            diskFormat,
            containerFormat: 'bare',
            minDiskGiB: Math.max(server.flavor.diskGiB, server.image.minDiskGiB ?? 0),
            minRamMiB: server.image.minRamMiB ?? 0,
            properties: snapshotProperties(server, ctx, { name: '', metadata: {} }),
            ...(server.projectId === ctx.projectId ? {} : { owner: server.projectId }),
          });
          await work.save(shelving, { taskState: 'shelving_image_uploading' });
          image = await uploadImageData(images, ctx, image.id, data);
        } catch (error) {
          // As Nova reverts: no half-made image, the guest as it was, no task.
          if (image !== undefined) await work.deleteShelvedImage(image.id);
          if (server.powerState === POWER_STATE.RUNNING) {
            await agent.power(server.id, 'on', work.stopOptions()).catch((undo: unknown) => {
              work.undoFailed(server, 'power on after a failed shelve', undo);
            });
          }
          // A paused guest was powered off and stays off: the record says so.
          const stopped = server.powerState === POWER_STATE.PAUSED;
          await work.save(shelving, {
            taskState: null,
            ...(stopped ? { vmState: 'stopped', powerState: POWER_STATE.SHUTDOWN } : {}),
          });
          throw error;
        }
        const shelved = await work.save(shelving, {
          vmState: 'shelved',
          taskState: null,
          powerState: POWER_STATE.SHUTDOWN,
          shelved: { imageId: image.id, at: work.now() },
        });
        work.notify('shelve', 'end', shelved, context);
        if ((work.deps.shelvedOffloadTime ?? 0) !== 0) return shelved;
        return this.#offload(shelved, agent, context);
      },
      call,
    );
  }

  /** shelveOffload: a SHELVED server's guest leaves its host, which keeps nothing for it. */
  async shelveOffload(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'shelveOffload',
      ['SHELVED'],
      async (server, agent, context) => this.#offload(server, agent, context),
      call,
    );
  }

  /**
   * The periodic offload (`shelvedOffloadTime` > 0): SHELVED servers shelved at least that long
   * ago are offloaded, each recorded as Nova's periodic task does (no request, the owner's
   * project). Returns the ids offloaded.
   */
  async offloadExpired(): Promise<string[]> {
    const work = this.#work;
    const seconds = work.deps.shelvedOffloadTime ?? 0;
    if (seconds <= 0) return [];
    const due = work.deps.clock.now().getTime() - seconds * 1000;
    const offloaded: string[] = [];
    for (const candidate of await work.deps.store.listServers({})) {
      const at = candidate.shelved?.at;
      if (candidate.status !== 'SHELVED' || at === undefined || Date.parse(at) > due) continue;
      try {
        await work.serial(candidate.id, async () => {
          const server = await work.get(candidate.id);
          const agent = work.agentOf(server);
          if (server.status !== 'SHELVED' || agent === undefined) return;
          const context = { requestId: null, userId: server.userId, projectId: server.projectId };
          const recorded = await work.record(server, context, 'shelveOffload');
          await recorded.event(
            computeEventOf('shelveOffload'),
            () => server.host,
            () => this.#offload(server, agent, context),
          );
          offloaded.push(server.id);
        });
      } catch (error) {
        work.deps.log.error(
          { server: candidate.id, err: String(error) },
          'cannot offload a shelved server; it stays SHELVED on its host',
        );
      }
    }
    return offloaded;
  }

  /** unshelve: ACTIVE again, on its host (SHELVED) or on a host chosen anew (offloaded). */
  async unshelve(
    ctx: RequestContext,
    id: string,
    request: UnshelveRequest,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const visible = await work.show(ctx, id);
    requireWriter(ctx, 'unshelve a server');
    if (request.host !== undefined && !isAdmin(ctx)) {
      requireAdmin(ctx, 'os_compute_api:os-shelve:unshelve_to_host');
    }
    refuseIfLocked(ctx, visible);
    if (
      request.host !== undefined &&
      (!work.deps.computes.has(request.host) ||
        (await work.deps.store.getComputeHost(request.host)) === undefined)
    ) {
      // NOTE: Nova wording (nova/exception.py ComputeHostNotFound).
      throw new ComputeError('request.invalid', `Compute host ${request.host} could not be found.`);
    }
    return work.serial(id, async () => {
      const server = await work.get(id);
      if (!UNSHELVE_STATES.includes(server.status) || server.shelved == null) {
        throw invalidState(server, 'unshelve');
      }
      const pinned = request.host !== undefined || typeof request.availabilityZone === 'string';
      if (server.status === 'SHELVED' && pinned) {
        // NOTE: Nova wording (nova/exception.py UnshelveInstanceInvalidState).
        throw new ComputeError(
          'server.invalid_state',
          `Specifying an availability zone or a host when unshelving server "${server.id}" with status "${server.status}" is not supported. The server status must be SHELVED_OFFLOADED.`,
        );
      }
      const context = actionContext(ctx, call);
      if (server.status === 'SHELVED') {
        const agent = work.agentOf(server);
        if (agent === undefined) throw invalidState(server, 'unshelve');
        const recorded = await work.record(server, context, 'unshelve');
        return recorded.event(
          computeEventOf('unshelve'),
          () => server.host,
          () => this.#powerOn(server, agent, context),
        );
      }
      // The quota check and the claim it allows are one step, as at create.
      const zone = await unshelveZone(work, ctx, request.availabilityZone);
      return withQuotaLock(work.deps.store, server.projectId, async () => {
        await checkUnshelveQuota(work.deps.store, server);
        const recorded = await work.record(server, context, 'unshelve');
        let host: string | null = null;
        return recorded.event(
          computeEventOf('unshelve'),
          () => host,
          () =>
            this.#buildAgain(zone(server), request.host, context, (chosen) => {
              host = chosen;
            }),
        );
      });
    });
  }

  /** The offload step: guest and instance directory gone, claim released, on no host. */
  async #offload(
    server: ServerRecord,
    agent: ComputeAgent,
    context: ActionContext,
  ): Promise<ServerRecord> {
    const work = this.#work;
    const offloading = await work.save(server, { taskState: 'shelving_offloading' });
    work.notify('shelve_offload', 'start', offloading, context);
    try {
      await agent.remove(server.id, { ...work.stopOptions(), graceful: false });
    } catch (error) {
      await work.save(offloading, { taskState: null });
      throw error;
    }
    await work.releaseAll(server);
    const done = await work.save(offloading, {
      vmState: 'shelved_offloaded',
      taskState: null,
      powerState: POWER_STATE.SHUTDOWN,
      host: null,
      claimId: null,
      domainXml: null,
    });
    work.notify('shelve_offload', 'end', done, context);
    return done;
  }

  /** Unshelve of a SHELVED server: its guest is still there, powered off; it starts again. */
  async #powerOn(
    server: ServerRecord,
    agent: ComputeAgent,
    context: ActionContext,
  ): Promise<ServerRecord> {
    const work = this.#work;
    const unshelving = await work.save(server, { taskState: 'unshelving' });
    work.notify('unshelve', 'start', unshelving, context);
    try {
      const started = await agent.power(server.id, 'on', work.stopOptions());
      const restored = started === 'done' ? {} : await work.defineAgain(agent, server);
      const done = await work.save(unshelving, { ...restored, ...RUNNING_STATE, shelved: null });
      await work.deleteShelvedImage(server.shelved?.imageId ?? '');
      work.notify('unshelve', 'end', done, context);
      return done;
    } catch (error) {
      await work.save(unshelving, { taskState: null });
      throw error;
    }
  }

  /**
   * Unshelve of an offloaded server: scheduled (or claimed on the host an admin named), built
   * from its shelve image with its own flavor, then recorded with the image it was built from
   * first, as Nova keeps the server's image_ref.
   */
  async #buildAgain(
    server: ServerRecord,
    onHost: string | undefined,
    context: ActionContext,
    placed: (host: string) => void,
  ): Promise<ServerRecord> {
    const work = this.#work;
    const { store } = work.deps;
    const imageId = server.shelved?.imageId ?? '';
    const image = await store.getImage(imageId);
    if (image?.status !== 'active') {
      throw new ComputeError(
        'image.not_found',
        `Cannot unshelve server ${server.id}: its shelve image ${imageId} is gone or not active`,
      );
    }
    const unshelving = await work.save(server, { taskState: 'unshelving' });
    work.notify('unshelve', 'start', unshelving, context);
    let placement: Placement | undefined;
    try {
      // A host an admin names (2.91) still passes every filter and the zone, as at create.
      placement = await schedule(
        work,
        onHost === undefined ? unshelving : { ...unshelving, forcedHost: onHost },
        context,
      );
      placed(placement.host);
      const agent = work.deps.computes.get(placement.host);
      if (agent === undefined) throw new TypeError(`no agent for host ${placement.host}`);
      const building: ServerRecord = {
        ...unshelving,
        host: placement.host,
        claimId: placement.claimId,
        image: toServerImage(image),
      };
      const built = await work.spawn(agent, building);
      const done = await work.save(unshelving, {
        ...built,
        host: placement.host,
        claimId: placement.claimId,
        availabilityZone: placement.zone,
        shelved: null,
        fault: null,
      });
      await work.deleteShelvedImage(imageId);
      work.notify('unshelve', 'end', done, context);
      return done;
    } catch (error) {
      // As Nova's conductor: the server stays offloaded, with nothing held, and may be tried again.
      if (placement !== undefined) {
        const agent = work.deps.computes.get(placement.host);
        // The build undoes itself, but not a failure after it (the save): no guest may stay.
        if (agent !== undefined) await work.removeAfterFailure(agent, unshelving);
        await store.releaseClaim(placement.claimId);
      }
      await work.save(unshelving, { taskState: null, host: null, claimId: null });
      throw error;
    }
  }
}

/**
 * The zone an offloaded server is scheduled in: unshelve's `availability_zone` (2.77; checked as
 * on create), null unpinning it (2.91), or the one it had.
 */
async function unshelveZone(
  work: ServerWork,
  ctx: RequestContext,
  requested: string | null | undefined,
): Promise<(server: ServerRecord) => ServerRecord> {
  if (requested === undefined) return (server) => server;
  const zone =
    requested === null
      ? undefined
      : (await resolveZoneRequest(work.deps.store, ctx, requested)).zone;
  return (server) => {
    const { requestedZone, ...rest } = server;
    return zone === undefined ? rest : { ...rest, requestedZone: zone };
  };
}
