/**
 * `GET /servers` and `/servers/detail` query strings read as Nova reads them
 * (nova/api/openstack/compute/schemas/servers.py index_query by microversion, then
 * nova/api/openstack/compute/servers.py _get_servers and remove_invalid_options):
 *
 * 1. The schema: before 2.75 parameters it does not list are dropped silently; from 2.75 they
 *    are a 400. Listed ones are checked: sort_key against its enum, changes-since/-before as
 *    date-times, limit as a whole number, the regex parameters (name, ip, …) as regexes.
 * 2. Non-admins keep only the filters Nova lets them use (name, status, image, flavor, ip,
 *    changes-since, all_tenants, ip6 from 2.5, tags from 2.26, changes-before from 2.66, locked
 *    from 2.73, a dozen more from 2.83, hostname from 2.90); the rest (host, tenant_id,
 *    project_id, …) are ignored, not refused.
 * 3. Then Nova's own checks, in its order: joined-table and `_` filters, status, deleted servers,
 *    all_tenants, sort keys (the ignored ones dropped; host and node for admins only).
 */
import { ComputeError } from '../errors/index.js';
import { compilePyRegex, PyRegexError, type SortDir, type SortSpec } from '../domain/index.js';
import {
  MAX_LIST_LIMIT,
  parseBoolean,
  type ServerListQuery,
  type ServerSortKey,
} from '../services/index.js';
import {
  invalidQuery,
  lastValue,
  limitParam,
  rejectUnknownParams,
  type QueryParams,
} from './_query.js';
import { atLeast, type Microversion } from './microversion.js';

const COMMON = [
  'user_id',
  'project_id',
  'tenant_id',
  'launch_index',
  'image_ref',
  'image',
  'vm_state',
  'task_state',
  'host',
  'sort_dir',
  'all_tenants',
  'soft_deleted',
  'deleted',
  'status',
  'uuid',
  'limit',
  'marker',
];
const REGEX = [
  'kernel_id',
  'ramdisk_id',
  'hostname',
  'key_name',
  'power_state',
  'node',
  'flavor',
  'reservation_id',
  'launched_at',
  'terminated_at',
  'availability_zone',
  'name',
  'display_name',
  'description',
  'display_description',
  'locked_by',
  'root_device_name',
  'config_drive',
  'access_ip_v4',
  'access_ip_v6',
  'auto_disk_config',
  'progress',
  'ip',
  'ip6',
  'created_at',
];
const JOINED = [
  'block_device_mapping',
  'services',
  'metadata',
  'system_metadata',
  'info_cache',
  'security_groups',
  'pci_devices',
];
const TAGS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];

/** The parameters Nova's schema lists at this microversion, and which of them are regexes. */
function schemaParams(mv: Microversion): { all: Set<string>; regex: Set<string> } {
  const regex = new Set(REGEX);
  const all = new Set([...COMMON, ...REGEX, ...JOINED, 'sort_key', 'changes-since']);
  if (atLeast(mv, 2, 26)) {
    for (const tag of TAGS) {
      all.add(tag);
      regex.add(tag);
    }
  }
  if (atLeast(mv, 2, 66)) all.add('changes-before');
  if (atLeast(mv, 2, 73)) all.add('locked');
  return { all, regex };
}

/** What a non-admin may filter by (nova/api/openstack/compute/servers.py _get_server_search_options). */
function nonAdminParams(mv: Microversion): Set<string> {
  const allowed = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since'];
  allowed.push('all_tenants');
  if (atLeast(mv, 2, 5)) allowed.push('ip6');
  if (atLeast(mv, 2, 26)) allowed.push(...TAGS);
  if (atLeast(mv, 2, 66)) allowed.push('changes-before');
  if (atLeast(mv, 2, 73)) allowed.push('locked');
  if (atLeast(mv, 2, 83)) {
    allowed.push(
      'availability_zone',
      'config_drive',
      'key_name',
      'created_at',
      'launched_at',
      'terminated_at',
      'power_state',
      'task_state',
      'vm_state',
      'progress',
      'user_id',
    );
  }
  if (atLeast(mv, 2, 90)) allowed.push('hostname');
  return new Set([...allowed, 'limit', 'marker', 'sort_key', 'sort_dir']);
}

