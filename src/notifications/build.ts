/**
 * Payload builders: plain inputs (inputs.ts) → Nova-shaped versioned objects. Pure: no clock, no
 * ids, no lookups. Internal camelCase becomes Nova's snake_case here and nowhere else.
 */
import type { VersionedObject } from '../domain/index.js';
import type {
  ActionContext,
  FaultInput,
  FlavorInput,
  ImageInput,
  ImagePropsInput,
  InstanceSnapshot,
  PmuProvenance,
  RequestSpecInput,
} from './inputs.js';
import {
  EXCEPTION_PAYLOAD,
  FLAVOR_PAYLOAD,
  IMAGE_META_PAYLOAD,
  IMAGE_META_PROPS_PAYLOAD,
  INSTANCE_ACTION_PAYLOAD,
  INSTANCE_ACTION_RESIZE_PAYLOAD,
  INSTANCE_ACTION_SNAPSHOT_PAYLOAD,
  INSTANCE_CREATE_PAYLOAD,
  PMU_PAYLOAD,
  REQUEST_SPEC_PAYLOAD,
} from './payloads.js';
import { toVersionedObject, type PayloadData } from './schema.js';

/**
 * Nova's payload datetime form: ISO 8601 in UTC to the second, with `Z`.
 * @example toPayloadTime(new Date('2026-11-24T03:25:23.622Z')) // '2026-11-24T03:25:23Z'
 */
export function toPayloadTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function timeOrNull(date: Date | null | undefined): string | null {
  return date === null || date === undefined ? null : toPayloadTime(date);
}

/** Sorted copy of a string map, so payloads do not depend on insertion order. */
function sortedMap(map: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** FlavorPayload: extra specs as raw strings, exactly as stored. */
export function toFlavorPayload(flavor: FlavorInput): VersionedObject {
  return toVersionedObject(FLAVOR_PAYLOAD, {
    flavorid: flavor.flavorId,
    name: flavor.name,
    memory_mb: flavor.memoryMiB,
    vcpus: flavor.vcpus,
    root_gb: flavor.diskGiB,
    ephemeral_gb: flavor.ephemeralGiB ?? 0,
    swap: flavor.swapMiB ?? 0,
    rxtx_factor: 1.0,
    vcpu_weight: 0,
    disabled: flavor.disabled ?? false,
    is_public: flavor.isPublic ?? true,
    extra_specs: sortedMap(flavor.extraSpecs),
    projects: null,
    description: flavor.description ?? null,
  });
}

/** ImageMetaPropsPayload: only the properties the image sets; `hw_pmu` a JSON boolean. */
export function toImageMetaPropsPayload(props: ImagePropsInput): VersionedObject {
  const data: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(props) as [string, unknown][]) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      data[key] = value;
    }
  }
  return toVersionedObject(IMAGE_META_PROPS_PAYLOAD, data);
}

/** ImageMetaPayload, with its properties payload nested. */
export function toImageMetaPayload(image: ImageInput): VersionedObject {
  return toVersionedObject(IMAGE_META_PAYLOAD, {
    id: image.id,
    name: image.name,
    status: image.status ?? 'active',
    visibility: image.visibility ?? 'public',
    protected: image.protected ?? false,
    checksum: image.checksum ?? null,
    owner: image.owner ?? null,
    size: image.sizeBytes ?? null,
    virtual_size: image.virtualSizeBytes ?? null,
    container_format: image.containerFormat ?? null,
    disk_format: image.diskFormat ?? null,
    created_at: timeOrNull(image.createdAt),
    updated_at: timeOrNull(image.updatedAt),
    tags: [...(image.tags ?? [])],
    min_ram: image.minRamMiB ?? 0,
    min_disk: image.minDiskGiB ?? 0,
    properties: toImageMetaPropsPayload(image.properties),
  });
}

/** ExceptionPayload: Nova's fields plus our code; never a traceback. */
export function toExceptionPayload(fault: FaultInput): VersionedObject {
  return toVersionedObject(EXCEPTION_PAYLOAD, {
    module_name: fault.moduleName,
    function_name: fault.functionName,
    exception: fault.exception,
    exception_message: fault.message,
    code: fault.code,
  });
}

