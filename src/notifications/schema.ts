/**
 * Versioned payload schemas, Nova style: every payload class has a name, a version with its
 * history beside it, and typed fields. A payload is built only through its schema, so what is
 * sent and what is pinned (by `fingerprint()`) cannot drift apart.
 */
import { createHash } from 'node:crypto';
import type { JsonValue, VersionedObject } from '../domain/index.js';

/** Scalar and collection field types, as pinned by fingerprints. */
export type FieldType =
  'string' | 'uuid' | 'integer' | 'float' | 'boolean' | 'datetime' | 'string-map' | 'string-list';

/**
 * One field. `nullable` fields are always present, `null` when unknown (Nova's default);
 * `optional` fields are left out entirely when unset (Nova's `populate_schema(set_none=False)`,
 * as `ImageMetaPropsPayload` does for `hw_pmu`).
 */
export type FieldSpec =
  | { readonly type: FieldType; readonly nullable?: true; readonly optional?: true }
  | {
      /** Another payload class, nested; its version is part of this schema's fingerprint. */
      readonly type: 'object';
      readonly of: PayloadSchema;
      readonly nullable?: true;
      readonly optional?: true;
    };

/** `object:ImageMetaPropsPayload@1.0` for nested payloads, else the type name. */
export function fieldTypeName(field: FieldSpec): string {
  return field.type === 'object' ? `object:${field.of.name}@${field.of.version}` : field.type;
}

/** A payload class: name and version as sent in `nova_object.*`, history beside the version. */
export interface PayloadSchema {
  readonly name: string;
  readonly version: string;
  /** One line per version, oldest first: `1.0: initial version`. */
  readonly history: readonly string[];
  /** One line for the docs. */
  readonly description: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

/**
 * The schema's fingerprint: sha256 of the sorted `name:type[?|!]` lines, 12 hex characters. Any
 * change to a field's name, type or presence rule changes it, and so does a version bump of a
 * nested payload (Nova's rule: bumping ImageMetaPropsPayload bumps what carries it).
 */
export function fingerprint(schema: PayloadSchema): string {
  const lines = Object.entries(schema.fields)
    .map(
      ([name, f]) => `${name}:${fieldTypeName(f)}${f.nullable ? '?' : ''}${f.optional ? '!' : ''}`,
    )
    .sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 12);
}

/** The pin a test compares: `<version>-<fingerprint>`, as Nova pins its object hashes. */
export function versionPin(schema: PayloadSchema): string {
  return `${schema.version}-${fingerprint(schema)}`;
}

/** Field values before serialization; `undefined` means "unset" (only for optional fields). */
export type PayloadData = Readonly<Record<string, JsonValue | VersionedObject | undefined>>;

/**
 * Builds the versioned object for `schema`, in the schema's field order. A missing or unknown
 * field is a programmer error (the builders in this folder fill every field), so it throws
 * TypeError instead of sending a payload that does not match its pinned schema.
 */
export function toVersionedObject(schema: PayloadSchema, data: PayloadData): VersionedObject {
  for (const key of Object.keys(data)) {
    if (!(key in schema.fields)) {
      throw new TypeError(`${schema.name} has no field "${key}"`);
    }
  }
  const out: Record<string, JsonValue> = {};
  for (const [name, field] of Object.entries(schema.fields)) {
    const value = data[name];
    if (value === undefined) {
      if (field.optional) continue;
      throw new TypeError(`${schema.name}.${name} is required`);
    }
    if (value === null && field.nullable !== true) {
      throw new TypeError(`${schema.name}.${name} cannot be null`);
    }
    out[name] = value as JsonValue;
  }
  return {
    'nova_object.name': schema.name,
    'nova_object.namespace': 'nova',
    'nova_object.version': schema.version,
    'nova_object.data': out,
  };
}
