/**
 * The notifications of the server use cases: a server's snapshot at a moment, Nova's
 * versioned instance events around each operation, and the scheduler's select_destinations.
 * Building or sending one never fails the operation it describes.
 */
import { POWER_STATE_NAMES, VM_STATES, type PowerStateName } from '../domain/index.js';
import {
  computeExceptionEvent,
  evacuateEvent,
  instanceEvent,
  selectDestinationsEvent,
  toFaultInput,
  type ActionContext,
  type Event,
  type InstanceAction,
  type InstanceEventDetails,
  type InstanceSnapshot,
} from '../notifications/index.js';
import type { ServerPmu, ServerRecord } from '../ports/store.js';
import { serverImageToImage } from './server-checks.js';
import { toFlavor } from './flavors.js';
import { toFlavorInput, toImageInput, type toPmuProvenance } from './notification-inputs.js';

/** Where events go, and where a notification that cannot be built is logged. */
export interface ServerEventSink {
  /** Sends a notification; must never throw (publishEvent() does not). */
  readonly publish: (event: Event) => void;
  readonly log: { error(fields: Record<string, unknown>, message: string): void };
}

/** Publishes `instance.<action>.<phase>` for the server as it is now. */
export function notifyInstance(
  sink: ServerEventSink,
  action: InstanceAction,
  phase: 'start' | 'end' | 'error',
  server: ServerRecord,
  context: ActionContext,
  error?: unknown,
  details: InstanceEventDetails = {},
): void {
  try {
    const fault =
      phase === 'error'
        ? toFaultInput(error, { functionName: action, moduleName: 'services/servers' })
        : undefined;
    sink.publish(
      instanceEvent(action, phase, snapshot(server), context, {
        ...details,
        ...(fault === undefined ? {} : { fault }),
      }),
    );
  } catch (buildError) {
    sink.log.error(
      { server: server.id, event: `instance.${action}.${phase}`, err: String(buildError) },
      'cannot build a notification',
    );
    try {
      sink.publish(
        computeExceptionEvent(
          toFaultInput(buildError, { functionName: 'notify', moduleName: 'services/servers' }),
        ),
      );
    } catch {
      // publishing never fails a request
    }
  }
}

/** Publishes `scheduler.select_destinations.<phase>` for the server's request spec. */
export function notifySelectDestinations(
  sink: ServerEventSink,
  phase: 'start' | 'end',
  server: ServerRecord,
): void {
  sink.publish(
    selectDestinationsEvent(phase, {
      instanceUuid: server.id,
      projectId: server.projectId,
      userId: server.userId,
      availabilityZone: null,
      flavor: toFlavorInput(toFlavor(server.flavor)),
      image: toImageInput({ ...serverImageToImage(server.image), id: server.image.id }),
      numInstances: 1,
      pmu: pmuProvenance(server.pmu),
    }),
  );
}

function pmuProvenance(pmu: ServerPmu | null): ReturnType<typeof toPmuProvenance> {
  return {
    flavor: pmu?.requested.flavor ?? null,
    image: pmu?.requested.image ?? null,
    resolved: pmu?.resolved ?? null,
    source: (pmu?.source ?? 'unset') as ReturnType<typeof toPmuProvenance>['source'],
    effective: pmu?.effective ?? null,
    reason: pmu?.reason ?? null,
  };
}

/** The notification view of a server at this moment. */
export function snapshot(server: ServerRecord): InstanceSnapshot {
  // Stored documents are trusted as they are read: an unknown state still makes a valid payload.
  const vmState = (VM_STATES as readonly string[]).includes(server.vmState)
    ? server.vmState
    : 'error';
  const powerNames: Readonly<Record<number, PowerStateName | undefined>> = POWER_STATE_NAMES;
  return {
    uuid: server.id,
    instanceName: server.domainName,
    displayName: server.name,
    displayDescription: server.description ?? null,
    projectId: server.projectId,
    userId: server.userId,
    host: server.host,
    hostName: server.name,
    node: server.host,
    availabilityZone: null,
    state: vmState,
    powerState: powerNames[server.powerState] ?? 'pending',
    taskState: server.taskState,
    createdAt: new Date(server.createdAt),
    updatedAt: new Date(server.updatedAt),
    launchedAt: server.launchedAt === null ? null : new Date(server.launchedAt),
    terminatedAt: null,
    deletedAt: null,
    flavor: toFlavorInput(toFlavor(server.flavor)),
    image: toImageInput({ ...serverImageToImage(server.image), id: server.image.id }),
    pmu: pmuProvenance(server.pmu),
  };
}

/** Publishes `instance.evacuate` for the server on its new host; never throws. */
export function notifyEvacuate(
  sink: ServerEventSink,
  server: ServerRecord,
  context: ActionContext,
): void {
  try {
    sink.publish(evacuateEvent(snapshot(server), context));
  } catch (buildError) {
    sink.log.error(
      { server: server.id, event: 'instance.evacuate', err: String(buildError) },
      'cannot build a notification',
    );
  }
}
