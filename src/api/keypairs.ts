/**
 * Compute API: os-keypairs. Request bodies follow Nova's schemas by microversion (`type` from
 * 2.2, `user_id` from 2.10, a required `public_key` and '@' and '.' in names from 2.92); views
 * are Nova's (`type` from 2.2; create answers 201 and delete 204 from 2.2, 200 and 202 before;
 * `limit`/`marker` paging with `keypairs_links` from 2.35).
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  createKeypair,
  deleteKeypair,
  listKeypairs,
  MAX_LIST_LIMIT,
  showKeypair,
  type KeypairRecord,
  type NewKeypair,
} from '../services/index.js';
import {
  caller,
  invalidField,
  member,
  origin,
  readJsonObject,
  refuseUnknownKeys,
} from './_http.js';
import { lastValue, limitParam, nextHref, pageIsFull, queryParams } from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Adds the key pair routes to the compute app (already behind the token check). */
export function addKeypairRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.post('/v2.1/os-keypairs', async (c) => {
    const mv = c.get('microversion');
    const body = member(await readJsonObject(c, 'object with "keypair"'), 'keypair');
    const created = await createKeypair(deps, caller(c), parseNewKeypair(body, mv));
    const view = {
      ...keypairBrief(created.keypair, mv),
      user_id: created.keypair.userId,
      ...(created.privateKey === undefined ? {} : { private_key: created.privateKey }),
    };
    return c.json({ keypair: view }, atLeast(mv, 2, 2) ? 201 : 200);
  });

  app.get('/v2.1/os-keypairs', async (c) => {
    const mv = c.get('microversion');
    const params = queryParams(c);
    const all = await listKeypairs(deps, caller(c), userIdParam(c, mv));
    if (!atLeast(mv, 2, 35)) {
      return c.json({ keypairs: all.map((k) => ({ keypair: keypairBrief(k, mv) })) });
    }
    const limit = limitParam(params);
    const marker = lastValue(params, 'marker');
    let start = 0;
    if (marker !== undefined) {
      start = all.findIndex((k) => k.name === marker) + 1;
      // NOTE: Nova's wording (nova/exception.py MarkerNotFound).
      if (start === 0)
        throw new ComputeError('request.invalid', `Marker ${marker} could not be found.`);
    }
    const page = all.slice(start, start + Math.min(limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT));
    const last = page.at(-1);
    const links =
      last !== undefined && pageIsFull(page.length, limit, MAX_LIST_LIMIT)
        ? [
            {
              rel: 'next',
              href: nextHref(`${origin(c)}/compute/v2.1/os-keypairs`, params, last.name),
            },
          ]
        : [];
    return c.json({
      keypairs: page.map((k) => ({ keypair: keypairBrief(k, mv) })),
      ...(links.length > 0 ? { keypairs_links: links } : {}),
    });
  });

  app.get('/v2.1/os-keypairs/:name', async (c) => {
    const mv = c.get('microversion');
    const k = await showKeypair(deps, caller(c), c.req.param('name'), userIdParam(c, mv));
    return c.json({
      keypair: {
        ...keypairBrief(k, mv),
        user_id: k.userId,
        id: k.id,
        created_at: k.createdAt.replace(/Z$/u, ''),
        updated_at: null,
        deleted: false,
        deleted_at: null,
      },
    });
  });

  app.delete('/v2.1/os-keypairs/:name', async (c) => {
    const mv = c.get('microversion');
    await deleteKeypair(deps, caller(c), c.req.param('name'), userIdParam(c, mv));
    return c.body(null, atLeast(mv, 2, 2) ? 204 : 202);
  });
}

/** What the list shows of a key pair (and create and show start from). */
function keypairBrief(k: KeypairRecord, mv: Microversion): Record<string, unknown> {
  return {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    ...(atLeast(mv, 2, 2) ? { type: k.type } : {}),
  };
}

/** The `user_id` query parameter (2.10+; ignored before, as Nova's schema allows any). */
function userIdParam(c: Context<ApiEnv>, mv: Microversion): string | undefined {
  return atLeast(mv, 2, 10) ? lastValue(queryParams(c), 'user_id') : undefined;
}

/** Nova's name pattern before 2.92 and from 2.92 ('@' and '.' allowed). */
const NAME_PATTERN = /^[a-zA-Z0-9 _-]+$/u;
const NAME_PATTERN_292 = /^[a-zA-Z0-9 @._-]+$/u;

function parseNewKeypair(body: Record<string, unknown>, mv: Microversion): NewKeypair {
  const allowed = ['name', 'public_key'];
  if (atLeast(mv, 2, 2)) allowed.push('type');
  if (atLeast(mv, 2, 10)) allowed.push('user_id');
  refuseUnknownKeys('keypair', body, allowed);
  const v292 = atLeast(mv, 2, 92);
  const { name, type, public_key: publicKey, user_id: userId } = body;
  if (typeof name !== 'string') {
    throw invalidField('name', name, `${JSON.stringify(name ?? null)} is not of type 'string'`);
  }
  if (name.length < 1) throw invalidField('name', name, "'' is too short");
  if (name.length > 255) throw invalidField('name', name, `'${name}' is too long`);
  const pattern = v292 ? NAME_PATTERN_292 : NAME_PATTERN;
  if (!pattern.test(name)) {
    throw invalidField('name', name, `'${name}' does not match '${pattern.source}'`);
  }
  if (type !== undefined && type !== 'ssh' && type !== 'x509') {
    throw invalidField('type', type, `${JSON.stringify(type)} is not one of ['ssh', 'x509']`);
  }
  if (publicKey === undefined && v292) {
    throw invalidField('keypair', body, "'public_key' is a required property");
  }
  if (publicKey !== undefined && typeof publicKey !== 'string') {
    throw invalidField(
      'public_key',
      publicKey,
      `${JSON.stringify(publicKey)} is not of type 'string'`,
    );
  }
  if (userId !== undefined && typeof userId !== 'string') {
    throw invalidField('user_id', userId, `${JSON.stringify(userId)} is not of type 'string'`);
  }
  return {
    name,
    type: type ?? 'ssh',
    ...(publicKey === undefined ? {} : { publicKey }),
    ...(userId === undefined ? {} : { userId }),
  };
}
