/**
 * The request bodies of server create, update and rebuild, checked as Nova's schemas
 * (nova/api/openstack/compute/schemas/servers.py) check them at the negotiated microversion.
 * Every field Nova's schema accepts is either honoured or refused with a 400 that names it and
 * says which feature vpmu does not offer; nothing is accepted and dropped.
 */
import { invalidField, unexpectedKey } from './_http.js';
import { isIPv4, isIPv6 } from 'node:net';
import { ComputeError } from '../errors/index.js';
import {
  MAX_SERVER_TAGS,
  tagProblem,
  type NewServer,
  type RebuildOptions,
  type ServerUpdate,
} from '../services/index.js';
import { atLeast, type Microversion } from './microversion.js';

/** vpmu's one availability zone, Nova's default `default_availability_zone`. */
export const AVAILABILITY_ZONE = 'nova';

/** A field of Nova's schema that vpmu refuses, and why. */
function refused(field: string, why: string): ComputeError {
  return new ComputeError('request.invalid', `Invalid input for field/attribute ${field}: ${why}`);
}

const NO_NETWORKING = 'vpmu has no networking service (no Neutron), so servers get no network';
/** Fields of Nova's schema vpmu refuses, with the microversions they exist at and why. */
const REFUSED: readonly {
  field: string;
  from?: [number, number];
  until?: [number, number];
  why: string;
}[] = [
  { field: 'security_groups', why: `security groups are not offered: ${NO_NETWORKING}` },
  {
    field: 'block_device_mapping',
    why: 'vpmu has no volumes (no block storage service); servers boot from images only',
  },
  {
    field: 'block_device_mapping_v2',
    why: 'vpmu has no volumes (no block storage service); servers boot from images only',
  },
  { field: 'personality', until: [2, 56], why: 'vpmu does not inject files into guests' },
  {
    field: 'trusted_image_certificates',
    from: [2, 63],
    why: 'vpmu does not verify image signatures',
  },
  {
    field: 'host',
    from: [2, 74],
    why: 'vpmu does not take a requested host; its scheduler places servers',
  },
  {
    field: 'hypervisor_hostname',
    from: [2, 74],
    why: 'vpmu does not take a requested host; its scheduler places servers',
  },
  {
    field: 'hostname',
    from: [2, 90],
    why: 'vpmu has no metadata service to give the guest a hostname',
  },
];

function exists(mv: Microversion, from?: [number, number], until?: [number, number]): boolean {
  if (from !== undefined && !atLeast(mv, from[0], from[1])) return false;
  if (until !== undefined && atLeast(mv, until[0], until[1] + 1)) return false;
  return true;
}

/** Nova's `name` type: 1 to 255 characters, not only spaces. */
function parseName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 255) {
    throw invalidField(field, value, 'A server name of 1 to 255 characters is required');
  }
  return value;
}

/** Nova's metadata type: keys 1-255 of [a-zA-Z0-9-_:. ], string values up to 255. */
export function parseMetadata(field: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField(field, value, `${JSON.stringify(value ?? null)} is not of type 'object'`);
  }
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[a-zA-Z0-9-_:. ]{1,255}$/u.test(key)) {
      throw invalidField(
        field,
        value,
        `The metadata key '${key}' must have 1 to 255 characters of letters, digits, space and - _ : .`,
      );
    }
    if (typeof item !== 'string' || item.length > 255) {
      throw invalidField(
        `${field}.${key}`,
        item,
        'A metadata value must be a string of at most 255 characters',
      );
    }
    out[key] = item;
  }
  return out;
}

function parseAccessIp(field: 'accessIPv4' | 'accessIPv6', value: unknown): string {
  const ok = field === 'accessIPv4' ? isIPv4 : isIPv6;
  if (typeof value !== 'string' || !ok(value) || value.includes('%')) {
    throw invalidField(
      field,
      value,
      `'${String(value)}' is not a '${field === 'accessIPv4' ? 'ipv4' : 'ipv6'}'`,
    );
  }
  // As Nova stores it (netaddr): an IPv6 address in its canonical compressed form.
  return field === 'accessIPv6' ? new URL(`http://[${value}]/`).hostname.slice(1, -1) : value;
}

function parseDescription(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.length > 255) {
    throw invalidField(
      'description',
      value,
      'A description is null or a string of at most 255 characters',
    );
  }
  return value;
}

