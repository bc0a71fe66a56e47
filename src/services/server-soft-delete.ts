/**
 * Soft delete (Nova's `reclaim_instance_interval` and os-deferred-delete). With an interval of
 * N > 0 seconds, a DELETE powers the guest off and keeps the server SOFT_DELETED, its claims and
 * quota still held; `restore` powers it on again (ACTIVE), `forceDelete` deletes it now, and the
 * periodic reclaim deletes the ones soft-deleted at least N seconds ago. A server that never ran,
 * or is shelved (offloaded or not), is deleted at once, with its shelve image.
 */
import { POWER_STATE, serverStatus, type ServerStatus } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ServerRecord } from '../ports/store.js';
import { requireWriter, type RequestContext } from './identity.js';
import { actionContext, type CallInfo } from './server-checks.js';
import { refuseIfLocked } from './server-locks.js';
import { RUNNING_STATE, type ServerWork } from './server-work.js';

/**
 * The statuses a DELETE soft-deletes a server from: any with a guest on its host, but a shelved
 * one (its guest waits only for an unshelve; a restore could not bring its shelve back).
 */
const SOFT_DELETABLE: readonly ServerStatus[] = [
  'ACTIVE',
  'SHUTOFF',
  'PAUSED',
  'SUSPENDED',
  'ERROR',
];

/** Nova's compute event of a soft delete (a restore's is compute_restore_instance). */
const SOFT_DELETE_EVENT = 'compute_soft_delete_instance';

/** The soft-delete side of servers. */
export class ServerSoftDeletes {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /** The interval in seconds; 0 when soft delete is off. */
  get interval(): number {
    return Math.max(0, this.#work.deps.reclaimInstanceInterval ?? 0);
  }

  /**
   * Whether a DELETE of this server soft-deletes it: soft delete is on, and the server ran once
   * and still has its guest on a host.
   */
  applies(server: ServerRecord): boolean {
    return (
      this.interval > 0 &&
      server.launchedAt !== null &&
      server.host !== null &&
      SOFT_DELETABLE.includes(server.status)
    );
  }

  /**
   * DELETE with soft delete on: guest off, SOFT_DELETED, everything else kept. Undefined when, by
   * its turn in the server's queue, a soft delete no longer applies (say, a shelve offloaded it
   * meanwhile): the caller deletes it at once.
   */
  async softDelete(
    ctx: RequestContext,
    id: string,
    call: CallInfo,
  ): Promise<ServerRecord | undefined> {
    const work = this.#work;
    const visible = await work.show(ctx, id);
    requireWriter(ctx, 'delete a server');
    refuseIfLocked(ctx, visible);
    return work.serial(id, async () => {
      const server = await work.get(id);
      if (!this.applies(server)) return undefined;
      const context = actionContext(ctx, call);
      // As Nova records a soft delete: the `delete` action.
      const recorded = await work.record(server, context, 'delete');
      return recorded.event(
        SOFT_DELETE_EVENT,
        () => server.host,
        async () => {
          const deleting = await work.save(server, { taskState: 'soft-deleting' });
          work.notify('soft_delete', 'start', deleting, context);
          const agent = work.agentOf(server);
          if (agent !== undefined && server.powerState !== POWER_STATE.SHUTDOWN) {
            // A paused guest cannot answer a shutdown request: it is powered off at once.
            const stopTimeoutMs = server.status === 'PAUSED' ? 0 : work.deps.stopTimeoutMs;
            try {
              await agent.power(server.id, 'off', { stopTimeoutMs });
            } catch (error) {
              await work.save(deleting, { taskState: null });
              throw error;
            }
          }
          const done = await work.save(deleting, {
            vmState: 'soft-delete',
            taskState: null,
            powerState: POWER_STATE.SHUTDOWN,
            softDeletedAt: work.now(),
          });
          work.notify('soft_delete', 'end', done, context);
          return done;
        },
      );
    });
  }

  /** restore: a SOFT_DELETED server powered on again, ACTIVE. */
  async restore(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    const work = this.#work;
    const visible = await work.show(ctx, id);
    requireWriter(ctx, 'restore a server');
    refuseIfLocked(ctx, visible);
    if (visible.status !== 'SOFT_DELETED') {
      // NOTE: Nova wording (raise_http_conflict_for_instance_invalid_state).
      throw new ComputeError(
        'server.invalid_state',
        `Cannot 'restore' instance ${id} while it is in vm_state ${visible.vmState}`,
      );
    }
    return work.action(
      ctx,
      id,
      'restore',
      ['SOFT_DELETED'],
      async (server, agent, context) => {
        const restoring = await work.save(server, { taskState: 'restoring' });
        work.notify('restore', 'start', restoring, context);
        try {
          const started = await agent.power(server.id, 'on', work.stopOptions());
          const restored = started === 'done' ? {} : await work.defineAgain(agent, server);
          const done = await work.save(restoring, {
            ...restored,
            ...RUNNING_STATE,
            softDeletedAt: null,
          });
          work.notify('restore', 'end', done, context);
          return done;
        } catch (error) {
          await work.save(restoring, { taskState: null });
          throw error;
        }
      },
      call,
    );
  }

  /** The ids of SOFT_DELETED servers old enough to reclaim now. */
  async due(): Promise<string[]> {
    const interval = this.interval;
    if (interval === 0) return [];
    const due = this.#work.deps.clock.now().getTime() - interval * 1000;
    return (await this.#work.deps.store.listServers({}))
      .filter(
        (s) =>
          serverStatus(s.vmState, s.taskState) === 'SOFT_DELETED' &&
          s.softDeletedAt != null &&
          Date.parse(s.softDeletedAt) <= due,
      )
      .map((s) => s.id);
  }
}
