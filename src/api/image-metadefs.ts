/**
 * Glance v2 metadata definitions under `/image/v2/metadefs`: namespaces (list, show; create,
 * update, delete for admins), resource types and their associations, objects, properties and
 * tags. Bodies are checked against Glance's metadef schemas (image-schemas.ts), naming the field.
 * vpmu's own namespaces are read-only (services/metadef-admin.ts).
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  addResourceType,
  createNamespace,
  deleteNamespace,
  deleteObject,
  deleteProperty,
  deleteResourceType,
  deleteTags,
  findObject,
  findProperty,
  findTag,
  listNamespaces,
  listResourceTypes,
  parseBoolean,
  putObject,
  putProperty,
  putTag,
  setTags,
  showNamespace,
  updateNamespace,
  type MetadefObjectRecord,
  type MetadefPropertyRecord,
  type MetadefResourceTypeRecord,
  type MetadefTagRecord,
  type NamespaceView,
  type NewNamespace,
} from '../services/index.js';
import { caller, readJsonObject } from './_http.js';
import { METADEF_PROPERTY_FIELDS, METADEF_PROPERTY_TYPES } from './image-schemas.js';
import { glanceTime } from './image-sharing.js';
import type { ApiDeps, ApiEnv } from './deps.js';

const bad = (message: string) => new ComputeError('request.invalid', message);

function invalid(field: string, value: unknown, why: string): ComputeError {
  return bad(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${why}`);
}

/** Refuses the attributes Glance computes, with its 403 "Attribute 'x' is read-only." */
function refuseReadOnly(body: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of keys) {
    if (Object.hasOwn(body, key)) {
      throw new ComputeError('image.read_only', `Attribute '${key}' is read-only.`);
    }
  }
}

function refuseUnknown(body: Record<string, unknown>, known: readonly string[], what: string) {
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw bad(
      `Cannot accept the ${what}: unknown field(s) ${unknown.join(', ')}; the known ones are ${known.join(', ')}.`,
    );
  }
}

function optionalString(
  body: Record<string, unknown>,
  key: string,
  max: number | undefined,
  path: string,
): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || (max !== undefined && value.length > max)) {
    throw invalid(
      `${path}${key}`,
      value,
      max === undefined
        ? 'It must be a string.'
        : `It must be a string of at most ${max} characters.`,
    );
  }
  return value;
}

function requiredString(
  body: Record<string, unknown>,
  key: string,
  max: number,
  path: string,
): string {
  const value = optionalString(body, key, max, path);
  if (value === undefined || value === '') {
    throw invalid(`${path}${key}`, value ?? null, `'${key}' is a required property.`);
  }
  return value;
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, value, 'It must be an object.');
  }
  return value as Record<string, unknown>;
}

function asArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(field, value, 'It must be a list.');
  return value as unknown[];
}

const isCount = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isStrings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** One metadef property, checked against Glance's property schema (title and type required). */
function parseProperty(value: unknown, field: string, allowName: boolean): MetadefPropertyRecord {
  const body = asObject(value, field);
  const known = allowName
    ? METADEF_PROPERTY_FIELDS
    : METADEF_PROPERTY_FIELDS.filter((k) => k !== 'name');
  refuseUnknown(body, known, `property ${field}`);
  const checks: Record<string, [(v: unknown) => boolean, string]> = {
    title: [(v) => typeof v === 'string', 'It must be a string.'],
    description: [(v) => typeof v === 'string', 'It must be a string.'],
    type: [
      (v) => METADEF_PROPERTY_TYPES.includes(v as string | null),
      `It must be one of ${METADEF_PROPERTY_TYPES.map((t) => JSON.stringify(t)).join(', ')}.`,
    ],
    operators: [isStrings, 'It must be a list of strings.'],
    required: [isStrings, 'It must be a list of strings.'],
    minimum: [(v) => typeof v === 'number', 'It must be a number.'],
    maximum: [(v) => typeof v === 'number', 'It must be a number.'],
    maxLength: [isCount, 'It must be a whole number of at least 0.'],
    minLength: [isCount, 'It must be a whole number of at least 0.'],
    maxItems: [isCount, 'It must be a whole number of at least 0.'],
    minItems: [isCount, 'It must be a whole number of at least 0.'],
    pattern: [
      (v) => {
        if (typeof v !== 'string') return false;
        try {
          new RegExp(v, 'u');
          return true;
        } catch {
          return false;
        }
      },
      'It must be a regular expression.',
    ],
    enum: [Array.isArray, 'It must be a list.'],
    readonly: [(v) => typeof v === 'boolean', 'It must be true or false.'],
    uniqueItems: [(v) => typeof v === 'boolean', 'It must be true or false.'],
    additionalItems: [(v) => typeof v === 'boolean', 'It must be true or false.'],
    items: [
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      'It must be an object.',
    ],
    name: [
      (v) => typeof v === 'string' && v.length <= 80,
      'It must be a string of at most 80 characters.',
    ],
  };
  for (const [key, item] of Object.entries(body)) {
    const check = checks[key];
    if (check !== undefined && !check[0](item)) throw invalid(`${field}.${key}`, item, check[1]);
  }
  for (const key of ['title', 'type']) {
    if (!Object.hasOwn(body, key)) {
      throw invalid(`${field}.${key}`, null, `'${key}' is a required property.`);
    }
  }
  return body;
}

