/**
 * Metadata-definition administration (Glance's metadefs API): namespaces administrators create,
 * update and delete, with their resource-type associations, objects, properties and tags. vpmu's
 * own namespaces (generated from the specs registry, see metadefs.ts) are listed beside them and
 * can be read by everyone but changed by no one. Policy is Glance's default: writes are for admins;
 * a private namespace is seen by its owner project and admins; a public one by everyone.
 */
import { ComputeError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import { metadefNamespaceExists, metadefNamespaceNotFound } from '../ports/store-errors.js';
import type {
  MetadefNamespaceRecord,
  MetadefObjectRecord,
  MetadefPropertyRecord,
  MetadefResourceTypeRecord,
  MetadefTagRecord,
  Store,
} from '../ports/store.js';
import { isAdmin, type RequestContext } from './identity.js';
import { listMetadefNamespaces } from './metadefs.js';

export type {
  MetadefNamespaceRecord,
  MetadefObjectRecord,
  MetadefPropertyRecord,
  MetadefResourceTypeRecord,
  MetadefTagRecord,
} from '../ports/store.js';

/** What the metadef use cases need. */
export interface MetadefDeps {
  readonly store: Store;
  readonly clock: Clock;
}

/** A namespace as shown: vpmu's own are `builtin` (read-only). */
export interface NamespaceView extends MetadefNamespaceRecord {
  readonly builtin: boolean;
}

/** The resource types Glance seeds; any other one named by an association is listed too. */
export const SEEDED_RESOURCE_TYPES = [
  'OS::Cinder::Volume',
  'OS::Glance::Image',
  'OS::Nova::Aggregate',
  'OS::Nova::Flavor',
  'OS::Nova::Server',
] as const;

/** vpmu's own namespaces as records, created (loaded) at `loadedAt`. */
function builtinNamespaces(loadedAt: string): NamespaceView[] {
  return listMetadefNamespaces().map((ns) => ({
    namespace: ns.namespace,
    displayName: ns.display_name,
    description: ns.description,
    visibility: ns.visibility,
    protected: ns.protected,
    owner: ns.owner,
    resourceTypes: ns.resource_type_associations.map((a) => ({
      name: a.name,
      ...(a.prefix === undefined ? {} : { prefix: a.prefix }),
      createdAt: loadedAt,
      updatedAt: loadedAt,
    })),
    properties: { ...ns.properties },
    objects: [],
    tags: [],
    createdAt: loadedAt,
    updatedAt: loadedAt,
    builtin: true,
  }));
}

function visibleTo(ctx: RequestContext, ns: MetadefNamespaceRecord): boolean {
  return ns.visibility === 'public' || isAdmin(ctx) || ns.owner === ctx.projectId;
}

/** Every namespace the caller may see, sorted by name (vpmu's own first when names tie). */
export async function listNamespaces(
  deps: MetadefDeps,
  ctx: RequestContext,
  loadedAt: string,
): Promise<NamespaceView[]> {
  const stored = (await deps.store.listMetadefNamespaces())
    .filter((ns) => visibleTo(ctx, ns))
    .map((ns) => ({ ...ns, builtin: false }));
  return [...builtinNamespaces(loadedAt), ...stored].sort((a, b) =>
    a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0,
  );
}

/** One namespace the caller may see, or Glance's 404. */
export async function showNamespace(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  loadedAt: string,
): Promise<NamespaceView> {
  const builtin = builtinNamespaces(loadedAt).find((ns) => ns.namespace === name);
  if (builtin !== undefined) return builtin;
  const stored = await deps.store.getMetadefNamespace(name);
  if (stored === undefined || !visibleTo(ctx, stored)) throw metadefNamespaceNotFound(name);
  return { ...stored, builtin: false };
}

/** The resource types: Glance's seeded ones and any named by an association. */
export async function listResourceTypes(
  deps: MetadefDeps,
  loadedAt: string,
): Promise<{ name: string; createdAt: string; updatedAt: string }[]> {
  const names = new Set<string>(SEEDED_RESOURCE_TYPES);
  for (const ns of [
    ...builtinNamespaces(loadedAt),
    ...(await deps.store.listMetadefNamespaces()),
  ]) {
    for (const rt of ns.resourceTypes) names.add(rt.name);
  }
  return [...names].sort().map((name) => ({ name, createdAt: loadedAt, updatedAt: loadedAt }));
}

function requireMetadefAdmin(ctx: RequestContext, rule: string): void {
  if (!isAdmin(ctx)) {
    // NOTE: Glance wording (oslo.policy PolicyNotAuthorized; glance/policies/metadef.py: admin).
    throw new ComputeError(
      'auth.forbidden',
      `You are not authorized to complete ${rule} action. Metadata definitions are changed by administrators only.`,
    );
  }
}

function refuseBuiltin(name: string, loadedAt: string, what: string): void {
  if (builtinNamespaces(loadedAt).some((ns) => ns.namespace === name)) {
    throw new ComputeError(
      'metadef.protected',
      `Cannot ${what} metadata definition namespace ${name}: it is vpmu's own namespace, generated from its specs registry (hw_pmu, hw:pmu, …), so it cannot be changed or deleted.`,
    );
  }
}

/** A namespace create request, shape-checked by the API. */
export interface NewNamespace {
  readonly namespace: string;
  readonly displayName?: string;
  readonly description?: string;
  readonly visibility?: 'public' | 'private';
  readonly protected?: boolean;
  readonly owner?: string;
  readonly resourceTypes?: readonly { name: string; prefix?: string; propertiesTarget?: string }[];
  readonly properties?: Readonly<Record<string, MetadefPropertyRecord>>;
  readonly objects?: readonly {
    name: string;
    description?: string;
    required?: readonly string[];
    properties?: Readonly<Record<string, MetadefPropertyRecord>>;
  }[];
  readonly tags?: readonly { name: string }[];
}

function duplicates(names: readonly string[]): string | undefined {
  return names.find((name, i) => names.indexOf(name) !== i);
}

/** Creates a namespace with its contents (admins only). */
export async function createNamespace(
  deps: MetadefDeps,
  ctx: RequestContext,
  input: NewNamespace,
  loadedAt: string,
): Promise<NamespaceView> {
  requireMetadefAdmin(ctx, 'add_metadef_namespace');
  if (builtinNamespaces(loadedAt).some((ns) => ns.namespace === input.namespace)) {
    throw metadefNamespaceExists(input.namespace);
  }
  const now = deps.clock.now().toISOString();
  const resourceTypes = input.resourceTypes ?? [];
  const objects = input.objects ?? [];
  const tags = input.tags ?? [];
  const rtDup = duplicates(resourceTypes.map((r) => r.name));
  if (rtDup !== undefined) throw rtExists(input.namespace, rtDup);
  const objDup = duplicates(objects.map((o) => o.name));
  if (objDup !== undefined) throw objectExists(input.namespace, objDup);
  const tagDup = duplicates(tags.map((t) => t.name));
  if (tagDup !== undefined) throw tagExists(input.namespace, tagDup);
  const record: MetadefNamespaceRecord = {
    namespace: input.namespace,
    ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
    ...(input.description === undefined ? {} : { description: input.description }),
    visibility: input.visibility ?? 'private',
    protected: input.protected ?? false,
    owner: input.owner ?? ctx.projectId,
    resourceTypes: resourceTypes.map((r) => ({ ...r, createdAt: now, updatedAt: now })),
    properties: input.properties ?? {},
    objects: objects.map((o) => ({
      ...o,
      properties: o.properties ?? {},
      createdAt: now,
      updatedAt: now,
    })),
    tags: tags.map((t) => ({ name: t.name, createdAt: now, updatedAt: now })),
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.createMetadefNamespace(record);
  return { ...record, builtin: false };
}

/** Replaces a namespace's own attributes (not its contents); may rename it (admins only). */
export async function updateNamespace(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  input: NewNamespace,
  loadedAt: string,
): Promise<NamespaceView> {
  requireMetadefAdmin(ctx, 'modify_metadef_namespace');
  refuseBuiltin(name, loadedAt, 'update');
  if (
    input.namespace !== name &&
    builtinNamespaces(loadedAt).some((ns) => ns.namespace === input.namespace)
  ) {
    throw metadefNamespaceExists(input.namespace);
  }
  const current = await deps.store.getMetadefNamespace(name);
  if (current === undefined) throw metadefNamespaceNotFound(name);
  // NOTE: as in Glance, an update replaces the namespace's own attributes: one left out is unset.
  const updated: MetadefNamespaceRecord = {
    namespace: input.namespace,
    ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
    ...(input.description === undefined ? {} : { description: input.description }),
    resourceTypes: current.resourceTypes,
    properties: current.properties,
    objects: current.objects,
    tags: current.tags,
    createdAt: current.createdAt,
    visibility: input.visibility ?? current.visibility,
    protected: input.protected ?? current.protected,
    owner: input.owner ?? current.owner,
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.saveMetadefNamespace(name, updated);
  return { ...updated, builtin: false };
}

/** Deletes a namespace and everything in it (admins only; not while protected). */
export async function deleteNamespace(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  loadedAt: string,
): Promise<void> {
  requireMetadefAdmin(ctx, 'delete_metadef_namespace');
  refuseBuiltin(name, loadedAt, 'delete');
  const current = await deps.store.getMetadefNamespace(name);
  if (current === undefined) throw metadefNamespaceNotFound(name);
  if (current.protected) {
    // NOTE: Glance wording (glance/common/exception.py ProtectedMetadefNamespaceDelete).
    throw new ComputeError(
      'metadef.protected',
      `Metadata definition namespace ${name} is protected and cannot be deleted. Set protected to false first.`,
    );
  }
  if (!(await deps.store.deleteMetadefNamespace(name))) throw metadefNamespaceNotFound(name);
}

/** Changes a stored namespace's contents with `edit` (admins only, never vpmu's own). */
async function editNamespace(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  rule: string,
  loadedAt: string,
  edit: (ns: MetadefNamespaceRecord, now: string) => MetadefNamespaceRecord,
): Promise<MetadefNamespaceRecord> {
  requireMetadefAdmin(ctx, rule);
  refuseBuiltin(name, loadedAt, 'change');
  const current = await deps.store.getMetadefNamespace(name);
  if (current === undefined) throw metadefNamespaceNotFound(name);
  const now = deps.clock.now().toISOString();
  const updated = edit(current, now);
  await deps.store.saveMetadefNamespace(name, updated);
  return updated;
}

// NOTE: Glance wording for these (glance/common/exception.py Metadef*).
function rtExists(ns: string, rt: string): ComputeError {
  return new ComputeError(
    'metadef.exists',
    `The metadata definition resource-type association of resource-type=${rt} to namespace=${ns} already exists.`,
  );
}
function rtNotFound(ns: string, rt: string): ComputeError {
  return new ComputeError(
    'metadef.not_found',
    `The metadata definition resource-type association of resource-type=${rt} to namespace=${ns}, was not found.`,
  );
}
function objectExists(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.exists',
    `A metadata definition object with name=${name} already exists in namespace=${ns}.`,
  );
}
function objectNotFound(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.not_found',
    `The metadata definition object with name=${name} was not found in namespace=${ns}.`,
  );
}
function propertyExists(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.exists',
    `A metadata definition property with name=${name} already exists in namespace=${ns}.`,
  );
}
function propertyNotFound(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.not_found',
    `The metadata definition property with name=${name} was not found in namespace=${ns}.`,
  );
}
function tagExists(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.exists',
    `A metadata tag with name=${name} already exists in namespace=${ns}. (Please note that metadata tag names are case insensitive).`,
  );
}
function tagNotFound(ns: string, name: string): ComputeError {
  return new ComputeError(
    'metadef.not_found',
    `The metadata definition tag with name=${name} was not found in namespace=${ns}.`,
  );
}

