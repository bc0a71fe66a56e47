/**
 * Image API, a Glance v2 subset under `/image`: version discovery, images (create, list, show,
 * JSON-patch update, delete), image data upload and download, and metadata definitions.
 * Faults use Nova's body shape (one shape for the whole service) with Glance's messages.
 */
import { Hono, type Context } from 'hono';
import type { SortDir, SortSpec } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import {
  createImage,
  deleteImage,
  downloadImageData,
  IMAGE_CORE_COLUMNS,
  IMAGE_SORT_KEYS,
  listImages,
  type ImageSortKey,
  IMAGE_CORE_FIELDS,
  parseCoreValue,
  parseOwner,
  READ_ONLY_IMAGE_ATTRIBUTES,
  showImage,
  updateImage,
  uploadImageData,
  validateToken,
  VISIBILITIES,
  type ImageChange,
  type ImageCore,
  type ImageListFilter,
  type ImageRecord,
  type MemberStatus,
  type NewImage,
  type PatchDialect,
  type Visibility,
} from '../services/index.js';
import {
  caller,
  fromWebStream,
  origin,
  readJsonObject,
  requireWellFormedText,
  toWebStream,
} from './_http.js';
import { lastValue, queryParams, quotePlus, type QueryParams } from './_query.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { addMetadefRoutes } from './image-metadefs.js';
import { IMAGE_SCHEMAS } from './image-schemas.js';
import { addImageSharingRoutes, glanceTime } from './image-sharing.js';

/** Glance's patch media types: RFC 6902 (v2.1) and the older JSON-schema draft 4 form (v2.0). */
const PATCH_TYPES: Readonly<Record<string, PatchDialect>> = {
  'application/openstack-images-v2.1-json-patch': 'rfc6902',
  'application/openstack-images-v2.0-json-patch': 'draft4',
};

// A create may choose the id and the owner (another project's: admins only, the service checks);
// every other attribute Glance computes is refused.
const READ_ONLY_ON_CREATE = new Set(
  [...READ_ONLY_IMAGE_ATTRIBUTES].filter((key) => key !== 'id' && key !== 'owner'),
);

