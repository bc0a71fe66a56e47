/**
 * Resize on the same host, and its confirm and revert. The vPMU is resolved again for the new
 * flavor before anything changes; the new flavor is claimed next to the old one until the resize
 * is confirmed (the old claim goes) or reverted (the new one goes, the old guest comes back).
 */
import { POWER_STATE } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import type { ServerRecord } from '../ports/store.js';
import { toFlavor } from './flavors.js';
import { requireWriter, type RequestContext } from './identity.js';
import { bootFilesOf } from './guest-data.js';
import { toFlavorInput } from './notification-inputs.js';
import { checkResizeQuota } from './quotas.js';
import {
  buildFailed,
  checkImageFits,
  invalidState,
  lookupFlavor,
  resourcesOf,
  serverImageToImage,
  type CallInfo,
} from './server-checks.js';
import { startMigration, updateMigration } from './server-migrate.js';
import { RUNNING_STATE, STOPPED_STATE, type ServerWork } from './server-work.js';

const { RUNNING, SHUTDOWN } = POWER_STATE;

export class ServerResizes {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /**
   * resize: a new flavor on the same host. The vPMU is resolved again (conflict → 400, nothing
   * changes); the new flavor's resources are claimed next to the old ones; the guest is
   * redefined (same uuid) and restarted; the server waits in VERIFY_RESIZE.
   */
  async resize(
    ctx: RequestContext,
    id: string,
    flavorRef: string,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const { deps } = work;
    const current = await work.show(ctx, id);
    requireWriter(ctx, 'resize a server');
    const flavorRecord = await lookupFlavor(deps, ctx, flavorRef);
    if (flavorRecord.id === current.flavor.id) {
      // NOTE: Nova wording (nova/exception.py CannotResizeToSameFlavor).
      throw new ComputeError('request.invalid', 'When resizing, instances must change flavor!');
    }
    checkImageFits(flavorRecord, current.image);
    await checkResizeQuota(deps.store, current, flavorRecord);
    const imageForDesign = serverImageToImage(current.image);
    const pmu = await work.precheck(
      toFlavor(flavorRecord),
      imageForDesign,
      id,
      current.domainName,
      ctx,
      current,
      current.host ?? undefined,
    );
    return work.action(
      ctx,
      id,
      'resize',
      ['ACTIVE', 'SHUTOFF'],
      async (server, agent, context) => {
        const host = server.host ?? '';
        const claimId = `${server.id}/resize/${deps.ids.newUuid()}`;
        // The task state goes first: a claim is only ever held by a server that is busy or that
        // names it, which is what healClaims() tells a leak by after a crash.
        const resizing = await work.save(server, { taskState: 'resize_prep' });
        if (
          !(await deps.store.claim({
            consumerId: claimId,
            host,
            resources: resourcesOf(flavorRecord),
          }))
        ) {
          await work.save(server, {}); // back to the state it had before resize_prep
          // A refusal, not a failure of the service: Nova's synchronous NoValidHost is a 400 too.
          throw new ComputeError(
            'server.no_room_to_resize',
            `No valid host was found. Host ${host} has no room for flavor '${flavorRecord.name}' next to server ${server.id}'s current flavor '${server.flavor.name}'.`,
          );
        }
        const newFlavor = toFlavorInput(toFlavor(flavorRecord));
        const wasRunning = server.powerState === RUNNING;
        const migration = await startMigration(work, server, 'resize', {
          status: 'migrating',
          newFlavorId: flavorRecord.id,
          destCompute: host,
          sourceClaimId: null,
        });
        work.notify('resize', 'start', resizing, context, undefined, { newFlavor });
        const oldXml = server.domainXml ?? (await agent.domainXml(server.id));
        try {
          const redefined = await agent.redefine(server.id, {
            ...work.stopOptions(),
            start: wasRunning,
            guest: {
              serverId: server.id,
              name: server.domainName,
              flavor: toFlavor(flavorRecord),
              image: imageForDesign,
              owner: { projectId: server.projectId, userId: server.userId },
              configDrive: server.configDrive === true,
              bootFiles: bootFilesOf(server, deps.imageFile),
            },
          });
          const done = await work.save(resizing, {
            vmState: 'resized',
            taskState: null,
            powerState: wasRunning ? RUNNING : SHUTDOWN,
            flavor: flavorRecord,
            pmu: {
              ...pmu,
              effective: redefined.pmu?.effective ?? null,
              reason: redefined.pmu?.reason ?? null,
            },
            claimId,
            resize: {
              oldFlavor: server.flavor,
              oldClaimId: server.claimId ?? '',
              oldPmu: server.pmu,
              oldDomainXml: oldXml,
              migrationId: migration.id,
            },
            domainXml: redefined.domainXml,
          });
          await updateMigration(work, migration.id, { status: 'finished' });
          work.notify('resize', 'end', done, context, undefined, { newFlavor });
          return done;
        } catch (error) {
          await deps.store.releaseClaim(claimId);
          // Put the old guest back as it was; what cannot be put back is logged, not hidden.
          for (const failure of await agent.restore(server.id, oldXml, { start: wasRunning })) {
            work.undoFailed(server, `resize rollback: ${failure.step}`, failure.error);
          }
          await updateMigration(work, migration.id, { status: 'error' });
          const failed = await work.fail(resizing, error, 'resize', { keepClaim: true });
          work.notify('resize', 'error', failed, context, error, { newFlavor });
          throw buildFailed(failed);
        }
      },
      call,
    );
  }

