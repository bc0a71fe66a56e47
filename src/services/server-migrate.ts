/**
 * Moving servers between hosts: cold migrate (a resize to the same flavor on another host, with
 * confirm and revert in server-resize.ts), evacuate (a rebuild elsewhere when the host is down),
 * the clean-up on a host that comes back, and the migration records os-migrations lists.
 *
 * The vPMU promise: a server whose vPMU resolved to on and that runs on a host with
 * CUSTOM_HW_VPMU moves only to hosts with that trait, whatever the operator's prefilter setting;
 * otherwise the move is refused (No valid host) naming the trait.
 */
import { POWER_STATE } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ActionContext } from '../notifications/index.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import type { MigrationRecord, MigrationType, ServerRecord } from '../ports/store.js';
import { VPMU_TRAIT } from '../scheduler/index.js';
import { requireAdmin, type RequestContext } from './identity.js';
import { toFlavorInput } from './notification-inputs.js';
import { toFlavor } from './flavors.js';
import { stateOf } from './compute-services.js';
import { buildFailed, type CallInfo } from './server-checks.js';
import { notifyEvacuate } from './server-events.js';
import { schedule, type MoveRequest, type Placement } from './server-scheduling.js';
import type { ServerWork } from './server-work.js';

const { RUNNING, SHUTDOWN } = POWER_STATE;

/** What an evacuate asks (the API has checked the body against its microversion). */
export interface EvacuateRequest {
  /** The destination; the scheduler picks one when absent. */
  readonly host?: string | undefined;
  /** Goes on the rebuilt guest's config drive (which it gets for it), as on rebuild. */
  readonly adminPass?: string | undefined;
}

/** Which migrations a listing shows (os-migrations' filters). */
export interface MigrationQuery {
  /** Either end of the move. */
  readonly host?: string | undefined;
  /** The host the server left. */
  readonly sourceCompute?: string | undefined;
  readonly status?: string | undefined;
  readonly serverId?: string | undefined;
  readonly migrationType?: MigrationType | undefined;
}

/** Records a migration of `server` off its host (the destination still unknown for a move). */
export async function startMigration(
  work: ServerWork,
  server: ServerRecord,
  type: MigrationType,
  fields: Pick<MigrationRecord, 'status' | 'newFlavorId' | 'destCompute' | 'sourceClaimId'>,
): Promise<MigrationRecord> {
  return work.deps.store.createMigration({
    uuid: work.deps.ids.newUuid(),
    serverId: server.id,
    projectId: server.projectId,
    userId: server.userId,
    migrationType: type,
    sourceCompute: server.host ?? '',
    oldFlavorId: server.flavor.id,
    createdAt: work.now(),
    updatedAt: null,
    ...fields,
  });
}

/** Moves a migration on (its status, and what else changed); a missing id is no error. */
export async function updateMigration(
  work: ServerWork,
  id: number | undefined,
  changes: Partial<Pick<MigrationRecord, 'status' | 'destCompute'>>,
): Promise<void> {
  if (id === undefined) return;
  const found = (await work.deps.store.listMigrations()).find((m) => m.id === id);
  if (found === undefined) return;
  await work.deps.store.saveMigration({ ...found, ...changes, updatedAt: work.now() });
}

