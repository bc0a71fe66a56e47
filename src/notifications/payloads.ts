/**
 * The payload classes vpmu sends, with their version histories. Names and field names follow
 * Nova's (nova/notifications/objects/), so consumers that read Nova's notifications find the
 * same keys; versions are vpmu's own and start at 1.0 (docs/notifications.md says why).
 *
 * Changing a field means: bump the version, add a history line, update the pin in
 * payloads.test.ts. The pin test fails with that instruction otherwise.
 */
import type { FieldSpec, PayloadSchema } from './schema.js';

const STRING = { type: 'string' } as const satisfies FieldSpec;
const STRING_OR_NULL = { type: 'string', nullable: true } as const satisfies FieldSpec;
const UUID = { type: 'uuid' } as const satisfies FieldSpec;
const INTEGER = { type: 'integer' } as const satisfies FieldSpec;
const INTEGER_OR_NULL = { type: 'integer', nullable: true } as const satisfies FieldSpec;
const BOOLEAN = { type: 'boolean' } as const satisfies FieldSpec;
const DATETIME = { type: 'datetime' } as const satisfies FieldSpec;
const DATETIME_OR_NULL = { type: 'datetime', nullable: true } as const satisfies FieldSpec;

export const FLAVOR_PAYLOAD = {
  name: 'FlavorPayload',
  version: '1.0',
  history: ['1.0: initial version; carries extra_specs, hw:pmu included, as raw strings'],
  description: 'The flavor, with its extra specs exactly as stored (`hw:pmu` is a string).',
  fields: {
    flavorid: STRING,
    name: STRING,
    memory_mb: INTEGER,
    vcpus: INTEGER,
    root_gb: INTEGER,
    ephemeral_gb: INTEGER,
    swap: INTEGER,
    rxtx_factor: { type: 'float' },
    vcpu_weight: INTEGER,
    disabled: BOOLEAN,
    is_public: BOOLEAN,
    extra_specs: { type: 'string-map' },
    projects: { type: 'string-list', nullable: true },
    description: STRING_OR_NULL,
  },
} as const satisfies PayloadSchema;

const OPTIONAL_STRING = { type: 'string', optional: true } as const satisfies FieldSpec;
const OPTIONAL_INTEGER = { type: 'integer', optional: true } as const satisfies FieldSpec;
const OPTIONAL_BOOLEAN = { type: 'boolean', optional: true } as const satisfies FieldSpec;

export const IMAGE_META_PROPS_PAYLOAD = {
  name: 'ImageMetaPropsPayload',
  version: '1.0',
  history: ['1.0: initial version; hw_pmu as a JSON boolean, present only when the image sets it'],
  description:
    'Typed image properties vpmu understands. Each is present only when the image sets it; ' +
    '`hw_pmu` is a JSON boolean parsed with the boolean grammar of docs/pmu.md.',
  fields: {
    hw_architecture: OPTIONAL_STRING,
    hw_cpu_cores: OPTIONAL_INTEGER,
    hw_cpu_sockets: OPTIONAL_INTEGER,
    hw_cpu_threads: OPTIONAL_INTEGER,
    hw_disk_bus: OPTIONAL_STRING,
    hw_machine_type: OPTIONAL_STRING,
    hw_pmu: OPTIONAL_BOOLEAN,
    hw_video_model: OPTIONAL_STRING,
    hw_vif_model: OPTIONAL_STRING,
    img_hide_hypervisor_id: OPTIONAL_BOOLEAN,
    os_type: OPTIONAL_STRING,
  },
} as const satisfies PayloadSchema;

export const IMAGE_META_PAYLOAD = {
  name: 'ImageMetaPayload',
  version: '1.0',
  history: ['1.0: initial version'],
  description: 'The image a guest boots from, with its typed properties.',
  fields: {
    id: UUID,
    name: STRING,
    status: STRING,
    visibility: STRING,
    protected: BOOLEAN,
    checksum: STRING_OR_NULL,
    owner: STRING_OR_NULL,
    size: INTEGER_OR_NULL,
    virtual_size: INTEGER_OR_NULL,
    container_format: STRING_OR_NULL,
    disk_format: STRING_OR_NULL,
    created_at: DATETIME_OR_NULL,
    updated_at: DATETIME_OR_NULL,
    tags: { type: 'string-list' },
    min_ram: INTEGER,
    min_disk: INTEGER,
    properties: { type: 'object', of: IMAGE_META_PROPS_PAYLOAD },
  },
} as const satisfies PayloadSchema;

export const EXCEPTION_PAYLOAD = {
  name: 'ExceptionPayload',
  version: '1.0',
  history: ['1.0: initial version; Nova 1.0 fields plus vpmu error code, and no traceback'],
  description:
    'What went wrong: the exception class, its message, where it was raised and, for errors ' +
    'vpmu raises on purpose, the stable code of docs/errors.md. Never a stack trace.',
  fields: {
    module_name: STRING,
    function_name: STRING,
    exception: STRING,
    exception_message: STRING,
    code: STRING_OR_NULL,
  },
} as const satisfies PayloadSchema;

