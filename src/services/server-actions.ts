/**
 * A server's lifecycle actions on its host: delete, start, stop, reboot and rebuild. Each runs
 * behind the server's other work, from the states Nova allows it in, and records the state its
 * guest is left in; a failure is recorded as ERROR with a fault, never hidden.
 */
import { serverStatus, type ServerStatus } from '../domain/index.js';
import type { ActionContext } from '../notifications/index.js';
import type { ServerRecord } from '../ports/store.js';
import { toFlavor } from './flavors.js';
import { requireWriter, type RequestContext } from './identity.js';
import { toImage } from './images.js';
import {
  actionContext,
  buildFailed,
  checkImageFits,
  definedOnly,
  lookupImage,
  toServerImage,
  type CallInfo,
} from './server-checks.js';
import { resolveGuestData, type GuestDataRequest } from './guest-data.js';
import { checkMetadataQuota } from './quotas.js';
import { computeEventOf } from './server-instance-actions.js';
import { refuseIfLocked } from './server-locks.js';
import {
  RUNNING_STATE,
  STOPPED_STATE,
  type ServerChanges,
  type ServerFields,
  type ServerWork,
} from './server-work.js';

/** The reboot kinds Nova knows. */
export type RebootType = 'SOFT' | 'HARD';

/** What a rebuild may change besides the image. */
export interface RebuildOptions
  extends ServerFields, Pick<GuestDataRequest, 'keyName' | 'userData' | 'adminPass'> {
  readonly name?: string;
}

export class ServerActions {
  readonly #work: ServerWork;
  readonly #cancelQueued: (id: string) => boolean;

  /** `cancelQueued` forgets a build still waiting for its slot (ServerCreation's). */
  constructor(work: ServerWork, cancelQueued: (id: string) => boolean) {
    this.#work = work;
    this.#cancelQueued = cancelQueued;
  }