export class ServerMigrations {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /**
   * migrate (admin): the server moves, stopped, to another host (the scheduler's pick, or `host`)
   * with the same flavor, and waits in VERIFY_RESIZE; its guest and claim stay on the source until
   * confirmResize (revertResize starts it there again).
   */
  async migrate(
    ctx: RequestContext,
    id: string,
    host: string | undefined,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const { deps } = work;
    const visible = await work.show(ctx, id);
    requireAdmin(ctx, 'os_compute_api:os-migrate-server:migrate');
    if (host !== undefined) {
      if ((await deps.store.getComputeHost(host)) === undefined) {
        // NOTE: Nova wording (nova/exception.py ComputeHostNotFound).
        throw new ComputeError(
          'migration.host_not_found',
          `Compute host ${host} could not be found.`,
        );
      }
      if (host === visible.host) {
        // NOTE: Nova wording (nova/exception.py CannotMigrateToSameHost).
        throw new ComputeError(
          'migration.same_host',
          'Cannot migrate to the host where the server exists.',
        );
      }
    }
    return work.action(
      ctx,
      id,
      'migrate',
      ['ACTIVE', 'SHUTOFF'],
      async (server, source, context) => {
        const from = server.host ?? '';
        const sourceRecord = await deps.store.getComputeHost(from);
        if (sourceRecord !== undefined && stateOf(deps, sourceRecord) === 'down') {
          // NOTE: Nova wording (nova/exception.py ServiceUnavailable): the source must take part.
          throw new ComputeError('migration.source_down', 'Service is unavailable at this time.');
        }
        const migrating = await work.save(server, { taskState: 'resize_prep' });
        const migration = await startMigration(work, server, 'migration', {
          status: 'pre-migrating',
          newFlavorId: server.flavor.id,
          destCompute: host ?? null,
          sourceClaimId: null,
        });
        let placement: Placement;
        try {
          placement = await this.#place(server, context, from, host, 'migrate');
        } catch (error) {
          await work.save(server, {}); // back to the state it had before resize_prep
          await updateMigration(work, migration.id, { status: 'error' });
          throw error;
        }
        const destination = deps.computes.get(placement.host);
        const newFlavor = toFlavorInput(toFlavor(server.flavor));
        const wasRunning = server.powerState === RUNNING;
        await updateMigration(work, migration.id, {
          status: 'migrating',
          destCompute: placement.host,
        });
        work.notify('resize', 'start', migrating, context, undefined, { newFlavor });
        const oldXml = server.domainXml ?? (await source.domainXml(server.id));
        try {
          if (destination === undefined) throw new TypeError(`no agent for ${placement.host}`);
          const handover = await source.migrateOut(server.id, work.stopOptions());
          const moved = await destination.migrateIn({
            ...work.buildRequestOf(server),
            handover,
            leaveStopped: !wasRunning,
          });
          const done = await work.save(migrating, {
            host: placement.host,
            vmState: 'resized',
            taskState: null,
            powerState: wasRunning ? RUNNING : SHUTDOWN,
            pmu: moved.pmu,
            claimId: placement.claimId,
            resize: {
              oldFlavor: server.flavor,
              oldClaimId: server.claimId ?? '',
              oldPmu: server.pmu,
              oldDomainXml: oldXml,
              sourceHost: from,
              migrationId: migration.id,
            },
            domainXml: moved.domainXml,
          });
          await updateMigration(work, migration.id, { status: 'finished' });
          work.notify('resize', 'end', done, context, undefined, { newFlavor });
          return done;
        } catch (error) {
          // A copy the destination took (say, a save failed after migrateIn) must not run too.
          if (destination !== undefined) await work.removeAfterFailure(destination, server);
          await deps.store.releaseClaim(placement.claimId);
          // The source still has the guest as it was: it runs again there if it ran.
          if (wasRunning) {
            await source.power(server.id, 'on', work.stopOptions()).catch((undo: unknown) => {
              work.undoFailed(server, 'migrate rollback: start the guest on its source', undo);
            });
          }
          await updateMigration(work, migration.id, { status: 'error' });
          const failed = await work.fail(migrating, error, 'migrate', { keepClaim: true });
          work.notify('resize', 'error', failed, context, error, { newFlavor });
          throw buildFailed(failed);
        }
      },
      call,
    );
  }

