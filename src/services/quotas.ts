/**
 * Quota use cases (Nova's os-quota-sets and os-quota-class-sets, and the checks behind them).
 *
 * Limits come in three layers, as in Nova's DbQuotaDriver: Nova's built-in defaults, overridden by
 * the `default` quota class; a project's own limits over those; a user's own limits (in a project)
 * over the project's. -1 is unlimited. Usage is counted from the records (Nova's counting quotas):
 * a project's (or user's) servers that are not deleted give instances, cores and ram; its server
 * groups give server_groups; a user's key pairs give key_pairs; a group's members started by the
 * user give server_group_members.
 *
 * Concurrency: a check and the writes it allows run under a per-project lock (withQuotaLock, the
 * store's named lock: an advisory lock on PostgreSQL, so every API process shares it), so two
 * concurrent creates in a project cannot both pass on the same headroom; key pairs are checked
 * and inserted in one store transaction.
 */
import { ComputeError } from '../errors/index.js';
import type { FlavorRecord, QuotaScope, ServerRecord, Store } from '../ports/store.js';
import { isAdmin, requireAdmin, type RequestContext } from './identity.js';

/** Nova's quota resources, in Nova's order (QuotaEngine.resources is sorted by name). */
export const QUOTA_RESOURCES = [
  'cores',
  'fixed_ips',
  'floating_ips',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
  'instances',
  'key_pairs',
  'metadata_items',
  'ram',
  'security_group_rules',
  'security_groups',
  'server_group_members',
  'server_groups',
] as const;
export type QuotaResource = (typeof QUOTA_RESOURCES)[number];
export type QuotaLimits = Readonly<Record<QuotaResource, number>>;

/** Nova's built-in defaults (nova/conf/quota.py). */
export const NOVA_DEFAULT_QUOTAS: QuotaLimits = {
  cores: 20,
  fixed_ips: -1,
  floating_ips: 10,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  injected_files: 5,
  instances: 10,
  key_pairs: 100,
  metadata_items: 128,
  ram: 51200,
  security_group_rules: 20,
  security_groups: 10,
  server_group_members: 10,
  server_groups: 10,
};

/** Network quotas, gone from os-quota-sets at 2.36 and from os-quota-class-sets at 2.50. */
export const NETWORK_QUOTAS: readonly QuotaResource[] = [
  'fixed_ips',
  'floating_ips',
  'security_group_rules',
  'security_groups',
];
/** Personality (injected file) quotas, gone from both APIs at 2.57. */
export const PERSONALITY_QUOTAS: readonly QuotaResource[] = [
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'injected_files',
];

/** Whose quota: a project, or one user in it. */
export interface QuotaOwner {
  readonly projectId: string;
  readonly userId?: string;
}

/** One resource's limit and use, as os-quota-sets/detail shows it. */
export interface QuotaDetail {
  readonly limit: number;
  readonly in_use: number;
  readonly reserved: number;
}

/** What quota use cases need. */
export interface QuotaDeps {
  readonly store: Store;
}

const DEFAULT_CLASS = 'default';

// --- Limits -------------------------------------------------------------------------------------

/** Nova's get_defaults: the built-in defaults overridden by the `default` quota class. */
export async function defaultQuotas(store: Store): Promise<QuotaLimits> {
  return overlay(NOVA_DEFAULT_QUOTAS, await store.getQuotaLimits(classScope(DEFAULT_CLASS)));
}

/** A quota class's limits: its own over the built-in defaults (`default`'s are the defaults). */
export async function classQuotas(store: Store, name: string): Promise<QuotaLimits> {
  return overlay(NOVA_DEFAULT_QUOTAS, await store.getQuotaLimits(classScope(name)));
}

/** A project's limits, or a user's in it (the user's own over the project's). */
export async function effectiveQuotas(store: Store, owner: QuotaOwner): Promise<QuotaLimits> {
  const { project, user } = await layeredQuotas(store, owner);
  return user ?? project;
}

/**
 * A project's limits and, when `owner` names a user, that user's: each layer read once (the user's
 * own over the project's over the defaults).
 */
