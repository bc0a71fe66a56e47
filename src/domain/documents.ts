/**
 * Wire documents → domain values: Nova's flavor representation or `openstack flavor show -f json`,
 * and Glance v2's flat image or `openstack image show -f json`.
 */
import type { Issue } from '../errors/index.js';
import { fail, failIfAny, ok, type Result } from './result.js';
import type { Flavor, Image, PropertyValue } from './types.js';

/** Glance v2 image fields that are not properties (a flat image holds properties beside them). */
const GLANCE_CORE_FIELDS = new Set([
  'checksum',
  'container_format',
  'created_at',
  'direct_url',
  'disk_format',
  'file',
  'id',
  'locations',
  'min_disk',
  'min_ram',
  'name',
  'os_hash_algo',
  'os_hash_value',
  'os_hidden',
  'owner',
  'properties',
  'protected',
  'schema',
  'self',
  'size',
  'status',
  'stores',
  'tags',
  'updated_at',
  'virtual_size',
  'visibility',
]);

/** Parses a flavor document; `source` names it in messages (a file name, say). */
export function parseFlavorDocument(doc: unknown, source: string): Result<Flavor> {
  const body = unwrap(doc, 'flavor');
  if (body === undefined) return notAnObject('flavor', source);
  const issues: Issue[] = [];
  const name = typeof body.name === 'string' ? body.name : undefined;
  if (name === undefined) issues.push(missing(source, 'flavor', 'name', 'a string'));
  const count = (field: string): number => {
    const value = body[field];
    if (typeof value === 'number') return value;
    issues.push(missing(source, 'flavor', field, 'a number'));
    return 0;
  };
  const vcpus = count('vcpus');
  const memoryMiB = count('ram');
  const diskGiB = count('disk');
  const extraSpecs = readExtraSpecs(body, source, name ?? '', issues);
  const id = typeof body.id === 'string' ? body.id : undefined;
  return (
    failIfAny(issues) ??
    ok({
      ...(id === undefined ? {} : { id }),
      name: name ?? '',
      vcpus,
      memoryMiB,
      diskGiB,
      extraSpecs,
    })
  );
}

/** Parses an image document; `source` names it in messages. */
export function parseImageDocument(doc: unknown, source: string): Result<Image> {
  const body = unwrap(doc, 'image');
  if (body === undefined) return notAnObject('image', source);
  const issues: Issue[] = [];
  const nested = body.properties;
  const raw: Record<string, unknown> =
    typeof nested === 'object' && nested !== null && !Array.isArray(nested)
      ? (nested as Record<string, unknown>)
      : Object.fromEntries(Object.entries(body).filter(([key]) => !GLANCE_CORE_FIELDS.has(key)));
  const properties: Record<string, PropertyValue> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === null) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      properties[key] = value;
    } else {
      issues.push({
        code: 'input.invalid',
        path: ['image', 'properties', key],
        message: `Cannot read image document ${source}: property '${key}' must be a string, number or boolean`,
      });
    }
  }
  const text = (field: string): string | undefined =>
    typeof body[field] === 'string' ? body[field] : undefined;
  const id = text('id');
  const owner = text('owner');
  return (
    failIfAny(issues) ??
    ok({
      ...(id === undefined ? {} : { id }),
      name: text('name') ?? '',
      ...(owner === undefined ? {} : { owner }),
      properties,
    })
  );
}

/**
 * Reads `extra_specs` (Nova) or `properties` (openstack client: an object, or the older
 * `key='value', key2='value2'` string). Values must be strings or numbers, as Nova's schema says.
 */
function readExtraSpecs(
  body: Record<string, unknown>,
  source: string,
  flavorName: string,
  issues: Issue[],
): Record<string, string> {
  const raw = body.extra_specs ?? body.properties ?? {};
  if (typeof raw === 'string') {
    return Object.fromEntries(
      [...raw.matchAll(/([^\s,=][^=,]*)='((?:[^'\\]|\\.)*)'/gu)].map(([, key = '', value = '']) => [
        key.trim(),
        value,
      ]),
    );
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    issues.push(missing(source, 'flavor', 'extra_specs', 'an object of strings'));
    return {};
  }
  const specs: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string' || typeof value === 'number') {
      specs[key] = String(value);
    } else {
      issues.push({
        code: 'input.invalid',
        path: ['flavor', 'extra_specs', key],
        message: `Cannot read extra spec '${key}' of flavor '${flavorName}' in ${source}: the value must be a string, not ${JSON.stringify(value)}`,
      });
    }
  }
  return specs;
}

function unwrap(doc: unknown, wrapper: string): Record<string, unknown> | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const record = doc as Record<string, unknown>;
  const inner = record[wrapper];
  return typeof inner === 'object' && inner !== null && !Array.isArray(inner)
    ? (inner as Record<string, unknown>)
    : record;
}

function notAnObject<T>(kind: string, source: string): Result<T> {
  return fail({
    code: 'input.invalid',
    path: [kind],
    message: `Cannot read ${kind} document ${source}: expected a JSON object`,
  });
}

function missing(source: string, kind: string, field: string, expected: string): Issue {
  return {
    code: 'input.invalid',
    path: [kind, field],
    message: `Cannot read ${kind} document ${source}: '${field}' must be ${expected}`,
  };
}
