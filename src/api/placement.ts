/**
 * A read-only Placement API subset under `/placement`: resource providers (one per compute host),
 * their inventories, usages, traits and allocations, project usages, allocation candidates,
 * traits and resource classes. Answers follow placement's api-ref, its error body
 * (`{"errors": [...]}`, through toFault's `placement` family) and its microversions
 * (`OpenStack-API-Version: placement 1.X`, 1.0 to 1.39). Everything but the version document
 * needs a token and the admin role (Placement's default policy, `rule:admin_api`). The data comes
 * from src/services/placement.ts, which reads the rows the scheduler claims against.
 *
 * Microversions honoured (what a response or filter looks like from that version on):
 * - 1.1 aggregates link; 1.2 resource classes; 1.4 `resources` filter on providers
 * - 1.6 traits; 1.9 GET /usages; 1.10 allocation candidates; 1.11 allocations link
 * - 1.12 allocations as objects keyed by provider, with project_id and user_id
 * - 1.14 parent_provider_uuid and root_provider_uuid; 1.16 `limit`; 1.17 `required` and traits
 *   in provider summaries; 1.18 `required` on providers; 1.19 aggregates generation
 * - 1.22 forbidden traits (`!NAME`); 1.27 every class in provider summaries
 * - 1.28 consumer_generation; 1.29 parent/root in provider summaries; 1.34 `mappings`
 * - 1.38 consumer_type, and usages grouped by consumer type; 1.39 `in:` any-of traits
 * Filters Placement has but vpmu does not (aggregates, trees, granular groups) are refused with a
 * 400 naming them, never ignored.
 */
import { Hono, type Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  allocationCandidates,
  capacity,
  findProvider,
  hasRoom,
  hasTraits,
  isResourceClass,
  knownTraits,
  parseRequired,
  parseResources,
  PLACEMENT_RESOURCE_CLASSES,
  readConsumers,
  readPlacement,
  validateToken,
  type Consumer,
  type PlacementState,
  type Provider,
  type TraitRequest,
} from '../services/index.js';
import type { Fault } from './faults.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { caller } from './_http.js';
import { atLeast, formatVersion, type Microversion } from './microversion.js';

export const PLACEMENT_MIN_VERSION: Microversion = { major: 1, minor: 0 };
export const PLACEMENT_MAX_VERSION: Microversion = { major: 1, minor: 39 };

/** The path prefix the routes are mounted at, for links. */
const ROOT = '/placement';

/**
 * The microversion a request asks for: the `placement` entry of OpenStack-API-Version, else 1.0;
 * `latest` is the maximum. A malformed value is a 400, one out of range a 406 (placement's
 * microversion middleware).
 */
export function negotiatePlacementVersion(header: string | undefined): Microversion {
  const requested = header
    ?.split(',')
    .map((part) => part.trim().split(/\s+/u))
    .find(([service]) => service?.toLowerCase() === 'placement')?.[1];
  if (requested === undefined || requested === '') return PLACEMENT_MIN_VERSION;
  if (requested.toLowerCase() === 'latest') return PLACEMENT_MAX_VERSION;
  const match = /^(\d+)\.(\d+)$/u.exec(requested);
  if (match === null) {
    throw new ComputeError('request.invalid', `invalid version string: ${requested}`);
  }
  const version = { major: Number(match[1]), minor: Number(match[2]) };
  if (
    version.major !== 1 ||
    !atLeast(version, PLACEMENT_MIN_VERSION.major, PLACEMENT_MIN_VERSION.minor) ||
    atLeast(version, PLACEMENT_MAX_VERSION.major, PLACEMENT_MAX_VERSION.minor + 1)
  ) {
    throw new ComputeError('request.not_acceptable', `Unacceptable version header: ${requested}`);
  }
  return version;
}

/** Placement's error body for a fault; a refused microversion names the supported range. */
export function placementFaultBody(fault: Fault): Record<string, unknown> {
  if (fault.code !== 'request.not_acceptable') return fault.body;
  const [error] = fault.body.errors as Record<string, unknown>[];
  return {
    errors: [
      {
        ...error,
        min_version: formatVersion(PLACEMENT_MIN_VERSION),
        max_version: formatVersion(PLACEMENT_MAX_VERSION),
      },
    ],
  };
}

/** A route Placement only has from `version` on answers 404 below it, as Placement's does. */
function since(c: Context<ApiEnv>, major: number, minor: number): void {
  if (!atLeast(c.get('microversion'), major, minor)) {
    throw new ComputeError('placement.not_found', 'The resource could not be found.');
  }
}

