/**
 * Server group use cases (Nova's os-server-groups): a project's groups say whether their members
 * must share a host (affinity) or must not (anti-affinity, at most `maxServerPerHost` per host),
 * or prefer either (the soft policies). The scheduler reads a group's members when it places a
 * server that joins it. Policy (Nova's defaults): members of a project create and delete its
 * groups, readers read them, admins see every project's with `all_projects`.
 */
import { ComputeError } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type { ServerGroupPolicy, ServerGroupRecord, Store } from '../ports/store.js';
import { isAdmin, requireAdmin, requireWriter, type RequestContext } from './identity.js';
import { checkServerGroupQuota, withQuotaLock } from './quotas.js';

export type { ServerGroupPolicy, ServerGroupRecord } from '../ports/store.js';
export { SERVER_GROUP_POLICIES } from '../ports/store.js';

/** What server group use cases need. */
export interface ServerGroupDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
}

/** A create request, shape-checked by the API. */
export interface NewServerGroup {
  readonly name: string;
  readonly policy: ServerGroupPolicy;
  readonly maxServerPerHost: number | null;
}

export async function createServerGroup(
  deps: ServerGroupDeps,
  ctx: RequestContext,
  input: NewServerGroup,
): Promise<ServerGroupRecord> {
  requireWriter(ctx, 'create a server group');
  const group: ServerGroupRecord = {
    id: deps.ids.newUuid(),
    name: input.name,
    projectId: ctx.projectId,
    userId: ctx.userId,
    policy: input.policy,
    maxServerPerHost: input.maxServerPerHost,
    members: [],
    createdAt: deps.clock.now().toISOString(),
  };
  // The quota check and the insert are one step (./quotas.ts).
  await withQuotaLock(deps.store, ctx.projectId, async () => {
    await checkServerGroupQuota(deps.store, ctx);
    await deps.store.createServerGroup(group);
  });
  return group;
}

/** The caller's project's groups; every project's for an admin asking for all. */
export async function listServerGroups(
  deps: ServerGroupDeps,
  ctx: RequestContext,
  allProjects: boolean,
): Promise<ServerGroupRecord[]> {
  if (allProjects) {
    requireAdmin(ctx, 'os_compute_api:os-server-groups:index:all_projects');
    return deps.store.listServerGroups();
  }
  return deps.store.listServerGroups(ctx.projectId);
}

/** A group the caller may see (its project's, or any for an admin); else Nova's 404. */
export async function showServerGroup(
  deps: ServerGroupDeps,
  ctx: RequestContext,
  id: string,
): Promise<ServerGroupRecord> {
  const group = await deps.store.getServerGroup(id);
  if (group === undefined || (!isAdmin(ctx) && group.projectId !== ctx.projectId)) {
    throw serverGroupNotFound(id);
  }
  return group;
}

/** Deletes a group; its members keep running where they are, as in Nova. */
export async function deleteServerGroup(
  deps: ServerGroupDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  await showServerGroup(deps, ctx, id);
  requireWriter(ctx, `delete server group ${id}`);
  if (!(await deps.store.deleteServerGroup(id))) throw serverGroupNotFound(id);
}

// NOTE: Nova's wording (InstanceGroupNotFound).
function serverGroupNotFound(id: string): ComputeError {
  return new ComputeError('server.group_not_found', `Instance group ${id} could not be found.`);
}