function parseDiskConfig(value: unknown): 'AUTO' | 'MANUAL' {
  if (value !== 'AUTO' && value !== 'MANUAL') {
    throw invalidField(
      'OS-DCF:diskConfig',
      value,
      `'${String(value)}' is not one of ['AUTO', 'MANUAL']`,
    );
  }
  return value;
}

/** Nova's positive_integer: an integer (or a string of digits) of at least 1. */
function parseCount(field: string, value: unknown): number {
  const n = typeof value === 'string' && /^[0-9]+$/u.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalidField(field, value, `${field} must be an integer of at least 1`);
  }
  return n;
}

/** Nova's boolean parameter type. */
function parseBoolean(field: string, value: unknown): boolean {
  if ([true, 'true', 'True', 'TRUE', 1, '1', 'yes', 'on', 'y', 't'].includes(value as never))
    return true;
  if ([false, 'false', 'False', 'FALSE', 0, '0', 'no', 'off', 'n', 'f'].includes(value as never))
    return false;
  throw invalidField(field, value, `${JSON.stringify(value)} is not a boolean`);
}

/** The fields create, update and rebuild share. */
function parseCommon(body: Record<string, unknown>, mv: Microversion): ServerUpdate {
  return {
    ...(body.name === undefined ? {} : { name: parseName('name', body.name) }),
    ...(body.metadata === undefined ? {} : { metadata: parseMetadata('metadata', body.metadata) }),
    ...(body.accessIPv4 === undefined
      ? {}
      : { accessIPv4: parseAccessIp('accessIPv4', body.accessIPv4) }),
    ...(body.accessIPv6 === undefined
      ? {}
      : { accessIPv6: parseAccessIp('accessIPv6', body.accessIPv6) }),
    ...(body['OS-DCF:diskConfig'] === undefined
      ? {}
      : { diskConfig: parseDiskConfig(body['OS-DCF:diskConfig']) }),
    ...(atLeast(mv, 2, 19) && body.description !== undefined
      ? { description: parseDescription(body.description) }
      : {}),
  };
}

function checkKnown(
  object: string,
  body: Record<string, unknown>,
  known: readonly string[],
  mv: Microversion,
): void {
  for (const key of Object.keys(body)) {
    if (key === 'description' && atLeast(mv, 2, 19)) continue;
    if (key === 'tags' && object === 'server' && atLeast(mv, 2, 52)) continue;
    if (known.includes(key)) continue;
    if (REFUSED.some((r) => r.field === key && exists(mv, r.from, r.until))) continue;
    throw unexpectedKey(object, body, key);
  }
}

function refuse(body: Record<string, unknown>, mv: Microversion, fields: readonly string[]): void {
  for (const r of REFUSED) {
    if (fields.includes(r.field) && body[r.field] !== undefined && exists(mv, r.from, r.until)) {
      throw refused(r.field, r.why);
    }
  }
}

const CREATE_FIELDS = [
  'name',
  'imageRef',
  'flavorRef',
  'networks',
  'min_count',
  'max_count',
  'return_reservation_id',
  'metadata',
  'availability_zone',
  'OS-DCF:diskConfig',
  'accessIPv4',
  'accessIPv6',
  'key_name',
  'user_data',
  'config_drive',
  'adminPass',
];

/** Nova's limit on user data: 65535 characters of base64. */
export const MAX_USER_DATA = 65535;

/** Nova's `user_data`: base64 text of at most 65535 characters. */
function parseUserData(value: unknown): string {
  const shown = typeof value === 'string' && value.length > 80 ? `${value.slice(0, 80)}...` : value;
  if (typeof value !== 'string') {
    throw invalidField('user_data', value, `${JSON.stringify(value)} is not of type 'string'`);
  }
  if (value.length > MAX_USER_DATA) {
    throw invalidField(
      'user_data',
      shown,
      `The user data is ${value.length} characters long; at most ${MAX_USER_DATA} characters of base64 are allowed`,
    );
  }
  const compact = value.replace(/[\r\n]/gu, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/u.test(compact)) {
    // NOTE: Nova wording (its jsonschema base64 format check).
    throw invalidField('user_data', shown, `'${String(shown)}' is not a 'base64'`);
  }
  return value;
}

/** Nova's key pair name type: 1 to 255 characters. */
/**
 * Nova's `adminPass`: a string. vpmu refuses an empty one, which would set no password (Nova
 * would set an empty one or, when configured, make one up that with its defaults reaches no guest).
 */
