/** The body of createImage, as Nova's schema checks it (nova/api/openstack/compute/schemas/servers.py create_image). */
import type { SnapshotRequest } from '../services/index.js';
import { invalidField, refuseUnknownKeys } from './_http.js';

/**
 * createBackup: createImage's fields plus `backup_type` (a string) and `rotation` (a whole number
 * of backups to keep), both required (nova/api/openstack/compute/schemas/create_backup.py).
 */
export function parseCreateBackup(value: unknown): SnapshotRequest {
  const fields = objectOf('createBackup', value);
  refuseUnknownKeys('createBackup', fields, ['name', 'metadata', 'backup_type', 'rotation']);
  const { backup_type: type, rotation } = fields;
  if (type === undefined) {
    throw invalidField('createBackup', value, "'backup_type' is a required property");
  }
  if (typeof type !== 'string') {
    throw invalidField(
      'createBackup/backup_type',
      type,
      `${JSON.stringify(type)} is not of type 'string'`,
    );
  }
  if (rotation === undefined) {
    throw invalidField('createBackup', value, "'rotation' is a required property");
  }
  const count =
    typeof rotation === 'string' && /^[0-9]+$/u.test(rotation) ? Number(rotation) : rotation;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw invalidField(
      'createBackup/rotation',
      rotation,
      'The rotation must be a whole number of backups (0 or more)',
    );
  }
  return { ...parseSnapshot('createBackup', fields), backup: { type, rotation: count } };
}

function objectOf(action: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField(action, value, `${JSON.stringify(value)} is not of type 'object'`);
  }
  return value as Record<string, unknown>;
}

/** `{"name": <1-255 characters>, "metadata": {<key>: <string>}}`, nothing else. */
export function parseCreateImage(value: unknown): SnapshotRequest {
  const fields = objectOf('createImage', value);
  refuseUnknownKeys('createImage', fields, ['name', 'metadata']);
  return parseSnapshot('createImage', fields);
}

function parseSnapshot(action: string, fields: Record<string, unknown>): SnapshotRequest {
  const name = fields.name;
  if (name === undefined) throw invalidField(action, fields, "'name' is a required property");
  if (typeof name !== 'string') {
    throw invalidField(`${action}/name`, name, `${JSON.stringify(name)} is not of type 'string'`);
  }
  if (name.trim() !== name || name.length === 0 || Array.from(name).length > 255) {
    throw invalidField(
      `${action}/name`,
      name,
      'The name must be 1 to 255 characters with no leading or trailing whitespace',
    );
  }
  const metadata: unknown = fields.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalidField(
      `${action}/metadata`,
      metadata,
      `${JSON.stringify(metadata)} is not of type 'object'`,
    );
  }
  const items: Record<string, string> = {};
  for (const [key, item] of Object.entries(metadata)) {
    if (key.length === 0 || Array.from(key).length > 255) {
      throw invalidField(`${action}/metadata/${key}`, key, 'Keys are 1 to 255 characters');
    }
    if (typeof item !== 'string' || Array.from(item).length > 255) {
      throw invalidField(
        `${action}/metadata/${key}`,
        item,
        'Values are strings of at most 255 characters',
      );
    }
    items[key] = item;
  }
  return { name, metadata: items };
}
