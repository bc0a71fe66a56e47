/**
 * Every event vpmu sends: its type, priority, publishing service and payload class, and one
 * builder per family. Builders return an `Event` (what to send); envelope.ts wraps it for the
 * wire with the clock and ids the caller injects.
 */
import type { NotificationPriority, VersionedObject } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import {
  toExceptionPayload,
  toImageMetaPayload,
  toInstanceActionPayload,
  toInstanceActionResizePayload,
  toInstanceActionSnapshotPayload,
  toInstanceCreatePayload,
  toRequestSpecPayload,
} from './build.js';
import type {
  ActionContext,
  FaultInput,
  FlavorInput,
  ImageInput,
  InstanceSnapshot,
  RequestSpecInput,
} from './inputs.js';
import {
  EXCEPTION_PAYLOAD,
  IMAGE_META_PAYLOAD,
  INSTANCE_ACTION_PAYLOAD,
  INSTANCE_ACTION_RESIZE_PAYLOAD,
  INSTANCE_ACTION_SNAPSHOT_PAYLOAD,
  INSTANCE_CREATE_PAYLOAD,
  REQUEST_SPEC_PAYLOAD,
} from './payloads.js';
import type { PayloadSchema } from './schema.js';

/** The services named in `publisher_id` (`<service>:<host>`). */
export type PublisherService = 'vpmu-compute' | 'vpmu-scheduler' | 'vpmu-image';

/** One notification to send, before the envelope. */
export interface Event {
  readonly eventType: string;
  readonly priority: NotificationPriority;
  readonly service: PublisherService;
  readonly payload: VersionedObject;
}

/** A row of the event catalogue (docs/notifications.md is generated from it). */
export interface EventSpec {
  readonly eventType: string;
  readonly priority: NotificationPriority;
  readonly service: PublisherService;
  readonly payload: PayloadSchema;
  readonly when: string;
}

/** Instance actions and their phases. */
export type InstanceAction =
  | 'create'
  | 'delete'
  | 'rebuild'
  | 'resize'
  | 'power_on'
  | 'power_off'
  | 'pause'
  | 'unpause'
  | 'suspend'
  | 'resume'
  | 'snapshot'
  | 'shelve'
  | 'shelve_offload'
  | 'unshelve'
  | 'soft_delete'
  | 'restore';
export type Phase = 'start' | 'end' | 'error';

/** Which phases each action has (as in Nova: no delete.error, power_on/off have no .error). */
export const ACTION_PHASES: Readonly<Record<InstanceAction, readonly Phase[]>> = {
  create: ['start', 'end', 'error'],
  delete: ['start', 'end'],
  rebuild: ['start', 'end', 'error'],
  resize: ['start', 'end', 'error'],
  power_on: ['start', 'end'],
  power_off: ['start', 'end'],
  pause: ['start', 'end'],
  unpause: ['start', 'end'],
  suspend: ['start', 'end'],
  resume: ['start', 'end'],
  // As in Nova: a failed snapshot sends no instance.snapshot.error.
  snapshot: ['start', 'end'],
  shelve: ['start', 'end'],
  shelve_offload: ['start', 'end'],
  unshelve: ['start', 'end'],
  soft_delete: ['start', 'end'],
  restore: ['start', 'end'],
};

const ACTION_WHEN: Readonly<Record<InstanceAction, string>> = {
  create: 'building a server on a compute host',
  delete: 'deleting a server',
  rebuild: 'rebuilding a server (possibly from another image)',
  resize: 'moving a server to another flavor',
  power_on: 'starting a server',
  power_off: 'stopping a server',
  pause: 'pausing a server (its vCPUs frozen in memory)',
  unpause: 'unpausing a server',
  suspend: 'suspending a server (its memory saved on the host, the guest stopped)',
  resume: 'resuming a suspended server',
  snapshot: "making an image of a server's root disk (createImage, createBackup)",
  shelve: 'shelving a server (its root disk saved as an image, the guest powered off)',
  shelve_offload:
    'offloading a shelved server (its guest and disk removed from the host, its resources released)',
  unshelve: 'unshelving a server (powered on, or built again from its shelve image)',
  soft_delete: 'soft-deleting a server (powered off, kept until reclaimed or restored)',
  restore: 'restoring a soft-deleted server',
};

function whenText(action: InstanceAction, phase: Phase): string {
  const what = ACTION_WHEN[action];
  if (phase === 'start') return `Before ${what}.`;
  if (phase === 'end') return `After ${what}.`;
  return `When ${what} fails; \`fault\` says why.`;
}

function actionSchema(action: InstanceAction): PayloadSchema {
  if (action === 'create') return INSTANCE_CREATE_PAYLOAD;
  if (action === 'resize') return INSTANCE_ACTION_RESIZE_PAYLOAD;
  if (action === 'snapshot') return INSTANCE_ACTION_SNAPSHOT_PAYLOAD;
  return INSTANCE_ACTION_PAYLOAD;
}

function priorityOf(phase: Phase): NotificationPriority {
  return phase === 'error' ? 'ERROR' : 'INFO';
}