/** Placement's policy: admin only (`rule:admin_api`), with its refusal words. */
function authorize(c: Context<ApiEnv>, rule: string): void {
  if (!caller(c).roles.includes('admin')) {
    throw new ComputeError(
      'auth.forbidden',
      `Policy does not allow placement:${rule} to be performed.`,
    );
  }
}

/**
 * Refuses query parameters the route does not take at this microversion, naming them, as
 * Placement's schemas do; `unsupported` are Placement's own but not implemented by vpmu.
 */
function checkQuery(
  c: Context<ApiEnv>,
  allowed: readonly string[],
  unsupported: readonly string[] = [],
): void {
  for (const key of Object.keys(c.req.queries())) {
    if (unsupported.includes(key) || /^(resources|required|member_of|in_tree)\S+$/u.test(key)) {
      throw new ComputeError(
        'request.invalid',
        `Invalid query string parameters: '${key}' is a Placement filter vpmu does not implement (vpmu mirrors no host aggregates into Placement, and has no nested providers or granular request groups).`,
      );
    }
    if (!allowed.includes(key)) {
      throw new ComputeError(
        'request.invalid',
        `Invalid query string parameters: Additional properties are not allowed ('${key}' was unexpected)`,
      );
    }
  }
}

/** The one value of a query parameter; given twice is a 400. */
function single(c: Context<ApiEnv>, key: string): string | undefined {
  const values = c.req.queries(key);
  if (values === undefined) return undefined;
  if (values.length > 1) {
    throw new ComputeError(
      'request.invalid',
      `Invalid query string parameters: '${key}' may be given only once`,
    );
  }
  return values[0];
}

function providerLinks(p: Provider, mv: Microversion): { rel: string; href: string }[] {
  const self = `${ROOT}/resource_providers/${p.uuid}`;
  return [
    { rel: 'self', href: self },
    { rel: 'inventories', href: `${self}/inventories` },
    { rel: 'usages', href: `${self}/usages` },
    ...(atLeast(mv, 1, 1) ? [{ rel: 'aggregates', href: `${self}/aggregates` }] : []),
    ...(atLeast(mv, 1, 6) ? [{ rel: 'traits', href: `${self}/traits` }] : []),
    ...(atLeast(mv, 1, 11) ? [{ rel: 'allocations', href: `${self}/allocations` }] : []),
  ];
}

function providerView(p: Provider, mv: Microversion): Record<string, unknown> {
  return {
    uuid: p.uuid,
    name: p.name,
    generation: p.generation,
    ...(atLeast(mv, 1, 14) ? { parent_provider_uuid: null, root_provider_uuid: p.uuid } : {}),
    links: providerLinks(p, mv),
  };
}

function inventoryView(p: Provider, rc: string): Record<string, number> {
  const inv = isResourceClass(rc) ? p.inventories.get(rc) : undefined;
  if (inv === undefined) {
    throw new ComputeError(
      'placement.not_found',
      `No inventory of class ${rc} found for resource provider ${p.uuid}`,
    );
  }
  return {
    total: inv.total,
    reserved: inv.reserved,
    min_unit: inv.minUnit,
    max_unit: inv.maxUnit,
    step_size: inv.stepSize,
    allocation_ratio: inv.allocationRatio,
  };
}

function resourcesView(resources: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries(resources);
}

/** The `required` filter at this microversion (`!` from 1.22, `in:` from 1.39). */
function traitFilter(c: Context<ApiEnv>, state: PlacementState): TraitRequest {
  const mv = c.get('microversion');
  return parseRequired(c.req.queries('required') ?? [], {
    forbidden: atLeast(mv, 1, 22),
    anyOf: atLeast(mv, 1, 39),
    known: new Set(knownTraits(state)),
  });
}

/** A `limit` query value: a positive integer. */
function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/u.test(text)) {
    throw new ComputeError(
      'request.invalid',
      `Invalid query string parameters: 'limit' must be a positive integer. Got: ${text}`,
    );
  }
  return Number(text);
}