/** The image routes, to be mounted at `/image`. */
export function imageRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>({ strict: false });
  const versions = (c: Context<ApiEnv>) => ({
    versions: ['v2.16', 'v2.1', 'v2.0'].map((id, i) => ({
      id,
      status: i === 0 ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href: `${origin(c)}/image/v2/` }],
    })),
  });
  // NOTE: Glance answers its root with 300 Multiple Choices and a versions list.
  app.get('/', (c) => c.json(versions(c), 300));
  app.get('/versions', (c) => c.json(versions(c)));

  app.use('/v2/*', async (c, next) => {
    c.set('caller', await validateToken(deps, c.req.header('X-Auth-Token')));
    await next();
  });

  app.get('/v2/images', async (c) => {
    // The app is not strict about trailing slashes, but `/v2/images/` names an image with an
    // empty id, which Glance does not find (Tempest's test_get_image_null_id).
    // (c.req.path has the slash removed already; the URL keeps it.)
    const pathname = new URL(c.req.url).pathname;
    if (pathname.endsWith('/')) {
      throw new ComputeError(
        'route.not_found',
        `The resource could not be found: no endpoint answers ${c.req.method} ${pathname}.`,
      );
    }
    const params = queryParams(c);
    const page = await listImages(deps, caller(c), parseListFilter(params));
    // NOTE: Glance's links (glance/api/v2/images.py ResponseSerializer.index): the request's
    // parameters (the last value of a repeated one) without the marker, then with the next one.
    const kept = new Map<string, string>();
    for (const [key, values] of params) {
      const value = values.at(-1);
      if (key !== 'marker' && value !== undefined) kept.set(key, value);
    }
    const encode = (entries: Iterable<[string, string]>) =>
      [...entries].map(([key, value]) => `${quotePlus(key)}=${quotePlus(value)}`).join('&');
    const query = encode(kept);
    return c.json({
      images: page.images.map(imageView),
      first: query === '' ? '/v2/images' : `/v2/images?${query}`,
      schema: '/v2/schemas/images',
      ...(page.nextMarker === undefined
        ? {}
        : { next: `/v2/images?${encode([...kept, ['marker', page.nextMarker]])}` }),
    });
  });

  app.post('/v2/images', async (c) => {
    const image = await createImage(
      deps,
      caller(c),
      parseNewImage(await readJsonObject(c, 'image object')),
    );
    c.header('Location', `${origin(c)}/image/v2/images/${image.id}`);
    return c.json(imageView(image), 201);
  });

  app.get('/v2/images/:id', async (c) =>
    c.json(imageView(await showImage(deps, caller(c), c.req.param('id')))),
  );

  app.patch('/v2/images/:id', async (c) => {
    const type = (c.req.header('Content-Type') ?? '').split(';')[0]?.trim() ?? '';
    const dialect = Object.hasOwn(PATCH_TYPES, type) ? PATCH_TYPES[type] : undefined;
    if (dialect === undefined) {
      throw new ComputeError(
        'request.unsupported_media_type',
        `Cannot update image ${c.req.param('id')}: Content-Type "${type}" is not supported; use ${Object.keys(PATCH_TYPES).join(' or ')}`,
      );
    }
    const changes = parsePatch(await readJsonArray(c), dialect);
    const image = await updateImage(deps, caller(c), c.req.param('id'), changes, dialect);
    deps.onImageUpdate?.(image);
    return c.json(imageView(image));
  });

  app.delete('/v2/images/:id', async (c) => {
    await deleteImage(deps, caller(c), c.req.param('id'));
    return c.body(null, 204);
  });

  app.put('/v2/images/:id/file', async (c) => {
    const type = (c.req.header('Content-Type') ?? 'application/octet-stream').split(';')[0]?.trim();
    if (type !== 'application/octet-stream') {
      throw new ComputeError(
        'request.unsupported_media_type',
        `Cannot upload data to image ${c.req.param('id')}: Content-Type "${type ?? ''}" is not supported; use application/octet-stream`,
      );
    }
    await uploadImageData(deps, caller(c), c.req.param('id'), fromWebStream(c.req.raw.body));
    return c.body(null, 204);
  });

  app.get('/v2/images/:id/file', async (c) => {
    const { image, data, unreadable } = await downloadImageData(deps, caller(c), c.req.param('id'));
    if (unreadable !== undefined) {
      // warn, not error: the request is answered as Glance answers it; the lost data is the
      // operator's to restore (error lines are kept for what ends in a 5xx).
      deps.log.warn(
        { image: image.id, location: image.dataLocation, reason: unreadable },
        'image data cannot be read; answering 204 as Glance does when its store has no data',
      );
    }
    // NOTE: Glance answers 204 No Content for an image without data, and for data its store
    // cannot find (glance/api/v2/image_data.py).
    if (data === undefined) return c.body(null, 204);
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (image.size !== null) headers['Content-Length'] = String(image.size);
    if (image.checksum !== null) headers['Content-MD5'] = image.checksum;
    return c.body(toWebStream(data), 200, headers);
  });

  addImageSharingRoutes(app, deps);
  addMetadefRoutes(app, deps);

  app.get('/v2/schemas/*', (c) => {
    const { pathname } = new URL(c.req.url);
    const name = pathname.slice(pathname.indexOf('/v2/schemas/') + '/v2/schemas/'.length);
    const schema = Object.hasOwn(IMAGE_SCHEMAS, name) ? IMAGE_SCHEMAS[name] : undefined;
    if (schema === undefined) {
      throw new ComputeError(
        'route.not_found',
        `The resource could not be found: there is no schema ${name}; the image API serves ${Object.keys(IMAGE_SCHEMAS).join(', ')}.`,
      );
    }
    return c.json(schema());
  });

  return app;
}

/** Glance's flat image view: core attributes and properties side by side. */
function imageView(image: ImageRecord): Record<string, unknown> {
  return {
    ...image.properties,
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    owner: image.owner,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    min_disk: image.minDiskGiB,
    min_ram: image.minRamMiB,
    size: image.size,
    virtual_size: null,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    tags: image.tags,
    created_at: glanceTime(image.createdAt),
    updated_at: glanceTime(image.updatedAt),
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  };
}

