/**
 * Server actions mostly on the server's record, as Nova's API answers them: os-resetState
 * (admin-only), lock and unlock (os-lock-server, recorded as instance actions), restore and
 * forceDelete (os-deferred-delete: the servers service does the work, see
 * server-soft-delete.ts), and the os-server-password sub-resource. Visibility comes first
 * everywhere: another project's server is 404 whatever the caller's role.
 */
import { ComputeError } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type { ServerRecord, Store } from '../ports/store.js';
import { serverStatus } from '../domain/index.js';
import { requireAdmin, requireWriter, type RequestContext } from './identity.js';
import { lockedBy, refuseIfLocked } from './server-locks.js';
import { actionContext } from './server-checks.js';
import { beginAction } from './server-instance-actions.js';
import { isConflict, SAVE_ATTEMPTS } from './server-work.js';
import type { CallInfo, Servers } from './servers.js';

/** The vm_states os-resetState may set (Nova's schema enum). */
export type ResetState = 'active' | 'error';

/** What the record-only server actions need. */
export interface ServerAdminActionsDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Where a lock or unlock that cannot be recorded as an instance action is reported. */
  readonly log: { error(fields: Record<string, unknown>, message: string): void };
  /** For visibility (show) and the delete forceDelete performs. */
  readonly servers: Servers;
}

/** The record-only server actions. */
export class ServerAdminActions {
  readonly #deps: ServerAdminActionsDeps;

  constructor(deps: ServerAdminActionsDeps) {
    this.#deps = deps;
  }

  /**
   * os-resetState: sets vm_state and clears task_state, nothing else (power state, host and guest
   * stay as they are), as Nova's admin action does. It does not wait for an action in progress:
   * that is what it is for, a server stuck in a task.
   */
  async resetState(ctx: RequestContext, id: string, state: ResetState): Promise<ServerRecord> {
    let server = await this.#deps.servers.show(ctx, id);
    requireAdmin(ctx, 'os_compute_api:os-admin-actions:reset_state');
    for (let attempt = 1; ; attempt++) {
      // A new version, so that the work it resets saves nothing stale after it.
      const next: ServerRecord = {
        ...server,
        vmState: state,
        taskState: null,
        status: serverStatus(state, null),
        updatedAt: this.#deps.clock.now().toISOString(),
        version: (server.version ?? 0) + 1,
      };
      try {
        await this.#deps.store.saveServer(next, { ifVersion: server.version ?? null });
        return next;
      } catch (error) {
        if (!isConflict(error) || attempt >= SAVE_ATTEMPTS) throw error;
        server = await this.#deps.servers.show(ctx, id);
      }
    }
  }

  /**
   * lock: locked by the owner's project or by an admin; locking again as the owner changes
   * nothing, as in Nova, while an admin's lock takes over (and a new reason replaces the old one).
   */
  async lock(
    ctx: RequestContext,
    id: string,
    reason: string | null,
    call: CallInfo = {},
  ): Promise<void> {
    const server = await this.#deps.servers.show(ctx, id);
    requireWriter(ctx, 'lock a server');
    const by = lockedBy(ctx, server);
    if (server.lock !== null && by === 'owner') return;
    // As Nova: the action (with no events) is recorded unless the lock was a no-op.
    await beginAction(this.#deps, server, actionContext(ctx, call), 'lock');
    await this.#deps.store.setServerLock(id, { by, reason: reason ?? server.lock?.reason ?? null });
  }

  /** unlock: a lock set by the other side (owner vs admin) needs the admin-only override. */
  async unlock(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<void> {
    const server = await this.#deps.servers.show(ctx, id);
    requireWriter(ctx, 'unlock a server');
    if (server.lock !== null && server.lock.by !== lockedBy(ctx, server)) {
      requireAdmin(ctx, 'os_compute_api:os-lock-server:unlock:unlock_override');
    }
    await beginAction(this.#deps, server, actionContext(ctx, call), 'unlock');
    await this.#deps.store.setServerLock(id, null);
  }

  /** restore: a SOFT_DELETED server powered on again (see server-soft-delete.ts). */
  async restore(ctx: RequestContext, id: string, call: CallInfo): Promise<void> {
    await this.#deps.servers.restore(ctx, id, call);
  }

  /**
   * forceDelete: Nova deletes the server at once, whatever its vm_state (a SOFT_DELETED one
   * too), when no task runs on it (and it is not locked).
   */
  async forceDelete(ctx: RequestContext, id: string, call: CallInfo): Promise<void> {
    const server = await this.#deps.servers.show(ctx, id);
    requireWriter(ctx, 'force-delete a server');
    refuseIfLocked(ctx, server);
    if (server.taskState !== null) {
      throw invalidStateFor('forceDelete', server.id, 'task_state', server.taskState);
    }
    await this.#deps.servers.forceDelete(ctx, id, call);
  }

  /**
   * os-server-password: the password a guest posted to the metadata service, encrypted. vpmu has
   * no metadata service, so there is never one: Nova then answers an empty string.
   */
  async password(ctx: RequestContext, id: string): Promise<string> {
    await this.#deps.servers.show(ctx, id);
    return '';
  }

  /** Clearing the server password: there is none to clear, so only the checks remain. */
  async clearPassword(ctx: RequestContext, id: string): Promise<void> {
    await this.#deps.servers.show(ctx, id);
    requireWriter(ctx, 'clear a server password');
  }
}

// NOTE: Nova wording (nova/api/openstack/common.py raise_http_conflict_for_instance_invalid_state).
function invalidStateFor(action: string, id: string, attr: string, state: string): ComputeError {
  return new ComputeError(
    'server.invalid_state',
    `Cannot '${action}' instance ${id} while it is in ${attr} ${state}`,
  );
}