/** PmuPayload: request, resolution and effect of the guest's vPMU. */
export function toPmuPayload(pmu: PmuProvenance): VersionedObject {
  return toVersionedObject(PMU_PAYLOAD, {
    flavor_hw_pmu: pmu.flavor,
    image_hw_pmu: pmu.image,
    resolved: pmu.resolved,
    source: pmu.source,
    effective: pmu.effective,
    reason: pmu.reason,
  });
}

function instanceData(
  instance: InstanceSnapshot,
  context: ActionContext,
  fault: FaultInput | null,
): PayloadData {
  return {
    uuid: instance.uuid,
    user_id: instance.userId,
    tenant_id: instance.projectId,
    display_name: instance.displayName,
    display_description: instance.displayDescription,
    host: instance.host,
    host_name: instance.hostName,
    node: instance.node,
    state: instance.state,
    power_state: instance.powerState,
    task_state: instance.taskState,
    launched_at: timeOrNull(instance.launchedAt),
    created_at: toPayloadTime(instance.createdAt),
    updated_at: timeOrNull(instance.updatedAt),
    terminated_at: timeOrNull(instance.terminatedAt),
    deleted_at: timeOrNull(instance.deletedAt),
    image_uuid: instance.image.id,
    flavor: toFlavorPayload(instance.flavor),
    image: toImageMetaPayload(instance.image),
    pmu: toPmuPayload(instance.pmu),
    metadata: sortedMap(instance.metadata ?? {}),
    availability_zone: instance.availabilityZone,
    request_id: context.requestId,
    action_initiator_user: context.userId,
    action_initiator_project: context.projectId,
    fault: fault === null ? null : toExceptionPayload(fault),
  };
}

/** InstanceActionPayload (delete, rebuild, power on/off). */
export function toInstanceActionPayload(
  instance: InstanceSnapshot,
  context: ActionContext,
  fault: FaultInput | null = null,
): VersionedObject {
  return toVersionedObject(INSTANCE_ACTION_PAYLOAD, instanceData(instance, context, fault));
}

/** InstanceCreatePayload (create.start|end|error). */
export function toInstanceCreatePayload(
  instance: InstanceSnapshot,
  context: ActionContext,
  fault: FaultInput | null = null,
): VersionedObject {
  return toVersionedObject(INSTANCE_CREATE_PAYLOAD, {
    ...instanceData(instance, context, fault),
    instance_name: instance.instanceName,
    tags: [...(instance.tags ?? [])],
  });
}

/** InstanceActionResizePayload (resize.start|end|error): the current and the target flavor. */
export function toInstanceActionResizePayload(
  instance: InstanceSnapshot,
  newFlavor: FlavorInput,
  context: ActionContext,
  fault: FaultInput | null = null,
): VersionedObject {
  return toVersionedObject(INSTANCE_ACTION_RESIZE_PAYLOAD, {
    ...instanceData(instance, context, fault),
    new_flavor: toFlavorPayload(newFlavor),
  });
}

/** InstanceActionSnapshotPayload (snapshot.start|end): the image the root disk becomes. */
export function toInstanceActionSnapshotPayload(
  instance: InstanceSnapshot,
  snapshotImageId: string,
  context: ActionContext,
): VersionedObject {
  return toVersionedObject(INSTANCE_ACTION_SNAPSHOT_PAYLOAD, {
    ...instanceData(instance, context, null),
    snapshot_image_id: snapshotImageId,
  });
}

/** RequestSpecPayload (scheduler.select_destinations.start|end), carrying the image payload. */
export function toRequestSpecPayload(spec: RequestSpecInput): VersionedObject {
  return toVersionedObject(REQUEST_SPEC_PAYLOAD, {
    instance_uuid: spec.instanceUuid,
    project_id: spec.projectId,
    user_id: spec.userId,
    availability_zone: spec.availabilityZone,
    flavor: toFlavorPayload(spec.flavor),
    image: toImageMetaPayload(spec.image),
    num_instances: spec.numInstances,
    pmu: toPmuPayload(spec.pmu),
  });
}
