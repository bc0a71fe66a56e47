/**
 * Compute API: os-server-groups. Request bodies follow Nova's schemas (a one-item `policies`
 * list before 2.64; `policy` and `rules` from 2.64); the view by microversion is Nova's
 * (`project_id`/`user_id` from 2.13, `policy`/`rules` instead of `policies`/`metadata` from 2.64).
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  createServerGroup,
  deleteServerGroup,
  listServerGroups,
  SERVER_GROUP_POLICIES,
  showServerGroup,
  type NewServerGroup,
  type ServerGroupPolicy,
  type ServerGroupRecord,
} from '../services/index.js';
import {
  caller,
  invalidField,
  member,
  readJsonObject,
  refuseUnknownKeys,
  unexpectedKey,
} from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

/** Adds the server group routes to the compute app (already behind the token check). */
export function addServerGroupRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.post('/v2.1/os-server-groups', async (c) => {
    const mv = c.get('microversion');
    const body = member(await readJsonObject(c, 'object with "server_group"'), 'server_group');
    const group = await createServerGroup(deps, caller(c), parseNewServerGroup(body, mv));
    return c.json({ server_group: serverGroupView(group, mv) });
  });

  app.get('/v2.1/os-server-groups', async (c) => {
    const mv = c.get('microversion');
    const all = c.req.query('all_projects');
    const groups = await listServerGroups(
      deps,
      caller(c),
      all !== undefined && !['0', 'false', 'False', 'off', 'no'].includes(all),
    );
    const offset = pageNumber(c, 'offset') ?? 0;
    const limit = pageNumber(c, 'limit');
    const page = groups.slice(offset, limit === undefined ? undefined : offset + limit);
    return c.json({ server_groups: page.map((g) => serverGroupView(g, mv)) });
  });

  app.get('/v2.1/os-server-groups/:id', async (c) => {
    const group = await showServerGroup(deps, caller(c), c.req.param('id'));
    return c.json({ server_group: serverGroupView(group, c.get('microversion')) });
  });

  app.delete('/v2.1/os-server-groups/:id', async (c) => {
    await deleteServerGroup(deps, caller(c), c.req.param('id'));
    return c.body(null, 204);
  });
}

function serverGroupView(group: ServerGroupRecord, mv: Microversion): Record<string, unknown> {
  const owner = atLeast(mv, 2, 13) ? { project_id: group.projectId, user_id: group.userId } : {};
  if (atLeast(mv, 2, 64)) {
    return {
      id: group.id,
      name: group.name,
      policy: group.policy,
      rules: group.maxServerPerHost === null ? {} : { max_server_per_host: group.maxServerPerHost },
      members: group.members,
      ...owner,
    };
  }
  return {
    id: group.id,
    name: group.name,
    policies: [group.policy],
    members: group.members,
    metadata: {},
    ...owner,
  };
}

/** Nova's query parameters `limit` and `offset`: non-negative integers. */
function pageNumber(c: Context<ApiEnv>, key: 'limit' | 'offset'): number | undefined {
  const raw = c.req.query(key);
  if (raw === undefined) return undefined;
  if (!/^\d+$/u.test(raw)) {
    throw invalidField(key, raw, 'It must be a non-negative integer');
  }
  return Number(raw);
}

function parseNewServerGroup(body: Record<string, unknown>, mv: Microversion): NewServerGroup {
  const v264 = atLeast(mv, 2, 64);
  refuseUnknownKeys(
    'server_group',
    body,
    v264 ? ['name', 'policy', 'rules'] : ['name', 'policies'],
  );
  const { name } = body;
  if (typeof name !== 'string' || name.trim() === '' || name.length > 255) {
    throw invalidField('name', name, 'A server group name of 1 to 255 characters is required');
  }
  // Before 2.15 only the two hard policies exist.
  const known: readonly string[] = atLeast(mv, 2, 15)
    ? SERVER_GROUP_POLICIES
    : ['affinity', 'anti-affinity'];
  if (!v264) {
    const { policies } = body;
    if (
      !Array.isArray(policies) ||
      policies.length !== 1 ||
      typeof policies[0] !== 'string' ||
      !known.includes(policies[0])
    ) {
      throw invalidField(
        'policies',
        policies,
        `Server group '${name}' needs policies, a list of exactly one of ${known.join(', ')}`,
      );
    }
    return { name, policy: policies[0] as ServerGroupPolicy, maxServerPerHost: null };
  }
  const { policy, rules } = body;
  if (typeof policy !== 'string' || !known.includes(policy)) {
    throw invalidField(
      'policy',
      policy,
      `Server group '${name}' needs policy, one of ${known.join(', ')}`,
    );
  }
  return {
    name,
    policy: policy as ServerGroupPolicy,
    maxServerPerHost: parseRules(rules, policy, name),
  };
}