/** Glance's list parameters that are not property filters. */
const LIST_PARAMS = new Set([
  'limit',
  'marker',
  'member_status',
  'tag',
  'sort',
  'sort_key',
  'sort_dir',
  'visibility',
  'owner',
  'size_min',
  'size_max',
  'os_hidden',
  'protected',
  'name',
  'id',
  'status',
  'disk_format',
  'container_format',
  'created_at',
  'updated_at',
]);

const badRequest = (message: string) => new ComputeError('request.invalid', message);

/**
 * An image list's query, as Glance reads it (glance/api/v2/images.py RequestDeserializer.index
 * and glance/db/sqlalchemy/api.py _make_conditions_from_filters), with Glance's messages.
 */
function parseListFilter(params: QueryParams): ImageListFilter {
  const one = (key: string) => lastValue(params, key);
  const rawLimit = one('limit');
  let limit: number | undefined;
  if (rawLimit !== undefined) {
    if (!/^\s*[+-]?\d+\s*$/u.test(rawLimit)) throw badRequest('limit param must be an integer');
    limit = Number(rawLimit.trim());
    if (limit < 0) throw badRequest('limit param must be positive');
  }
  const memberStatus = one('member_status') ?? 'accepted';
  if (!['pending', 'accepted', 'rejected', 'all'].includes(memberStatus)) {
    // NOTE: Glance wording (glance/api/v2/images.py _validate_member_status).
    throw badRequest(`Invalid status: ${memberStatus}`);
  }
  const visibility = one('visibility');
  if (
    visibility !== undefined &&
    visibility !== '' &&
    visibility !== 'all' &&
    !(VISIBILITIES as readonly string[]).includes(visibility)
  ) {
    throw badRequest(`Invalid visibility value: ${visibility}`);
  }
  if (params.has('changes-since')) {
    throw badRequest('The "changes-since" filter is no longer available on v2.');
  }
  // NOTE: Glance lower-cases os_hidden before checking it, but not protected.
  const hiddenRaw = one('os_hidden')?.toLowerCase();
  if (hiddenRaw !== undefined && hiddenRaw !== 'true' && hiddenRaw !== 'false') {
    throw badRequest(
      `Invalid value '${hiddenRaw}' for 'os_hidden' filter. Valid values are 'true' or 'false'.`,
    );
  }
  const protectedRaw = one('protected');
  if (protectedRaw !== undefined && protectedRaw !== 'true' && protectedRaw !== 'false') {
    throw badRequest(
      `Invalid value '${protectedRaw}' for 'protected' filter. Valid values are 'true' or 'false'.`,
    );
  }
  const osHidden = hiddenRaw === undefined ? undefined : hiddenRaw === 'true';
  const range = (key: 'size_min' | 'size_max'): number | undefined => {
    const raw = one(key);
    if (raw === undefined) return undefined;
    if (!/^\s*[+-]?\d+\s*$/u.test(raw)) {
      throw badRequest('Unable to filter on a range with a non-numeric value.');
    }
    return Number(raw.trim());
  };
  const sizeMin = range('size_min');
  const sizeMax = range('size_max');
  // NOTE: Glance's operators: "in:a,b" (quoted items may hold commas) or "eq:a" or a plain value.
  const listed = (key: string): string[] | undefined => {
    const raw = one(key);
    if (raw === undefined) return undefined;
    const colon = raw.indexOf(':');
    if (colon < 0) return [raw];
    const op = raw.slice(0, colon);
    const rest = raw.slice(colon + 1);
    if (op === 'in') return splitQuoted(rest);
    if (op === 'eq') return [rest];
    throw badRequest(`Unable to filter by unknown operator '${op}'.`);
  };
  const ids = listed('id');
  const names = listed('name');
  const statuses = listed('status');
  const diskFormats = listed('disk_format');
  const containerFormats = listed('container_format');
  const owner = one('owner');
  const tags = (params.get('tag') ?? []).map((t) => t.trim());
  const properties: Record<string, string> = {};
  const core: Record<string, string> = {};
  for (const [key, values] of params) {
    const value = values.at(-1);
    if (LIST_PARAMS.has(key) || value === undefined) continue;
    // NOTE: as in Glance, a parameter naming a column of the image is matched against it.
    if ((IMAGE_CORE_COLUMNS as readonly string[]).includes(key)) core[key] = value;
    else properties[key] = value;
  }
  const marker = one('marker');
  return {
    ...(ids === undefined ? {} : { ids }),
    ...(names === undefined ? {} : { names }),
    ...(statuses === undefined ? {} : { statuses }),
    ...(diskFormats === undefined ? {} : { diskFormats }),
    ...(containerFormats === undefined ? {} : { containerFormats }),
    ...(owner === undefined ? {} : { owner }),
    ...(visibility === undefined || visibility === ''
      ? {}
      : { visibility: visibility as Visibility | 'all' }),
    ...(sizeMin === undefined ? {} : { sizeMin }),
    ...(sizeMax === undefined ? {} : { sizeMax }),
    ...(tags.length === 0 ? {} : { tags }),
    ...(Object.keys(properties).length === 0 ? {} : { properties }),
    ...(Object.keys(core).length === 0 ? {} : { core }),
    ...(protectedRaw === undefined ? {} : { protected: protectedRaw === 'true' }),
    ...(osHidden === undefined ? {} : { osHidden }),
    memberStatus: memberStatus as MemberStatus | 'all',
    ...imageSort(params),
    ...(marker === undefined ? {} : { marker }),
    ...(limit === undefined ? {} : { limit }),
  };
}