export const PMU_PAYLOAD = {
  name: 'PmuPayload',
  version: '1.0',
  history: ['1.0: initial version'],
  description:
    'vpmu only: what the flavor and image asked for, the resolved tri-state and the effective ' +
    'vPMU the guest gets, with the reason (as `vpmu explain` shows it).',
  fields: {
    flavor_hw_pmu: STRING_OR_NULL,
    image_hw_pmu: STRING_OR_NULL,
    resolved: { type: 'boolean', nullable: true },
    source: STRING,
    effective: STRING_OR_NULL,
    reason: STRING_OR_NULL,
  },
} as const satisfies PayloadSchema;

/** Fields every instance action payload carries (Nova's InstancePayload, trimmed). */
const INSTANCE_FIELDS = {
  uuid: UUID,
  user_id: STRING,
  tenant_id: STRING,
  display_name: STRING,
  display_description: STRING_OR_NULL,
  host: STRING_OR_NULL,
  host_name: STRING_OR_NULL,
  node: STRING_OR_NULL,
  state: STRING,
  power_state: STRING,
  task_state: STRING_OR_NULL,
  launched_at: DATETIME_OR_NULL,
  created_at: DATETIME,
  updated_at: DATETIME_OR_NULL,
  terminated_at: DATETIME_OR_NULL,
  deleted_at: DATETIME_OR_NULL,
  image_uuid: UUID,
  flavor: { type: 'object', of: FLAVOR_PAYLOAD },
  image: { type: 'object', of: IMAGE_META_PAYLOAD },
  pmu: { type: 'object', of: PMU_PAYLOAD },
  metadata: { type: 'string-map' },
  availability_zone: STRING_OR_NULL,
  request_id: STRING_OR_NULL,
  action_initiator_user: STRING_OR_NULL,
  action_initiator_project: STRING_OR_NULL,
  fault: { type: 'object', of: EXCEPTION_PAYLOAD, nullable: true },
} as const satisfies Readonly<Record<string, FieldSpec>>;

export const INSTANCE_ACTION_PAYLOAD = {
  name: 'InstanceActionPayload',
  version: '1.0',
  history: ['1.0: initial version; image (ImageMetaPayload) and pmu (PmuPayload) attached'],
  description:
    'An instance during an action (delete, rebuild, power on/off), with its flavor, image and ' +
    'vPMU; `fault` is set on `.error` events.',
  fields: INSTANCE_FIELDS,
} as const satisfies PayloadSchema;

export const INSTANCE_CREATE_PAYLOAD = {
  name: 'InstanceCreatePayload',
  version: '1.0',
  history: ['1.0: initial version; InstanceActionPayload 1.0 plus instance_name and tags'],
  description: 'An instance being created; `fault` is set on `instance.create.error`.',
  fields: { ...INSTANCE_FIELDS, instance_name: STRING, tags: { type: 'string-list' } },
} as const satisfies PayloadSchema;

export const INSTANCE_ACTION_RESIZE_PAYLOAD = {
  name: 'InstanceActionResizePayload',
  version: '1.0',
  history: ['1.0: initial version; InstanceActionPayload 1.0 plus new_flavor'],
  description:
    'An instance being resized: `flavor` is the flavor it runs with, `new_flavor` the target ' +
    '(its `hw:pmu` may differ).',
  fields: { ...INSTANCE_FIELDS, new_flavor: { type: 'object', of: FLAVOR_PAYLOAD } },
} as const satisfies PayloadSchema;

export const INSTANCE_ACTION_SNAPSHOT_PAYLOAD = {
  name: 'InstanceActionSnapshotPayload',
  version: '1.0',
  history: ['1.0: initial version; InstanceActionPayload 1.0 plus snapshot_image_id'],
  description:
    'An instance whose root disk becomes an image (createImage, createBackup): ' +
    "`snapshot_image_id` is the new image, which carries the source image's `hw_pmu`.",
  fields: { ...INSTANCE_FIELDS, snapshot_image_id: UUID },
} as const satisfies PayloadSchema;

export const REQUEST_SPEC_PAYLOAD = {
  name: 'RequestSpecPayload',
  version: '1.0',
  history: ['1.0: initial version'],
  description:
    'What the scheduler is asked to place. As in Nova, it carries the image payload, so ' +
    '`hw_pmu` reaches the scheduler events.',
  fields: {
    instance_uuid: UUID,
    project_id: STRING,
    user_id: STRING,
    availability_zone: STRING_OR_NULL,
    flavor: { type: 'object', of: FLAVOR_PAYLOAD },
    image: { type: 'object', of: IMAGE_META_PAYLOAD },
    num_instances: INTEGER,
    pmu: { type: 'object', of: PMU_PAYLOAD },
  },
} as const satisfies PayloadSchema;

/** Every payload class, nested ones included. */
export const PAYLOAD_SCHEMAS: readonly PayloadSchema[] = [
  INSTANCE_CREATE_PAYLOAD,
  INSTANCE_ACTION_PAYLOAD,
  INSTANCE_ACTION_RESIZE_PAYLOAD,
  INSTANCE_ACTION_SNAPSHOT_PAYLOAD,
  REQUEST_SPEC_PAYLOAD,
  FLAVOR_PAYLOAD,
  IMAGE_META_PAYLOAD,
  IMAGE_META_PROPS_PAYLOAD,
  PMU_PAYLOAD,
  EXCEPTION_PAYLOAD,
];
