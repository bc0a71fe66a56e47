/**
 * Server sub-resources and record-only actions, as Nova's API answers them: server tags (2.26,
 * server_tags.py), os-server-password, ips (vpmu plugs no networks, so a server has none), and
 * the actions os-resetState, lock, unlock, restore and forceDelete. `serverExtraAction` is the
 * fallback of the `POST /servers/{id}/action` dispatcher in servers.ts: it also answers every
 * action Nova has and vpmu does not serve.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  MAX_SERVER_TAGS,
  ServerAdminActions,
  ServerTags,
  tagProblem,
  type RequestContext,
  type ResetState,
} from '../services/index.js';
import { caller, invalidField, origin, readJsonObject, refuseUnknownKeys } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast } from './microversion.js';

/** The record-only actions served here, in the order the served-actions text lists them. */
export const EXTRA_ACTIONS = ['lock', 'unlock', 'os-resetState', 'restore', 'forceDelete'] as const;

/**
 * Server actions Nova knows (nova/api/openstack/compute/*.py `@wsgi.action`) that vpmu does not
 * serve: Nova looks the server up first, so an unknown server is 404, a known one a 400 saying
 * vpmu does not serve the action.
 */
const NOVA_ONLY_ACTIONS = new Set([
  'addFixedIp',
  'addFloatingIp',
  'addSecurityGroup',
  'changePassword',
  'injectNetworkInfo',
  'os-getRDPConsole',
  'os-getSerialConsole',
  'os-getSPICEConsole',
  'os-getVNCConsole',
  'os-migrateLive',
  'removeFixedIp',
  'removeFloatingIp',
  'removeSecurityGroup',
  'rescue',
  'resetNetwork',
  'trigger_crash_dump',
  'unrescue',
]);

/** One builder per app: the use cases hold no state of their own beyond their deps. */
function useCases(deps: ApiDeps): { actions: ServerAdminActions; tags: ServerTags } {
  return {
    actions: new ServerAdminActions({
      store: deps.store,
      clock: deps.clock,
      ids: deps.ids,
      log: deps.log,
      servers: deps.servers,
    }),
    tags: new ServerTags({ store: deps.store, servers: deps.servers }),
  };
}

/** Adds the tags, os-server-password and ips routes (already behind the token check). */
export function addServerExtraRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const { actions, tags } = useCases(deps);

  // Server tags exist from 2.26; below it Nova has no such resource.
  const tagsFrom226 = (c: Context<ApiEnv>) => {
    if (!atLeast(c.get('microversion'), 2, 26)) {
      throw new ComputeError(
        'route.not_found',
        `The resource could not be found: server tags need microversion 2.26 or later.`,
      );
    }
  };
  app.get('/v2.1/servers/:id/tags', async (c) => {
    tagsFrom226(c);
    return c.json({ tags: [...(await tags.list(caller(c), c.req.param('id')))] });
  });
  app.put('/v2.1/servers/:id/tags', async (c) => {
    tagsFrom226(c);
    const body = await readJsonObject(c, 'object with "tags"');
    const replaced = await tags.replace(caller(c), c.req.param('id'), parseTagList(body));
    return c.json({ tags: [...replaced] });
  });
  app.delete('/v2.1/servers/:id/tags', async (c) => {
    tagsFrom226(c);
    await tags.removeAll(caller(c), c.req.param('id'));
    return c.body(null, 204);
  });
  app.get('/v2.1/servers/:id/tags/:tag', async (c) => {
    tagsFrom226(c);
    await tags.check(caller(c), c.req.param('id'), c.req.param('tag'));
    return c.body(null, 204);
  });
  app.put('/v2.1/servers/:id/tags/:tag', async (c) => {
    tagsFrom226(c);
    await requireNoBody(c, 'tag');
    const id = c.req.param('id');
    const tag = c.req.param('tag');
    if ((await tags.add(caller(c), id, tag)) === 'existed') return c.body(null, 204);
    c.header('Location', `${origin(c)}/compute/v2.1/servers/${id}/tags/${encodeURIComponent(tag)}`);
    return c.body(null, 201);
  });
  app.delete('/v2.1/servers/:id/tags/:tag', async (c) => {
    tagsFrom226(c);
    await tags.remove(caller(c), c.req.param('id'), c.req.param('tag'));
    return c.body(null, 204);
  });

  app.get('/v2.1/servers/:id/os-server-password', async (c) => {
    return c.json({ password: await actions.password(caller(c), c.req.param('id')) });
  });
  app.delete('/v2.1/servers/:id/os-server-password', async (c) => {
    await actions.clearPassword(caller(c), c.req.param('id'));
    return c.body(null, 204);
  });

  // vpmu plugs no networks: a server's addresses are always empty and it is on no network.
  app.get('/v2.1/servers/:id/ips', async (c) => {
    await deps.servers.show(caller(c), c.req.param('id'));
    return c.json({ addresses: {} });
  });
  app.get('/v2.1/servers/:id/ips/:network', async (c) => {
    await deps.servers.show(caller(c), c.req.param('id'));
    // NOTE: Nova wording (ips.py show).
    throw new ComputeError(
      'server.network_not_found',
      'Instance is not a member of specified network',
    );
  });
}

