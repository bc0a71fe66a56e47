/**
 * Compute API, a Nova v2.1 subset under `/compute`: version documents, microversion negotiation,
 * flavors, flavor access and os-extra_specs. Request schemas follow
 * nova/api/openstack/compute/schemas/flavor_manage.py and flavors_extraspecs.py.
 */
import { Hono, type Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  addFlavorAccess,
  createFlavor,
  deleteExtraSpec,
  isAdmin,
  MAX_LIST_LIMIT,
  deleteFlavor,
  listFlavorAccess,
  listFlavors,
  parseBoolean,
  setExtraSpecs,
  showExtraSpec,
  showFlavor,
  validateToken,
  type FlavorListOptions,
  type FlavorRecord,
  type FlavorSortKey,
  type NewFlavor,
  type PublicFilter,
} from '../services/index.js';
import {
  caller,
  FLOAT_LITERAL,
  invalidField,
  member,
  origin,
  pythonFloat,
  readJsonObject,
  unexpectedKey,
} from './_http.js';
import {
  enumParam,
  lastValue,
  limitParam,
  nextHref,
  pageIsFull,
  queryParams,
  rejectUnknownParams,
  type QueryParams,
} from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { addAggregateRoutes } from './aggregates.js';
import { addComputeInfoRoutes } from './compute-info.js';
import { addComputeServiceRoutes } from './compute-services.js';
import { addHypervisorRoutes } from './hypervisors.js';
import { addKeypairRoutes } from './keypairs.js';
import { addQuotaRoutes } from './quotas.js';
import { addTenantUsageRoutes } from './tenant-usage.js';
import { addServerGroupRoutes } from './server-groups.js';
import { addServerRoutes } from './servers.js';
import {
  atLeast,
  formatVersion,
  MAX_VERSION,
  MIN_VERSION,
  negotiateVersion,
  type Microversion,
} from './microversion.js';