/** Nova's sort keys that it accepts but ignores (SERVER_LIST_IGNORE_SORT_KEY). */
const IGNORED_SORT_KEYS = [
  'architecture',
  'cell_name',
  'cleaned',
  'default_ephemeral_device',
  'default_swap_device',
  'deleted',
  'deleted_at',
  'disable_terminate',
  'ephemeral_gb',
  'ephemeral_key_uuid',
  'id',
  'key_data',
  'launched_on',
  'locked',
  'memory_mb',
  'os_type',
  'reservation_id',
  'root_gb',
  'shutdown_terminate',
  'user_data',
  'vcpus',
  'vm_mode',
];

/** Nova's valid server sort keys and what each reads in vpmu ('none': vpmu keeps no such value). */
const SORT_KEYS: Readonly<Record<string, ServerSortKey>> = {
  access_ip_v4: 'none',
  access_ip_v6: 'none',
  auto_disk_config: 'none',
  availability_zone: 'none',
  config_drive: 'none',
  created_at: 'createdAt',
  display_description: 'none',
  display_name: 'name',
  host: 'host',
  hostname: 'name',
  image_ref: 'imageId',
  instance_type_id: 'flavorId',
  kernel_id: 'none',
  key_name: 'none',
  launch_index: 'none',
  launched_at: 'launchedAt',
  locked_by: 'none',
  node: 'host',
  power_state: 'powerState',
  progress: 'none',
  project_id: 'projectId',
  ramdisk_id: 'none',
  root_device_name: 'none',
  task_state: 'taskState',
  terminated_at: 'none',
  updated_at: 'updatedAt',
  user_id: 'userId',
  uuid: 'id',
  vm_state: 'vmState',
};

/** The sort_key enum at a microversion. */
function validSortKeys(mv: Microversion): string[] {
  const keys = Object.keys(SORT_KEYS);
  if (atLeast(mv, 2, 75)) return [...keys, 'locked'];
  return [...keys, ...IGNORED_SORT_KEYS];
}

/** nova/api/openstack/common.py _STATE_MAP: status → the (vm_state, task_state) pairs that show it. */
const STATE_MAP: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  active: {
    default: 'ACTIVE',
    rebooting: 'REBOOT',
    reboot_pending: 'REBOOT',
    reboot_started: 'REBOOT',
    rebooting_hard: 'HARD_REBOOT',
    reboot_pending_hard: 'HARD_REBOOT',
    reboot_started_hard: 'HARD_REBOOT',
    updating_password: 'PASSWORD',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
    migrating: 'MIGRATING',
    resize_prep: 'RESIZE',
    resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE',
  },
  building: { default: 'BUILD' },
  stopped: {
    default: 'SHUTOFF',
    resize_prep: 'RESIZE',
    resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
  },
  resized: { default: 'VERIFY_RESIZE', resize_reverting: 'REVERT_RESIZE' },
  paused: { default: 'PAUSED', migrating: 'MIGRATING' },
  suspended: { default: 'SUSPENDED' },
  rescued: { default: 'RESCUE' },
  error: {
    default: 'ERROR',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
  },
  deleted: { default: 'DELETED' },
  'soft-delete': { default: 'SOFT_DELETED' },
  shelved: { default: 'SHELVED' },
  shelved_offloaded: { default: 'SHELVED_OFFLOADED' },
};

/** common.task_and_vm_state_from_status. */
function statesFromStatus(statuses: readonly string[]): { vm: string[]; task: string[] } {
  const wanted = new Set(statuses.map((s) => s.toLowerCase()));
  const vm = new Set<string>();
  const task = new Set<string>();
  for (const [state, tasks] of Object.entries(STATE_MAP)) {
    for (const [taskState, status] of Object.entries(tasks)) {
      if (wanted.has(status.toLowerCase())) {
        vm.add(state);
        task.add(taskState);
      }
    }
  }
  return { vm: [...vm].sort(), task: [...task].sort() };
}

/** oslo.utils' iso8601 parse (timeutils.parse_isotime): a date, optional time, optional zone. */
const ISO_8601 =
  /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/u;

