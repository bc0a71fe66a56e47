/**
 * Nova's host aggregates and the availability zones they make (os-aggregates, admin only). An
 * aggregate is a named set of compute hosts with metadata; its metadata key `availability_zone`
 * puts its hosts in that zone. A host is in at most one zone; a host in no zone is in Nova's
 * `default_availability_zone`, `nova`.
 *
 * Refusals follow Nova's AggregateAPI (nova/compute/api.py) and its exceptions' wording.
 */
import { ComputeError } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import { aggregateNotFound } from '../ports/store-errors.js';
import type { AggregateRecord, ComputeHostRecord, Store } from '../ports/store.js';
import { requireAdmin, type RequestContext } from './identity.js';

export type { AggregateRecord };

/** Nova's default_availability_zone: the zone of a host no aggregate puts in a zone. */
export const DEFAULT_AVAILABILITY_ZONE = 'nova';

/** The metadata key that holds an aggregate's availability zone. */
export const AZ_KEY = 'availability_zone';

export interface AggregateDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
}

/** An aggregate's availability zone; null when it sets none. */
export function zoneOf(aggregate: AggregateRecord): string | null {
  return aggregate.metadata[AZ_KEY] ?? null;
}

/** Each host's availability zone, by name, for the hosts some aggregate puts in a zone. */
export function zonesByHost(aggregates: readonly AggregateRecord[]): Map<string, string> {
  const zones = new Map<string, string>();
  for (const aggregate of aggregates) {
    const zone = zoneOf(aggregate);
    if (zone === null) continue;
    for (const host of aggregate.hosts) if (!zones.has(host)) zones.set(host, zone);
  }
  return zones;
}

/** A zone as os-availability-zone shows it: available while one of its hosts is enabled. */
export interface AvailabilityZone {
  readonly name: string;
  readonly available: boolean;
  /** Its hosts, in name order. */
  readonly hosts: readonly ComputeHostRecord[];
}

/**
 * The zones of the compute hosts: a zone with an enabled host is available; a zone whose hosts are
 * all disabled is not. The available ones come first, each group in name order; a zone with no
 * host at all is not listed, as in Nova.
 */
export async function availabilityZones(store: Store): Promise<AvailabilityZone[]> {
  const zoneOfHost = zonesByHost(await store.listAggregates());
  const byZone = new Map<string, ComputeHostRecord[]>();
  for (const host of await store.listComputeHosts()) {
    const zone = zoneOfHost.get(host.name) ?? DEFAULT_AVAILABILITY_ZONE;
    byZone.set(zone, [...(byZone.get(zone) ?? []), host]);
  }
  const zones: AvailabilityZone[] = [...byZone.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, hosts]) => ({ name, available: hosts.some((h) => h.enabled), hosts }));
  // Nova lists the available zones first, then the others.
  return [...zones.filter((z) => z.available), ...zones.filter((z) => !z.available)];
}

/** What a server create asks of placement through `availability_zone`. */
export interface ZoneRequest {
  /** The zone the server must be in; absent when any will do. */
  readonly zone?: string;
  /** The host an admin forced (`zone:host` or `zone::node`). */
  readonly host?: string;
}

/**
 * Reads a create's `availability_zone` as Nova does: `zone`, `zone:host`, `zone::node` or
 * `zone:host:node` (the node is the host in vpmu, so both must agree). Forcing a host is for
 * admins (Nova's `os_compute_api:servers:create:forced_host`); a zone alone must be one with an
 * enabled host; a forced host must exist.
 */
