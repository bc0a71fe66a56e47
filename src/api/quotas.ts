/**
 * Compute API: os-quota-sets and os-quota-class-sets, with Nova's bodies by microversion
 * (nova/api/openstack/compute/quota_sets.py and quota_classes.py): the network quotas leave
 * os-quota-sets at 2.36 and os-quota-class-sets at 2.50, where server_groups and
 * server_group_members join the class view; the personality quotas leave both at 2.57. A body
 * naming a quota the microversion does not show is refused, as Nova's schema refuses it.
 */
import type { Context, Hono } from 'hono';
import {
  NETWORK_QUOTAS,
  PERSONALITY_QUOTAS,
  QUOTA_RESOURCES,
  revertQuotas,
  showClassQuotas,
  showDefaultQuotas,
  showQuotaDetails,
  showQuotas,
  updateClassQuotas,
  updateQuotas,
  type QuotaOwner,
  type QuotaResource,
} from '../services/index.js';
import { caller, invalidField, member, readJsonObject, unexpectedKey } from './_http.js';
import { lastValue, queryParams } from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Nova's largest quota limit (the schema's maximum, 0x7FFFFFFF). */
const MAX_LIMIT = 0x7fffffff;

/** Adds the quota routes to the compute app (already behind the token check). */
export function addQuotaRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/os-quota-sets/:id', async (c) => {
    const owner = ownerOf(c);
    const limits = await showQuotas(deps, caller(c), owner, 'show');
    return c.json({ quota_set: { id: owner.projectId, ...pick(limits, setKeys(c)) } });
  });

  app.get('/v2.1/os-quota-sets/:id/detail', async (c) => {
    const owner = ownerOf(c);
    const details = await showQuotaDetails(deps, caller(c), owner);
    return c.json({ quota_set: { id: owner.projectId, ...pick(details, setKeys(c)) } });
  });

  app.get('/v2.1/os-quota-sets/:id/defaults', async (c) => {
    caller(c);
    const projectId = c.req.param('id');
    const limits = await showDefaultQuotas(deps, projectId);
    return c.json({ quota_set: { id: projectId, ...pick(limits, setKeys(c)) } });
  });

  app.put('/v2.1/os-quota-sets/:id', async (c) => {
    const keys = setKeys(c);
    const body = member(await readJsonObject(c, 'object with "quota_set"'), 'quota_set');
    const { limits, force } = parseLimits('quota_set', body, keys, true);
    const updated = await updateQuotas(deps, caller(c), ownerOf(c), limits, force);
    return c.json({ quota_set: pick(updated, keys) });
  });

  app.delete('/v2.1/os-quota-sets/:id', async (c) => {
    await revertQuotas(deps, caller(c), ownerOf(c));
    return c.body(null, 202);
  });

  app.get('/v2.1/os-quota-class-sets/:id', async (c) => {
    const name = c.req.param('id');
    const limits = await showClassQuotas(deps, caller(c), name);
    return c.json({ quota_class_set: { id: name, ...pick(limits, classKeys(c)) } });
  });

  app.put('/v2.1/os-quota-class-sets/:id', async (c) => {
    const keys = classKeys(c);
    const body = member(
      await readJsonObject(c, 'object with "quota_class_set"'),
      'quota_class_set',
    );
    const { limits } = parseLimits('quota_class_set', body, keys, false);
    const updated = await updateClassQuotas(deps, caller(c), c.req.param('id'), limits);
    return c.json({ quota_class_set: pick(updated, keys) });
  });
}

/** The project of the path and, with `user_id`, one user in it. */
function ownerOf(c: Context<ApiEnv>): QuotaOwner {
  const projectId = c.req.param('id') ?? '';
  const userId = lastValue(queryParams(c), 'user_id');
  return userId === undefined || userId === '' ? { projectId } : { projectId, userId };
}

/** The os-quota-sets keys at the request's microversion. */
function setKeys(c: Context<ApiEnv>): readonly QuotaResource[] {
  const mv = c.get('microversion');
  return QUOTA_RESOURCES.filter(
    (r) =>
      !(atLeast(mv, 2, 36) && NETWORK_QUOTAS.includes(r)) &&
      !(atLeast(mv, 2, 57) && PERSONALITY_QUOTAS.includes(r)),
  );
}

/** The os-quota-class-sets keys at the request's microversion. */
function classKeys(c: Context<ApiEnv>): readonly QuotaResource[] {
  const mv: Microversion = c.get('microversion');
  const from250 = atLeast(mv, 2, 50);
  return QUOTA_RESOURCES.filter(
    (r) =>
      // NOTE: Nova's v2.1 class view lacked the server group quotas until 2.50 (bug 1693168).
      !(!from250 && (r === 'server_groups' || r === 'server_group_members')) &&
      !(from250 && NETWORK_QUOTAS.includes(r)) &&
      !(atLeast(mv, 2, 57) && PERSONALITY_QUOTAS.includes(r)),
  );
}

function pick<T>(
  values: Readonly<Record<QuotaResource, T>>,
  keys: readonly QuotaResource[],
): Record<string, T> {
  return Object.fromEntries(keys.map((k) => [k, values[k]]));
}

/**
 * Nova's update schema: each quota an integer, or a string of one, from -1 to 0x7FFFFFFF;
 * `force` (os-quota-sets only) a boolean or a boolean string.
 */
function parseLimits(
  field: string,
  body: Record<string, unknown>,
  keys: readonly QuotaResource[],
  allowForce: boolean,
): { limits: Partial<Record<QuotaResource, number>>; force: boolean } {
  const limits: Partial<Record<QuotaResource, number>> = {};
  let force = false;
  for (const [key, value] of Object.entries(body)) {
    if (allowForce && key === 'force') {
      force = parseForce(value);
      continue;
    }
    if (!(keys as readonly string[]).includes(key)) throw unexpectedKey(field, body, key);
    limits[key as QuotaResource] = parseLimit(key, value);
  }
  return { limits, force };
}

function parseLimit(key: string, value: unknown): number {
  let n: number;
  if (typeof value === 'number' && Number.isInteger(value)) {
    n = value;
  } else if (typeof value === 'string') {
    if (!/^-?[0-9]+$/u.test(value)) {
      throw invalidField(key, value, `'${value}' does not match '^-?[0-9]+$'`);
    }
    n = Number(value);
  } else {
    throw invalidField(
      key,
      value,
      `${JSON.stringify(value ?? null)} is not of type 'integer', 'string'`,
    );
  }
  if (n < -1) throw invalidField(key, value, `${n} is less than the minimum of -1`);
  if (n > MAX_LIMIT) {
    throw invalidField(key, value, `${n} is greater than the maximum of ${MAX_LIMIT}`);
  }
  return n;
}

// NOTE: Nova's parameter_types.boolean: true/false, or their usual string spellings.
const TRUE_WORDS = ['true', 'True', 'TRUE', '1', 'on', 'On', 'ON', 'yes', 'Yes', 'YES', 'y', 't'];
const FALSE_WORDS = [
  'false',
  'False',
  'FALSE',
  '0',
  'off',
  'Off',
  'OFF',
  'no',
  'No',
  'NO',
  'n',
  'f',
];

function parseForce(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && TRUE_WORDS.includes(value)) return true;
  if (typeof value === 'string' && FALSE_WORDS.includes(value)) return false;
  throw invalidField(
    'force',
    value,
    `${JSON.stringify(value ?? null)} is not of type 'boolean', 'string'`,
  );
}
