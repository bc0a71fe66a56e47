/**
 * Glance's `/v2/schemas/...` documents: JSON schemas of the image, member and metadef bodies, in
 * the shapes Glance serves them (glance/schema.py: an object schema, a collection wrapping it),
 * describing what vpmu returns: only the attributes vpmu's views carry, vpmu's image statuses
 * and formats. glanceclient reads them to build its models and to validate what it sends.
 */
import {
  CONTAINER_FORMATS,
  DISK_FORMATS,
  MEMBER_STATUSES,
  VISIBILITIES,
} from '../services/index.js';

type Json = Record<string, unknown>;

const UUID_PATTERN =
  '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

const readOnly = (type: unknown, description: string): Json => ({
  type,
  readOnly: true,
  description,
});

/** The image statuses vpmu's images go through. */
const IMAGE_STATUSES = ['queued', 'active', 'deactivated'];

const IMAGE_PROPERTIES: Json = {
  id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
  name: { type: ['null', 'string'], description: 'Descriptive name for the image', maxLength: 255 },
  status: { ...readOnly('string', 'Status of the image'), enum: IMAGE_STATUSES },
  visibility: { type: 'string', description: 'Scope of image accessibility', enum: VISIBILITIES },
  protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
  os_hidden: {
    type: 'boolean',
    description: 'If true, image will not appear in default image list response.',
  },
  checksum: { ...readOnly(['null', 'string'], 'md5 hash of image contents.'), maxLength: 32 },
  os_hash_algo: {
    ...readOnly(['null', 'string'], 'Algorithm to calculate the os_hash_value'),
    maxLength: 64,
  },
  os_hash_value: {
    ...readOnly(
      ['null', 'string'],
      'Hexdigest of the image contents using the algorithm specified by the os_hash_algo',
    ),
    maxLength: 128,
  },
  owner: { type: ['null', 'string'], description: 'Owner of the image', maxLength: 255 },
  size: readOnly(['null', 'integer'], 'Size of image file in bytes'),
  virtual_size: readOnly(['null', 'integer'], 'Virtual size of image in bytes'),
  container_format: {
    type: ['null', 'string'],
    description: 'Format of the container',
    enum: [null, ...CONTAINER_FORMATS],
  },
  disk_format: {
    type: ['null', 'string'],
    description: 'Format of the disk',
    enum: [null, ...DISK_FORMATS],
  },
  created_at: readOnly('string', 'Date and time of image registration'),
  updated_at: readOnly('string', 'Date and time of the last image modification'),
  tags: {
    type: 'array',
    description: 'List of strings related to the image',
    items: { type: 'string', maxLength: 255 },
  },
  min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
  min_disk: {
    type: 'integer',
    description: 'Amount of disk space (in GB) required to boot image.',
  },
  self: readOnly('string', 'An image self url'),
  file: readOnly('string', 'An image file url'),
  schema: readOnly('string', 'An image schema url'),
};

/** Glance's PermissiveSchema: other (custom) properties are strings. */
function imageSchema(): Json {
  return {
    name: 'image',
    properties: IMAGE_PROPERTIES,
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** Glance's CollectionSchema: the items, first/next links and the schema link. */
function collection(name: string, item: Json): Json {
  const { definitions, ...items } = item;
  return {
    name,
    properties: {
      [name]: { type: 'array', items },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
    ...(definitions === undefined ? {} : { definitions }),
  };
}

const MEMBER_PROPERTIES: Json = {
  member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
  image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
  created_at: { type: 'string', description: 'Date and time of image member creation' },
  updated_at: {
    type: 'string',
    description: 'Date and time of last modification of image member',
  },
  status: {
    type: 'string',
    description: 'The status of this image member',
    enum: MEMBER_STATUSES,
  },
  schema: { readOnly: true, type: 'string' },
};

const dateTime = (description: string): Json => ({
  type: 'string',
  readOnly: true,
  description,
  format: 'date-time',
});

const PROPERTY_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', null];

/** The JSON-schema keywords a metadef property may use (Glance's property definition). */
const PROPERTY_FIELDS: Json = {
  name: { type: 'string', maxLength: 80 },
  title: { type: 'string' },
  description: { type: 'string' },
  operators: { type: 'array', items: { type: 'string' } },
  type: { type: 'string', enum: PROPERTY_TYPES },
  required: { $ref: '#/definitions/stringArray' },
  minimum: { type: 'number' },
  maximum: { type: 'number' },
  maxLength: { $ref: '#/definitions/positiveInteger' },
  minLength: { $ref: '#/definitions/positiveIntegerDefault0' },
  pattern: { type: 'string', format: 'regex' },
  enum: { type: 'array' },
  readonly: { type: 'boolean' },
  default: {},
  items: {
    type: 'object',
    properties: { type: { type: 'string', enum: PROPERTY_TYPES }, enum: { type: 'array' } },
  },
  maxItems: { $ref: '#/definitions/positiveInteger' },
  minItems: { $ref: '#/definitions/positiveIntegerDefault0' },
  uniqueItems: { type: 'boolean', default: false },
  additionalItems: { type: 'boolean' },
};

/** The keywords a metadef property may carry, for the API's checks. */
export const METADEF_PROPERTY_FIELDS: readonly string[] = Object.keys(PROPERTY_FIELDS);
export const METADEF_PROPERTY_TYPES: readonly (string | null)[] = PROPERTY_TYPES;

function definitions(minItems: boolean): Json {
  return {
    positiveInteger: { type: 'integer', minimum: 0 },
    positiveIntegerDefault0: {
      allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }],
    },
    stringArray: {
      type: 'array',
      items: { type: 'string' },
      ...(minItems ? { minItems: 1 } : {}),
      uniqueItems: true,
    },
  };
}

const NAMESPACE_DEFINITIONS: Json = {
  ...definitions(false),
  property: {
    type: 'object',
    additionalProperties: {
      type: 'object',
      required: ['title', 'type'],
      properties: PROPERTY_FIELDS,
    },
  },
};

const RESOURCE_TYPE_PROPERTIES: Json = {
  name: {
    type: 'string',
    description:
      'Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html',
    maxLength: 80,
  },
  prefix: {
    type: 'string',
    description:
      'Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :).',
    maxLength: 80,
  },
  properties_target: {
    type: 'string',
    description:
      'Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity.',
    maxLength: 80,
  },
  created_at: dateTime('Date and time of resource type association'),
  updated_at: dateTime('Date and time of the last resource type association modification'),
};

const NAMESPACE_PROPERTIES: Json = {
  namespace: { type: 'string', description: 'The unique namespace text.', maxLength: 80 },
  display_name: {
    type: 'string',
    description: 'The user friendly name for the namespace. Used by UI if available.',
    maxLength: 80,
  },
  description: {
    type: 'string',
    description: 'Provides a user friendly description of the namespace.',
    maxLength: 500,
  },
  visibility: {
    type: 'string',
    description: 'Scope of namespace accessibility.',
    enum: ['public', 'private'],
  },
  protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
  owner: { type: 'string', description: 'Owner of the namespace.', maxLength: 255 },
  created_at: dateTime('Date and time of namespace creation'),
  updated_at: dateTime('Date and time of the last namespace modification'),
  schema: { readOnly: true, type: 'string' },
  self: { readOnly: true, type: 'string' },
  resource_type_associations: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        prefix: { type: 'string' },
        properties_target: { type: 'string' },
      },
    },
  },
  properties: { $ref: '#/definitions/property' },
  objects: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        description: { type: 'string' },
        required: { $ref: '#/definitions/stringArray' },
        properties: { $ref: '#/definitions/property' },
      },
    },
  },
  tags: {
    type: 'array',
    items: { type: 'object', properties: { name: { type: 'string' } } },
  },
};