/** Glance's sorting: `sort=key:dir,key` or repeated sort_key/sort_dir, never both. */
function imageSort(params: QueryParams): { sort?: SortSpec<ImageSortKey>[] } {
  const key = (raw: string): ImageSortKey => {
    if (!(IMAGE_SORT_KEYS as readonly string[]).includes(raw)) {
      throw badRequest(
        `Invalid sort key: ${raw}. It must be one of the following: ${IMAGE_SORT_KEYS.join(', ')}.`,
      );
    }
    return raw as ImageSortKey;
  };
  const dir = (raw: string): SortDir => {
    if (raw !== 'asc' && raw !== 'desc') throw badRequest(`Invalid sort direction: ${raw}`);
    return raw;
  };
  const sort = lastValue(params, 'sort');
  if (sort !== undefined) {
    if (params.has('sort_key') || params.has('sort_dir')) {
      throw badRequest('Old and new sorting syntax cannot be combined');
    }
    return {
      sort: sort
        .trim()
        .split(',')
        .map((part) => {
          const at = part.indexOf(':');
          return at < 0
            ? { key: key(part.trim()), dir: 'desc' as const }
            : { key: key(part.slice(0, at).trim()), dir: dir(part.slice(at + 1).trim()) };
        }),
    };
  }
  const keys = (params.get('sort_key') ?? []).map((k) => key(k.trim()));
  const dirs = (params.get('sort_dir') ?? []).map((d) => dir(d.trim()));
  if (dirs.length > 1 && dirs.length !== keys.length) {
    throw badRequest('Number of sort dirs does not match the number of sort keys');
  }
  if (keys.length === 0 && dirs.length === 0) return {};
  const allKeys = keys.length === 0 ? (['created_at'] as ImageSortKey[]) : keys;
  return {
    sort: allKeys.map((k, i) => ({
      key: k,
      dir: (dirs.length === 1 ? dirs[0] : dirs[i]) ?? 'desc',
    })),
  };
}

/** glance.common.utils.split_filter_value_for_quotes: commas split, double quotes protect. */
function splitQuoted(value: string): string[] {
  const items: string[] = [];
  const pattern = /"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,/gu;
  for (const match of value.matchAll(pattern)) items.push(match[1] ?? match[2] ?? '');
  return items;
}