  /**
   * evacuate (admin): a server whose host is down is built again on another host from its image
   * (no shared storage), with an evacuation migration that keeps the claim on the source until the
   * source is back (cleanUpEvacuated). Refused while the source's compute service is up.
   */
  async evacuate(
    ctx: RequestContext,
    id: string,
    request: EvacuateRequest,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const { deps } = work;
    const visible = await work.show(ctx, id);
    requireAdmin(ctx, 'os_compute_api:os-evacuate');
    const { host } = request;
    if (host !== undefined && (await deps.store.getComputeHost(host)) === undefined) {
      // NOTE: Nova wording (nova/api/openstack/compute/evacuate.py).
      throw new ComputeError('evacuate.host_not_found', `Compute host ${host} not found.`);
    }
    if (host !== undefined && host === visible.host) {
      // NOTE: Nova wording (nova/api/openstack/compute/evacuate.py).
      throw new ComputeError('evacuate.same_host', "The target host can't be the same one.");
    }
    return work.action(
      ctx,
      id,
      'evacuate',
      ['ACTIVE', 'SHUTOFF', 'ERROR'],
      async (server, _source, context) => {
        const from = server.host ?? '';
        const sourceRecord = await deps.store.getComputeHost(from);
        if (sourceRecord === undefined || stateOf(deps, sourceRecord) === 'up') {
          // NOTE: Nova wording (nova/exception.py ComputeServiceInUse); down is forced down or
          // silent longer than service_down_time, as Nova's servicegroup tells it.
          throw new ComputeError(
            'evacuate.source_up',
            `Compute service of ${from} is still in use.`,
          );
        }
        const rebuilding = await work.save(server, { taskState: 'rebuilding' });
        const migration = await startMigration(work, server, 'evacuation', {
          status: 'accepted',
          newFlavorId: server.flavor.id,
          destCompute: host ?? null,
          sourceClaimId: server.claimId,
        });
        let placement: Placement;
        try {
          placement = await this.#place(server, context, from, host, 'evacuate');
        } catch (error) {
          await work.save(server, {});
          await updateMigration(work, migration.id, { status: 'failed' });
          throw error;
        }
        const destination = deps.computes.get(placement.host);
        await updateMigration(work, migration.id, {
          status: 'pre-migrating',
          destCompute: placement.host,
        });
        const onDestination: ServerRecord = {
          ...rebuilding,
          host: placement.host,
          claimId: placement.claimId,
          ...(request.adminPass === undefined ? {} : { configDrive: true }),
        };
        notifyEvacuate(deps, onDestination, context);
        work.notify('rebuild', 'start', onDestination, context);
        try {
          if (destination === undefined) throw new TypeError(`no agent for ${placement.host}`);
          // Nova starts an evacuated server that was stopped as stopped (and any other running).
          const built = await work.spawn(destination, onDestination, {
            leaveStopped: server.vmState === 'stopped',
            ...(request.adminPass === undefined ? {} : { adminPass: request.adminPass }),
          });
          const done = await work.save(onDestination, { ...built, fault: null, resize: null });
          await updateMigration(work, migration.id, { status: 'done' });
          work.notify('rebuild', 'end', done, context);
          return done;
        } catch (error) {
          await deps.store.releaseClaim(placement.claimId);
          if (destination !== undefined) await work.removeAfterFailure(destination, onDestination);
          await updateMigration(work, migration.id, { status: 'failed' });
          // The server stays on its (down) source, with its claim there, in ERROR.
          const failed = await work.fail(rebuilding, error, 'evacuate', { keepClaim: true });
          work.notify('rebuild', 'error', failed, context, error);
          throw buildFailed(failed);
        }
      },
      call,
    );
  }