/** Associates a resource type with a namespace. */
export async function addResourceType(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  input: { name: string; prefix?: string; propertiesTarget?: string },
  loadedAt: string,
): Promise<MetadefResourceTypeRecord> {
  const now = deps.clock.now().toISOString();
  const added: MetadefResourceTypeRecord = { ...input, createdAt: now, updatedAt: now };
  await editNamespace(deps, ctx, name, 'add_metadef_resource_type_association', loadedAt, (ns) => {
    if (ns.resourceTypes.some((r) => r.name === input.name)) throw rtExists(name, input.name);
    return { ...ns, resourceTypes: [...ns.resourceTypes, added] };
  });
  return added;
}

/** Removes a resource-type association. */
export async function deleteResourceType(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  resourceType: string,
  loadedAt: string,
): Promise<void> {
  await editNamespace(
    deps,
    ctx,
    name,
    'remove_metadef_resource_type_association',
    loadedAt,
    (ns) => {
      if (!ns.resourceTypes.some((r) => r.name === resourceType))
        throw rtNotFound(name, resourceType);
      return { ...ns, resourceTypes: ns.resourceTypes.filter((r) => r.name !== resourceType) };
    },
  );
}

/** One object of a namespace the caller may see. */
export function findObject(ns: MetadefNamespaceRecord, name: string): MetadefObjectRecord {
  const found = ns.objects.find((o) => o.name === name);
  if (found === undefined) throw objectNotFound(ns.namespace, name);
  return found;
}