async function layeredQuotas(
  store: Store,
  owner: QuotaOwner,
): Promise<{ project: QuotaLimits; user?: QuotaLimits }> {
  const [defaults = {}, own = {}, user] = await store.getQuotaLimitsOf([
    classScope(DEFAULT_CLASS),
    { kind: 'project', projectId: owner.projectId },
    ...(owner.userId === undefined
      ? []
      : [{ kind: 'user' as const, projectId: owner.projectId, userId: owner.userId }]),
  ]);
  const project = overlay(overlay(NOVA_DEFAULT_QUOTAS, defaults), own);
  return user === undefined ? { project } : { project, user: overlay(project, user) };
}

/** What a project (or a user in it) uses of each resource. */
export async function quotaUsage(store: Store, owner: QuotaOwner): Promise<QuotaLimits> {
  return countUsage(owner, await usageRecords(store, owner, QUOTA_RESOURCES));
}

/** The records usage is counted from, for the project and its users. */
interface UsageRecords {
  readonly servers: readonly ServerRecord[];
  readonly groups: readonly { readonly userId: string }[];
  /** The owner's user's key pairs (only read for a user's key_pairs). */
  readonly keypairs: number;
}

/**
 * Reads what counting `resources` of the owner's project (and user) needs, and only that: the
 * project's live servers, its server groups, the user's key pairs.
 */
async function usageRecords(
  store: Store,
  owner: QuotaOwner,
  resources: readonly QuotaResource[],
): Promise<UsageRecords> {
  const wants = (...rs: QuotaResource[]) => rs.some((r) => resources.includes(r));
  return {
    servers: wants('instances', 'cores', 'ram') ? await liveServers(store, owner.projectId) : [],
    groups: wants('server_groups') ? await store.listServerGroups(owner.projectId) : [],
    keypairs:
      owner.userId !== undefined && wants('key_pairs')
        ? (await store.listKeypairs(owner.userId)).length
        : 0,
  };
}

/** What a project (or a user in it) uses, counted from its project's records. */
function countUsage(owner: QuotaOwner, records: UsageRecords): QuotaLimits {
  const servers = records.servers.filter(
    (s) => owner.userId === undefined || s.userId === owner.userId,
  );
  const groups = records.groups.filter(
    (g) => owner.userId === undefined || g.userId === owner.userId,
  );
  const used: Record<QuotaResource, number> = Object.fromEntries(
    QUOTA_RESOURCES.map((r) => [r, 0]),
  ) as Record<QuotaResource, number>;
  used.instances = servers.length;
  // A shelved-offloaded server holds no cores or ram (Nova counting from placement): its
  // unshelve counts them again (checkUnshelveQuota).
  const holding = servers.filter((s) => s.vmState !== 'shelved_offloaded');
  used.cores = holding.reduce((n, s) => n + s.flavor.vcpus, 0);
  used.ram = holding.reduce((n, s) => n + s.flavor.memoryMiB, 0);
  used.server_groups = groups.length;
  // NOTE: key pairs and group members are per user: Nova counts them only in a user's view.
  if (owner.userId !== undefined) used.key_pairs = records.keypairs;
  return used;
}

// --- os-quota-sets and os-quota-class-sets --------------------------------------------------------

/** GET os-quota-sets/{project}: the caller's own project, or any for an admin. */
export async function showQuotas(
  deps: QuotaDeps,
  ctx: RequestContext,
  owner: QuotaOwner,
  action: 'show' | 'detail',
): Promise<QuotaLimits> {
  await authorizeProject(deps, ctx, owner.projectId, action);
  return effectiveQuotas(deps.store, owner);
}

/** GET os-quota-sets/{project}/detail: each resource's limit, use and (always 0) reservation. */
export async function showQuotaDetails(
  deps: QuotaDeps,
  ctx: RequestContext,
  owner: QuotaOwner,
): Promise<Record<QuotaResource, QuotaDetail>> {
  const limits = await showQuotas(deps, ctx, owner, 'detail');
  const used = await quotaUsage(deps.store, owner);
  return Object.fromEntries(
    QUOTA_RESOURCES.map((r) => [r, { limit: limits[r], in_use: used[r], reserved: 0 }]),
  ) as Record<QuotaResource, QuotaDetail>;
}

/** GET os-quota-sets/{project}/defaults: anyone may read the defaults (Nova's policy). */
export async function showDefaultQuotas(deps: QuotaDeps, projectId: string): Promise<QuotaLimits> {
  await verifyProject(deps, projectId);
  return defaultQuotas(deps.store);
}

/**
 * PUT os-quota-sets/{project} (admins): sets the given limits. Unless `force`, each must be at
 * least what is used (Nova's settable minimum) and, for a user, at most the project's limit;
 * one refusal changes nothing. Returns the limits after the change.
 */