/** Milliseconds since the epoch of an ISO 8601 time (UTC when it names no zone), or undefined. */
export function parseIsoTime(raw: string): number | undefined {
  const m = ISO_8601.exec(raw);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const offset =
    zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.length > 3 ? zone.slice(-2) : '00'}`;
  const text = `${y}-${mo}-${d}T${h}:${mi}:${s}.${(frac + '000').slice(0, 3)}${offset}`;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls 2026-02-30 over to March; a real parser refuses it.
  const check = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  return ms;
}

/** The server list query of a request, narrowed to what the caller may use. */
export function parseServerListQuery(
  params: QueryParams,
  mv: Microversion,
  admin: boolean,
): ServerListQuery {
  // 1. The schema.
  const schema = schemaParams(mv);
  if (atLeast(mv, 2, 75)) {
    rejectUnknownParams(
      params,
      new Set([...schema.all, ...[...params.keys()].filter((k) => k.startsWith('_'))]),
    );
  }
  const known = new Map([...params].filter(([key]) => schema.all.has(key) || key.startsWith('_')));
  const limit = limitParam(params);
  for (const value of known.get('sort_key') ?? []) {
    const keys = validSortKeys(mv);
    if (!keys.includes(value)) {
      throw invalidQuery(
        'sort_key',
        value,
        `'${value}' is not one of [${keys.map((k) => `'${k}'`).join(', ')}]`,
      );
    }
  }
  for (const name of ['changes-since', 'changes-before']) {
    for (const value of known.get(name) ?? []) {
      if (parseIsoTime(value) === undefined) {
        throw invalidQuery(name, value, `'${value}' is not a 'date-time'`);
      }
    }
  }
  let nameUnsupported: PyRegexError | undefined;
  for (const name of schema.regex) {
    for (const value of known.get(name) ?? []) {
      try {
        compilePyRegex(value);
      } catch (error) {
        if (!(error instanceof PyRegexError)) throw error;
        if (error.kind === 'invalid')
          throw invalidQuery(name, value, `'${value}' is not a 'regex'`);
        if (name === 'name' || name === 'display_name') nameUnsupported = error;
      }
    }
  }

  // 2. What non-admins may not filter by is dropped.
  const allowed = nonAdminParams(mv);
  const opts = new Map(admin ? known : [...known].filter(([key]) => allowed.has(key)));
  const one = (key: string): string | undefined => opts.get(key)?.at(-1);

  // 3. Nova's own checks.
  for (const key of opts.keys()) {
    if (JOINED.includes(key) || key.startsWith('_')) {
      // NOTE: Nova wording (servers.py _get_servers).
      throw new ComputeError('request.invalid', `Invalid filter field: ${key}.`);
    }
  }
  let vmStates: string[] | undefined;
  let taskStates: (string | null)[] | undefined;
  let matchesNothing = false;
  const statuses = params.get('status');
  if (opts.has('status') && statuses !== undefined) {
    const states = statesFromStatus(statuses);
    if (states.vm.length === 0 && states.task.length === 0) {
      if (atLeast(mv, 2, 38)) throw new ComputeError('request.invalid', 'Invalid status value');
      matchesNothing = true;
    }
    vmStates = states.vm;
    // NOTE: when a status is a vm_state's default, Nova does not filter by task state at all.
    if (!states.task.includes('default')) taskStates = states.task;
  } else {
    if (opts.has('vm_state')) vmStates = [...(opts.get('vm_state') ?? [])];
    if (opts.has('task_state')) taskStates = [...(opts.get('task_state') ?? [])];
  }
  if (vmStates?.length === 1 && vmStates[0] === 'deleted' && !admin) {
    throw new ComputeError('auth.forbidden', 'Only administrators may list deleted instances');
  }
  const since = one('changes-since');
  const before = one('changes-before');
  const changesSince = since === undefined ? undefined : parseIsoTime(since);
  const changesBefore = before === undefined ? undefined : parseIsoTime(before);
  if (changesSince !== undefined && changesBefore !== undefined && changesBefore < changesSince) {
    throw new ComputeError(
      'request.invalid',
      'The value of changes-since must be less than or equal to changes-before.',
    );
  }
  const allTenants = isAllTenants(opts.get('all_tenants'));
  const projectId = allTenants ? (one('project_id') ?? one('tenant_id')) : undefined;
  // vpmu keeps no deleted servers: deleted=true finds none (changes-since in Nova also lists
  // recently deleted servers; vpmu has no record of them to list).
  const deleted = one('deleted');
  if (deleted !== undefined && parseBoolean(deleted) === true) matchesNothing = true;
  if (opts.has('locked') && parseBoolean(one('locked') ?? '') === true) matchesNothing = true;
  // No vpmu server has an address, a tag or any of these attributes, so filtering by them
  // leaves nothing, as a NULL column matches no filter in Nova.
  for (const key of [
    'ip',
    'ip6',
    'tags',
    'tags-any',
    'reservation_id',
    'launch_index',
    'kernel_id',
    'ramdisk_id',
    'key_name',
    'availability_zone',
    'description',
    'display_description',
    'locked_by',
    'root_device_name',
    'config_drive',
    'access_ip_v4',
    'access_ip_v6',
    'auto_disk_config',
    'progress',
    'terminated_at',
    'launched_at',
    'created_at',
    'power_state',
  ]) {
    if (opts.has(key)) matchesNothing = true;
  }
  const name = one('name') ?? one('display_name');
  if (name !== undefined && nameUnsupported !== undefined) {
    throw invalidQuery(
      'name',
      name,
      `vpmu matches names in linear time and cannot use this pattern: ${nameUnsupported.message}`,
    );
  }
  const host = one('host') ?? one('node');
  const image = one('image') ?? one('image_ref');
  const flavor = one('flavor');
  const uuid = one('uuid');
  const userId = one('user_id');
  const marker = lastValue(params, 'marker');
  return {
    allTenants,
    ...(projectId === undefined ? {} : { projectId }),
    ...(userId === undefined ? {} : { userId }),
    ...(name === undefined ? {} : { name }),
    ...(vmStates === undefined ? {} : { vmStates }),
    ...(taskStates === undefined
      ? {}
      : { taskStates: taskStates.map((t) => (t === 'None' ? null : t)) }),
    ...(flavor === undefined ? {} : { flavorId: flavor }),
    ...(image === undefined ? {} : { imageId: image }),
    ...(host === undefined ? {} : { host }),
    ...(uuid === undefined ? {} : { uuid }),
    ...(changesSince === undefined ? {} : { changesSince }),
    ...(changesBefore === undefined ? {} : { changesBefore }),
    ...(matchesNothing ? { matchesNothing } : {}),
    sort: sortSpecs(params, mv, admin),
    ...(marker === undefined ? {} : { marker }),
    limit: Math.min(limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT),
  };
}

/** common.is_all_tenants: present and empty is true; otherwise a strict oslo boolean. */
function isAllTenants(values: readonly string[] | undefined): boolean {
  const raw = values?.at(-1);
  if (raw === undefined) return false;
  if (raw === '') return true;
  const value = parseBoolean(raw);
  if (value === undefined) {
    // NOTE: oslo.utils bool_from_string(strict=True) wording.
    throw new ComputeError(
      'request.invalid',
      `Invalid input received: Unrecognized value '${raw}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
    );
  }
  return value;
}

