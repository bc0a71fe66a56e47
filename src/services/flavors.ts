/**
 * Flavor use cases: create, list, show, delete, access, and extra specs validated from the specs
 * registry. Policy (Nova's defaults): only admins write; everyone sees public flavors; a private
 * flavor is visible to admins and to projects on its access list, and is a 404 to anyone else.
 */
import type { Flavor } from '../domain/index.js';
import { ComputeError, type Issue } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import { flavorNotFound } from '../ports/store-errors.js';
import type { SortSpec } from '../domain/index.js';
import {
  MARKER_NOT_FOUND,
  type FlavorRecord,
  type FlavorSortKey,
  type Store,
} from '../ports/store.js';
import { validateFlavorExtraSpecs } from '../specs/index.js';
import { isAdmin, requireAdmin, type RequestContext } from './identity.js';

export type { FlavorRecord, FlavorSortKey } from '../ports/store.js';

/** What flavor use cases need. */
export interface FlavorDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
}

/** A flavor create request, shape-checked by the API. `id` undefined means "make a UUID". */
export type NewFlavor = Omit<FlavorRecord, 'id' | 'extraSpecs' | 'createdAt'> & {
  readonly id: string | undefined;
};

/** Creates a flavor (admin only). */
export async function createFlavor(
  deps: FlavorDeps,
  ctx: RequestContext,
  input: NewFlavor,
): Promise<FlavorRecord> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-manage:create');
  const flavor: FlavorRecord = {
    ...input,
    id: input.id ?? deps.ids.newUuid(),
    extraSpecs: {},
    createdAt: deps.clock.now().toISOString(),
  };
  // NOTE: as in Nova, a private flavor starts with an empty access list: Nova keeps the creating
  // project off it for backward compatibility (nova/api/openstack/compute/flavors.py create,
  // bug 1209101), so it is listed to its admins only with is_public=false or none.
  await deps.store.createFlavor(flavor, []);
  return flavor;
}

/** Which flavors a list shows: public only (the default), private only, or all (admins). */
export type PublicFilter = 'public' | 'private' | 'all';

/** Nova's `[api] max_limit`: the most items one list page holds, whatever `limit` asks. */
export const MAX_LIST_LIMIT = 1000;

/** A flavor list request, checked by the API. */
export interface FlavorListOptions {
  /** Honoured for admins only; others always get Nova's non-admin view (see listFlavors). */
  readonly isPublic: PublicFilter;
  readonly minMemoryMiB?: number;
  readonly minDiskGiB?: number;
  /** Default: id ascending (Nova's flavorid). */
  readonly sort?: readonly SortSpec<FlavorSortKey>[];
  readonly marker?: string;
  /** At most MAX_LIST_LIMIT; absent means MAX_LIST_LIMIT. */
  readonly limit?: number;
}

/**
 * One page of the flavors the caller may see (nova/objects/flavor.py _flavor_get_all_from_db).
 * Non-admins get the public flavors plus the private ones shared with their project, whatever
 * is_public says; admins choose with is_public, and "public" also shows the private flavors
 * shared with the admin's project, as in Nova. An unknown marker, or one the caller may not see,
 * is Nova's 400 "marker [X] not found".
 */
export async function listFlavors(
  deps: FlavorDeps,
  ctx: RequestContext,
  options: FlavorListOptions,
): Promise<FlavorRecord[]> {
  const filter = isAdmin(ctx) ? options.isPublic : 'public';
  if (options.marker !== undefined) {
    const marker = await deps.store.getFlavor(options.marker);
    if (marker === undefined || !(await canSee(deps, ctx, marker))) {
      throw markerNotFound(options.marker);
    }
  }
  const page = await deps.store.queryFlavors({
    ...(filter === 'all' ? {} : { isPublic: filter === 'public' }),
    ...(filter === 'public' ? { accessProjectId: ctx.projectId } : {}),
    ...(options.minMemoryMiB === undefined ? {} : { minMemoryMiB: options.minMemoryMiB }),
    ...(options.minDiskGiB === undefined ? {} : { minDiskGiB: options.minDiskGiB }),
    ...(options.sort === undefined ? {} : { sort: options.sort }),
    ...(options.marker === undefined ? {} : { marker: options.marker }),
    limit: Math.min(options.limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT),
  });
  if (page === MARKER_NOT_FOUND) throw markerNotFound(options.marker ?? '');
  return page;
}

/** Nova's 400 for a list marker that names nothing the caller can see. */
export function markerNotFound(marker: string): ComputeError {
  // NOTE: Nova wording (nova/api/openstack/compute/flavors.py and servers.py).
  return new ComputeError('request.invalid', `marker [${marker}] not found`);
}

/** One flavor the caller may see, or `flavor.not_found`. */
export async function showFlavor(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
): Promise<FlavorRecord> {
  const flavor = await deps.store.getFlavor(id);
  if (flavor === undefined || !(await canSee(deps, ctx, flavor))) throw flavorNotFound(id);
  return flavor;
}