export function parseAdminPass(value: unknown): string {
  if (typeof value !== 'string') {
    throw invalidField('adminPass', '***', `A ${typeof value} is not of type 'string'`);
  }
  if (value === '') {
    throw invalidField('adminPass', '', 'An empty password cannot be given to a guest');
  }
  return value;
}

function parseKeyName(value: unknown): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 255) {
    throw invalidField('key_name', value, 'A key pair name of 1 to 255 characters is required');
  }
  return value;
}

/** A create request, with whether the client asked for the reservation id instead of the server. */
export interface CreateRequest {
  readonly server: NewServer;
  readonly returnReservationId: boolean;
}

/** POST /servers: the `server` object. */
export function parseNewServer(body: Record<string, unknown>, mv: Microversion): CreateRequest {
  checkKnown('server', body, CREATE_FIELDS, mv);
  const name = parseName('name', body.name);
  refuse(
    body,
    mv,
    REFUSED.map((r) => r.field),
  );
  const { imageRef, flavorRef } = body;
  if (typeof imageRef !== 'string' || imageRef === '') {
    throw invalidField(
      'imageRef',
      imageRef,
      `Server '${name}' needs imageRef, the id of an image (vpmu boots from images only)`,
    );
  }
  if ((typeof flavorRef !== 'string' || flavorRef === '') && typeof flavorRef !== 'number') {
    throw invalidField('flavorRef', flavorRef, `Server '${name}' needs flavorRef, a flavor id`);
  }
  parseNetworks(body.networks, mv);
  const zone = body.availability_zone;
  if (zone !== undefined && (typeof zone !== 'string' || zone.length === 0 || zone.length > 255)) {
    throw invalidField(
      'availability_zone',
      zone,
      'An availability zone is a string of 1 to 255 characters (zone, zone:host or zone::node)',
    );
  }
  const minCount =
    body.min_count === undefined ? undefined : parseCount('min_count', body.min_count);
  const maxCount =
    body.max_count === undefined ? minCount : parseCount('max_count', body.max_count);
  if (minCount !== undefined && maxCount !== undefined && minCount > maxCount) {
    // NOTE: Nova wording (nova/api/openstack/compute/servers.py).
    throw new ComputeError('request.invalid', 'min_count must be <= max_count');
  }
  const returnReservationId =
    body.return_reservation_id === undefined
      ? false
      : parseBoolean('return_reservation_id', body.return_reservation_id);
  const common = parseCommon(body, mv);
  const tags = body.tags === undefined ? undefined : parseTags(body.tags);
  return {
    server: {
      ...common,
      ...(body.key_name === undefined ? {} : { keyName: parseKeyName(body.key_name) }),
      ...(body.user_data === undefined ? {} : { userData: parseUserData(body.user_data) }),
      ...(body.config_drive === undefined
        ? {}
        : { configDrive: parseBoolean('config_drive', body.config_drive) }),
      ...(body.adminPass === undefined ? {} : { adminPass: parseAdminPass(body.adminPass) }),
      name,
      imageRef,
      flavorRef: String(flavorRef),
      ...(typeof zone === 'string' ? { availabilityZone: zone } : {}),
      ...(minCount === undefined ? {} : { minCount }),
      ...(maxCount === undefined ? {} : { maxCount }),
      ...(tags === undefined ? {} : { tags }),
    },
    returnReservationId,
  };
}

/** `tags` on create (2.52): Nova's tag rules, at most MAX_SERVER_TAGS, duplicates kept once. */
function parseTags(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((t) => typeof t !== 'string')) {
    throw invalidField('tags', value, 'The tags must be a list of strings');
  }
  for (const tag of value as string[]) {
    const problem = tagProblem(tag);
    if (problem !== null) throw invalidField('tags', value, problem);
  }
  const tags = [...new Set(value as string[])];
  if (tags.length > MAX_SERVER_TAGS) {
    throw invalidField('tags', value, `At most ${MAX_SERVER_TAGS} tags are allowed`);
  }
  return tags;
}

/**
 * `networks`: required from 2.37 (Nova). `none` (and, before 2.37, no networks or an empty list:
 * Nova's "every network available", of which vpmu has none) means no network; `auto` and any
 * requested network are refused, as vpmu has no networking service.
 */