/** The routes, to be mounted at `/placement`. */
export function placementRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>({ strict: false });

  // Every response, errors included, says which version answered.
  app.use('*', async (c, next) => {
    c.header('Vary', 'openstack-api-version');
    const version = negotiatePlacementVersion(c.req.header('OpenStack-API-Version'));
    c.set('microversion', version);
    c.header('OpenStack-API-Version', `placement ${formatVersion(version)}`);
    await next();
  });

  // The version document needs no token (Placement's root is public).
  app.get('/', (c) =>
    c.json({
      versions: [
        {
          id: 'v1.0',
          max_version: formatVersion(PLACEMENT_MAX_VERSION),
          min_version: formatVersion(PLACEMENT_MIN_VERSION),
          status: 'CURRENT',
          links: [{ rel: 'self', href: '' }],
        },
      ],
    }),
  );

  app.use('/*', async (c, next) => {
    if (c.req.path === ROOT || c.req.path === `${ROOT}/`) {
      await next();
      return;
    }
    c.set('caller', await validateToken(deps, c.req.header('X-Auth-Token')));
    await next();
  });

  app.get('/resource_providers', async (c) => {
    authorize(c, 'resource_providers:list');
    const mv = c.get('microversion');
    checkQuery(
      c,
      [
        'name',
        'uuid',
        ...(atLeast(mv, 1, 4) ? ['resources'] : []),
        ...(atLeast(mv, 1, 18) ? ['required'] : []),
      ],
      ['member_of', 'in_tree'],
    );
    const state = await readPlacement(deps.store);
    const name = single(c, 'name');
    const uuid = single(c, 'uuid');
    const resourcesText = single(c, 'resources');
    const resources = resourcesText === undefined ? undefined : parseResources(resourcesText);
    const traits = c.req.queries('required') === undefined ? undefined : traitFilter(c, state);
    const providers = state.providers.filter((p) => {
      if (name !== undefined && p.name !== name) return false;
      if (uuid !== undefined && p.uuid !== uuid) return false;
      if (traits !== undefined && !hasTraits(p, traits)) return false;
      if (resources !== undefined) {
        const host = state.hosts.find((h) => h.name === p.name);
        if (host === undefined || !hasRoom(p, host, state.usage.get(p.name), resources)) {
          return false;
        }
      }
      return true;
    });
    return c.json({ resource_providers: providers.map((p) => providerView(p, mv)) });
  });

  app.get('/resource_providers/:uuid', async (c) => {
    authorize(c, 'resource_providers:show');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    return c.json(providerView(provider, c.get('microversion')));
  });

  app.get('/resource_providers/:uuid/inventories', async (c) => {
    authorize(c, 'resource_providers:inventories:list');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    return c.json({
      inventories: Object.fromEntries(
        [...provider.inventories.keys()].map((rc) => [rc, inventoryView(provider, rc)]),
      ),
      resource_provider_generation: provider.generation,
    });
  });

  app.get('/resource_providers/:uuid/inventories/:rc', async (c) => {
    authorize(c, 'resource_providers:inventories:show');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    return c.json({
      ...inventoryView(provider, c.req.param('rc')),
      resource_provider_generation: provider.generation,
    });
  });

  app.get('/resource_providers/:uuid/usages', async (c) => {
    authorize(c, 'resource_providers:usages');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    return c.json({
      usages: resourcesView(provider.usages),
      resource_provider_generation: provider.generation,
    });
  });

  app.get('/resource_providers/:uuid/traits', async (c) => {
    since(c, 1, 6);
    authorize(c, 'resource_providers:traits:list');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    return c.json({ traits: provider.traits, resource_provider_generation: provider.generation });
  });

  app.get('/resource_providers/:uuid/aggregates', async (c) => {
    since(c, 1, 1);
    authorize(c, 'resource_providers:aggregates:list');
    checkQuery(c, []);
    const provider = findProvider(await readPlacement(deps.store), c.req.param('uuid'));
    // vpmu has no host aggregates: every provider is in none.
    return c.json({
      aggregates: [],
      ...(atLeast(c.get('microversion'), 1, 19)
        ? { resource_provider_generation: provider.generation }
        : {}),
    });
  });

  app.get('/resource_providers/:uuid/allocations', async (c) => {
    authorize(c, 'resource_providers:allocations:list');
    checkQuery(c, []);
    const state = await readPlacement(deps.store);
    const provider = findProvider(state, c.req.param('uuid'));
    const consumers = (await readConsumers(deps.store, state)).filter(
      (x) => x.providerUuid === provider.uuid,
    );
    return c.json({
      allocations: Object.fromEntries(
        consumers.map((x) => [x.uuid, { resources: resourcesView(x.resources) }]),
      ),
      resource_provider_generation: provider.generation,
    });
  });

  app.get('/allocations/:consumer', async (c) => {
    authorize(c, 'allocations:list');
    checkQuery(c, []);
    const mv = c.get('microversion');
    const state = await readPlacement(deps.store);
    const uuid = c.req.param('consumer');
    const held = (await readConsumers(deps.store, state)).filter((x) => x.uuid === uuid);
    const generations = new Map(state.providers.map((p) => [p.uuid, p.generation]));
    const first: Consumer | undefined = held[0];
    if (!atLeast(mv, 1, 12)) {
      return c.json({
        allocations: Object.fromEntries(
          held.map((x) => [
            x.providerUuid,
            { generation: generations.get(x.providerUuid), resources: resourcesView(x.resources) },
          ]),
        ),
      });
    }
    return c.json({
      allocations: Object.fromEntries(
        held.map((x) => [
          x.providerUuid,
          { generation: generations.get(x.providerUuid), resources: resourcesView(x.resources) },
        ]),
      ),
      ...(first === undefined
        ? {}
        : {
            project_id: first.projectId,
            user_id: first.userId,
            // A claim is written once and released whole: its consumer's first generation.
            ...(atLeast(mv, 1, 28) ? { consumer_generation: 1 } : {}),
            ...(atLeast(mv, 1, 38) ? { consumer_type: first.type } : {}),
          }),
    });
  });

  app.get('/usages', async (c) => {
    since(c, 1, 9);
    authorize(c, 'usages');
    const mv = c.get('microversion');
    checkQuery(c, ['project_id', 'user_id', ...(atLeast(mv, 1, 38) ? ['consumer_type'] : [])]);
    const projectId = single(c, 'project_id');
    if (projectId === undefined) {
      throw new ComputeError(
        'request.invalid',
        "Invalid query string parameters: 'project_id' is a required property",
      );
    }
    const userId = single(c, 'user_id');
    const consumerType = single(c, 'consumer_type');
    if (consumerType !== undefined && !/^(all|unknown|[A-Z0-9_]+)$/u.test(consumerType)) {
      throw new ComputeError(
        'request.invalid',
        `Invalid query string parameters: 'consumer_type' must be all, unknown or a type name such as INSTANCE. Got: ${consumerType}`,
      );
    }
    const state = await readPlacement(deps.store);
    const consumers = (await readConsumers(deps.store, state)).filter(
      (x) => x.projectId === projectId && (userId === undefined || x.userId === userId),
    );
    const sum = (list: readonly Consumer[]) => {
      const out: Record<string, number> = {};
      for (const x of list) for (const [rc, n] of x.resources) out[rc] = (out[rc] ?? 0) + n;
      return out;
    };
    if (!atLeast(mv, 1, 38)) return c.json({ usages: sum(consumers) });
    const types = [...new Set(consumers.map((x) => x.type))].filter(
      (t) => consumerType === undefined || consumerType === 'all' || t === consumerType,
    );
    const byType = (list: readonly Consumer[]) => ({
      consumer_count: new Set(list.map((x) => x.uuid)).size,
      ...sum(list),
    });
    if (consumerType === 'all') return c.json({ usages: { all: byType(consumers) } });
    return c.json({
      usages: Object.fromEntries(
        types.sort().map((t) => [t, byType(consumers.filter((x) => x.type === t))]),
      ),
    });
  });

  app.get('/allocation_candidates', async (c) => {
    since(c, 1, 10);
    authorize(c, 'allocation_candidates:list');
    const mv = c.get('microversion');
    checkQuery(
      c,
      [
        'resources',
        ...(atLeast(mv, 1, 16) ? ['limit'] : []),
        ...(atLeast(mv, 1, 17) ? ['required'] : []),
        ...(atLeast(mv, 1, 25) ? ['group_policy'] : []),
      ],
      ['member_of', 'in_tree', 'root_required', 'same_subtree'],
    );
    const resourcesText = single(c, 'resources');
    if (resourcesText === undefined) {
      throw new ComputeError(
        'request.invalid',
        "Invalid query string parameters: 'resources' is a required property",
      );
    }
    const resources = parseResources(resourcesText);
    const limit = parseLimit(single(c, 'limit'));
    const state = await readPlacement(deps.store);
    const traits = traitFilter(c, state);
    const chosen = allocationCandidates(state, resources, traits).slice(0, limit);
    const requested = resourcesView(resources);
    const allocationRequests = chosen.map((p) =>
      atLeast(mv, 1, 12)
        ? {
            allocations: { [p.uuid]: { resources: requested } },
            ...(atLeast(mv, 1, 34) ? { mappings: { '': [p.uuid] } } : {}),
          }
        : { allocations: [{ resource_provider: { uuid: p.uuid }, resources: requested }] },
    );
    const summaries = Object.fromEntries(
      chosen.map((p) => {
        const classes = atLeast(mv, 1, 27)
          ? [...p.inventories.keys()]
          : [...resources.keys()].filter((rc) => p.inventories.has(rc));
        return [
          p.uuid,
          {
            resources: Object.fromEntries(
              classes.map((rc) => {
                const inv = p.inventories.get(rc);
                return [
                  rc,
                  {
                    capacity: inv === undefined ? 0 : capacity(inv),
                    used: p.usages.get(rc) ?? 0,
                  },
                ];
              }),
            ),
            ...(atLeast(mv, 1, 17) ? { traits: p.traits } : {}),
            ...(atLeast(mv, 1, 29)
              ? { parent_provider_uuid: null, root_provider_uuid: p.uuid }
              : {}),
          },
        ];
      }),
    );
    return c.json({ allocation_requests: allocationRequests, provider_summaries: summaries });
  });

  app.get('/traits', async (c) => {
    since(c, 1, 6);
    authorize(c, 'traits:list');
    checkQuery(c, ['name', 'associated']);
    const state = await readPlacement(deps.store);
    let traits = knownTraits(state);
    const name = single(c, 'name');
    if (name !== undefined) {
      if (name.startsWith('in:')) {
        const wanted = new Set(name.slice(3).split(','));
        traits = traits.filter((t) => wanted.has(t));
      } else if (name.startsWith('startswith:')) {
        const prefix = name.slice('startswith:'.length);
        traits = traits.filter((t) => t.startsWith(prefix));
      } else {
        throw new ComputeError(
          'request.invalid',
          `Badly formatted name parameter. Expected name query string parameter in form: ?name=[in|startswith]:[name1,name2|prefix]. Got: "${name}"`,
        );
      }
    }
    const associated = single(c, 'associated');
    if (associated !== undefined) {
      const on = associated.toLowerCase();
      if (on !== 'true' && on !== 'false') {
        throw new ComputeError(
          'request.invalid',
          `The query parameter "associated" only accepts "true" or "false". Got: ${associated}`,
        );
      }
      const used = new Set(state.providers.flatMap((p) => p.traits));
      traits = traits.filter((t) => used.has(t) === (on === 'true'));
    }
    return c.json({ traits });
  });

  app.get('/traits/:name', async (c) => {
    since(c, 1, 6);
    authorize(c, 'traits:show');
    checkQuery(c, []);
    const name = c.req.param('name');
    if (!knownTraits(await readPlacement(deps.store)).includes(name)) {
      throw new ComputeError('placement.not_found', `No such trait(s): ${name}.`);
    }
    return c.body(null, 204);
  });

  const classView = (name: string) => ({
    name,
    links: [{ rel: 'self', href: `${ROOT}/resource_classes/${name}` }],
  });
  app.get('/resource_classes', (c) => {
    since(c, 1, 2);
    authorize(c, 'resource_classes:list');
    checkQuery(c, []);
    return c.json({ resource_classes: PLACEMENT_RESOURCE_CLASSES.map(classView) });
  });
  app.get('/resource_classes/:name', (c) => {
    since(c, 1, 2);
    authorize(c, 'resource_classes:show');
    checkQuery(c, []);
    const name = c.req.param('name');
    if (!isResourceClass(name)) {
      throw new ComputeError('placement.not_found', `No such resource class ${name}.`);
    }
    return c.json(classView(name));
  });

  // Placement's write routes: refused, never accepted and ignored.
  const WRITES: readonly [string, readonly string[]][] = [
    ['/resource_providers', ['POST']],
    ['/resource_providers/:uuid', ['PUT', 'DELETE']],
    ['/resource_providers/:uuid/inventories', ['POST', 'PUT', 'DELETE']],
    ['/resource_providers/:uuid/inventories/:rc', ['PUT', 'DELETE']],
    ['/resource_providers/:uuid/traits', ['PUT', 'DELETE']],
    ['/resource_providers/:uuid/aggregates', ['PUT']],
    ['/allocations', ['POST']],
    ['/allocations/:consumer', ['PUT', 'DELETE']],
    ['/traits/:name', ['PUT', 'DELETE']],
    ['/resource_classes', ['POST']],
    ['/resource_classes/:name', ['PUT', 'DELETE']],
    ['/reshaper', ['POST']],
  ];
  for (const [path, methods] of WRITES) {
    app.on(methods as string[], path, (c) => {
      c.header('Allow', 'GET');
      throw new ComputeError(
        'placement.method_not_allowed',
        `vpmu's Placement API is read-only: ${c.req.method} ${c.req.path} is not implemented. Compute hosts report their own inventory and traits, and servers' claims are their allocations.`,
      );
    });
  }

  return app;
}