function parseNewImage(body: Record<string, unknown>): NewImage {
  const label = typeof body.name === 'string' ? `'${body.name}'` : 'being created';
  const core: Record<string, unknown> = {};
  const properties: Record<string, string> = {};
  let id: string | undefined;
  let owner: string | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (key === 'id') {
      if (
        typeof value !== 'string' ||
        !/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/u.test(
          value,
        )
      ) {
        throw new ComputeError(
          'request.invalid',
          `Cannot create image ${label}: id ${JSON.stringify(value)} is not a UUID`,
        );
      }
      id = value.toLowerCase();
    } else if (key === 'owner') {
      const parsed = parseOwner(value, label);
      if (!parsed.ok)
        throw new ComputeError(parsed.issue.code, parsed.issue.message, { issues: [parsed.issue] });
      owner = parsed.value;
    } else if (READ_ONLY_ON_CREATE.has(key)) {
      // NOTE: Glance wording.
      throw new ComputeError('image.read_only', `Attribute '${key}' is read-only.`);
    } else if (Object.hasOwn(IMAGE_CORE_FIELDS, key)) {
      const parsed = parseCoreValue(key, value, label);
      if (!parsed.ok)
        throw new ComputeError(parsed.issue.code, parsed.issue.message, { issues: [parsed.issue] });
      core[IMAGE_CORE_FIELDS[key as keyof typeof IMAGE_CORE_FIELDS]] = parsed.value;
    } else if (typeof value === 'string') {
      properties[key] = value;
    } else {
      throw new ComputeError(
        'request.invalid',
        `Cannot create image ${label}: property '${key}' must be a string, not ${JSON.stringify(value)}`,
      );
    }
  }
  return {
    ...(core as ImageCore),
    ...(id === undefined ? {} : { id }),
    ...(owner === undefined ? {} : { owner }),
    properties,
  };
}

/** The operation and path of a v2.0 (draft 4) change: exactly one of add, remove, replace. */
function draft4Operation(change: Record<string, unknown>): { op: string; path: unknown } {
  const named = ['replace', 'add', 'remove'].filter((key) => Object.hasOwn(change, key));
  const [op] = named;
  if (op === undefined) {
    // NOTE: Glance wording (glance/api/v2/images.py _get_change_operation_d4).
    throw new ComputeError(
      'request.invalid',
      'Operation objects must contain exactly one member named "add", "remove", or "replace".',
    );
  }
  if (named.length > 1) {
    throw new ComputeError(
      'request.invalid',
      'Operation objects must contain only one member named "add", "remove", or "replace".',
    );
  }
  return { op, path: change[op] };
}

async function readJsonArray(c: Context<ApiEnv>): Promise<unknown[]> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    throw new ComputeError(
      'request.invalid',
      'Malformed request body: expected a JSON-patch array',
    );
  }
  requireWellFormedText(value);
  if (!Array.isArray(value)) {
    throw new ComputeError(
      'request.invalid',
      `Malformed request body: expected a JSON-patch array, not ${JSON.stringify(value)}`,
    );
  }
  return value as unknown[];
}

/**
 * Patch operations restricted to what Glance allows: add, replace, remove on top-level paths.
 * RFC 6902 names the operation in `op` and the target in `path` (`{"op": "replace", "path":
 * "/name", "value": "x"}`); the v2.0 media type names the operation as the key holding the path
 * (`{"replace": "/name", "value": "x"}`).
 */
function parsePatch(ops: readonly unknown[], dialect: PatchDialect): ImageChange[] {
  return ops.map((raw, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ComputeError(
        'request.invalid',
        `Cannot apply JSON-patch operation ${index}: expected an object, not ${JSON.stringify(raw)}`,
      );
    }
    const change = raw as Record<string, unknown>;
    const { op, path } = dialect === 'draft4' ? draft4Operation(change) : change;
    const { value } = change;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ComputeError(
        'request.invalid',
        `Cannot apply JSON-patch operation ${index}: op ${JSON.stringify(op ?? null)} is not one of add, replace, remove`,
      );
    }
    if (typeof path !== 'string' || !/^\/[^/]+$/u.test(path)) {
      throw new ComputeError(
        'request.invalid',
        `Cannot apply JSON-patch operation ${index}: path ${JSON.stringify(path ?? null)} must name one top-level attribute, like "/hw_pmu"`,
      );
    }
    const name = path.slice(1).replaceAll('~1', '/').replaceAll('~0', '~');
    if (op === 'remove') return { op, name };
    if (value === undefined) {
      throw new ComputeError(
        'request.invalid',
        `Cannot apply JSON-patch operation ${index} (${op} ${path}): it has no value`,
      );
    }
    return { op, name, value };
  });
}