/** The compute routes, to be mounted at `/compute`. */
export function computeRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>({ strict: false });
  // Nova's VERSIONS (nova/api/openstack/compute/versions.py): the legacy v2.0 (served by Nova
  // as v2.1 without microversions; vpmu answers only its version document) and v2.1.
  const versionData = (
    id: 'v2.0' | 'v2.1',
  ): {
    id: string;
    status: string;
    version: string;
    min_version: string;
    updated: string;
  } & { path: string; mediaType: string } =>
    id === 'v2.0'
      ? {
          id,
          status: 'SUPPORTED',
          version: '',
          min_version: '',
          updated: '2011-01-21T11:33:21Z',
          path: 'v2',
          mediaType: 'application/vnd.openstack.compute+json;version=2',
        }
      : {
          id,
          status: 'CURRENT',
          version: formatVersion(MAX_VERSION),
          min_version: formatVersion(MIN_VERSION),
          updated: '2013-07-23T11:33:21Z',
          path: 'v2.1',
          mediaType: 'application/vnd.openstack.compute+json;version=2.1',
        };
  const selfLink = (c: Context<ApiEnv>, id: 'v2.0' | 'v2.1') => ({
    rel: 'self',
    href: `${origin(c)}/compute/${versionData(id).path}/`,
  });
  /** One version's document (build_version): self and describedby links, media types. */
  const versionDoc = (c: Context<ApiEnv>, id: 'v2.0' | 'v2.1') => {
    const { id: name, status, version, min_version, updated, mediaType } = versionData(id);
    return {
      id: name,
      status,
      version,
      min_version,
      updated,
      links: [
        selfLink(c, id),
        { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
      ],
      'media-types': [{ base: 'application/json', type: mediaType }],
    };
  };
  /** The version list (build_versions): each entry with its self link only. */
  const versionEntry = (c: Context<ApiEnv>, id: 'v2.0' | 'v2.1') => {
    const { id: name, status, version, min_version, updated } = versionData(id);
    return { id: name, status, version, min_version, updated, links: [selfLink(c, id)] };
  };

  // Microversion headers on every /v2.1 response, errors included (Nova does the same).
  app.use('/v2.1/*', async (c, next) => {
    c.header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    const version = negotiateVersion(
      c.req.header('OpenStack-API-Version'),
      c.req.header('X-OpenStack-Nova-API-Version'),
    );
    c.set('microversion', version);
    c.header('OpenStack-API-Version', `compute ${formatVersion(version)}`);
    c.header('X-OpenStack-Nova-API-Version', formatVersion(version));
    await next();
  });
  app.use('/v2.1', async (c, next) => {
    c.header('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    await next();
  });

  app.get('/', (c) => c.json({ versions: [versionEntry(c, 'v2.0'), versionEntry(c, 'v2.1')] }));
  app.get('/v2.1', (c) => c.json({ version: versionDoc(c, 'v2.1') }));
  app.get('/v2.1/', (c) => c.json({ version: versionDoc(c, 'v2.1') }));
  app.get('/v2', (c) => c.json({ version: versionDoc(c, 'v2.0') }));
  app.get('/v2/', (c) => c.json({ version: versionDoc(c, 'v2.0') }));

  // Everything else needs a valid token.
  app.use('/v2.1/*', async (c, next) => {
    c.set('caller', await validateToken(deps, c.req.header('X-Auth-Token')));
    await next();
  });

  const list = async (c: Context<ApiEnv>, detail: boolean) => {
    const mv = c.get('microversion');
    const ctx = caller(c);
    const params = queryParams(c);
    const options = parseFlavorList(params, mv, isAdmin(ctx));
    const flavors = await listFlavors(deps, ctx, options);
    const last = flavors.at(-1);
    const links =
      last !== undefined && pageIsFull(flavors.length, options.limit, MAX_LIST_LIMIT)
        ? [
            {
              rel: 'next',
              href: nextHref(
                `${origin(c)}/compute/v2.1/flavors${detail ? '/detail' : ''}`,
                params,
                last.id,
              ),
            },
          ]
        : [];
    return c.json({
      flavors: flavors.map((f) => flavorView(c, f, mv, detail)),
      ...(links.length > 0 ? { flavors_links: links } : {}),
    });
  };
  app.get('/v2.1/flavors', (c) => list(c, false));
  app.get('/v2.1/flavors/detail', (c) => list(c, true));

  app.post('/v2.1/flavors', async (c) => {
    const mv = c.get('microversion');
    const input = parseNewFlavor(
      member(await readJsonObject(c, 'object with "flavor"'), 'flavor'),
      mv,
    );
    const flavor = await createFlavor(deps, caller(c), input);
    return c.json({ flavor: flavorView(c, flavor, mv, true) });
  });

  app.get('/v2.1/flavors/:id', async (c) => {
    const flavor = await showFlavor(deps, caller(c), c.req.param('id'));
    return c.json({ flavor: flavorView(c, flavor, c.get('microversion'), true) });
  });

  app.delete('/v2.1/flavors/:id', async (c) => {
    await deleteFlavor(deps, caller(c), c.req.param('id'));
    return c.body(null, 202);
  });

  app.get('/v2.1/flavors/:id/os-flavor-access', async (c) => {
    const id = c.req.param('id');
    const projects = await listFlavorAccess(deps, caller(c), id);
    return c.json({ flavor_access: projects.map((tenant_id) => ({ flavor_id: id, tenant_id })) });
  });

  app.post('/v2.1/flavors/:id/action', async (c) => {
    const id = c.req.param('id');
    const body = await readJsonObject(c, 'object with "addTenantAccess"');
    const tenant = member(body, 'addTenantAccess').tenant;
    if (typeof tenant !== 'string' || tenant === '') {
      throw invalidField('addTenantAccess.tenant', tenant, 'A project id string is required');
    }
    const projects = await addFlavorAccess(deps, caller(c), id, tenant);
    return c.json({ flavor_access: projects.map((tenant_id) => ({ flavor_id: id, tenant_id })) });
  });

  app.get('/v2.1/flavors/:id/os-extra_specs', async (c) => {
    const flavor = await showFlavor(deps, caller(c), c.req.param('id'));
    return c.json({ extra_specs: sortedSpecs(flavor.extraSpecs) });
  });

  app.post('/v2.1/flavors/:id/os-extra_specs', async (c) => {
    const body = await readJsonObject(c, 'object with "extra_specs"', { floatLiterals: true });
    const specs = parseSpecs(member(body, 'extra_specs'));
    await setExtraSpecs(deps, caller(c), c.req.param('id'), specs, rules(c.get('microversion')));
    return c.json({ extra_specs: specs });
  });

  app.get('/v2.1/flavors/:id/os-extra_specs/:key', async (c) => {
    const key = c.req.param('key');
    const value = await showExtraSpec(deps, caller(c), c.req.param('id'), key);
    return c.json({ [key]: value });
  });

  app.put('/v2.1/flavors/:id/os-extra_specs/:key', async (c) => {
    const key = c.req.param('key');
    const body = await readJsonObject(c, `object with "${key}"`, { floatLiterals: true });
    const keys = Object.keys(body);
    // NOTE: Nova wording (nova/api/openstack/compute/flavors_extraspecs.py update).
    if (keys.length > 1)
      throw new ComputeError('request.invalid', 'Request body contains too many items');
    if (keys[0] !== key) throw new ComputeError('request.invalid', 'Request body and URI mismatch');
    const specs = parseSpecs(body);
    await setExtraSpecs(deps, caller(c), c.req.param('id'), specs, rules(c.get('microversion')));
    return c.json(specs);
  });

  app.delete('/v2.1/flavors/:id/os-extra_specs/:key', async (c) => {
    await deleteExtraSpec(deps, caller(c), c.req.param('id'), c.req.param('key'));
    return c.body(null, 200);
  });

  addServerRoutes(app, deps);
  addHypervisorRoutes(app, deps);
  addComputeServiceRoutes(app, deps);
  addComputeInfoRoutes(app, deps);
  addAggregateRoutes(app, deps);
  addServerGroupRoutes(app, deps);
  addKeypairRoutes(app, deps);
  addQuotaRoutes(app, deps);
  addTenantUsageRoutes(app, deps);

  return app;
}

function rules(mv: Microversion): { rejectUnknownKeys: boolean } {
  return { rejectUnknownKeys: atLeast(mv, 2, 86) };
}

/** Nova's flavor view (nova/api/openstack/compute/views/flavors.py), by microversion. */
function flavorView(
  c: Context<ApiEnv>,
  flavor: FlavorRecord,
  mv: Microversion,
  detail: boolean,
): Record<string, unknown> {
  const links = [
    { rel: 'self', href: `${origin(c)}/compute/v2.1/flavors/${flavor.id}` },
    { rel: 'bookmark', href: `${origin(c)}/compute/flavors/${flavor.id}` },
  ];
  const description = atLeast(mv, 2, 55) ? { description: flavor.description } : {};
  if (!detail) return { id: flavor.id, name: flavor.name, links, ...description };
  return {
    id: flavor.id,
    name: flavor.name,
    ram: flavor.memoryMiB,
    disk: flavor.diskGiB,
    // NOTE: before 2.75 Nova shows no swap as "" rather than 0.
    swap: flavor.swapMiB === 0 && !atLeast(mv, 2, 75) ? '' : flavor.swapMiB,
    'OS-FLV-EXT-DATA:ephemeral': flavor.ephemeralGiB,
    'OS-FLV-DISABLED:disabled': false,
    vcpus: flavor.vcpus,
    'os-flavor-access:is_public': flavor.isPublic,
    rxtx_factor: flavor.rxtxFactor,
    links,
    ...description,
    ...(atLeast(mv, 2, 61) ? { extra_specs: sortedSpecs(flavor.extraSpecs) } : {}),
  };
}

function sortedSpecs(specs: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(specs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function parsePublicFilter(raw: string | undefined): PublicFilter {
  if (raw === undefined) return 'public';
  // NOTE: oslo's is_none_string: "none" in any case.
  if (raw.toLowerCase() === 'none') return 'all';
  const value = parseBoolean(raw);
  // NOTE: Nova wording (nova/api/openstack/compute/flavors.py _parse_is_public).
  if (value === undefined)
    throw new ComputeError('request.invalid', `Invalid is_public filter [${raw}]`);
  return value ? 'public' : 'private';
}

/** Nova's flavor sort keys (nova/api/openstack/compute/schemas/flavors.py VALID_SORT_KEYS). */
const NOVA_FLAVOR_SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
] as const;
type NovaFlavorSortKey = (typeof NOVA_FLAVOR_SORT_KEYS)[number];

/**
 * What each Nova sort key orders by in vpmu. Nova's internal `id` grows with each create, so it
 * is the creation order; `disabled`, `updated_at` and `vcpu_weight` are the same for every vpmu
 * flavor (false, never updated, unset), so they leave the order to the tie-breakers (creation,
 * then id), as equal values do in Nova.
 */
const FLAVOR_SORT: Readonly<Record<NovaFlavorSortKey, FlavorSortKey | undefined>> = {
  created_at: 'createdAt',
  description: 'description',
  disabled: undefined,
  ephemeral_gb: 'ephemeralGiB',
  flavorid: 'id',
  id: 'createdAt',
  is_public: 'isPublic',
  memory_mb: 'memoryMiB',
  name: 'name',
  root_gb: 'diskGiB',
  rxtx_factor: 'rxtxFactor',
  swap: 'swapMiB',
  updated_at: undefined,
  vcpu_weight: undefined,
  vcpus: 'vcpus',
};

const FLAVOR_LIST_PARAMS = new Set([
  'limit',
  'marker',
  'is_public',
  'minRam',
  'minDisk',
  'sort_key',
  'sort_dir',
]);

/** Python's int() of a query value: optional sign and surrounding spaces. */
function pythonInt(raw: string): number | undefined {
  return /^\s*[+-]?\d+\s*$/u.test(raw) ? Number(raw.trim()) : undefined;
}

/** A flavor list's query (nova/api/openstack/compute/flavors.py _get_flavors, its schema by microversion). */
function parseFlavorList(params: QueryParams, mv: Microversion, admin: boolean): FlavorListOptions {
  // NOTE: Nova ignores unknown parameters before 2.75 and refuses them from 2.75 on.
  if (atLeast(mv, 2, 75)) rejectUnknownParams(params, FLAVOR_LIST_PARAMS);
  const limit = limitParam(params);
  const sortKey = enumParam(params, 'sort_key', NOVA_FLAVOR_SORT_KEYS) ?? 'flavorid';
  const sortDir = enumParam(params, 'sort_dir', ['asc', 'desc'] as const) ?? 'asc';
  const minimum = (name: 'minRam' | 'minDisk'): number | undefined => {
    const raw = lastValue(params, name);
    if (raw === undefined) return undefined;
    const value = pythonInt(raw);
    // NOTE: Nova wording (nova/api/openstack/compute/flavors.py _get_flavors).
    if (value === undefined) {
      throw new ComputeError('request.invalid', `Invalid ${name} filter [${raw}]`);
    }
    return value;
  };
  const minMemoryMiB = minimum('minRam');
  const minDiskGiB = minimum('minDisk');
  const marker = lastValue(params, 'marker');
  const key = FLAVOR_SORT[sortKey];
  return {
    // NOTE: as in Nova, is_public is read (and can be refused) for admins only.
    isPublic: admin ? parsePublicFilter(lastValue(params, 'is_public')) : 'public',
    ...(minMemoryMiB === undefined ? {} : { minMemoryMiB }),
    ...(minDiskGiB === undefined ? {} : { minDiskGiB }),
    sort: key === undefined ? [{ key: 'createdAt', dir: sortDir }] : [{ key, dir: sortDir }],
    ...(marker === undefined ? {} : { marker }),
    ...(limit === undefined ? {} : { limit }),
  };
}

const FLAVOR_FIELDS = new Set([
  'name',
  'id',
  'ram',
  'vcpus',
  'disk',
  'swap',
  'OS-FLV-EXT-DATA:ephemeral',
  'rxtx_factor',
  'os-flavor-access:is_public',
  'description',
]);

function parseNewFlavor(body: Record<string, unknown>, mv: Microversion): NewFlavor {
  for (const key of Object.keys(body)) {
    if (!FLAVOR_FIELDS.has(key) || (key === 'description' && !atLeast(mv, 2, 55))) {
      throw unexpectedKey('flavor', body, key);
    }
  }
  const name = body.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 255 || name.trim() !== name) {
    throw invalidField(
      'name',
      name,
      'The flavor name must be 1 to 255 characters with no leading or trailing whitespace',
    );
  }
  const id = parseFlavorId(body.id);
  const count = (field: string, min: number, fallback?: number): number => {
    const raw = body[field];
    if (raw === undefined && fallback !== undefined) return fallback;
    const value = typeof raw === 'string' && /^\s*\d+\s*$/u.test(raw) ? Number(raw) : raw;
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < min ||
      value > 2147483647
    ) {
      throw invalidField(
        field,
        raw,
        `Flavor '${name}' needs ${field} as a whole number from ${min} to 2147483647`,
      );
    }
    return value;
  };
  const rxtx = body.rxtx_factor ?? 1;
  const rxtxFactor = typeof rxtx === 'string' ? Number(rxtx) : rxtx;
  if (typeof rxtxFactor !== 'number' || !(rxtxFactor > 0) || rxtxFactor > 3.40282e38) {
    throw invalidField(
      'rxtx_factor',
      rxtx,
      `Flavor '${name}' needs rxtx_factor as a number greater than 0`,
    );
  }
  const rawPublic =
    body['os-flavor-access:is_public'] === undefined ? true : body['os-flavor-access:is_public'];
  const isPublic = novaBoolean(rawPublic);
  if (isPublic === undefined) {
    throw invalidField(
      'os-flavor-access:is_public',
      rawPublic,
      `Flavor '${name}' needs os-flavor-access:is_public as a boolean or one of ${NOVA_BOOLEAN_WORDS.join(', ')}`,
    );
  }
  const description = body.description ?? null;
  if (description !== null && (typeof description !== 'string' || description.length > 65535)) {
    throw invalidField(
      'description',
      description,
      `Flavor '${name}' needs a description string of at most 65535 characters, or null`,
    );
  }
  return {
    id,
    name,
    vcpus: count('vcpus', 1),
    memoryMiB: count('ram', 1),
    diskGiB: count('disk', 0),
    swapMiB: count('swap', 0, 0),
    ephemeralGiB: count('OS-FLV-EXT-DATA:ephemeral', 0, 0),
    rxtxFactor,
    isPublic,
    description,
  };
}

