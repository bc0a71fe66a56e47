/**
 * Which servers a list shows and in what order, as Nova's compute API and database filter them
 * (nova/compute/api.py get_all, nova/db/main/api.py instance_get_all_by_filters_sort). The API
 * turns the query string into a ServerListQuery (nova/api/openstack/compute/servers.py
 * _get_servers); this module only applies it.
 */
import { compilePyRegex, sortComparator, type PyRegex, type SortSpec } from '../domain/index.js';
import type { ServerRecord } from '../ports/store.js';

/** The server fields vpmu can sort by; a Nova sort key vpmu has no value for sorts as all-equal. */
export type ServerSortKey =
  | 'createdAt'
  | 'updatedAt'
  | 'launchedAt'
  | 'name'
  | 'host'
  | 'imageId'
  | 'flavorId'
  | 'projectId'
  | 'userId'
  | 'id'
  | 'vmState'
  | 'taskState'
  | 'powerState'
  | 'none';

/** A server list request, already checked and narrowed to what the caller may use. */
export interface ServerListQuery {
  /** Every project's servers (admins with all_tenants); otherwise the caller's project only. */
  readonly allTenants: boolean;
  /** With allTenants: only this project's. */
  readonly projectId?: string;
  readonly userId?: string;
  /** A Python regex, matched with re.search semantics (Nova's REGEXP on display_name). */
  readonly name?: string;
  /** Nova's status filter as vm_states and, unless a status maps to every task state, task states. */
  readonly vmStates?: readonly string[];
  readonly taskStates?: readonly (string | null)[];
  readonly flavorId?: string;
  readonly imageId?: string;
  readonly host?: string;
  readonly uuid?: string;
  /** ISO 8601 instants, already normalised: updated at or after / at or before. */
  readonly changesSince?: number;
  readonly changesBefore?: number;
  /** A filter no vpmu server can pass (ip, ip6, tags, an attribute vpmu does not keep). */
  readonly matchesNothing?: boolean;
  /** Sort keys with their directions, tie-breakers (createdAt, id) included. */
  readonly sort: readonly SortSpec<ServerSortKey>[];
  readonly marker?: string;
  readonly limit: number;
}

/** The value a sort key reads from a server. */
function serverSortValue(server: ServerRecord, key: ServerSortKey): string | number | null {
  switch (key) {
    case 'createdAt':
      return server.createdAt;
    case 'updatedAt':
      return server.updatedAt;
    case 'launchedAt':
      return server.launchedAt;
    case 'name':
      return server.name;
    case 'host':
      return server.host;
    case 'imageId':
      return server.image.id;
    case 'flavorId':
      return server.flavor.id;
    case 'projectId':
      return server.projectId;
    case 'userId':
      return server.userId;
    case 'id':
      return server.id;
    case 'vmState':
      return server.vmState;
    case 'taskState':
      return server.taskState;
    case 'powerState':
      return server.powerState;
    case 'none':
      return null;
  }
}

/** The predicate a query's filters make (the name regex compiled once, run in linear time). */
export function serverFilter(query: ServerListQuery): (server: ServerRecord) => boolean {
  const name: PyRegex | undefined =
    query.name === undefined ? undefined : compilePyRegex(query.name);
  return (s) =>
    query.matchesNothing !== true &&
    (query.projectId === undefined || s.projectId === query.projectId) &&
    (query.userId === undefined || s.userId === query.userId) &&
    (query.vmStates === undefined || query.vmStates.includes(s.vmState)) &&
    (query.taskStates === undefined || query.taskStates.includes(s.taskState)) &&
    (query.flavorId === undefined || s.flavor.id === query.flavorId) &&
    (query.imageId === undefined || s.image.id === query.imageId) &&
    (query.host === undefined || s.host === query.host) &&
    (query.uuid === undefined || s.id === query.uuid) &&
    (query.changesSince === undefined || Date.parse(s.updatedAt) >= query.changesSince) &&
    (query.changesBefore === undefined || Date.parse(s.updatedAt) <= query.changesBefore) &&
    (name === undefined || name.search(s.name));
}

/** The comparator of a query's sort keys. */
export function serverComparator(
  sort: readonly SortSpec<ServerSortKey>[],
): (a: ServerRecord, b: ServerRecord) => number {
  return sortComparator(sort, serverSortValue);
}