  /**
   * confirmResize: keep the new flavor, release the old claim; after a cold migration the guest
   * left stopped on the source goes too.
   */
  async confirmResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'confirmResize',
      ['VERIFY_RESIZE'],
      async (server) => {
        const { resize } = server;
        const source = resize?.sourceHost;
        if (source !== undefined && source !== server.host) {
          await sourceAgent(work, source).remove(server.id, {
            ...work.stopOptions(),
            graceful: false,
          });
        }
        if (resize !== null) await work.deps.store.releaseClaim(resize.oldClaimId);
        await updateMigration(work, resize?.migrationId, { status: 'confirmed' });
        return work.save(server, {
          ...(server.powerState === RUNNING ? RUNNING_STATE : STOPPED_STATE),
          resize: null,
        });
      },
      call,
    );
  }

  /** revertResize: the old flavor, domain and claim come back; the new claim is released. */
  async revertResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'revertResize',
      ['VERIFY_RESIZE'],
      async (server, agent) => {
        const { resize } = server;
        if (resize === null) throw invalidState(server, 'revertResize');
        const running = server.powerState === RUNNING;
        const source = resize.sourceHost;
        if (source !== undefined && source !== server.host) {
          // A cold migration: the guest on the destination goes, the one kept on the source
          // runs again if the server ran.
          const back = sourceAgent(work, source);
          await agent.remove(server.id, { ...work.stopOptions(), graceful: false });
          if (running) await back.power(server.id, 'on', work.stopOptions());
          if (server.claimId !== null) await work.deps.store.releaseClaim(server.claimId);
          await updateMigration(work, resize.migrationId, { status: 'reverted' });
          return work.save(server, {
            ...(running ? RUNNING_STATE : STOPPED_STATE),
            host: source,
            flavor: resize.oldFlavor,
            pmu: resize.oldPmu,
            claimId: resize.oldClaimId,
            resize: null,
            domainXml: resize.oldDomainXml ?? (await back.domainXml(server.id)),
          });
        }
        const reverted = await agent.redefine(server.id, {
          ...work.stopOptions(),
          start: running,
          xml: resize.oldDomainXml ?? undefined,
        });
        if (server.claimId !== null) await work.deps.store.releaseClaim(server.claimId);
        await updateMigration(work, resize.migrationId, { status: 'reverted' });
        return work.save(server, {
          ...(running ? RUNNING_STATE : STOPPED_STATE),
          flavor: resize.oldFlavor,
          pmu: resize.oldPmu,
          claimId: resize.oldClaimId,
          resize: null,
          domainXml: reverted.domainXml,
        });
      },
      call,
    );
  }
}

/** The agent of a cold migration's source host, or Nova's ComputeServiceUnavailable. */
function sourceAgent(work: ServerWork, host: string): ComputeAgent {
  const agent = work.deps.computes.get(host);
  if (agent === undefined) {
    // NOTE: Nova wording (nova/exception.py ComputeServiceUnavailable).
    throw new ComputeError(
      'hypervisor.service_unavailable',
      `Compute service of ${host} is unavailable at this time.`,
    );
  }
  return agent;
}
