/**
 * Nova's compute services (os-services): one `nova-compute` per registered host. An operator
 * disables a host (with a reason) to keep new servers off it, forces it down, or deletes the
 * service of a host that runs nothing. A compute reports a heartbeat every few seconds; one
 * silent for longer than `service_down_time` is down, as in Nova. vpmu serves its API, scheduler
 * and conductor inside one process, so it has no separate nova-scheduler or nova-conductor
 * services to list.
 */
import { createHash } from 'node:crypto';
import { ComputeError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { ComputeHostRecord, Store } from '../ports/store.js';
import { requireAdmin, type RequestContext } from './identity.js';

export const COMPUTE_BINARY = 'nova-compute';

/** Nova's service_down_time default (seconds). */
export const DEFAULT_SERVICE_DOWN_TIME = 60;

/**
 * Whether a host's compute service is up, as Nova's servicegroup tells it: down when an operator
 * forced it down, or when its last heartbeat is more than `serviceDownTimeS` seconds before
 * `now`; up otherwise. A host that never reported (no heartbeatAt: records written straight
 * into a store, as test fixtures are, or by a vpmu from before heartbeats) counts as up, since
 * nothing says it stopped.
 */
export function serviceState(
  host: Pick<ComputeHostRecord, 'forcedDown' | 'heartbeatAt'>,
  now: Date,
  serviceDownTimeS: number,
): 'up' | 'down' {
  if (host.forcedDown === true) return 'down';
  if (host.heartbeatAt === undefined || host.heartbeatAt === null) return 'up';
  const silentMs = now.getTime() - Date.parse(host.heartbeatAt);
  return silentMs > serviceDownTimeS * 1000 ? 'down' : 'up';
}

/** What telling a compute service's state needs: the store, the time and Nova's setting. */
export interface ComputeServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  /** Nova's service_down_time (seconds). @default 60 */
  readonly serviceDownTime?: number;
}

/**
 * The ISO time before which a heartbeat means down now: the same rule as serviceState, for a
 * store's query of the silent hosts (Store.silentHosts).
 */
export function silentBefore(deps: Omit<ComputeServiceDeps, 'store'>): string {
  const downTimeMs = (deps.serviceDownTime ?? DEFAULT_SERVICE_DOWN_TIME) * 1000;
  return new Date(deps.clock.now().getTime() - downTimeMs).toISOString();
}

/** `serviceState` of a host now, with the deps' setting. */
export function stateOf(
  deps: Omit<ComputeServiceDeps, 'store'>,
  host: Pick<ComputeHostRecord, 'forcedDown' | 'heartbeatAt'>,
): 'up' | 'down' {
  return serviceState(host, deps.clock.now(), deps.serviceDownTime ?? DEFAULT_SERVICE_DOWN_TIME);
}

/** A compute service as the API shows it: the host's record and its ids. */
export interface ComputeService {
  readonly host: ComputeHostRecord;
  /** 1-based position in name order: the id before microversion 2.53. */
  readonly id: number;
  /** The id from 2.53. */
  readonly uuid: string;
  /** serviceState(): `down` when forced down or silent longer than service_down_time. */
  readonly state: 'up' | 'down';
}

/** What an operator changes on a compute service. */
export interface ServiceChanges {
  readonly enabled?: boolean;
  /** Only with `enabled: false`; null clears it. */
  readonly disabledReason?: string | null;
  readonly forcedDown?: boolean;
}

/**
 * A host's UUID, stable for its name (an RFC 4122 version 5 UUID in vpmu's own namespace):
 * `kind` separates the compute node's UUID from its service's.
 */
export function hostUuid(name: string, kind: 'compute-node' | 'service'): string {
  const bytes = createHash('sha1').update(`vpmu:${kind}:${name}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Every compute service, in host name order; admins only. */
export async function listComputeServices(
  deps: ComputeServiceDeps,
  ctx: RequestContext,
): Promise<ComputeService[]> {
  requireAdmin(ctx, 'os_compute_api:os-services:list');
  return (await deps.store.listComputeHosts()).map((host, i) => ({
    host,
    id: i + 1,
    uuid: hostUuid(host.name, 'service'),
    state: stateOf(deps, host),
  }));
}

/** The service with this id (an integer before 2.53, a UUID from 2.53), or Nova's 404. */
export async function findComputeService(
  deps: ComputeServiceDeps,
  ctx: RequestContext,
  id: string,
): Promise<ComputeService> {
  const found = (await listComputeServices(deps, ctx)).find(
    (s) => s.uuid === id || String(s.id) === id,
  );
  // NOTE: Nova wording (nova/exception.py ServiceNotFound).
  if (found === undefined) {
    throw new ComputeError('service.not_found', `Service ${id} could not be found.`);
  }
  return found;
}

/** The service of `binary` on `host` (the forms before 2.53 name it so), or Nova's errors. */
export async function findByHostAndBinary(
  deps: ComputeServiceDeps,
  ctx: RequestContext,
  host: string,
  binary: string,
): Promise<ComputeService> {
  const services = await listComputeServices(deps, ctx);
  const found = services.find((s) => s.host.name === host);
  if (binary !== COMPUTE_BINARY) throw onlyComputeUpdates(binary);
  if (found === undefined) {
    // NOTE: Nova wording (nova/exception.py HostBinaryNotFound).
    throw new ComputeError('service.not_found', `Could not find binary ${binary} on host ${host}.`);
  }
  return found;
}

/** Applies an operator's changes; disabling keeps new servers off the host. */
export async function updateComputeService(
  deps: ComputeServiceDeps,
  ctx: RequestContext,
  service: ComputeService,
  changes: ServiceChanges,
): Promise<ComputeService> {
  requireAdmin(ctx, 'os_compute_api:os-services:update');
  const enabled = changes.enabled ?? service.host.enabled;
  // Written without the heartbeat read with it, so a report made meanwhile is kept.
  const { heartbeatAt, ...known } = service.host;
  const host: ComputeHostRecord = {
    ...known,
    enabled,
    disabledReason: enabled
      ? null
      : (changes.disabledReason ?? service.host.disabledReason ?? null),
    forcedDown: changes.forcedDown ?? service.host.forcedDown ?? false,
  };
  await deps.store.putComputeHost(host);
  const shown = heartbeatAt === undefined ? host : { ...host, heartbeatAt };
  return { ...service, host: shown, state: stateOf(deps, shown) };
}

/**
 * Deletes a compute service and its host's record, so the scheduler no longer sees the host,
 * refused while any server is on it. A compute that starts again registers anew, as in Nova.
 */
export async function deleteComputeService(
  deps: ComputeServiceDeps,
  ctx: RequestContext,
  service: ComputeService,
): Promise<void> {
  requireAdmin(ctx, 'os_compute_api:os-services:delete');
  const name = service.host.name;
  const servers = (await deps.store.listServers()).filter((s) => s.host === name);
  const held = (await deps.store.listAllocations()).filter((a) => a.host === name);
  if (servers.length > 0 || held.length > 0) {
    // NOTE: Nova wording (nova/api/openstack/compute/services.py).
    throw new ComputeError(
      'service.in_use',
      `Unable to delete compute service that is hosting instances. Migrate or delete the instances first. Host ${name} has ${servers.length} server(s).`,
    );
  }
  await deps.store.deleteComputeHost(name);
}

// NOTE: Nova wording (nova/api/openstack/compute/services.py).
function onlyComputeUpdates(binary: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Updating a ${binary} service is not supported. Only nova-compute services can be updated.`,
  );
}