/** Nova's `rules` (2.64): only `max_server_per_host`, a positive integer, only for anti-affinity. */
function parseRules(rules: unknown, policy: string, name: string): number | null {
  if (rules === undefined) return null;
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw invalidField('rules', rules, 'The rules must be an object');
  }
  refuseUnknownKeys('rules', rules as Record<string, unknown>, ['max_server_per_host']);
  if (Object.keys(rules).length === 0) return null;
  if (policy !== 'anti-affinity') {
    // NOTE: Nova's wording for rules given with another policy.
    throw new ComputeError(
      'request.invalid',
      `Only anti-affinity policy supports "max_server_per_host" rule (server group '${name}').`,
    );
  }
  const max = (rules as { max_server_per_host: unknown }).max_server_per_host;
  const n = typeof max === 'string' && /^\d+$/u.test(max) ? Number(max) : max;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalidField('rules.max_server_per_host', max, 'It must be a positive integer');
  }
  return n;
}

/** The scheduler hints Nova knows that vpmu does not serve: refused by name. */
const UNSERVED_HINTS = new Set([
  'query',
  'target_cell',
  'different_cell',
  'build_near_host_ip',
  'cidr',
]);
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/iu;

/** What the create body's scheduler hints ask for. */
export interface SchedulerHints {
  readonly serverGroupId?: string;
  readonly hostHints?: { readonly sameHost?: string[]; readonly differentHost?: string[] };
}

/**
 * The create body's top level besides `server`: `os:scheduler_hints` (or its old name
 * `OS-SCH-HNT:scheduler_hints`). vpmu serves `group`, `same_host` and `different_host`; every
 * other hint is refused by name, so a placement the client asked for is never silently dropped
 * (Nova's default filters would ignore `same_host` and `different_host`).
 */
export function parseSchedulerHints(top: Record<string, unknown>): SchedulerHints {
  const names = ['os:scheduler_hints', 'OS-SCH-HNT:scheduler_hints'];
  const stray = Object.keys(top).find((k) => k !== 'server' && !names.includes(k));
  if (stray !== undefined) {
    throw unexpectedKey(
      '(the body)',
      { [stray]: top[stray] },
      stray,
      '; a create body has "server" and "os:scheduler_hints"',
    );
  }
  const [field, ...again] = names.filter((n) => top[n] !== undefined);
  if (field === undefined) return {};
  if (again.length > 0) {
    throw invalidField(
      'os:scheduler_hints',
      [field, ...again].join(', '),
      'Give the scheduler hints once',
    );
  }
  const hints = top[field];
  if (typeof hints !== 'object' || hints === null || Array.isArray(hints)) {
    throw invalidField(field, hints, 'The scheduler hints must be an object');
  }
  const given = hints as Record<string, unknown>;
  for (const [key, value] of Object.entries(given)) {
    if (!['group', 'same_host', 'different_host'].includes(key)) {
      throw invalidField(
        `${field}.${key}`,
        value,
        UNSERVED_HINTS.has(key)
          ? `vpmu places servers by group, same_host and different_host only; the '${key}' hint is not supported`
          : `'${key}' is not a scheduler hint vpmu knows (group, same_host, different_host)`,
      );
    }
  }
  const { group } = given;
  if (group !== undefined && (typeof group !== 'string' || !UUID.test(group))) {
    throw invalidField(`${field}.group`, group, 'The group must be a server group id (a UUID)');
  }
  const servers = (key: 'same_host' | 'different_host'): string[] | undefined => {
    const value = given[key];
    if (value === undefined) return undefined;
    const ids = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || !UUID.test(id))) {
      throw invalidField(
        `${field}.${key}`,
        value,
        'It must be a server id or a list of server ids',
      );
    }
    return ids as string[];
  };
  const sameHost = servers('same_host');
  const differentHost = servers('different_host');
  return {
    ...(group === undefined ? {} : { serverGroupId: group }),
    ...(sameHost === undefined && differentHost === undefined
      ? {}
      : {
          hostHints: {
            ...(sameHost === undefined ? {} : { sameHost }),
            ...(differentHost === undefined ? {} : { differentHost }),
          },
        }),
  };
}
