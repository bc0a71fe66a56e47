/**
 * A server's state as Nova keeps it: vm_state, task_state and power_state, and the API status
 * derived from the first two (nova/api/openstack/common.py `_STATE_MAP`). Only the values vpmu
 * uses are in the unions, so a record cannot hold a state nothing here knows.
 */

/** Nova's server statuses vpmu shows. */
export const SERVER_STATUSES = [
  'BUILD',
  'ACTIVE',
  'SHUTOFF',
  'ERROR',
  'REBOOT',
  'HARD_REBOOT',
  'REBUILD',
  'RESIZE',
  'VERIFY_RESIZE',
  'REVERT_RESIZE',
  'DELETED',
  'PAUSED',
  'SUSPENDED',
  'SHELVED',
  'SHELVED_OFFLOADED',
  'SOFT_DELETED',
] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

/** Nova's vm_state values vpmu uses (nova/compute/vm_states.py). */
export const VM_STATES = [
  'building',
  'active',
  'stopped',
  'resized',
  'error',
  'deleted',
  'paused',
  'suspended',
  'shelved',
  'shelved_offloaded',
  'soft-delete',
] as const;
export type VmState = (typeof VM_STATES)[number];

/** Nova's task_state values vpmu uses (nova/compute/task_states.py); null is none. */
export const TASK_STATES = [
  'scheduling',
  'spawning',
  'deleting',
  'rebuilding',
  'resize_prep',
  'pausing',
  'unpausing',
  'suspending',
  'resuming',
  'image_snapshot',
  'image_pending_upload',
  'image_uploading',
  'image_backup',
  'shelving',
  'shelving_image_pending_upload',
  'shelving_image_uploading',
  'shelving_offloading',
  'unshelving',
  'soft-deleting',
  'restoring',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** Nova's power_state numbers (nova/compute/power_state.py) that vpmu records. */
export const POWER_STATE = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4 } as const;
export type PowerState = (typeof POWER_STATE)[keyof typeof POWER_STATE];

/** Nova's power_state names, as notifications carry them. */
export type PowerStateName =
  'pending' | 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended';

/** The name Nova gives each power_state number vpmu records. */
export const POWER_STATE_NAMES: Readonly<Record<PowerState, PowerStateName>> = {
  0: 'pending',
  1: 'running',
  3: 'paused',
  4: 'shutdown',
};

/** The three fields that together are a server's state. */
export interface ServerState {
  readonly vmState: VmState;
  readonly taskState: TaskState | null;
  readonly powerState: PowerState;
}

/**
 * vm_state + task_state → status, as Nova's `_STATE_MAP`: each vm_state has a default status and
 * a few task states override it; any other task state (deleting, spawning, …) shows the default.
 */
const STATE_MAP: Readonly<
  Record<VmState, { readonly default: ServerStatus } & Partial<Record<TaskState, ServerStatus>>>
> = {
  building: { default: 'BUILD' },
  active: { default: 'ACTIVE', rebuilding: 'REBUILD', resize_prep: 'RESIZE' },
  stopped: { default: 'SHUTOFF', rebuilding: 'REBUILD', resize_prep: 'RESIZE' },
  resized: { default: 'VERIFY_RESIZE' },
  error: { default: 'ERROR', rebuilding: 'REBUILD' },
  deleted: { default: 'DELETED' },
  paused: { default: 'PAUSED' },
  suspended: { default: 'SUSPENDED' },
  shelved: { default: 'SHELVED' },
  shelved_offloaded: { default: 'SHELVED_OFFLOADED' },
  'soft-delete': { default: 'SOFT_DELETED' },
};

/** The API status of a server in this vm_state and task_state (Nova's `status_from_state`). */
export function serverStatus(vmState: VmState, taskState: TaskState | null): ServerStatus {
  const row = STATE_MAP[vmState];
  return (taskState === null ? undefined : row[taskState]) ?? row.default;
}