function parseNetworks(value: unknown, mv: Microversion): void {
  if (value === undefined) {
    if (atLeast(mv, 2, 37)) {
      throw invalidField(
        'server',
        null,
        '\'networks\' is a required property (from microversion 2.37; use "none": vpmu has no networking service)',
      );
    }
    return;
  }
  if (value === 'none') return;
  if (Array.isArray(value) && value.length === 0 && !atLeast(mv, 2, 37)) return;
  if (value === 'auto')
    throw refused('networks', `'auto' cannot allocate a network: ${NO_NETWORKING}; use "none"`);
  if (Array.isArray(value)) {
    throw refused(
      'networks',
      `requested networks and ports cannot be attached: ${NO_NETWORKING}; use "none"`,
    );
  }
  throw invalidField('networks', value, `networks must be "none" (vpmu has no networking service)`);
}

/** PUT /servers/{id}: the `server` object. */
export function parseServerUpdate(body: Record<string, unknown>, mv: Microversion): ServerUpdate {
  const known = ['name', 'accessIPv4', 'accessIPv6', 'OS-DCF:diskConfig'];
  for (const key of Object.keys(body)) {
    if (key === 'description' && atLeast(mv, 2, 19)) continue;
    if (!known.includes(key)) throw unexpectedKey('server', body, key);
  }
  return parseCommon(body, mv);
}

/** The `resize` object of a resize action: the flavor, and the disk config the server gets. */
export function parseResize(body: Record<string, unknown>): {
  flavorRef: string;
  diskConfig?: 'AUTO' | 'MANUAL';
} {
  for (const key of Object.keys(body)) {
    if (key !== 'flavorRef' && key !== 'OS-DCF:diskConfig')
      throw unexpectedKey('resize', body, key);
  }
  const { flavorRef } = body;
  if ((typeof flavorRef !== 'string' || flavorRef === '') && typeof flavorRef !== 'number') {
    throw invalidField('resize.flavorRef', flavorRef, 'A flavor id is required');
  }
  const disk = body['OS-DCF:diskConfig'];
  return {
    flavorRef: String(flavorRef),
    ...(disk === undefined ? {} : { diskConfig: parseDiskConfig(disk) }),
  };
}

/** The `rebuild` object of a rebuild action. */
export function parseRebuild(
  body: Record<string, unknown>,
  mv: Microversion,
): { imageRef: string; options: RebuildOptions } {
  const known = [
    'imageRef',
    'name',
    'metadata',
    'accessIPv4',
    'accessIPv6',
    'OS-DCF:diskConfig',
    'preserve_ephemeral',
    'adminPass',
    'personality',
  ];
  if (atLeast(mv, 2, 54)) known.push('key_name');
  if (atLeast(mv, 2, 57)) known.push('user_data');
  if (atLeast(mv, 2, 63)) known.push('trusted_image_certificates');
  if (atLeast(mv, 2, 90)) known.push('hostname');
  for (const key of Object.keys(body)) {
    if (key === 'description' && atLeast(mv, 2, 19)) continue;
    if (key === 'personality' && atLeast(mv, 2, 57)) throw unexpectedKey('rebuild', body, key);
    if (!known.includes(key)) throw unexpectedKey('rebuild', body, key);
  }
  const { imageRef } = body;
  if (typeof imageRef !== 'string' || imageRef === '') {
    throw invalidField('rebuild.imageRef', imageRef, 'An image id is required');
  }
  refuse(body, mv, ['personality', 'trusted_image_certificates', 'hostname']);
  const preserve = body.preserve_ephemeral;
  if (preserve !== undefined && parseBoolean('preserve_ephemeral', preserve)) {
    throw refused(
      'preserve_ephemeral',
      'vpmu servers have no ephemeral disks to preserve; leave it false',
    );
  }
  const keyName = body.key_name;
  const userData = body.user_data;
  return {
    imageRef,
    options: {
      ...parseCommon(body, mv),
      // 2.54 and 2.57: null takes the key pair or the user data away.
      ...(keyName === undefined
        ? {}
        : { keyName: keyName === null ? null : parseKeyName(keyName) }),
      ...(userData === undefined
        ? {}
        : { userData: userData === null ? null : parseUserData(userData) }),
      ...(body.adminPass === undefined ? {} : { adminPass: parseAdminPass(body.adminPass) }),
    },
  };
}