/** Every event vpmu can send, in documentation order. */
export const EVENTS: readonly EventSpec[] = [
  ...(Object.entries(ACTION_PHASES) as [InstanceAction, readonly Phase[]][]).flatMap(
    ([action, phases]) =>
      phases.map((phase) => ({
        eventType: `instance.${action}.${phase}`,
        priority: priorityOf(phase),
        service: 'vpmu-compute' as const,
        payload: actionSchema(action),
        when: whenText(action, phase),
      })),
  ),
  {
    eventType: 'instance.evacuate',
    priority: 'INFO',
    service: 'vpmu-compute',
    payload: INSTANCE_ACTION_PAYLOAD,
    when: 'When an evacuated server is about to be built again on its new host (its old host down); `host` is the new host. `instance.rebuild.*` follow.',
  },
  {
    eventType: 'scheduler.select_destinations.start',
    priority: 'INFO',
    service: 'vpmu-scheduler',
    payload: REQUEST_SPEC_PAYLOAD,
    when: 'Before the scheduler picks a host for a server.',
  },
  {
    eventType: 'scheduler.select_destinations.end',
    priority: 'INFO',
    service: 'vpmu-scheduler',
    payload: REQUEST_SPEC_PAYLOAD,
    when: 'After the scheduler found hosts for a server; as in Nova, not sent when none was found.',
  },
  {
    eventType: 'image.update',
    priority: 'INFO',
    service: 'vpmu-image',
    payload: IMAGE_META_PAYLOAD,
    when: 'After every successful image update (PATCH), as Glance sends it, hw_pmu changes included; the payload is the image as it is now.',
  },
  {
    eventType: 'compute.exception',
    priority: 'ERROR',
    service: 'vpmu-compute',
    payload: EXCEPTION_PAYLOAD,
    when: 'When vpmu cannot build an instance notification: the failure is reported instead of the lost event.',
  },
];

/** What some actions' payloads add: resize's target flavor, snapshot's new image. */
export interface InstanceEventDetails {
  readonly newFlavor?: FlavorInput;
  readonly snapshotImageId?: string;
}

/** The instance event for an action's phase; `.error` events need the fault. */
export function instanceEvent(
  action: InstanceAction,
  phase: Phase,
  instance: InstanceSnapshot,
  context: ActionContext,
  options: InstanceEventDetails & { readonly fault?: FaultInput } = {},
): Event {
  if (!ACTION_PHASES[action].includes(phase)) {
    throw new TypeError(`instance.${action} has no ${phase} event`);
  }
  const fault = options.fault ?? null;
  if ((phase === 'error') !== (fault !== null)) {
    throw new TypeError(`instance.${action}.${phase}: a fault goes with .error events only`);
  }
  let payload: VersionedObject;
  if (action === 'create') {
    payload = toInstanceCreatePayload(instance, context, fault);
  } else if (action === 'resize') {
    if (options.newFlavor === undefined) {
      throw new TypeError('instance.resize events need the new flavor');
    }
    payload = toInstanceActionResizePayload(instance, options.newFlavor, context, fault);
  } else if (action === 'snapshot') {
    if (options.snapshotImageId === undefined) {
      throw new TypeError('instance.snapshot events need the image id');
    }
    payload = toInstanceActionSnapshotPayload(instance, options.snapshotImageId, context);
  } else {
    payload = toInstanceActionPayload(instance, context, fault);
  }
  return {
    eventType: `instance.${action}.${phase}`,
    priority: priorityOf(phase),
    service: 'vpmu-compute',
    payload,
  };
}

/** `instance.evacuate` (one event, no phases, as in Nova), the instance on its new host. */
export function evacuateEvent(instance: InstanceSnapshot, context: ActionContext): Event {
  return {
    eventType: 'instance.evacuate',
    priority: 'INFO',
    service: 'vpmu-compute',
    payload: toInstanceActionPayload(instance, context, null),
  };
}

/** `scheduler.select_destinations.start|end`, carrying the image payload as Nova does. */
export function selectDestinationsEvent(phase: 'start' | 'end', spec: RequestSpecInput): Event {
  return {
    eventType: `scheduler.select_destinations.${phase}`,
    priority: 'INFO',
    service: 'vpmu-scheduler',
    payload: toRequestSpecPayload(spec),
  };
}

/**
 * `image.update` after every successful image update, with the image as it now is.
 * NOTE: Glance's own image.update is unversioned; ours carries the versioned ImageMetaPayload so
 * consumers read `hw_pmu` in the same shape as inside instance and scheduler events.
 */
export function imageUpdateEvent(image: ImageInput): Event {
  return {
    eventType: 'image.update',
    priority: 'INFO',
    service: 'vpmu-image',
    payload: toImageMetaPayload(image),
  };
}

/** `compute.exception`: a failure outside an instance action. */
export function computeExceptionEvent(fault: FaultInput): Event {
  return {
    eventType: 'compute.exception',
    priority: 'ERROR',
    service: 'vpmu-compute',
    payload: toExceptionPayload(fault),
  };
}

/**
 * Reduces a caught error to a FaultInput: class name, message and, for errors raised on purpose,
 * the stable code. The stack is never kept.
 */
export function toFaultInput(
  error: unknown,
  where: { readonly functionName: string; readonly moduleName: string },
): FaultInput {
  if (error instanceof ComputeError) {
    return { exception: error.name, message: error.message, code: error.code, ...where };
  }
  if (error instanceof Error) {
    return { exception: error.name, message: error.message, code: null, ...where };
  }
  return { exception: 'Error', message: String(error), code: null, ...where };
}