export async function updateQuotas(
  deps: QuotaDeps,
  ctx: RequestContext,
  owner: QuotaOwner,
  limits: Readonly<Partial<Record<QuotaResource, number>>>,
  force: boolean,
): Promise<QuotaLimits> {
  requireAdmin(ctx, 'os_compute_api:os-quota-sets:update');
  await verifyProject(deps, owner.projectId);
  return withQuotaLock(deps.store, owner.projectId, async () => {
    if (!force) {
      const used = await quotaUsage(deps.store, owner);
      const project =
        owner.userId === undefined
          ? undefined
          : await effectiveQuotas(deps.store, { projectId: owner.projectId });
      for (const [resource, limit] of entries(limits)) {
        const minimum = used[resource];
        if (unlimitedAware(limit) < minimum) {
          // NOTE: Nova wording (nova/api/openstack/compute/quota_sets.py).
          throw new ComputeError(
            'quota.invalid_limit',
            `Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${minimum}.`,
          );
        }
        const maximum = project?.[resource] ?? -1;
        if (unlimitedAware(limit) > unlimitedAware(maximum)) {
          throw new ComputeError(
            'quota.invalid_limit',
            `Quota limit ${limit} for ${resource} must be less than or equal to ${maximum}.`,
          );
        }
      }
    }
    await deps.store.setQuotaLimits(scopeOf(owner), limits);
    return effectiveQuotas(deps.store, owner);
  });
}

/** DELETE os-quota-sets/{project} (admins): back to the defaults (a project's users' too). */
export async function revertQuotas(
  deps: QuotaDeps,
  ctx: RequestContext,
  owner: QuotaOwner,
): Promise<void> {
  requireAdmin(ctx, 'os_compute_api:os-quota-sets:delete');
  await withQuotaLock(deps.store, owner.projectId, () =>
    deps.store.deleteQuotaLimits(scopeOf(owner)),
  );
}

/** GET os-quota-class-sets/{class} (admins). */
export async function showClassQuotas(
  deps: QuotaDeps,
  ctx: RequestContext,
  name: string,
): Promise<QuotaLimits> {
  requireAdmin(ctx, 'os_compute_api:os-quota-class-sets:show');
  return classQuotas(deps.store, name);
}

/** PUT os-quota-class-sets/{class} (admins): `default` changes every project's defaults. */
export async function updateClassQuotas(
  deps: QuotaDeps,
  ctx: RequestContext,
  name: string,
  limits: Readonly<Partial<Record<QuotaResource, number>>>,
): Promise<QuotaLimits> {
  requireAdmin(ctx, 'os_compute_api:os-quota-class-sets:update');
  await deps.store.setQuotaLimits(classScope(name), limits);
  return classQuotas(deps.store, name);
}

// --- Enforcement ------------------------------------------------------------------------------

/**
 * Runs `work` after every other quota-checked change of the project has finished, in any process
 * sharing the store (Store.withLock), so a check and the writes it allows are one step.
 */
export async function withQuotaLock<T>(
  store: Store,
  projectId: string,
  work: () => Promise<T>,
): Promise<T> {
  const outcome = await store.withLock(`quota:${projectId}`, work);
  if (!outcome.ran) throw new TypeError('a waiting lock gave up');
  return outcome.value;
}

/**
 * Nova's check_num_instances_quota: how many servers of `flavor`, between minCount and maxCount,
 * the caller's project and user quotas allow (the most that fit). Fewer than minCount is Nova's
 * 403 TooManyInstances, "Quota exceeded for cores: Requested 4, but already used 8 of 10 cores".
 * Call it under withQuotaLock, and record the servers before the lock is released.
 */
