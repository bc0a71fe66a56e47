/** The body of createImage, as Nova's schema checks it (nova/api/openstack/compute/schemas/servers.py create_image). */
import type { SnapshotRequest } from '../services/index.js';
import { invalidField, refuseUnknownKeys } from './_http.js';

/** `{"name": <1-255 characters>, "metadata": {<key>: <string>}}`, nothing else. */
export function parseCreateImage(value: unknown): SnapshotRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField('createImage', value, `${JSON.stringify(value)} is not of type 'object'`);
  }
  const fields = value as Record<string, unknown>;
  refuseUnknownKeys('createImage', fields, ['name', 'metadata']);
  const name = fields.name;
  if (name === undefined) throw invalidField('createImage', value, "'name' is a required property");
  if (typeof name !== 'string') {
    throw invalidField('createImage/name', name, `${JSON.stringify(name)} is not of type 'string'`);
  }
  if (name.trim() !== name || name.length === 0 || Array.from(name).length > 255) {
    throw invalidField(
      'createImage/name',
      name,
      'The name must be 1 to 255 characters with no leading or trailing whitespace',
    );
  }
  const metadata: unknown = fields.metadata ?? {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw invalidField(
      'createImage/metadata',
      metadata,
      `${JSON.stringify(metadata)} is not of type 'object'`,
    );
  }
  const items: Record<string, string> = {};
  for (const [key, item] of Object.entries(metadata)) {
    if (key.length === 0 || Array.from(key).length > 255) {
      throw invalidField(`createImage/metadata/${key}`, key, 'Keys are 1 to 255 characters');
    }
    if (typeof item !== 'string' || Array.from(item).length > 255) {
      throw invalidField(
        `createImage/metadata/${key}`,
        item,
        'Values are strings of at most 255 characters',
      );
    }
    items[key] = item;
  }
  return { name, metadata: items };
}