/** Adds (`previous` undefined) or replaces (renaming it if asked) an object. */
export async function putObject(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  previous: string | undefined,
  input: NonNullable<NewNamespace['objects']>[number],
  loadedAt: string,
): Promise<MetadefObjectRecord> {
  const rule = previous === undefined ? 'add_metadef_object' : 'modify_metadef_object';
  const updated = await editNamespace(deps, ctx, name, rule, loadedAt, (ns, now) => {
    const old = previous === undefined ? undefined : findObject(ns, previous);
    if (input.name !== previous && ns.objects.some((o) => o.name === input.name)) {
      throw objectExists(name, input.name);
    }
    const saved: MetadefObjectRecord = {
      ...input,
      properties: input.properties ?? {},
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
    };
    const kept = ns.objects.filter((o) => o.name !== previous);
    return { ...ns, objects: [...kept, saved] };
  });
  return findObject(updated, input.name);
}

export async function deleteObject(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  objectName: string,
  loadedAt: string,
): Promise<void> {
  await editNamespace(deps, ctx, name, 'delete_metadef_object', loadedAt, (ns) => {
    findObject(ns, objectName);
    return { ...ns, objects: ns.objects.filter((o) => o.name !== objectName) };
  });
}

/** One property of a namespace. */
export function findProperty(ns: MetadefNamespaceRecord, name: string): MetadefPropertyRecord {
  const found = Object.hasOwn(ns.properties, name) ? ns.properties[name] : undefined;
  if (found === undefined) throw propertyNotFound(ns.namespace, name);
  return found;
}