function parseProperties(value: unknown, field: string): Record<string, MetadefPropertyRecord> {
  const body = asObject(value, field);
  return Object.fromEntries(
    Object.entries(body).map(([name, def]) => [name, parseProperty(def, `${field}.${name}`, true)]),
  );
}

function parseResourceType(value: unknown, field: string) {
  const body = asObject(value, field);
  refuseReadOnly(body, ['created_at', 'updated_at']);
  refuseUnknown(
    body,
    ['name', 'prefix', 'properties_target'],
    `resource type association ${field}`,
  );
  const prefix = optionalString(body, 'prefix', 80, `${field}.`);
  const target = optionalString(body, 'properties_target', 80, `${field}.`);
  return {
    name: requiredString(body, 'name', 80, `${field}.`),
    ...(prefix === undefined ? {} : { prefix }),
    ...(target === undefined ? {} : { propertiesTarget: target }),
  };
}

function parseObject(value: unknown, field: string) {
  const body = asObject(value, field);
  refuseReadOnly(body, ['self', 'schema', 'created_at', 'updated_at']);
  refuseUnknown(body, ['name', 'description', 'required', 'properties'], `object ${field}`);
  const description = optionalString(body, 'description', undefined, `${field}.`);
  if (body.required !== undefined && !isStrings(body.required)) {
    throw invalid(`${field}.required`, body.required, 'It must be a list of strings.');
  }
  return {
    name: requiredString(body, 'name', 80, `${field}.`),
    ...(description === undefined ? {} : { description }),
    ...(body.required === undefined ? {} : { required: body.required }),
    ...(body.properties === undefined
      ? {}
      : { properties: parseProperties(body.properties, `${field}.properties`) }),
  };
}

function parseTagName(value: unknown, field: string): string {
  const body = asObject(value, field);
  refuseReadOnly(body, ['created_at', 'updated_at']);
  refuseUnknown(body, ['name'], `tag ${field}`);
  return requiredString(body, 'name', 80, `${field}.`);
}