/** The strings Nova's parameter_types.boolean takes besides true and false (its enum, exactly). */
const NOVA_BOOLEAN_WORDS = [
  'True',
  'TRUE',
  'true',
  '1',
  'ON',
  'On',
  'on',
  'YES',
  'Yes',
  'yes',
  'False',
  'FALSE',
  'false',
  '0',
  'OFF',
  'Off',
  'off',
  'NO',
  'No',
  'no',
] as const;

/**
 * A JSON boolean, or one of Nova's boolean strings (nova/api/validation/parameter_types.py
 * boolean). Numbers are refused, as Nova's schema types it ['boolean', 'string'], and so are other
 * spellings ("tRue", "y", "t").
 */
export function novaBoolean(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw !== 'string' || !(NOVA_BOOLEAN_WORDS as readonly string[]).includes(raw)) {
    return undefined;
  }
  return ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes'].includes(raw);
}

function parseFlavorId(raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === 'auto') return undefined;
  const id = typeof raw === 'number' && Number.isInteger(raw) ? String(raw) : raw;
  if (typeof id !== 'string' || !/^(?! )[a-zA-Z0-9. _-]{1,255}(?<! )$/u.test(id)) {
    throw invalidField(
      'id',
      raw,
      'A flavor id is 1 to 255 letters, digits, ".", "_", "-" or inner spaces',
    );
  }
  return id;
}

