/**
 * One sample per event, built from fixed inputs with a fixed clock and fixed ids, so the files in
 * testdata/notification-samples/ and the samples in docs/notifications.md are byte-stable.
 */
import type { OsloMessage } from '../domain/index.js';
import {
  computeExceptionEvent,
  EVENTS,
  evacuateEvent,
  imageUpdateEvent,
  instanceEvent,
  selectDestinationsEvent,
  type Event,
  type EventSpec,
  type InstanceAction,
  type Phase,
} from './events.js';
import { toOsloMessage } from './envelope.js';
import type {
  ActionContext,
  FaultInput,
  FlavorInput,
  ImageInput,
  InstanceSnapshot,
} from './inputs.js';

const PROJECT = '6f70656e737461636b20342065766572';
const USER = 'fake';
const CREATED = new Date('2026-11-24T03:20:00Z');
const LAUNCHED = new Date('2026-11-24T03:21:07Z');

/** A flavor for profiling guests: the vPMU on. */
export const SAMPLE_FLAVOR: FlavorInput = {
  flavorId: 'a22d5517-147c-4147-a0d1-e698df5cd4e3',
  name: 'perf.small',
  vcpus: 2,
  memoryMiB: 2048,
  diskGiB: 10,
  extraSpecs: { 'hw:pmu': 'true' },
};

/** The vRAN flavor: the vPMU off. */
export const SAMPLE_VRAN_FLAVOR: FlavorInput = {
  flavorId: 'b4c8e2a1-5d3f-4e6a-9b7c-0d1e2f3a4b5c',
  name: 'vran.small',
  vcpus: 2,
  memoryMiB: 2048,
  diskGiB: 10,
  extraSpecs: { 'hw:pmu': 'false' },
};

/** An image whose owner asked for the vPMU (`hw_pmu=yes` in Glance, `true` in the payload). */
export const SAMPLE_IMAGE: ImageInput = {
  id: '155d900f-4e14-4e4c-a73d-069cbf4541e6',
  name: 'perf-tools',
  status: 'active',
  visibility: 'public',
  checksum: 'ee1eca47dc88f4879d8a229cc70a07c6',
  owner: PROJECT,
  sizeBytes: 13287936,
  containerFormat: 'bare',
  diskFormat: 'qcow2',
  createdAt: new Date('2026-11-01T09:00:00Z'),
  updatedAt: new Date('2026-11-01T09:00:00Z'),
  properties: { hw_architecture: 'x86_64', hw_pmu: true },
};

/** A server with the vPMU on, running on host1. */
export const SAMPLE_INSTANCE: InstanceSnapshot = {
  uuid: '178b0921-8f85-4257-88b6-2e743b5a975c',
  instanceName: 'instance-00000001',
  displayName: 'profiler',
  displayDescription: null,
  projectId: PROJECT,
  userId: USER,
  host: 'host1',
  hostName: 'profiler',
  node: 'host1',
  availabilityZone: 'nova',
  state: 'active',
  powerState: 'running',
  taskState: null,
  createdAt: CREATED,
  updatedAt: LAUNCHED,
  launchedAt: LAUNCHED,
  terminatedAt: null,
  deletedAt: null,
  flavor: SAMPLE_FLAVOR,
  image: SAMPLE_IMAGE,
  pmu: {
    flavor: 'true',
    image: 'yes',
    resolved: true,
    source: 'both',
    effective: 'on',
    reason:
      'Requested by hw:pmu=true from the flavor and hw_pmu=yes from the image; libvirt passes pmu=on to QEMU.',
  },
  metadata: {},
  tags: [],
};

export const SAMPLE_CONTEXT: ActionContext = {
  requestId: 'req-5b6c791d-5709-4f36-8fbe-c3e02869e35d',
  userId: USER,
  projectId: PROJECT,
};

export const SAMPLE_FAULT: FaultInput = {
  exception: 'ComputeError',
  message:
    'Cannot honour hw:pmu=false from the flavor for a ppc64le guest: ppc64le guests always have ' +
    'a PMU, and libvirt refuses to start them with it off',
  code: 'spec.unsupported_for_guest',
  functionName: 'createServer',
  moduleName: 'services/create-server',
};

/** The clock reading and ids every sample uses. */
export const SAMPLE_ENVELOPE = {
  host: 'host1',
  now: new Date('2026-11-24T03:25:23.622Z'),
  messageId: '43f458d2-735f-41cf-863c-d3db63545f9d',
  uniqueId: '2a4cf8df-046c-41f7-8839-a58b5080c6e2',
} as const;