  /**
   * A host whose compute service is up again: the guests evacuated from it are destroyed there
   * and their claims on it released (Nova's compute does this at start). Returns the server ids
   * cleaned up. A server that has since come back to the host is left alone.
   */
  async cleanUpEvacuated(hostName: string): Promise<string[]> {
    const work = this.#work;
    const { deps } = work;
    const agent: ComputeAgent | undefined = deps.computes.get(hostName);
    const record = await deps.store.getComputeHost(hostName);
    // Only an operator's forced_down holds this back: the compute calling this is running, so a
    // stale heartbeat (it was stopped; it reports again as it starts) does not.
    if (agent === undefined || record === undefined || record.forcedDown === true) return [];
    const cleaned: string[] = [];
    for (const migration of await deps.store.listMigrations()) {
      if (
        migration.migrationType !== 'evacuation' ||
        migration.status !== 'done' ||
        migration.sourceCompute !== hostName
      ) {
        continue;
      }
      const server = await deps.store.getServer(migration.serverId);
      if (server?.host !== hostName) {
        await agent.remove(migration.serverId, { ...work.stopOptions(), graceful: false });
      }
      if (migration.sourceClaimId !== null) await deps.store.releaseClaim(migration.sourceClaimId);
      await deps.store.saveMigration({ ...migration, status: 'completed', updatedAt: work.now() });
      cleaned.push(migration.serverId);
    }
    if (cleaned.length > 0) {
      deps.log.info(
        { host: hostName, servers: cleaned },
        'removed the guests evacuated from a host that is back, and released their claims there',
      );
    }
    return cleaned;
  }

  /** os-migrations (admin): every migration the query matches, newest first, as Nova lists them. */
  async list(ctx: RequestContext, query: MigrationQuery): Promise<MigrationRecord[]> {
    requireAdmin(ctx, 'os_compute_api:os-migrations:index');
    const all = await this.#work.deps.store.listMigrations();
    return all
      .filter(
        (m) =>
          (query.host === undefined ||
            m.sourceCompute === query.host ||
            m.destCompute === query.host) &&
          (query.sourceCompute === undefined || m.sourceCompute === query.sourceCompute) &&
          (query.status === undefined || m.status === query.status) &&
          (query.serverId === undefined || m.serverId === query.serverId) &&
          (query.migrationType === undefined || m.migrationType === query.migrationType),
      )
      .sort((a, b) => b.id - a.id);
  }

  /**
   * The scheduler's pick off `from`, claimed. The vPMU promise holds whatever the prefilter:
   * a server with its vPMU on, on a CUSTOM_HW_VPMU host, goes only to such hosts. No host is
   * Nova's NoValidHost, a 400 for a move (with the trait named when the promise narrowed it).
   */
  async #place(
    server: ServerRecord,
    context: ActionContext,
    from: string,
    to: string | undefined,
    action: 'migrate' | 'evacuate',
  ): Promise<Placement> {
    const { deps } = this.#work;
    const source = await deps.store.getComputeHost(from);
    const requireVpmuTrait =
      server.pmu?.resolved === true && (source?.traits ?? []).includes(VPMU_TRAIT);
    const move: MoveRequest = {
      from,
      to,
      claimId: `${server.id}/${action}/${deps.ids.newUuid()}`,
      requireVpmuTrait,
    };
    const hosts = (await deps.store.listComputeHosts()).filter(
      (h) => h.name !== from && deps.computes.has(h.name),
    );
    if (hosts.length === 0) {
      // NOTE: Nova wording (nova/exception.py NoValidHost), then why.
      throw new ComputeError(
        'migration.no_valid_host',
        `No valid host was found. Host ${from} is the only compute host; server ${server.id} has nowhere to go.`,
      );
    }
    try {
      return await schedule(this.#work, server, context, move);
    } catch (error) {
      if (!(error instanceof ComputeError) || error.code !== 'scheduler.no_valid_host') throw error;
      const promise = requireVpmuTrait
        ? ` Server ${server.id} has its vPMU on and runs on host ${from}, which has trait ${VPMU_TRAIT}: it moves only to hosts with trait ${VPMU_TRAIT}.`
        : '';
      throw new ComputeError('migration.no_valid_host', `${error.message}${promise}`);
    }
  }
}