const OBJECT_PROPERTIES: Json = {
  name: { type: 'string', maxLength: 80 },
  description: { type: 'string' },
  required: { $ref: '#/definitions/stringArray' },
  properties: { $ref: '#/definitions/property' },
  schema: { readOnly: true, type: 'string' },
  self: { readOnly: true, type: 'string' },
  created_at: dateTime('Date and time of object creation'),
  updated_at: dateTime('Date and time of the last object modification'),
};

const TAG_PROPERTIES: Json = {
  name: { type: 'string', maxLength: 80 },
  created_at: dateTime('Date and time of tag creation'),
  updated_at: dateTime('Date and time of the last tag modification'),
};

/** Glance's Schema.raw(): no other properties allowed. */
function strict(name: string, properties: Json, extra: Json = {}): Json {
  return { name, properties, additionalProperties: false, ...extra };
}

const namespaceSchema = () =>
  strict('namespace', NAMESPACE_PROPERTIES, {
    definitions: NAMESPACE_DEFINITIONS,
    required: ['namespace'],
  });
const objectSchema = () =>
  strict('object', OBJECT_PROPERTIES, { definitions: NAMESPACE_DEFINITIONS, required: ['name'] });
const propertySchema = () =>
  strict('property', PROPERTY_FIELDS, {
    definitions: definitions(true),
    required: ['type', 'title', 'name'],
  });
const resourceTypeSchema = () =>
  strict('resource_type_association', RESOURCE_TYPE_PROPERTIES, { required: ['name'] });
const tagSchema = () => strict('tag', TAG_PROPERTIES, { required: ['name'] });
const memberSchema = () => ({ name: 'member', properties: MEMBER_PROPERTIES });

/** Every schema Glance serves under /v2/schemas that vpmu's API has, by its path there. */
export const IMAGE_SCHEMAS: Readonly<Record<string, () => Json>> = {
  image: imageSchema,
  images: () => collection('images', imageSchema()),
  member: memberSchema,
  // NOTE: Glance serves the member schemas "minimal": no first/next links.
  members: () => ({
    name: 'members',
    properties: {
      members: { type: 'array', items: memberSchema() },
      schema: { type: 'string' },
    },
    links: [{ rel: 'describedby', href: '{schema}' }],
  }),
  'metadefs/namespace': namespaceSchema,
  'metadefs/namespaces': () => collection('namespaces', namespaceSchema()),
  'metadefs/object': objectSchema,
  'metadefs/objects': () => collection('objects', objectSchema()),
  'metadefs/property': propertySchema,
  // NOTE: Glance's DictCollectionSchema: the properties are an object keyed by name.
  'metadefs/properties': () => {
    const { definitions: defs, ...item } = propertySchema();
    return {
      name: 'properties',
      properties: {
        properties: {
          type: 'object',
          additionalProperties: { ...item, required: ['type', 'title'] },
        },
        first: { type: 'string' },
        next: { type: 'string' },
        schema: { type: 'string' },
      },
      links: [
        { rel: 'first', href: '{first}' },
        { rel: 'next', href: '{next}' },
        { rel: 'describedby', href: '{schema}' },
      ],
      definitions: defs,
    };
  },
  'metadefs/resource_type': resourceTypeSchema,
  'metadefs/resource_types': () => collection('resource_type_associations', resourceTypeSchema()),
  'metadefs/tag': tagSchema,
  'metadefs/tags': () => collection('tags', tagSchema()),
};