/** A namespace create or update body, as Glance's namespace schema allows it. */
function parseNamespace(body: Record<string, unknown>, withContents: boolean): NewNamespace {
  refuseReadOnly(body, ['created_at', 'updated_at', 'self', 'schema']);
  const own = ['namespace', 'display_name', 'description', 'visibility', 'protected', 'owner'];
  const contents = ['resource_type_associations', 'properties', 'objects', 'tags'];
  // NOTE: an update changes the namespace's own attributes only; Glance ignores the contents in
  // an update body, vpmu refuses them rather than drop them silently.
  refuseUnknown(body, withContents ? [...own, ...contents] : own, 'namespace');
  const { visibility } = body;
  if (visibility !== undefined && visibility !== 'public' && visibility !== 'private') {
    throw invalid('visibility', visibility, "It must be 'public' or 'private'.");
  }
  if (body.protected !== undefined && typeof body.protected !== 'boolean') {
    throw invalid('protected', body.protected, 'It must be true or false.');
  }
  const displayName = optionalString(body, 'display_name', 80, '');
  const description = optionalString(body, 'description', 500, '');
  const owner = optionalString(body, 'owner', 255, '');
  return {
    namespace: requiredString(body, 'namespace', 80, ''),
    ...(displayName === undefined ? {} : { displayName }),
    ...(description === undefined ? {} : { description }),
    ...(visibility === undefined ? {} : { visibility }),
    ...(body.protected === undefined ? {} : { protected: body.protected }),
    ...(owner === undefined ? {} : { owner }),
    ...(body.resource_type_associations === undefined
      ? {}
      : {
          resourceTypes: asArray(body.resource_type_associations, 'resource_type_associations').map(
            (item, i) => parseResourceType(item, `resource_type_associations[${i}]`),
          ),
        }),
    ...(body.properties === undefined
      ? {}
      : { properties: parseProperties(body.properties, 'properties') }),
    ...(body.objects === undefined
      ? {}
      : {
          objects: asArray(body.objects, 'objects').map((item, i) =>
            parseObject(item, `objects[${i}]`),
          ),
        }),
    ...(body.tags === undefined
      ? {}
      : {
          tags: asArray(body.tags, 'tags').map((item, i) => ({
            name: parseTagName(item, `tags[${i}]`),
          })),
        }),
  };
}

const nsHref = (ns: string) => `/v2/metadefs/namespaces/${ns}`;

function rtView(rt: MetadefResourceTypeRecord): Record<string, unknown> {
  return {
    name: rt.name,
    ...(rt.prefix === undefined ? {} : { prefix: rt.prefix }),
    ...(rt.propertiesTarget === undefined ? {} : { properties_target: rt.propertiesTarget }),
    created_at: glanceTime(rt.createdAt),
    updated_at: glanceTime(rt.updatedAt),
  };
}

function objectView(ns: string, object: MetadefObjectRecord): Record<string, unknown> {
  return {
    name: object.name,
    ...(object.description === undefined ? {} : { description: object.description }),
    ...(object.required === undefined ? {} : { required: object.required }),
    ...(Object.keys(object.properties).length === 0 ? {} : { properties: object.properties }),
    schema: '/v2/schemas/metadefs/object',
    self: `${nsHref(ns)}/objects/${object.name}`,
    created_at: glanceTime(object.createdAt),
    updated_at: glanceTime(object.updatedAt),
  };
}

function tagView(tag: MetadefTagRecord): Record<string, unknown> {
  return {
    name: tag.name,
    created_at: glanceTime(tag.createdAt),
    updated_at: glanceTime(tag.updatedAt),
  };
}

/** Glance's namespace view; empty collections are left out, as Glance leaves them out. */
function namespaceView(ns: NamespaceView, withContents: boolean): Record<string, unknown> {
  return {
    namespace: ns.namespace,
    ...(ns.displayName === undefined ? {} : { display_name: ns.displayName }),
    ...(ns.description === undefined ? {} : { description: ns.description }),
    visibility: ns.visibility,
    protected: ns.protected,
    owner: ns.owner,
    ...(ns.resourceTypes.length === 0
      ? {}
      : { resource_type_associations: ns.resourceTypes.map(rtView) }),
    ...(withContents && Object.keys(ns.properties).length > 0 ? { properties: ns.properties } : {}),
    ...(withContents && ns.objects.length > 0
      ? { objects: ns.objects.map((o) => objectView(ns.namespace, o)) }
      : {}),
    ...(withContents && ns.tags.length > 0 ? { tags: ns.tags.map((t) => ({ name: t.name })) } : {}),
    created_at: glanceTime(ns.createdAt),
    updated_at: glanceTime(ns.updatedAt),
    self: nsHref(ns.namespace),
    schema: '/v2/schemas/metadefs/namespace',
  };
}