export async function checkServerQuota(
  store: Store,
  ctx: RequestContext,
  flavor: FlavorRecord,
  minCount: number,
  maxCount: number,
): Promise<number> {
  const wanted = {
    instances: maxCount,
    cores: maxCount * flavor.vcpus,
    ram: maxCount * flavor.memoryMiB,
  };
  const room = await headroom(store, ctx, ['instances', 'cores', 'ram']);
  const overs = (['instances', 'cores', 'ram'] as const).filter(
    (r) => wanted[r] > room[r].headroom,
  );
  const [first] = overs;
  if (first === undefined) return maxCount;
  let allowed = room.instances.headroom;
  if (flavor.vcpus > 0) allowed = Math.min(allowed, Math.floor(room.cores.headroom / flavor.vcpus));
  if (flavor.memoryMiB > 0) {
    allowed = Math.min(allowed, Math.floor(room.ram.headroom / flavor.memoryMiB));
  }
  if (allowed >= minCount && allowed > 0) return Math.min(allowed, maxCount);
  const { limit } = room[first];
  const requested =
    first === 'instances'
      ? minCount === maxCount
        ? String(minCount)
        : `${minCount}-${maxCount}`
      : String(wanted[first]);
  throw tooManyInstances(overs.join(','), requested, limit - room[first].headroom, limit);
}

/**
 * Nova's resize quota check: growing to `flavor` must fit the cores and ram headroom of the
 * server's project and user; shrinking always fits.
 */
export async function checkResizeQuota(
  store: Store,
  server: ServerRecord,
  flavor: FlavorRecord,
): Promise<void> {
  const deltas = {
    cores: flavor.vcpus - server.flavor.vcpus,
    ram: flavor.memoryMiB - server.flavor.memoryMiB,
  };
  if (deltas.cores <= 0 && deltas.ram <= 0) return;
  const room = await headroom(store, { projectId: server.projectId, userId: server.userId }, [
    'cores',
    'ram',
  ]);
  const overs = (['cores', 'ram'] as const).filter(
    (r) => deltas[r] > 0 && deltas[r] > room[r].headroom,
  );
  const [first] = overs;
  if (first === undefined) return;
  const { limit } = room[first];
  throw tooManyInstances(
    overs.join(','),
    String(deltas[first]),
    limit - room[first].headroom,
    limit,
  );
}

/**
 * Nova's unshelve quota check: a shelved-offloaded server takes its flavor's cores and ram again,
 * which must fit the headroom of its project and user. Call it under withQuotaLock.
 */
export async function checkUnshelveQuota(store: Store, server: ServerRecord): Promise<void> {
  const wanted = { cores: server.flavor.vcpus, ram: server.flavor.memoryMiB };
  const room = await headroom(store, { projectId: server.projectId, userId: server.userId }, [
    'cores',
    'ram',
  ]);
  const overs = (['cores', 'ram'] as const).filter(
    (r) => wanted[r] > 0 && wanted[r] > room[r].headroom,
  );
  const [first] = overs;
  if (first === undefined) return;
  const { limit } = room[first];
  throw tooManyInstances(
    overs.join(','),
    String(wanted[first]),
    limit - room[first].headroom,
    limit,
  );
}

/** Nova's metadata_items check: more items than the caller's quota is Nova's 403. */
export async function checkMetadataQuota(
  store: Store,
  ctx: QuotaOwner,
  metadata: Readonly<Record<string, string>>,
): Promise<void> {
  // No items never exceed a limit: nothing to read.
  if (Object.keys(metadata).length === 0) return;
  const allowed = (await effectiveQuotas(store, ctx)).metadata_items;
  if (allowed >= 0 && Object.keys(metadata).length > allowed) {
    // NOTE: Nova wording (nova/exception.py MetadataLimitExceeded).
    throw new ComputeError(
      'server.metadata_limit',
      `Maximum number of metadata items exceeds ${allowed}`,
    );
  }
}

/** The key pairs a user may hold (the store checks it in its insert transaction). */
export async function keypairQuota(store: Store, owner: QuotaOwner): Promise<number> {
  const limit = (await effectiveQuotas(store, owner)).key_pairs;
  return limit < 0 ? Number.POSITIVE_INFINITY : limit;
}

/** One more server group must fit the project's and user's server_groups quota. */
export async function checkServerGroupQuota(store: Store, ctx: RequestContext): Promise<void> {
  const room = await headroom(store, ctx, ['server_groups']);
  if (room.server_groups.headroom < 1) {
    // NOTE: Nova wording (nova/api/openstack/compute/server_groups.py).
    throw new ComputeError('quota.exceeded', 'Quota exceeded, too many server groups.');
  }
}

/**
 * `count` more members of a group, started by the caller, must fit its server_group_members
 * quota (Nova counts a group's members by user).
 */
