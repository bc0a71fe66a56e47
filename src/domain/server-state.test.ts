import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  POWER_STATE,
  POWER_STATE_NAMES,
  serverStatus,
  TASK_STATES,
  VM_STATES,
  type ServerStatus,
  type TaskState,
  type VmState,
} from './server-state.js';

describe('serverStatus()', () => {
  // Nova's _STATE_MAP (nova/api/openstack/common.py), restricted to the states vpmu uses: each
  // row is vm_state, task_state, status.
  const table: readonly (readonly [VmState, TaskState | null, ServerStatus])[] = [
    ['building', null, 'BUILD'],
    ['building', 'scheduling', 'BUILD'],
    ['building', 'spawning', 'BUILD'],
    ['building', 'deleting', 'BUILD'],
    ['active', null, 'ACTIVE'],
    ['active', 'rebuilding', 'REBUILD'],
    ['active', 'resize_prep', 'RESIZE'],
    ['active', 'deleting', 'ACTIVE'],
    ['active', 'spawning', 'ACTIVE'],
    ['stopped', null, 'SHUTOFF'],
    ['stopped', 'rebuilding', 'REBUILD'],
    ['stopped', 'resize_prep', 'RESIZE'],
    ['stopped', 'deleting', 'SHUTOFF'],
    ['resized', null, 'VERIFY_RESIZE'],
    ['resized', 'deleting', 'VERIFY_RESIZE'],
    ['error', null, 'ERROR'],
    ['error', 'rebuilding', 'REBUILD'],
    ['error', 'resize_prep', 'ERROR'],
    ['error', 'deleting', 'ERROR'],
    ['deleted', null, 'DELETED'],
    ['deleted', 'deleting', 'DELETED'],
  ];
  for (const [vmState, taskState, status] of table) {
    it(`${vmState} + ${String(taskState)} → ${status}`, () => {
      assert.equal(serverStatus(vmState, taskState), status);
    });
  }

  it('gives a status for every vm_state and task_state', () => {
    for (const vmState of VM_STATES) {
      for (const taskState of [null, ...TASK_STATES]) {
        assert.equal(typeof serverStatus(vmState, taskState), 'string');
      }
    }
  });
});

describe('POWER_STATE_NAMES', () => {
  it('names each power_state number as Nova does', () => {
    assert.equal(POWER_STATE_NAMES[POWER_STATE.NOSTATE], 'pending');
    assert.equal(POWER_STATE_NAMES[POWER_STATE.RUNNING], 'running');
    assert.equal(POWER_STATE_NAMES[POWER_STATE.SHUTDOWN], 'shutdown');
  });
});