export async function resolveZoneRequest(
  store: Store,
  ctx: RequestContext,
  value: string,
): Promise<ZoneRequest> {
  const parts = value.split(':');
  if (parts.length > 3) {
    // NOTE: Nova wording (nova/compute/api.py _handle_availability_zone).
    throw new ComputeError(
      'request.invalid',
      'Invalid input received: Unable to parse availability_zone',
    );
  }
  const [zone = '', host = '', node = ''] = parts;
  if (host !== '' && node !== '' && host !== node) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute availability_zone. Value: ${value}. Host ${host} and node ${node} differ: in vpmu a compute host is its one node.`,
    );
  }
  const forced = host !== '' ? host : node;
  if (forced !== '') {
    requireAdmin(ctx, 'os_compute_api:servers:create:forced_host');
    if ((await store.getComputeHost(forced)) === undefined) {
      // NOTE: Nova wording (nova/exception.py ComputeHostNotFound).
      throw new ComputeError('request.invalid', `Compute host ${forced} could not be found.`);
    }
    return { ...(zone === '' ? {} : { zone }), host: forced };
  }
  const available = (await availabilityZones(store)).filter((z) => z.available);
  if (!available.some((z) => z.name === zone)) {
    // NOTE: Nova wording (nova/compute/api.py _validate_and_build_base_options).
    throw new ComputeError(
      'request.invalid',
      `The requested availability zone is not available: ${JSON.stringify(zone)} (available: ${available.map((z) => z.name).join(', ') || 'none'})`,
    );
  }
  return { zone };
}

/** Every aggregate, by id. */
export async function listAggregates(
  deps: AggregateDeps,
  ctx: RequestContext,
): Promise<AggregateRecord[]> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:index');
  return deps.store.listAggregates();
}

/** One aggregate, or Nova's 404. */
export async function showAggregate(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:show');
  return found(deps, id);
}

/** Creates an aggregate, with its zone in the metadata when one is given. */
export async function createAggregate(
  deps: AggregateDeps,
  ctx: RequestContext,
  name: string,
  zone: string | null,
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:create');
  return deps.store.createAggregate({
    uuid: deps.ids.newUuid(),
    name,
    hosts: [],
    metadata: zone === null ? {} : { [AZ_KEY]: zone },
    createdAt: deps.clock.now().toISOString(),
    updatedAt: null,
  });
}

/** Renames an aggregate and/or moves it to another zone (a null zone is refused, as in Nova). */
export async function updateAggregate(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
  changes: { readonly name?: string; readonly zone?: string | null },
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:update');
  const aggregate = await found(deps, id);
  const metadata =
    changes.zone === undefined
      ? aggregate.metadata
      : { ...aggregate.metadata, [AZ_KEY]: changes.zone };
  if (changes.zone !== undefined) {
    await checkZoneChange(deps.store, aggregate, changes.zone, aggregate.hosts, (reason) =>
      invalidAction(`Cannot update aggregate ${id}. Reason: ${reason}.`),
    );
  }
  const updated: AggregateRecord = {
    ...aggregate,
    name: changes.name ?? aggregate.name,
    metadata: withoutNulls(metadata),
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.saveAggregate(updated);
  return updated;
}

/**
 * Merges metadata into an aggregate's (a null value deletes its key); a change of the zone is
 * checked as an update's is.
 */
export async function setAggregateMetadata(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
  metadata: Readonly<Record<string, string | null>>,
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:set_metadata');
  const aggregate = await found(deps, id);
  if (AZ_KEY in metadata) {
    await checkZoneChange(deps.store, aggregate, metadata[AZ_KEY] ?? null, aggregate.hosts, (r) =>
      invalidAction(`Cannot update metadata of aggregate ${id}. Reason: ${r}.`),
    );
  }
  const updated: AggregateRecord = {
    ...aggregate,
    metadata: withoutNulls({ ...aggregate.metadata, ...metadata }),
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.saveAggregate(updated);
  return updated;
}

/** Deletes an aggregate that has no hosts left. */
export async function deleteAggregate(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
): Promise<void> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:delete');
  const aggregate = await found(deps, id);
  if (aggregate.hosts.length > 0) {
    // NOTE: Nova wording (nova/exception.py InvalidAggregateActionDelete).
    throw invalidAction(`Cannot remove aggregate ${id}. Reason: Host aggregate is not empty.`);
  }
  if (!(await deps.store.deleteAggregate(id))) throw aggregateNotFound(id);
}

/** Adds a compute host to an aggregate, unless that would put it in two zones. */
export async function addAggregateHost(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
  host: string,
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:add_host');
  await computeHost(deps.store, host);
  const aggregate = await found(deps, id);
  if (aggregate.hosts.includes(host)) {
    // NOTE: Nova wording (nova/exception.py AggregateHostExists).
    throw new ComputeError('aggregate.host_exists', `Aggregate ${id} already has host ${host}.`);
  }
  const zone = zoneOf(aggregate);
  if (zone !== null) {
    await checkZoneChange(
      deps.store,
      aggregate,
      zone,
      [host],
      (reason) =>
        // NOTE: Nova answers this one with 409 (InvalidAggregateActionAdd on add_host).
        new ComputeError(
          'aggregate.host_exists',
          `Cannot add host to aggregate ${id}. Reason: ${reason}.`,
        ),
    );
  }
  const updated: AggregateRecord = { ...aggregate, hosts: [...aggregate.hosts, host] };
  await deps.store.saveAggregate(updated);
  return updated;
}

/** Takes a host out of an aggregate. */
export async function removeAggregateHost(
  deps: AggregateDeps,
  ctx: RequestContext,
  id: number,
  host: string,
): Promise<AggregateRecord> {
  requireAdmin(ctx, 'os_compute_api:os-aggregates:remove_host');
  const aggregate = await deps.store.getAggregate(id);
  const known = (await deps.store.getComputeHost(host)) !== undefined;
  if (aggregate === undefined || !known || !aggregate.hosts.includes(host)) {
    // NOTE: Nova wording (nova/api/openstack/compute/aggregates.py _remove_host).
    throw new ComputeError('aggregate.not_found', `Cannot remove host ${host} in aggregate ${id}`);
  }
  const updated: AggregateRecord = {
    ...aggregate,
    hosts: aggregate.hosts.filter((h) => h !== host),
  };
  await deps.store.saveAggregate(updated);
  return updated;
}

async function found(deps: AggregateDeps, id: number): Promise<AggregateRecord> {
  const aggregate = await deps.store.getAggregate(id);
  if (aggregate === undefined) throw aggregateNotFound(id);
  return aggregate;
}

async function computeHost(store: Store, host: string): Promise<void> {
  if ((await store.getComputeHost(host)) === undefined) {
    // NOTE: Nova wording (nova/exception.py ComputeHostNotFound).
    throw new ComputeError('service.not_found', `Compute host ${host} could not be found.`);
  }
}

/**
 * Nova's is_safe_to_update_az: a zone must not be empty, and none of `hosts` may be in another
 * aggregate with a different zone.
 */
async function checkZoneChange(
  store: Store,
  aggregate: AggregateRecord,
  zone: string | null,
  hosts: readonly string[],
  refuse: (reason: string) => ComputeError,
): Promise<void> {
  if (zone === null || zone === '') {
    throw refuse(`Aggregate ${aggregate.name} does not support empty named availability zone`);
  }
  const conflicting = (await store.listAggregates()).flatMap((other) => {
    const otherZone = zoneOf(other);
    return other.id !== aggregate.id &&
      otherZone !== null &&
      otherZone !== zone &&
      other.hosts.some((h) => hosts.includes(h))
      ? [otherZone]
      : [];
  });
  if (conflicting.length > 0) {
    throw refuse(
      `One or more hosts already in availability zone(s) [${conflicting.map((z) => `'${z}'`).join(', ')}]`,
    );
  }
}

function invalidAction(message: string): ComputeError {
  return new ComputeError('aggregate.invalid_action', message);
}

function withoutNulls(metadata: Readonly<Record<string, string | null>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(metadata).filter((e): e is [string, string] => e[1] !== null),
  );
}