/** Adds the metadef routes to the image app (mounted at `/image`). */
export function addMetadefRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  // vpmu's own namespaces are loaded when the service starts (as Glance loads its metadefs into
  // the database): that is their creation time here.
  const loadedAt = deps.clock.now().toISOString();
  const ns = (c: Context<ApiEnv>) =>
    showNamespace(deps, caller(c), c.req.param('ns') ?? '', loadedAt);

  app.get('/v2/metadefs/namespaces', async (c) => {
    // Horizon asks for the namespaces of one resource type: ?resource_types=OS::Glance::Image
    const wanted = c.req
      .query('resource_types')
      ?.split(',')
      .filter((t) => t !== '');
    const visibility = c.req.query('visibility');
    if (visibility !== undefined && visibility !== 'public' && visibility !== 'private') {
      throw bad(`Invalid visibility value: ${visibility}`);
    }
    const namespaces = (await listNamespaces(deps, caller(c), loadedAt)).filter(
      (n) =>
        (wanted === undefined || n.resourceTypes.some((a) => wanted.includes(a.name))) &&
        (visibility === undefined || n.visibility === visibility),
    );
    return c.json({
      namespaces: namespaces.map((n) => namespaceView(n, false)),
      first: '/v2/metadefs/namespaces',
      schema: '/v2/schemas/metadefs/namespaces',
    });
  });

  app.post('/v2/metadefs/namespaces', async (c) => {
    const input = parseNamespace(await readJsonObject(c, 'namespace object'), true);
    const created = await createNamespace(deps, caller(c), input, loadedAt);
    return c.json(namespaceView(created, true), 201);
  });

  app.get('/v2/metadefs/namespaces/:ns', async (c) => c.json(namespaceView(await ns(c), true)));

  app.put('/v2/metadefs/namespaces/:ns', async (c) => {
    const input = parseNamespace(await readJsonObject(c, 'namespace object'), false);
    const updated = await updateNamespace(deps, caller(c), c.req.param('ns'), input, loadedAt);
    return c.json(namespaceView(updated, true));
  });

  app.delete('/v2/metadefs/namespaces/:ns', async (c) => {
    await deleteNamespace(deps, caller(c), c.req.param('ns'), loadedAt);
    return c.body(null, 204);
  });

  app.get('/v2/metadefs/resource_types', async (c) => {
    const types = await listResourceTypes(deps, loadedAt);
    return c.json({
      resource_types: types.map((t) => ({
        name: t.name,
        created_at: glanceTime(t.createdAt),
        updated_at: glanceTime(t.updatedAt),
      })),
    });
  });

  app.get('/v2/metadefs/namespaces/:ns/resource_types', async (c) =>
    c.json({ resource_type_associations: (await ns(c)).resourceTypes.map(rtView) }),
  );

  app.post('/v2/metadefs/namespaces/:ns/resource_types', async (c) => {
    const input = parseResourceType(await readJsonObject(c, 'resource type association'), 'body');
    const added = await addResourceType(deps, caller(c), c.req.param('ns'), input, loadedAt);
    return c.json(rtView(added), 201);
  });

  app.delete('/v2/metadefs/namespaces/:ns/resource_types/:rt', async (c) => {
    await deleteResourceType(deps, caller(c), c.req.param('ns'), c.req.param('rt'), loadedAt);
    return c.body(null, 204);
  });

  app.get('/v2/metadefs/namespaces/:ns/objects', async (c) => {
    const namespace = await ns(c);
    return c.json({
      objects: namespace.objects.map((o) => objectView(namespace.namespace, o)),
      schema: 'v2/schemas/metadefs/objects',
    });
  });

  app.post('/v2/metadefs/namespaces/:ns/objects', async (c) => {
    const input = parseObject(await readJsonObject(c, 'object'), 'body');
    const name = c.req.param('ns');
    const saved = await putObject(deps, caller(c), name, undefined, input, loadedAt);
    return c.json(objectView(name, saved), 201);
  });

  app.get('/v2/metadefs/namespaces/:ns/objects/:object', async (c) => {
    const namespace = await ns(c);
    return c.json(objectView(namespace.namespace, findObject(namespace, c.req.param('object'))));
  });

  app.put('/v2/metadefs/namespaces/:ns/objects/:object', async (c) => {
    const input = parseObject(await readJsonObject(c, 'object'), 'body');
    const name = c.req.param('ns');
    const saved = await putObject(deps, caller(c), name, c.req.param('object'), input, loadedAt);
    return c.json(objectView(name, saved));
  });

  app.delete('/v2/metadefs/namespaces/:ns/objects/:object', async (c) => {
    await deleteObject(deps, caller(c), c.req.param('ns'), c.req.param('object'), loadedAt);
    return c.body(null, 204);
  });

  app.get('/v2/metadefs/namespaces/:ns/properties', async (c) =>
    c.json({ properties: (await ns(c)).properties }),
  );

  const writeProperty = async (c: Context<ApiEnv>, previous: string | undefined) => {
    const body = parseProperty(await readJsonObject(c, 'property'), 'body', true);
    const { name, ...definition } = body;
    if (typeof name !== 'string' || name === '') {
      throw invalid('name', name ?? null, "'name' is a required property.");
    }
    await putProperty(
      deps,
      caller(c),
      c.req.param('ns') ?? '',
      previous,
      name,
      definition,
      loadedAt,
    );
    return { name, ...definition };
  };

  app.post('/v2/metadefs/namespaces/:ns/properties', async (c) =>
    c.json(await writeProperty(c, undefined), 201),
  );

  app.get('/v2/metadefs/namespaces/:ns/properties/:property', async (c) => {
    const name = c.req.param('property');
    return c.json({ name, ...findProperty(await ns(c), name) });
  });

  app.put('/v2/metadefs/namespaces/:ns/properties/:property', async (c) =>
    c.json(await writeProperty(c, c.req.param('property'))),
  );

  app.delete('/v2/metadefs/namespaces/:ns/properties/:property', async (c) => {
    await deleteProperty(deps, caller(c), c.req.param('ns'), c.req.param('property'), loadedAt);
    return c.body(null, 204);
  });

  app.get('/v2/metadefs/namespaces/:ns/tags', async (c) =>
    c.json({ tags: (await ns(c)).tags.map(tagView) }),
  );

  app.post('/v2/metadefs/namespaces/:ns/tags', async (c) => {
    const body = await readJsonObject(c, 'object like {"tags": [{"name": "…"}]}');
    refuseUnknown(body, ['tags'], 'tag list');
    const names = asArray(body.tags, 'tags').map((item, i) => parseTagName(item, `tags[${i}]`));
    const header = c.req.header('X-Openstack-Append');
    const append = header === undefined ? false : parseBoolean(header);
    if (append === undefined) {
      throw bad(
        `Invalid value for header X-Openstack-Append: ${JSON.stringify(header)}. It must be true or false (true appends the tags, false replaces them).`,
      );
    }
    const created = await setTags(deps, caller(c), c.req.param('ns'), names, append, loadedAt);
    return c.json({ tags: created.map((t) => ({ name: t.name })) }, 201);
  });

  app.delete('/v2/metadefs/namespaces/:ns/tags', async (c) => {
    await deleteTags(deps, caller(c), c.req.param('ns'), undefined, loadedAt);
    return c.body(null, 204);
  });

  app.get('/v2/metadefs/namespaces/:ns/tags/:tag', async (c) =>
    c.json(tagView(findTag(await ns(c), c.req.param('tag')))),
  );

  app.post('/v2/metadefs/namespaces/:ns/tags/:tag', async (c) => {
    const tag = c.req.param('tag');
    if (tag.length > 80) throw invalid('name', tag, 'Tag names are at most 80 characters long.');
    const saved = await putTag(deps, caller(c), c.req.param('ns'), undefined, tag, loadedAt);
    return c.json(tagView(saved), 201);
  });

  app.put('/v2/metadefs/namespaces/:ns/tags/:tag', async (c) => {
    const name = parseTagName(await readJsonObject(c, 'tag'), 'body');
    const saved = await putTag(
      deps,
      caller(c),
      c.req.param('ns'),
      c.req.param('tag'),
      name,
      loadedAt,
    );
    return c.json(tagView(saved));
  });

  app.delete('/v2/metadefs/namespaces/:ns/tags/:tag', async (c) => {
    await deleteTags(deps, caller(c), c.req.param('ns'), c.req.param('tag'), loadedAt);
    return c.body(null, 204);
  });
}