/** Adds (`previous` undefined) or replaces (renaming it if asked) a property. */
export async function putProperty(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  previous: string | undefined,
  propertyName: string,
  property: MetadefPropertyRecord,
  loadedAt: string,
): Promise<void> {
  const rule = previous === undefined ? 'add_metadef_property' : 'modify_metadef_property';
  await editNamespace(deps, ctx, name, rule, loadedAt, (ns) => {
    if (previous !== undefined) findProperty(ns, previous);
    if (propertyName !== previous && Object.hasOwn(ns.properties, propertyName)) {
      throw propertyExists(name, propertyName);
    }
    const kept = Object.entries(ns.properties).filter(([key]) => key !== previous);
    return { ...ns, properties: Object.fromEntries([...kept, [propertyName, property]]) };
  });
}

export async function deleteProperty(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  propertyName: string,
  loadedAt: string,
): Promise<void> {
  await editNamespace(deps, ctx, name, 'remove_metadef_property', loadedAt, (ns) => {
    findProperty(ns, propertyName);
    return {
      ...ns,
      properties: Object.fromEntries(
        Object.entries(ns.properties).filter(([key]) => key !== propertyName),
      ),
    };
  });
}

/** One tag of a namespace. */
export function findTag(ns: MetadefNamespaceRecord, name: string): MetadefTagRecord {
  const found = ns.tags.find((t) => t.name.toLowerCase() === name.toLowerCase());
  if (found === undefined) throw tagNotFound(ns.namespace, name);
  return found;
}

/**
 * Sets a namespace's tags from a list: replaces them, or appends to them (Glance's
 * `X-Openstack-Append: true`). Tag names are case-insensitive, as in Glance.
 */
export async function setTags(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  names: readonly string[],
  append: boolean,
  loadedAt: string,
): Promise<MetadefTagRecord[]> {
  let created: MetadefTagRecord[] = [];
  await editNamespace(deps, ctx, name, 'add_metadef_tags', loadedAt, (ns, now) => {
    const kept = append ? ns.tags : [];
    const all = [...kept.map((t) => t.name), ...names].map((n) => n.toLowerCase());
    const dup = duplicates(all);
    if (dup !== undefined) throw tagExists(name, dup);
    created = names.map((n) => ({ name: n, createdAt: now, updatedAt: now }));
    return { ...ns, tags: [...kept, ...created] };
  });
  return created;
}

/** Adds (`previous` undefined) or renames a tag. */
export async function putTag(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  previous: string | undefined,
  tagName: string,
  loadedAt: string,
): Promise<MetadefTagRecord> {
  const rule = previous === undefined ? 'add_metadef_tag' : 'modify_metadef_tag';
  const updated = await editNamespace(deps, ctx, name, rule, loadedAt, (ns, now) => {
    const old = previous === undefined ? undefined : findTag(ns, previous);
    if (
      tagName.toLowerCase() !== previous?.toLowerCase() &&
      ns.tags.some((t) => t.name.toLowerCase() === tagName.toLowerCase())
    ) {
      throw tagExists(name, tagName);
    }
    const saved = { name: tagName, createdAt: old?.createdAt ?? now, updatedAt: now };
    const kept = ns.tags.filter((t) => t !== old);
    return { ...ns, tags: [...kept, saved] };
  });
  return findTag(updated, tagName);
}

/** Deletes one tag, or every tag (`tagName` undefined). */
export async function deleteTags(
  deps: MetadefDeps,
  ctx: RequestContext,
  name: string,
  tagName: string | undefined,
  loadedAt: string,
): Promise<void> {
  const rule = tagName === undefined ? 'delete_metadef_tags' : 'delete_metadef_tag';
  await editNamespace(deps, ctx, name, rule, loadedAt, (ns) => {
    if (tagName === undefined) return { ...ns, tags: [] };
    const old = findTag(ns, tagName);
    return { ...ns, tags: ns.tags.filter((t) => t !== old) };
  });
}