/** Deletes a flavor (admin only). */
export async function deleteFlavor(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
): Promise<void> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-manage:delete');
  if (!(await deps.store.deleteFlavor(id))) throw flavorNotFound(id);
}

/** Grants a project access to a private flavor (admin only). */
export async function addFlavorAccess(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
  projectId: string,
): Promise<string[]> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-access:add_tenant_access');
  const flavor = await deps.store.getFlavor(id);
  if (flavor === undefined) throw flavorNotFound(id);
  if (flavor.isPublic) {
    // NOTE: Nova wording (nova/api/openstack/compute/flavor_access.py).
    throw new ComputeError('flavor.is_public', 'Can not add access to a public flavor.');
  }
  await deps.store.addFlavorAccess(id, projectId);
  return deps.store.listFlavorAccess(id);
}

/** The projects with access to a private flavor (admin only). */
export async function listFlavorAccess(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
): Promise<string[]> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-access');
  const flavor = await deps.store.getFlavor(id);
  if (flavor === undefined) throw flavorNotFound(id);
  return deps.store.listFlavorAccess(id);
}

/**
 * The most extra specs one flavor may carry. Nova sets no limit; 128 is Glance's default for image
 * properties and Nova's for server metadata items (`metadata_items`), and far above what any
 * flavor needs. It bounds what every boot copies into the server record and its notifications
 * (the store itself takes any number of specs since its writes go in batches).
 */
export const MAX_FLAVOR_EXTRA_SPECS = 128;

/** Options for setting extra specs. */
export interface SetExtraSpecsOptions {
  /**
   * Refuse unknown keys in the namespaces vpmu validates (Nova does this from microversion 2.86).
   * Bad values for known keys are refused regardless (DESIGN §2.4).
   */
  readonly rejectUnknownKeys: boolean;
}

/**
 * Validates and merges extra specs into a flavor (admin only). All keys are checked before
 * anything is written; one bad key means nothing changes.
 */
export async function setExtraSpecs(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
  specs: Readonly<Record<string, string>>,
  options: SetExtraSpecsOptions,
): Promise<FlavorRecord> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-extra-specs:create');
  const flavor = await deps.store.getFlavor(id);
  if (flavor === undefined) throw flavorNotFound(id);
  const count = new Set([...Object.keys(flavor.extraSpecs), ...Object.keys(specs)]).size;
  if (count > MAX_FLAVOR_EXTRA_SPECS) {
    throw new ComputeError(
      'request.invalid',
      `Cannot set extra specs on flavor ${id}: it would have ${count} extra specs, and a flavor may have at most ${MAX_FLAVOR_EXTRA_SPECS}`,
    );
  }
  const issues = checkExtraSpecs(flavor, specs, options);
  const [first] = issues;
  if (first !== undefined) {
    throw new ComputeError(first.code, issues.map((issue) => issue.message).join('\n'), { issues });
  }
  return deps.store.setExtraSpecs(id, specs);
}

/** Deletes one extra spec (admin only). */
export async function deleteExtraSpec(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
  key: string,
): Promise<void> {
  requireAdmin(ctx, 'os_compute_api:os-flavor-extra-specs:delete');
  if ((await deps.store.getFlavor(id)) === undefined) throw flavorNotFound(id);
  if (!(await deps.store.deleteExtraSpec(id, key))) throw extraSpecNotFound(id, key);
}

/** One extra spec's value, or `flavor.extra_spec_not_found`. */
export async function showExtraSpec(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
  key: string,
): Promise<string> {
  const flavor = await showFlavor(deps, ctx, id);
  const value = flavor.extraSpecs[key];
  if (value === undefined) throw extraSpecNotFound(id, key);
  return value;
}

/** The issues with extra specs about to be set on a flavor. */
export function checkExtraSpecs(
  flavor: FlavorRecord,
  specs: Readonly<Record<string, string>>,
  options: SetExtraSpecsOptions,
): Issue[] {
  const candidate: Flavor = { ...toFlavor(flavor), extraSpecs: specs };
  return validateFlavorExtraSpecs(candidate).filter(
    (issue) => options.rejectUnknownKeys || issue.code !== 'spec.unknown_key',
  );
}

/** The domain Flavor a record describes (what designGuest() and the resolvers read). */
export function toFlavor(record: FlavorRecord): Flavor {
  return {
    id: record.id,
    name: record.name,
    vcpus: record.vcpus,
    memoryMiB: record.memoryMiB,
    diskGiB: record.diskGiB,
    extraSpecs: record.extraSpecs,
  };
}

function extraSpecNotFound(id: string, key: string): ComputeError {
  // NOTE: Nova wording (nova/exception.py FlavorExtraSpecsNotFound).
  return new ComputeError(
    'flavor.extra_spec_not_found',
    `Flavor ${id} has no extra specs with key ${key}.`,
  );
}

async function canSee(
  deps: FlavorDeps,
  ctx: RequestContext,
  flavor: FlavorRecord,
): Promise<boolean> {
  return (
    flavor.isPublic ||
    isAdmin(ctx) ||
    (await deps.store.listFlavorAccess(flavor.id)).includes(ctx.projectId)
  );
}
