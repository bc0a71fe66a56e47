/**
 * Nova's server lock (os-lock-server): a locked server refuses actions and delete from anyone but
 * an administrator, and only the side that locked it (owner or admin) unlocks it without the
 * admin-only override.
 */
import { ComputeError } from '../errors/index.js';
import type { ServerLock, ServerRecord } from '../ports/store.js';
import { isAdmin, type RequestContext } from './identity.js';

/** Throws `server.locked` when the server is locked and the caller is no administrator. */
export function refuseIfLocked(ctx: RequestContext, server: ServerRecord): void {
  if (server.lock !== null && !isAdmin(ctx)) {
    // NOTE: Nova wording (nova/exception.py InstanceIsLocked).
    throw new ComputeError('server.locked', `Instance ${server.id} is locked`);
  }
}

/** Who a lock by this caller is recorded as: the server's own project, or an admin (Nova). */
export function lockedBy(ctx: RequestContext, server: ServerRecord): ServerLock['by'] {
  return server.projectId === ctx.projectId ? 'owner' : 'admin';
}