/** The instance as each phase of an action sees it (states follow Nova's). */
function instanceAt(action: InstanceAction, phase: Phase): InstanceSnapshot {
  const i = SAMPLE_INSTANCE;
  const task: Record<InstanceAction, string> = {
    create: 'spawning',
    delete: 'deleting',
    rebuild: 'rebuilding',
    resize: 'resize_migrating',
    power_on: 'powering-on',
    power_off: 'powering-off',
    pause: 'pausing',
    unpause: 'unpausing',
    suspend: 'suspending',
    resume: 'resuming',
    snapshot: 'image_snapshot',
    shelve: 'shelving',
    shelve_offload: 'shelving_offloading',
    unshelve: 'unshelving',
    soft_delete: 'soft-deleting',
    restore: 'restoring',
  };
  if (phase === 'start' && (action === 'unpause' || action === 'resume')) {
    const held = action === 'unpause' ? 'paused' : 'suspended';
    const power = action === 'unpause' ? 'paused' : 'shutdown';
    return { ...i, state: held, powerState: power, taskState: task[action] };
  }
  if (phase === 'start' && action === 'unshelve') {
    const offloaded = { host: null, node: null, powerState: 'shutdown' } as const;
    return { ...i, ...offloaded, state: 'shelved_offloaded', taskState: task[action] };
  }
  if (phase === 'start' && action === 'restore') {
    return { ...i, state: 'soft-delete', powerState: 'shutdown', taskState: task[action] };
  }
  if (phase === 'start' || phase === 'error') {
    const building = action === 'create';
    return {
      ...i,
      state: phase === 'error' ? 'error' : building ? 'building' : i.state,
      powerState: building || action === 'power_on' ? 'pending' : i.powerState,
      taskState: phase === 'error' ? null : task[action],
      launchedAt: building ? null : i.launchedAt,
      host: building && phase === 'start' ? null : i.host,
      node: building && phase === 'start' ? null : i.node,
    };
  }
  if (action === 'delete') {
    const deleted = new Date('2026-11-24T03:25:23Z');
    return {
      ...i,
      state: 'deleted',
      powerState: 'shutdown',
      terminatedAt: deleted,
      deletedAt: deleted,
      updatedAt: deleted,
    };
  }
  if (action === 'power_off') return { ...i, state: 'stopped', powerState: 'shutdown' };
  if (action === 'pause') return { ...i, state: 'paused', powerState: 'paused' };
  if (action === 'suspend') return { ...i, state: 'suspended', powerState: 'shutdown' };
  if (action === 'shelve') return { ...i, state: 'shelved', powerState: 'shutdown' };
  if (action === 'shelve_offload') {
    return { ...i, state: 'shelved_offloaded', powerState: 'shutdown', host: null, node: null };
  }
  if (action === 'soft_delete') return { ...i, state: 'soft-delete', powerState: 'shutdown' };
  if (action === 'resize') return { ...i, state: 'resized', flavor: SAMPLE_VRAN_FLAVOR };
  return i;
}

const SAMPLE_SNAPSHOT_IMAGE_ID = '0b9d3f58-7e1c-4a6f-9a43-2c5d8e1f6a70';

function sampleEvent(spec: EventSpec): Event {
  if (spec.eventType === 'instance.evacuate') {
    const moved = { ...SAMPLE_INSTANCE, host: 'host2', node: 'host2', taskState: 'rebuilding' };
    return evacuateEvent(moved, SAMPLE_CONTEXT);
  }
  const [family, action, phase] = spec.eventType.split('.');
  if (family === 'instance' && action !== undefined && phase !== undefined) {
    const a = action as InstanceAction;
    const p = phase as Phase;
    return instanceEvent(a, p, instanceAt(a, p), SAMPLE_CONTEXT, {
      ...(p === 'error' ? { fault: SAMPLE_FAULT } : {}),
      ...(a === 'resize' ? { newFlavor: SAMPLE_VRAN_FLAVOR } : {}),
      ...(a === 'snapshot' ? { snapshotImageId: SAMPLE_SNAPSHOT_IMAGE_ID } : {}),
    });
  }
  if (
    spec.eventType === 'scheduler.select_destinations.start' ||
    spec.eventType === 'scheduler.select_destinations.end'
  ) {
    return selectDestinationsEvent(spec.eventType.endsWith('start') ? 'start' : 'end', {
      instanceUuid: SAMPLE_INSTANCE.uuid,
      projectId: PROJECT,
      userId: USER,
      availabilityZone: 'nova',
      flavor: SAMPLE_FLAVOR,
      image: SAMPLE_IMAGE,
      numInstances: 1,
      pmu: { ...SAMPLE_INSTANCE.pmu, effective: null, reason: null },
    });
  }
  if (spec.eventType === 'image.update') {
    return imageUpdateEvent({ ...SAMPLE_IMAGE, updatedAt: new Date('2026-11-24T03:25:23Z') });
  }
  if (spec.eventType === 'compute.exception') {
    return computeExceptionEvent({
      ...SAMPLE_FAULT,
      functionName: 'syncHost',
      moduleName: 'services/host-sync',
    });
  }
  throw new TypeError(`No sample for ${spec.eventType}`);
}

/** The sample message of every event in EVENTS, in the same order. */
export function buildSamples(): readonly {
  readonly spec: EventSpec;
  readonly message: OsloMessage;
}[] {
  return EVENTS.map((spec) => ({
    spec,
    message: toOsloMessage(sampleEvent(spec), SAMPLE_ENVELOPE),
  }));
}