/** Python's str() of a float literal marked by readJsonObject({ floatLiterals: true }). */
function asFloatLiteral(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  const [first] = entries;
  if (entries.length !== 1 || first?.[0] !== FLOAT_LITERAL || typeof first[1] !== 'string') {
    return undefined;
  }
  return pythonFloat(first[1]);
}

/** Nova's extra-spec body: keys of 1–255 safe characters, string or number values of at most 255. */
function parseSpecs(body: Record<string, unknown>): Record<string, string> {
  const specs: Record<string, string> = {};
  for (const [key, given] of Object.entries(body)) {
    const raw = asFloatLiteral(given) ?? given;
    if (!/^[a-zA-Z0-9-_:. /]{1,255}$/u.test(key)) {
      throw invalidField(
        `extra_specs.${key}`,
        raw,
        `The key '${key}' must be 1 to 255 letters, digits or "-_:. /"`,
      );
    }
    // NOTE: Nova's schema allows strings and numbers and str()s numbers before validating them,
    // so 1 becomes "1" and 1.0 becomes "1.0" (asFloatLiteral keeps Python's spelling).
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      throw invalidField(
        `extra_specs.${key}`,
        raw,
        `The value of '${key}' must be a string or a number, not ${JSON.stringify(raw)}`,
      );
    }
    const value = String(raw);
    if (value.length > 255) {
      throw invalidField(
        `extra_specs.${key}`,
        raw,
        `The value of '${key}' is ${value.length} characters long; the maximum is 255`,
      );
    }
    specs[key] = value;
  }
  return specs;
}