export async function checkServerGroupMembersQuota(
  store: Store,
  ctx: RequestContext,
  groupId: string,
  count: number,
): Promise<void> {
  const group = await store.getServerGroup(groupId);
  if (group === undefined) return;
  const limit = (await effectiveQuotas(store, ctx)).server_group_members;
  if (limit < 0) return;
  const members = new Set(group.members);
  const mine = (await liveServers(store, group.projectId)).filter(
    (s) => members.has(s.id) && s.userId === ctx.userId,
  ).length;
  if (mine + count > limit) {
    // NOTE: Nova wording (nova/compute/api.py).
    throw new ComputeError('quota.exceeded', 'Quota exceeded, too many servers in group');
  }
}

// --- Helpers ----------------------------------------------------------------------------------

/** Nova's TooManyInstances (403). */
function tooManyInstances(
  overs: string,
  requested: string,
  used: number,
  allowed: number,
): ComputeError {
  // NOTE: Nova wording (nova/exception.py TooManyInstances).
  return new ComputeError(
    'quota.exceeded',
    `Quota exceeded for ${overs}: Requested ${requested}, but already used ${used} of ${allowed} ${overs}`,
  );
}

/**
 * For each resource, the room left under the tighter of the project's and the user's limit,
 * with that limit (Infinity headroom when both are unlimited).
 */
async function headroom<R extends QuotaResource>(
  store: Store,
  owner: QuotaOwner,
  resources: readonly R[],
): Promise<Record<R, { headroom: number; limit: number }>> {
  // Each limit layer and each kind of record read once: the user's usage is its share of the
  // project's records.
  const layers = await layeredQuotas(store, owner);
  // A resource unlimited at every layer has infinite headroom whatever is used: not counted.
  const limited = resources.filter(
    (r) => layers.project[r] >= 0 || (layers.user !== undefined && layers.user[r] >= 0),
  );
  const records = await usageRecords(store, owner, limited);
  const levels: [QuotaLimits, QuotaLimits][] = [
    [layers.project, countUsage({ projectId: owner.projectId }, records)],
  ];
  if (layers.user !== undefined) levels.push([layers.user, countUsage(owner, records)]);
  const room = {} as Record<R, { headroom: number; limit: number }>;
  for (const r of resources) {
    let best = { headroom: Number.POSITIVE_INFINITY, limit: -1 };
    for (const [limits, used] of levels) {
      if (limits[r] < 0) continue;
      const left = limits[r] - used[r];
      if (left < best.headroom) best = { headroom: left, limit: limits[r] };
    }
    room[r] = best;
  }
  return room;
}

/** The caller's own project, or (admins) any project; Nova's policy and project check. */
async function authorizeProject(
  deps: QuotaDeps,
  ctx: RequestContext,
  projectId: string,
  action: string,
): Promise<void> {
  if (projectId !== ctx.projectId && !isAdmin(ctx)) {
    requireAdmin(ctx, `os_compute_api:os-quota-sets:${action}`);
  }
  await verifyProject(deps, projectId);
}

/** Nova's identity.verify_project_id: a project Keystone (here the store) does not know is a 400. */
async function verifyProject(deps: QuotaDeps, projectId: string): Promise<void> {
  if ((await deps.store.getProject(projectId)) === undefined) {
    // NOTE: Nova wording (nova/api/openstack/identity.py).
    throw new ComputeError('request.invalid', `Project ID ${projectId} is not a valid project.`);
  }
}

async function liveServers(store: Store, projectId: string): Promise<ServerRecord[]> {
  return (await store.listServers({ projectId })).filter((s) => s.vmState !== 'deleted');
}

function overlay(base: QuotaLimits, over: Readonly<Record<string, number>>): QuotaLimits {
  const merged: Record<string, number> = { ...base };
  for (const r of QUOTA_RESOURCES) {
    const value = over[r];
    if (value !== undefined) merged[r] = value;
  }
  return merged as QuotaLimits;
}

function entries(
  limits: Readonly<Partial<Record<QuotaResource, number>>>,
): [QuotaResource, number][] {
  return Object.entries(limits) as [QuotaResource, number][];
}

/** -1 (unlimited) as infinity, for comparisons. */
function unlimitedAware(limit: number): number {
  return limit < 0 ? Number.POSITIVE_INFINITY : limit;
}

function classScope(name: string): QuotaScope {
  return { kind: 'class', name };
}

function scopeOf(owner: QuotaOwner): QuotaScope {
  return owner.userId === undefined
    ? { kind: 'project', projectId: owner.projectId }
    : { kind: 'user', projectId: owner.projectId, userId: owner.userId };
}
