/**
 * os-instance-actions: what happened to a server (nova/api/openstack/compute/instance_actions.py
 * and its views). List and show, with a deleted server's actions from 2.21; events for admins,
 * and from 2.51 for members without the traceback; updated_at and paging from 2.58; hostId and
 * (admins) host from 2.62; the event's details from 2.84.
 */
import { createHash } from 'node:crypto';
import type { Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  isAdmin,
  listInstanceActions,
  MAX_LIST_LIMIT,
  showInstanceAction,
  type InstanceActionEventRecord,
  type InstanceActionRecord,
  type RequestContext,
} from '../services/index.js';
import { caller, novaTime, origin } from './_http.js';
import {
  invalidQuery,
  lastValue,
  limitParam,
  nextHref,
  pageIsFull,
  queryParams,
  rejectUnknownParams,
  type QueryParams,
} from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';
import { parseIsoTime } from './server-query.js';

/** Adds the os-instance-actions routes (already behind the token check). */
export function addInstanceActionRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2.1/servers/:id/os-instance-actions', async (c) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
    const id = c.req.param('id');
    const params = queryParams(c);
    const paging = atLeast(mv, 2, 58) ? parsePaging(params, mv) : undefined;
    const all = await listInstanceActions(deps, ctx, id, atLeast(mv, 2, 21));
    // Newest first, as Nova lists them.
    let actions = [...all].reverse();
    if (paging !== undefined) {
      const { since, before, marker, limit } = paging;
      if (since !== undefined) actions = actions.filter((a) => Date.parse(a.updatedAt) >= since);
      if (before !== undefined) actions = actions.filter((a) => Date.parse(a.updatedAt) <= before);
      if (marker !== undefined) {
        const at = actions.findIndex((a) => a.requestId === marker);
        // NOTE: Nova wording (nova/exception.py MarkerNotFound).
        if (at < 0)
          throw new ComputeError('request.invalid', `Marker ${marker} could not be found.`);
        actions = actions.slice(at + 1);
      }
      actions = actions.slice(0, Math.min(limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT));
    }
    const last = actions.at(-1);
    const full =
      paging !== undefined &&
      last !== undefined &&
      pageIsFull(actions.length, paging.limit, MAX_LIST_LIMIT);
    return c.json({
      instanceActions: actions.map((a) => actionView(a, mv)),
      ...(full
        ? {
            links: [
              {
                rel: 'next',
                href: nextHref(
                  `${origin(c)}/compute/v2.1/servers/${id}/os-instance-actions`,
                  params,
                  last.requestId,
                ),
              },
            ],
          }
        : {}),
    });
  });

  app.get('/v2.1/servers/:id/os-instance-actions/:requestId', async (c) => {
    const ctx = caller(c);
    const mv = c.get('microversion');
    const action = await showInstanceAction(
      deps,
      ctx,
      c.req.param('id'),
      c.req.param('requestId'),
      atLeast(mv, 2, 21),
    );
    const admin = isAdmin(ctx);
    // Before 2.51 only admins see the events (Nova's events policy); from it every reader does.
    const withEvents = admin || atLeast(mv, 2, 51);
    return c.json({
      instanceAction: {
        ...actionView(action, mv),
        ...(withEvents ? { events: action.events.map((e) => eventView(e, action, mv, ctx)) } : {}),
      },
    });
  });
}

interface Paging {
  readonly limit: number | undefined;
  readonly marker: string | undefined;
  readonly since: number | undefined;
  readonly before: number | undefined;
}

/** Nova's 2.58 query (limit, marker, changes-since; changes-before from 2.66), nothing else. */
function parsePaging(params: QueryParams, mv: Microversion): Paging {
  const allowed = [
    'limit',
    'marker',
    'changes-since',
    ...(atLeast(mv, 2, 66) ? ['changes-before'] : []),
  ];
  rejectUnknownParams(params, new Set(allowed));
  const time = (name: string): number | undefined => {
    let parsed: number | undefined;
    for (const value of params.get(name) ?? []) {
      parsed = parseIsoTime(value);
      if (parsed === undefined) throw invalidQuery(name, value, `'${value}' is not a 'date-time'`);
    }
    return parsed;
  };
  const since = time('changes-since');
  const before = time('changes-before');
  if (since !== undefined && before !== undefined && since > before) {
    // NOTE: Nova wording (nova/api/openstack/compute/instance_actions.py index).
    throw new ComputeError(
      'request.invalid',
      'The value of changes-since must be less than or equal to changes-before.',
    );
  }
  return { limit: limitParam(params), marker: lastValue(params, 'marker'), since, before };
}

/** Nova's times of actions and events: microseconds, no zone. */
function novaTimeOrNull(iso: string | null): string | null {
  return iso === null ? null : novaTime(iso);
}

function actionView(action: InstanceActionRecord, mv: Microversion): Record<string, unknown> {
  return {
    action: action.action,
    instance_uuid: action.serverId,
    request_id: action.requestId,
    user_id: action.userId,
    project_id: action.projectId,
    start_time: novaTime(action.startTime),
    message: action.message,
    ...(atLeast(mv, 2, 58) ? { updated_at: novaTimeOrNull(action.updatedAt) } : {}),
  };
}

function eventView(
  event: InstanceActionEventRecord,
  action: InstanceActionRecord,
  mv: Microversion,
  ctx: RequestContext,
): Record<string, unknown> {
  const admin = isAdmin(ctx);
  return {
    event: event.event,
    start_time: novaTime(event.startTime),
    finish_time: novaTimeOrNull(event.finishTime),
    result: event.result,
    ...(admin ? { traceback: event.traceback } : {}),
    ...(atLeast(mv, 2, 62)
      ? {
          hostId:
            event.host === null
              ? ''
              : createHash('sha224')
                  .update(action.projectId + event.host)
                  .digest('hex'),
          ...(admin && event.host !== null ? { host: event.host } : {}),
        }
      : {}),
    ...(atLeast(mv, 2, 84) ? { details: event.details } : {}),
  };
}