  /**
   * Deletes the server: stop, undefine, remove its disk, release its claims, forget it. `shown`
   * is the server as the caller just read it (ServerWork.show), when it was.
   */
  async delete(
    ctx: RequestContext,
    id: string,
    call: CallInfo = {},
    shown?: ServerRecord,
  ): Promise<void> {
    const work = this.#work;
    // Visibility first: another project's server is 404 whatever the caller's role.
    const visible = shown ?? (await work.show(ctx, id));
    requireWriter(ctx, 'delete a server');
    refuseIfLocked(ctx, visible);
    const remove = async () => this.#remove(id, actionContext(ctx, call));
    // A server still waiting for a build slot has no host, claim or guest: it goes at once, as
    // in Nova's local delete, instead of after the builds ahead of it.
    if (this.#cancelQueued(id)) await remove();
    else await work.serial(id, remove);
  }

  /**
   * The periodic reclaim of a soft-deleted server (Nova's _reclaim_queued_deletes): deleted as
   * its owner would, behind its other work, if it is still SOFT_DELETED then.
   */
  async reclaim(id: string): Promise<void> {
    const work = this.#work;
    await work.serial(id, async () => {
      const server = await work.deps.store.getServer(id);
      if (server?.status !== 'SOFT_DELETED') return;
      await this.#remove(id, {
        requestId: null,
        userId: server.userId,
        projectId: server.projectId,
      });
    });
  }

  async #remove(id: string, context: ActionContext): Promise<void> {
    const work = this.#work;
    const server = await work.get(id);
    const recorded = await work.record(server, context, 'delete');
    work.notify('delete', 'start', server, context);
    // The save to deleting writes the event's start, and the record's deletion its end.
    let deleting = server;
    await recorded.event(
      computeEventOf('delete'),
      () => server.host,
      async (along) => work.finishDelete(await work.agentIfUp(server), deleting, along),
      {
        startWith: async (along) => {
          deleting = await work.save(server, { taskState: 'deleting' }, along);
        },
      },
    );
    work.notify(
      'delete',
      'end',
      { ...deleting, status: serverStatus('deleted', deleting.taskState), vmState: 'deleted' },
      context,
    );
  }

  /** os-start: SHUTOFF → ACTIVE. */
  async start(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'start',
      ['SHUTOFF'],
      async (server, agent, context) => {
        work.notify('power_on', 'start', server, context);
        const started = await agent.power(server.id, 'on', work.stopOptions());
        const restored = started === 'done' ? {} : await work.defineAgain(agent, server);
        const done = await work.save(server, { ...restored, ...RUNNING_STATE });
        work.notify('power_on', 'end', done, context);
        return done;
      },
      call,
    );
  }

  /** os-stop: ACTIVE (or ERROR with a domain) → SHUTOFF. */
  async stop(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    return work.action(
      ctx,
      id,
      'stop',
      ['ACTIVE', 'ERROR'],
      async (server, agent, context) => {
        work.notify('power_off', 'start', server, context);
        // A guest whose domain is gone is already off, as Nova's power-off finds it.
        await agent.power(server.id, 'off', work.stopOptions());
        const done = await work.save(server, STOPPED_STATE);
        work.notify('power_off', 'end', done, context);
        return done;
      },
      call,
    );
  }

  /** reboot: SOFT (graceful stop, start) needs ACTIVE; HARD (destroy, start) also takes SHUTOFF. */
  async reboot(
    ctx: RequestContext,
    id: string,
    type: RebootType,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const allowed: ServerStatus[] = type === 'SOFT' ? ['ACTIVE'] : ['ACTIVE', 'SHUTOFF', 'ERROR'];
    return work.action(
      ctx,
      id,
      'reboot',
      allowed,
      async (server, agent) => {
        const action = type === 'SOFT' ? 'reboot-soft' : 'reboot-hard';
        let restored: ServerChanges = {};
        if ((await agent.power(server.id, action, work.stopOptions())) === 'no-domain') {
          // Nova's hard reboot defines the guest anew from the server's records (and its soft
          // reboot falls back to a hard one when the soft one cannot be done).
          restored = await work.defineAgain(agent, server);
        }
        return work.save(server, { ...restored, ...RUNNING_STATE, fault: null });
      },
      call,
    );
  }

  /**
   * rebuild: the same server (same uuid, host and flavor) on a new image. The vPMU is resolved
   * again first; a conflict or bad value is a 400 and nothing changes.
   */
  async rebuild(
    ctx: RequestContext,
    id: string,
    imageRef: string,
    call: CallInfo = {},
    options: RebuildOptions = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const current = await work.show(ctx, id);
    requireWriter(ctx, 'rebuild a server');
    const imageRecord = await lookupImage(work.deps, ctx, imageRef);
    checkImageFits(current.flavor, toServerImage(imageRecord));
    if (options.metadata !== undefined) {
      await checkMetadataQuota(work.deps.store, ctx, options.metadata);
    }
    const { keyName, userData, adminPass, ...fields } = options;
    const guestData = await resolveGuestData(
      work.deps,
      ctx,
      definedOnly({ keyName, userData, adminPass }),
      imageRecord,
      current,
    );
    const pmu = await work.precheck(
      toFlavor(current.flavor),
      toImage(imageRecord),
      id,
      current.domainName,
      ctx,
      guestData,
      current.host ?? undefined,
    );
    return work.action(
      ctx,
      id,
      'rebuild',
      ['ACTIVE', 'SHUTOFF', 'ERROR'],
      async (server, agent, context) => {
        // A failed build or rebuild released the server's claim; it needs one again to run.
        const claimId = server.claimId ?? (await work.claimAgain(server, 'rebuild'));
        const rebuilding = await work.save(server, {
          ...definedOnly(fields),
          ...guestData,
          taskState: 'rebuilding',
          image: toServerImage(imageRecord),
          pmu,
          claimId,
        });
        work.notify('rebuild', 'start', rebuilding, context);
        try {
          await agent.remove(server.id, { ...work.stopOptions(), graceful: true });
          // As Nova does, a server that was stopped is stopped again (hard) after its rebuild.
          const stopped = server.status === 'SHUTOFF';
          const built = await work.spawn(agent, rebuilding, {
            leaveStopped: stopped,
            ...(adminPass === undefined ? {} : { adminPass }),
          });
          const done = await work.save(rebuilding, {
            ...built,
            ...(stopped ? STOPPED_STATE : {}),
            fault: null,
          });
          work.notify('rebuild', 'end', done, context);
          return done;
        } catch (error) {
          await work.removeAfterFailure(agent, rebuilding);
          const failed = await work.fail(rebuilding, error, 'rebuild');
          work.notify('rebuild', 'error', failed, context, error);
          throw buildFailed(failed);
        }
      },
      call,
    );
  }
}