/**
 * common.get_sort_params, remove_invalid_sort_keys and the database's process_sort_params: keys
 * default to created_at, directions to desc; ignored keys go with their direction; host and node
 * are for admins only; created_at and id are added as tie-breakers in the first direction.
 */
function sortSpecs(
  params: QueryParams,
  mv: Microversion,
  admin: boolean,
): SortSpec<ServerSortKey>[] {
  const keys = (params.get('sort_key') ?? ['created_at']).map((k) => k.trim());
  const dirs = (params.get('sort_dir') ?? ['desc']).map((d) => d.trim());
  const ignored = atLeast(mv, 2, 73)
    ? IGNORED_SORT_KEYS.filter((k) => k !== 'locked')
    : IGNORED_SORT_KEYS;
  for (const key of [...keys]) {
    const at = keys.indexOf(key);
    if (ignored.includes(key)) {
      if (dirs.length > at) dirs.splice(at, 1);
      keys.splice(at, 1);
    } else if ((key === 'host' || key === 'node') && !admin) {
      throw new ComputeError('auth.forbidden', `Only administrators can sort servers by ${key}`);
    }
  }
  for (const dir of dirs) {
    if (dir !== 'asc' && dir !== 'desc') {
      throw new ComputeError(
        'request.invalid',
        `Invalid input received: Unknown sort direction, must be 'desc' or 'asc'`,
      );
    }
  }
  if (dirs.length > keys.length) {
    throw new ComputeError(
      'request.invalid',
      'Invalid input received: Sort direction size exceeds sort key size',
    );
  }
  const fallback = (dirs[0] ?? 'desc') as SortDir;
  const specs: SortSpec<ServerSortKey>[] = keys.map((key, i) => ({
    key: key === 'locked' ? 'none' : (SORT_KEYS[key] ?? 'none'),
    dir: (dirs[i] ?? fallback) as SortDir,
  }));
  if (!keys.includes('created_at')) specs.push({ key: 'createdAt', dir: fallback });
  specs.push({ key: 'id', dir: fallback });
  return specs;
}