/**
 * Answers an action the servers.ts dispatcher does not serve itself: the record-only actions,
 * then Nova's other actions (404 for an unknown server first, as Nova looks it up), then 400 for
 * a name Nova does not know either.
 */
export async function serverExtraAction(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  ctx: RequestContext,
  id: string,
  action: string,
  body: Record<string, unknown>,
  served: readonly string[],
): Promise<Response> {
  const { actions } = useCases(deps);
  const value = body[action];
  const mv = c.get('microversion');
  const call = { requestId: c.get('requestId') };
  switch (action) {
    case 'os-resetState': {
      await actions.resetState(ctx, id, parseResetState(value));
      return c.body(null, 202);
    }
    case 'lock': {
      await actions.lock(ctx, id, parseLock(value, atLeast(mv, 2, 73)), call);
      return c.body(null, 202);
    }
    case 'unlock':
      await actions.unlock(ctx, id, call);
      return c.body(null, 202);
    // NOTE: Nova's schemas leave the values of restore, forceDelete and unlock open (clients
    // send null or {}), so any value is taken, as there.
    case 'restore':
      await actions.restore(ctx, id, call);
      return c.body(null, 202);
    case 'forceDelete':
      await actions.forceDelete(ctx, id, call);
      return c.body(null, 202);
    default: {
      const list = `${served.slice(0, -1).join(', ')} and ${served.at(-1) ?? ''}`;
      if (NOVA_ONLY_ACTIONS.has(action)) {
        await deps.servers.show(ctx, id);
        throw new ComputeError(
          'request.invalid',
          `Cannot act on server ${id}: vpmu does not serve Nova's '${action}' action; it serves ${list}`,
        );
      }
      // NOTE: Nova wording (nova/api/openstack/wsgi.py), plus what vpmu serves.
      throw new ComputeError(
        'request.invalid',
        `There is no such action: ${action}; vpmu serves ${list}`,
      );
    }
  }
}

/** `{"os-resetState": {"state": "active" | "error"}}`, nothing else. */
function parseResetState(value: unknown): ResetState {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField('os-resetState', value, `${JSON.stringify(value)} is not of type 'object'`);
  }
  const fields = value as Record<string, unknown>;
  refuseUnknownKeys('os-resetState', fields, ['state']);
  const state = fields.state;
  if (state !== 'active' && state !== 'error') {
    throw invalidField(
      'os-resetState/state',
      state,
      state === undefined
        ? "'state' is a required property"
        : `${JSON.stringify(state)} is not one of ['active', 'error']`,
    );
  }
  return state;
}

/**
 * lock's value: anything before 2.73 (Nova's schema leaves it open and ignores it); from 2.73
 * null or `{"locked_reason": "<1 to 255 characters>"}`.
 */
function parseLock(value: unknown, withReason: boolean): string | null {
  if (!withReason || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalidField('lock', value, `${JSON.stringify(value)} is not of type 'object', 'null'`);
  }
  const fields = value as Record<string, unknown>;
  refuseUnknownKeys('lock', fields, ['locked_reason']);
  const reason = fields.locked_reason;
  if (reason === undefined) return null;
  if (typeof reason !== 'string' || reason.length === 0 || Array.from(reason).length > 255) {
    throw invalidField(
      'lock/locked_reason',
      reason,
      'The lock reason must be a string of 1 to 255 characters',
    );
  }
  return reason;
}

/** `{"tags": [<tag>, …]}` with at most 50 valid tags (Nova's update_all schema). */
function parseTagList(body: Record<string, unknown>): string[] {
  for (const key of Object.keys(body)) {
    if (key !== 'tags') {
      throw invalidField(
        'tags',
        body,
        `Additional properties are not allowed ('${key}' was unexpected)`,
      );
    }
  }
  const tags = body.tags;
  if (!Array.isArray(tags)) {
    throw invalidField(
      'tags',
      tags,
      tags === undefined ? "'tags' is a required property" : 'The tags must be an array',
    );
  }
  if (tags.length > MAX_SERVER_TAGS) {
    throw invalidField('tags', tags, `A server holds at most ${MAX_SERVER_TAGS} tags`);
  }
  return tags.map((tag: unknown, i) => {
    if (typeof tag !== 'string') {
      throw invalidField(`tags/${i}`, tag, `${JSON.stringify(tag)} is not of type 'string'`);
    }
    const problem = tagProblem(tag);
    if (problem !== null) throw invalidField(`tags/${i}`, tag, problem);
    return tag;
  });
}

/** PUT /servers/{id}/tags/{tag} takes no body (Nova's schema: type null). */
async function requireNoBody(c: Context<ApiEnv>, field: string): Promise<void> {
  const text = (await c.req.text()).trim();
  if (text === '' || text === 'null') return;
  throw invalidField(field, text, `${text} is not of type 'null'`);
}
