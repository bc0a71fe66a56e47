/**
 * Image use cases (a Glance v2 subset): create, list, show, JSON-patch update, delete, data
 * upload and download. Policy (Glance's defaults): an image is visible to its owner project, to
 * admins, and to everyone when public or community; anyone else gets a 404. Only the owner's
 * members (or an admin) change it; only admins make an image public. Registry-known properties
 * such as `hw_pmu` are validated whenever they are set, so a bad value never gets stored.
 */
import { createHash } from 'node:crypto';
import { pageOf, sortComparator, type Image, type SortSpec } from '../domain/index.js';
import { ComputeError, type Issue } from '../errors/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type { ImageFiles } from '../ports/image-files.js';
import type { ImageInspector } from '../ports/image-inspector.js';
import { imageNotFound } from '../ports/store-errors.js';
import {
  VISIBILITIES,
  type ImageRecord,
  type MemberStatus,
  type Store,
  type Visibility,
} from '../ports/store.js';
import { validateImageProperties } from '../specs/index.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';

export { VISIBILITIES, type ImageRecord, type Visibility } from '../ports/store.js';

/** What image use cases need. */
export interface ImageDeps {
  readonly store: Store;
  readonly files: ImageFiles;
  /** Checks uploaded data against its declared disk_format before the image becomes active. */
  readonly inspector: ImageInspector;
  readonly imageLimits: ImageLimits;
  readonly clock: Clock;
  readonly ids: Ids;
}

/** Glance's image limits, under Glance's names (glance-api.conf [DEFAULT]). */
export interface ImageLimits {
  /** Largest image data accepted, in bytes (`image_size_cap`). */
  readonly imageSizeCap: number;
  /** Image data one project may store in all, in bytes; 0: unlimited (`user_storage_quota`). */
  readonly userStorageQuota: number;
  /** Properties one image may carry; negative: unlimited (`image_property_quota`). */
  readonly imagePropertyQuota: number;
  /** Tags one image may carry; negative: unlimited (`image_tag_quota`). */
  readonly imageTagQuota: number;
  /** Projects one image may be shared with; negative: unlimited (`image_member_quota`). */
  readonly imageMemberQuota: number;
}

/** Glance's defaults: a 1 TiB size cap, no storage quota, 128 properties, tags and members. */
export const GLANCE_IMAGE_LIMITS: ImageLimits = {
  imageSizeCap: 1099511627776,
  userStorageQuota: 0,
  imagePropertyQuota: 128,
  imageTagQuota: 128,
  imageMemberQuota: 128,
};

/** Core attributes a client may set at create time or change with a patch. */
export interface ImageCore {
  readonly name?: string | null;
  readonly visibility?: Visibility;
  readonly protected?: boolean;
  readonly osHidden?: boolean;
  readonly diskFormat?: string | null;
  readonly containerFormat?: string | null;
  readonly minDiskGiB?: number;
  readonly minRamMiB?: number;
  readonly tags?: readonly string[];
}

/** An image create request, shape-checked by the API. */
export interface NewImage extends ImageCore {
  readonly id?: string;
  /** Another project as the owner: admins only (Glance's check_admin_or_same_owner). */
  readonly owner?: string;
  readonly properties: Readonly<Record<string, string>>;
}

/** One JSON-patch change, its path already reduced to an attribute or property name. */
export type ImageChange =
  | { readonly op: 'add' | 'replace'; readonly name: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly name: string };

/** Attributes Glance computes; a patch may not touch them (nor may a create, except `id`). */
export const READ_ONLY_IMAGE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'id',
  'status',
  'owner',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'created_at',
  'updated_at',
  'file',
  'self',
  'schema',
  'direct_url',
  'locations',
  'stores',
]);

/** Core attributes a create or a patch may set, by wire name. */
export const IMAGE_CORE_FIELDS = {
  name: 'name',
  visibility: 'visibility',
  protected: 'protected',
  os_hidden: 'osHidden',
  disk_format: 'diskFormat',
  container_format: 'containerFormat',
  min_disk: 'minDiskGiB',
  min_ram: 'minRamMiB',
  tags: 'tags',
} as const satisfies Record<string, keyof ImageCore>;

/** Glance's disk and container formats. */
export const DISK_FORMATS = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
] as const;
export const CONTAINER_FORMATS = [
  'ami',
  'ari',
  'aki',
  'bare',
  'ovf',
  'ova',
  'docker',
  'compressed',
] as const;

/** Creates a queued image owned by the caller's project. */
export async function createImage(
  deps: ImageDeps,
  ctx: RequestContext,
  input: NewImage,
): Promise<ImageRecord> {
  requireWriter(ctx, 'create an image');
  if (input.owner !== undefined && input.owner !== ctx.projectId && !isAdmin(ctx)) {
    // NOTE: Glance wording (glance/api/v2/policy.py add_image).
    throw new ComputeError(
      'auth.forbidden',
      `You are not permitted to create images owned by '${input.owner}'.`,
    );
  }
  const now = deps.clock.now().toISOString();
  const image: ImageRecord = {
    id: input.id ?? deps.ids.newUuid(),
    name: input.name ?? null,
    owner: input.owner ?? ctx.projectId,
    // NOTE: Glance's default visibility since Pike is "shared" (owner and members only).
    visibility: input.visibility ?? 'shared',
    status: 'queued',
    protected: input.protected ?? false,
    osHidden: input.osHidden ?? false,
    diskFormat: input.diskFormat ?? null,
    containerFormat: input.containerFormat ?? null,
    minDiskGiB: input.minDiskGiB ?? 0,
    minRamMiB: input.minRamMiB ?? 0,
    tags: [...new Set(input.tags ?? [])],
    properties: { ...input.properties },
    size: null,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    dataLocation: null,
    createdAt: now,
    updatedAt: now,
  };
  checkPublicize(ctx, image.visibility);
  checkPropertyQuota(deps.imageLimits, image.properties);
  checkTagQuota(deps.imageLimits, image.id, image.tags);
  throwIfAny(checkProperties(image, input.properties));
  await deps.store.createImage(image);
  return image;
}

/** Glance's image sort keys (glance/api/v2/images.py _available_sort_keys). */
export const IMAGE_SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'id',
  'created_at',
  'updated_at',
] as const;
export type ImageSortKey = (typeof IMAGE_SORT_KEYS)[number];

/** Glance's `[DEFAULT] limit_param_default` and `api_limit_max`. */
export const IMAGE_LIST_DEFAULT_LIMIT = 25;
export const IMAGE_LIST_MAX_LIMIT = 1000;

/**
 * An image list request (glance/api/v2/images.py RequestDeserializer.index), checked by the API.
 * The list-valued filters are Glance's `in:` operator (a plain value is a one-item list).
 * `visibility` undefined means Glance's default listing.
 */
export interface ImageListFilter {
  readonly ids?: readonly string[];
  readonly names?: readonly string[];
  readonly statuses?: readonly string[];
  readonly diskFormats?: readonly string[];
  readonly containerFormats?: readonly string[];
  readonly owner?: string;
  readonly visibility?: Visibility | 'all';
  readonly sizeMin?: number;
  readonly sizeMax?: number;
  /** Every tag must be on the image. */
  readonly tags?: readonly string[];
  /** Image columns compared for equality (IMAGE_CORE_COLUMNS), by their text. */
  readonly core?: Readonly<Record<string, string>>;
  /** Other parameters are property filters in Glance: each must equal the image's property. */
  readonly properties?: Readonly<Record<string, string>>;
  readonly protected?: boolean;
  /** Glance lists hidden images only with os_hidden=true, and then only those. */
  readonly osHidden?: boolean;
  /**
   * Which shared images of other projects the caller's project lists, by its membership status
   * (Glance's default: accepted). Administrators list every image whatever this says.
   */
  readonly memberStatus?: MemberStatus | 'all';
  /** Default created_at desc; ties go by created_at, then id, in the first direction given. */
  readonly sort?: readonly SortSpec<ImageSortKey>[];
  readonly marker?: string;
  /** Default IMAGE_LIST_DEFAULT_LIMIT; at most IMAGE_LIST_MAX_LIMIT. */
  readonly limit?: number;
}

/** The image columns Glance matches a same-named list parameter against (by equality). */
export const IMAGE_CORE_COLUMNS = [
  'size',
  'min_disk',
  'min_ram',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
] as const;

function coreValue(image: ImageRecord, column: string): string | null {
  const values: Record<string, number | string | null> = {
    size: image.size,
    min_disk: image.minDiskGiB,
    min_ram: image.minRamMiB,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
  };
  const value = values[column];
  return value === undefined || value === null ? null : String(value);
}

/** One page of an image list; `nextMarker` when the page is full (Glance adds a `next` link). */
export interface ImagePage {
  readonly images: ImageRecord[];
  readonly nextMarker?: string;
}

/**
 * One page of the images the caller may see, filtered, sorted and paged as Glance does
 * (glance/db/sqlalchemy/api.py image_get_all). A marker that names no image is Glance's 400
 * "No image found with ID X"; one the caller may not see, its 403.
 */
export async function listImages(
  deps: ImageDeps,
  ctx: RequestContext,
  filter: ImageListFilter,
): Promise<ImagePage> {
  const images = await deps.store.listImages({
    ...(filter.names?.length === 1 ? { name: filter.names[0] } : {}),
    ...(filter.owner === undefined ? {} : { owner: filter.owner }),
    ...(filter.visibility === undefined || filter.visibility === 'all'
      ? {}
      : { visibility: filter.visibility }),
  });
  const memberships = new Map(
    (await deps.store.listImageMemberships(ctx.projectId)).map((m) => [m.imageId, m.status]),
  );
  const memberStatus = filter.memberStatus ?? 'accepted';
  // NOTE: as in Glance (glance/db/sqlalchemy/api.py _select_images_query): the caller's own
  // images, public and community ones, and shared ones whose membership has the asked status.
  const listed = (image: ImageRecord): boolean => {
    if (isAdmin(ctx) || image.owner === ctx.projectId) return true;
    if (image.visibility === 'public' || image.visibility === 'community') return true;
    const status = image.visibility === 'shared' ? memberships.get(image.id) : undefined;
    return status !== undefined && (memberStatus === 'all' || status === memberStatus);
  };
  let marker: ImageRecord | undefined;
  if (filter.marker !== undefined) {
    marker = await deps.store.getImage(filter.marker);
    if (marker === undefined) {
      // NOTE: Glance wording (glance/db/sqlalchemy/api.py _image_get).
      throw new ComputeError('request.invalid', `No image found with ID ${filter.marker}`);
    }
    if (!canSee(ctx, marker, memberships.has(marker.id))) {
      throw new ComputeError(
        'auth.forbidden',
        `Forbidding request, image ${filter.marker} not visible`,
      );
    }
  }
  const within = (values: readonly string[] | undefined, value: string | null) =>
    values === undefined || (value !== null && values.includes(value));
  const matches = images.filter((image) => {
    if (!listed(image)) return false;
    // NOTE: as in Glance, community images are listed only when asked for (or owned).
    if (
      filter.visibility === undefined &&
      image.visibility === 'community' &&
      image.owner !== ctx.projectId
    ) {
      return false;
    }
    return (
      image.osHidden === (filter.osHidden ?? false) &&
      within(filter.ids, image.id) &&
      within(filter.names, image.name) &&
      within(filter.statuses, image.status) &&
      within(filter.diskFormats, image.diskFormat) &&
      within(filter.containerFormats, image.containerFormat) &&
      (filter.protected === undefined || image.protected === filter.protected) &&
      (filter.sizeMin === undefined || (image.size !== null && image.size >= filter.sizeMin)) &&
      (filter.sizeMax === undefined || (image.size !== null && image.size <= filter.sizeMax)) &&
      (filter.tags ?? []).every((tag) => image.tags.includes(tag)) &&
      Object.entries(filter.core ?? {}).every(
        ([column, value]) =>
          coreValue(image, column) === (/^\d+$/u.test(value) ? String(Number(value)) : value),
      ) &&
      Object.entries(filter.properties ?? {}).every(
        ([key, value]) => image.properties[key] === value,
      )
    );
  });
  const sort = filter.sort ?? [{ key: 'created_at', dir: 'desc' }];
  const tieDir = sort.length === 1 || filter.sort === undefined ? (sort[0]?.dir ?? 'desc') : 'desc';
  const keys: SortSpec<ImageSortKey>[] = [...sort];
  for (const key of ['created_at', 'id'] as const) {
    if (!keys.some((k) => k.key === key)) keys.push({ key, dir: tieDir });
  }
  const limit = Math.min(filter.limit ?? IMAGE_LIST_DEFAULT_LIMIT, IMAGE_LIST_MAX_LIMIT);
  const page = pageOf(matches, sortComparator(keys, imageSortValue), marker, limit);
  const last = page.at(-1);
  return {
    images: page,
    ...(last !== undefined && page.length === limit ? { nextMarker: last.id } : {}),
  };
}

function imageSortValue(image: ImageRecord, key: ImageSortKey): string | number | null {
  switch (key) {
    case 'name':
      return image.name;
    case 'status':
      return image.status;
    case 'container_format':
      return image.containerFormat;
    case 'disk_format':
      return image.diskFormat;
    case 'size':
      return image.size;
    case 'id':
      return image.id;
    case 'created_at':
      return image.createdAt;
    case 'updated_at':
      return image.updatedAt;
  }
}

/** One image the caller may see, or `image.not_found`. */
export async function showImage(
  deps: Pick<ImageDeps, 'store'>,
  ctx: RequestContext,
  id: string,
): Promise<ImageRecord> {
  const image = await deps.store.getImage(id);
  if (image === undefined) throw imageNotFound(id);
  if (canSee(ctx, image, false)) return image;
  // NOTE: as in Glance (glance/db/utils.py is_image_visible): a shared image is visible to its
  // members whatever their status; the status decides only whether it is listed.
  if (
    image.visibility === 'shared' &&
    (await deps.store.getImageMember(id, ctx.projectId)) !== undefined
  ) {
    return image;
  }
  throw imageNotFound(id);
}

/**
 * How a patch's `add` treats what exists: RFC 6902 (Glance's v2.1 media type) replaces it; the
 * v2.0 media type (draft 4) refuses it with 409, as Glance does.
 */
export type PatchDialect = 'rfc6902' | 'draft4';

/** Applies JSON-patch changes in order; all are checked before anything is saved. */
export async function updateImage(
  deps: ImageDeps,
  ctx: RequestContext,
  id: string,
  changes: readonly ImageChange[],
  dialect: PatchDialect = 'rfc6902',
): Promise<ImageRecord> {
  const image = await writableImage(deps, ctx, id, 'update');
  let core: Record<string, unknown> = {};
  let owner = image.owner;
  const properties: Record<string, string> = { ...image.properties };
  const set: Record<string, string> = {};
  const issues: Issue[] = [];
  for (const change of changes) {
    const { name } = change;
    // Glance lets an admin give an image to another project; for anyone else it stays read-only.
    const ownerChange = name === 'owner' && isAdmin(ctx);
    if (READ_ONLY_IMAGE_ATTRIBUTES.has(name) && !ownerChange) {
      // NOTE: Glance wording (glance/api/v2/images.py).
      throw new ComputeError('image.read_only', `Attribute '${name}' is read-only.`);
    }
    const isCore = ownerChange || Object.hasOwn(IMAGE_CORE_FIELDS, name);
    if (
      dialect === 'draft4' &&
      change.op === 'add' &&
      (isCore || Object.hasOwn(properties, name))
    ) {
      // NOTE: Glance wording (glance/api/v2/images.py _do_add, JSON-schema draft 4 patches).
      throw new ComputeError('image.conflict', `Property ${name} already present.`);
    }
    if (ownerChange) {
      if (change.op === 'remove') {
        throw new ComputeError(
          'image.read_only',
          `Cannot remove attribute 'owner' of image ${id}: it is a core attribute; replace it instead`,
        );
      }
      const parsed = parseOwner(change.value, id);
      if (!parsed.ok) issues.push(parsed.issue);
      else owner = parsed.value;
      continue;
    }
    if (Object.hasOwn(IMAGE_CORE_FIELDS, name)) {
      const field = IMAGE_CORE_FIELDS[name as keyof typeof IMAGE_CORE_FIELDS];
      if (change.op === 'remove') {
        throw new ComputeError(
          'image.read_only',
          `Cannot remove attribute '${name}' of image ${id}: it is a core attribute; replace it instead`,
        );
      }
      const parsed = parseCoreValue(name, change.value, id);
      if (!parsed.ok) issues.push(parsed.issue);
      else core = { ...core, [field]: parsed.value };
      continue;
    }
    if (change.op === 'remove') {
      if (!Object.hasOwn(properties, name)) throw propertyMissing(name);
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a map keyed by property name
      delete properties[name];
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a map keyed by property name
      delete set[name];
      continue;
    }
    if (change.op === 'replace' && !Object.hasOwn(properties, name)) throw propertyMissing(name);
    if (typeof change.value !== 'string') {
      issues.push({
        code: 'request.invalid',
        path: ['image', name],
        message: `Cannot set property '${name}' of image ${id} to ${JSON.stringify(change.value)}: property values must be strings`,
      });
      continue;
    }
    properties[name] = change.value;
    set[name] = change.value;
  }
  throwIfAny(issues);
  const updated: ImageRecord = {
    ...image,
    ...(core as Partial<ImageRecord>),
    owner,
    properties,
    updatedAt: deps.clock.now().toISOString(),
  };
  if (updated.visibility !== image.visibility) checkPublicize(ctx, updated.visibility);
  checkPropertyQuota(deps.imageLimits, properties);
  if (updated.tags.length > image.tags.length) checkTagQuota(deps.imageLimits, id, updated.tags);
  throwIfAny(checkProperties(updated, set));
  await deps.store.saveImage(updated);
  return updated;
}

/** Deletes an image and its data. */
export async function deleteImage(deps: ImageDeps, ctx: RequestContext, id: string): Promise<void> {
  const image = await writableImage(deps, ctx, id, 'delete');
  if (image.protected) {
    // NOTE: Glance wording.
    throw new ComputeError('image.protected', `Image ${id} is protected and cannot be deleted.`);
  }
  if (!(await deps.store.deleteImage(id))) throw imageNotFound(id);
  if (image.dataLocation !== null) await deps.files.delete(image.dataLocation);
}

/** Images whose data is being uploaded right now, per store (one service process owns a store). */
const UPLOADING = new WeakMap<Store, Set<string>>();

/** Stores an image's data (only once, while queued), with its size and checksums; the image becomes active. */
export async function uploadImageData(
  deps: ImageDeps,
  ctx: RequestContext,
  id: string,
  chunks: AsyncIterable<Uint8Array>,
): Promise<ImageRecord> {
  const image = await writableImage(deps, ctx, id, 'upload data to');
  if (image.status !== 'queued') {
    throw new ComputeError(
      'image.conflict',
      `Cannot upload data to image ${id}: it is ${image.status} and its data was already uploaded`,
    );
  }
  const uploading = UPLOADING.get(deps.store) ?? new Set<string>();
  UPLOADING.set(deps.store, uploading);
  if (uploading.has(id)) {
    throw new ComputeError(
      'image.conflict',
      `Cannot upload data to image ${id}: another upload to it is in progress`,
    );
  }
  uploading.add(id);
  try {
    return await storeData(deps, image, chunks);
  } finally {
    uploading.delete(id);
  }
}

async function storeData(
  deps: ImageDeps,
  image: ImageRecord,
  chunks: AsyncIterable<Uint8Array>,
): Promise<ImageRecord> {
  if (image.diskFormat === null || image.containerFormat === null) {
    // NOTE: Glance wording (glance/domain ImageProxy.set_data), a 400.
    throw new ComputeError(
      'request.invalid',
      `Properties disk_format, container_format must be set prior to saving data (image ${image.id}).`,
    );
  }
  const limit = await dataLimit(deps, image);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let received = 0;
  const hashed = (async function* () {
    for await (const chunk of chunks) {
      received += chunk.byteLength;
      // Refused as soon as the data passes the limit: the rest is never written.
      if (received > limit.bytes) throw limit.exceeded();
      md5.update(chunk);
      sha512.update(chunk);
      yield chunk;
    }
  })();
  const stored = await deps.files.write(image.id, hashed);
  try {
    const outcome = await deps.inspector.inspect(stored.location, image.diskFormat);
    if (!outcome.ok) {
      throw new ComputeError(
        'image.invalid_data',
        `Cannot accept the data of image ${image.id}: it was declared disk_format ${image.diskFormat}, but ${outcome.reason}. The image stays queued with no data.`,
      );
    }
    const updated: ImageRecord = {
      ...image,
      status: 'active',
      size: stored.size,
      checksum: md5.digest('hex'),
      osHashAlgo: 'sha512',
      osHashValue: sha512.digest('hex'),
      dataLocation: stored.location,
      updatedAt: deps.clock.now().toISOString(),
    };
    await deps.store.saveImage(updated);
    return updated;
  } catch (error) {
    await deps.files.delete(stored.location);
    throw error;
  }
}

/** How many bytes an upload may bring: the size cap, or what the owner's storage quota leaves. */
async function dataLimit(
  deps: ImageDeps,
  image: ImageRecord,
): Promise<{ bytes: number; exceeded: () => ComputeError }> {
  const { imageSizeCap, userStorageQuota } = deps.imageLimits;
  // NOTE: the messages begin with Glance's (glance/api/v2/image_data.py), both 413.
  const tooLarge = {
    bytes: imageSizeCap,
    exceeded: () =>
      new ComputeError(
        'image.over_limit',
        `The incoming image is too large: the data of image ${image.id} is over ${imageSizeCap} bytes (image_size_cap). The image stays queued with no data.`,
      ),
  };
  if (userStorageQuota <= 0) return tooLarge;
  const owned = await deps.store.listImages({ owner: image.owner });
  const used = owned.reduce((sum, other) => sum + (other.size ?? 0), 0);
  const left = Math.max(userStorageQuota - used, 0);
  if (left >= imageSizeCap) return tooLarge;
  return {
    bytes: left,
    exceeded: () =>
      new ComputeError(
        'image.over_limit',
        `Image exceeds the storage quota: project ${image.owner} stores ${used} bytes of image data of its ${userStorageQuota} (user_storage_quota), and the data of image ${image.id} is over the ${left} bytes left. The image stays queued with no data.`,
      ),
  };
}

/**
 * The image and its data stream; `data` is undefined when the image has no data, or when its data
 * is gone (`unreadable` then says why: the caller logs it; Glance answers both with 204). Any other
 * read failure is thrown. The first chunk is read here, so a missing file is found before any
 * response header is sent.
 */
export async function downloadImageData(
  deps: ImageDeps,
  ctx: RequestContext,
  id: string,
): Promise<{
  image: ImageRecord;
  data: AsyncIterable<Uint8Array> | undefined;
  unreadable?: string;
}> {
  const image = await showImage(deps, ctx, id);
  if (image.status === 'deactivated' && !isAdmin(ctx)) {
    // NOTE: Glance wording (glance/api/v2/image_data.py download), a 403.
    throw new ComputeError(
      'image.status_forbidden',
      `The requested image has been deactivated. Image data download is forbidden. (image ${id}; an administrator can reactivate it)`,
    );
  }
  if (image.dataLocation === null) return { image, data: undefined };
  const iterator = deps.files.read(image.dataLocation)[Symbol.asyncIterator]();
  let first: IteratorResult<Uint8Array>;
  try {
    first = await iterator.next();
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ENOENT') throw error;
    return { image, data: undefined, unreadable: (error as Error).message };
  }
  const data = (async function* () {
    if (first.done === true) return;
    yield first.value;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) {
      yield next.value;
    }
  })();
  return { image, data };
}

/** The domain Image a record describes (what designGuest() and the resolvers read). */
export function toImage(record: ImageRecord): Image {
  return {
    id: record.id,
    name: record.name ?? record.id,
    owner: record.owner,
    properties: record.properties,
  };
}

function canSee(ctx: RequestContext, image: ImageRecord, isMember: boolean): boolean {
  return (
    isAdmin(ctx) ||
    image.owner === ctx.projectId ||
    image.visibility === 'public' ||
    image.visibility === 'community' ||
    (image.visibility === 'shared' && isMember)
  );
}

export async function writableImage(
  deps: ImageDeps,
  ctx: RequestContext,
  id: string,
  action: string,
): Promise<ImageRecord> {
  const image = await showImage(deps, ctx, id);
  if (!isAdmin(ctx) && image.owner !== ctx.projectId) {
    throw new ComputeError(
      'auth.forbidden',
      `Cannot ${action} image ${id}: it belongs to project ${image.owner}, not to ${ctx.projectName}`,
    );
  }
  requireWriter(ctx, `${action} image ${id}`);
  return image;
}

function checkPublicize(ctx: RequestContext, visibility: Visibility): void {
  if (visibility === 'public' && !isAdmin(ctx)) {
    // NOTE: Glance wording (policy publicize_image).
    throw new ComputeError(
      'auth.forbidden',
      'You are not authorized to complete publicize_image action.',
    );
  }
}

/** Validates the registry-known properties among `set`, naming the image. */
function checkProperties(image: ImageRecord, set: Readonly<Record<string, string>>): Issue[] {
  return validateImageProperties({ id: image.id, name: image.name ?? image.id, properties: set });
}

/** Glance's ImagePropertyLimitExceeded: 413 with the attempted and the maximum count. */
function checkPropertyQuota(limits: ImageLimits, properties: Readonly<Record<string, string>>) {
  const attempted = Object.keys(properties).length;
  const maximum = limits.imagePropertyQuota;
  if (maximum >= 0 && attempted > maximum) {
    // NOTE: Glance wording (glance/common/exception.py ImagePropertyLimitExceeded).
    throw new ComputeError(
      'image.over_limit',
      `The limit has been exceeded on the number of allowed image properties (image_property_quota). Attempted: ${attempted}, Maximum: ${maximum}`,
    );
  }
}

/** Glance's ImageTagLimitExceeded: 413 with the attempted and the maximum count. */
export function checkTagQuota(limits: ImageLimits, id: string, tags: readonly string[]): void {
  const maximum = limits.imageTagQuota;
  if (maximum >= 0 && tags.length > maximum) {
    // NOTE: Glance wording (glance/api/v2/image_tags.py update, glance/common/exception.py).
    throw new ComputeError(
      'image.over_limit',
      `Image tag limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image tags. Attempted: ${tags.length}, Maximum: ${maximum} (image_tag_quota)`,
    );
  }
}

function throwIfAny(issues: readonly Issue[]): void {
  const [first] = issues;
  if (first !== undefined) {
    throw new ComputeError(first.code, issues.map((issue) => issue.message).join('\n'), { issues });
  }
}

/** Glance's schema for `owner`: a string of at most 255 characters. */
export function parseOwner(
  value: unknown,
  label: string,
): { ok: true; value: string } | { ok: false; issue: Issue } {
  if (typeof value === 'string' && value.length <= 255) return { ok: true, value };
  return {
    ok: false,
    issue: {
      code: 'request.invalid',
      path: ['image', 'owner'],
      message: `Cannot set the owner of image ${label} to ${JSON.stringify(value ?? null)}: it must be a project id string of at most 255 characters`,
    },
  };
}

function propertyMissing(name: string): ComputeError {
  // NOTE: Glance wording (glance/api/v2/images.py).
  return new ComputeError('image.conflict', `Property ${name} does not exist.`);
}

/** Checks one core attribute's new value; used by patches and, through the API, by creates. */
export function parseCoreValue(
  name: string,
  value: unknown,
  imageLabel: string,
): { ok: true; value: unknown } | { ok: false; issue: Issue } {
  const bad = (expected: string) => ({
    ok: false as const,
    issue: {
      code: 'request.invalid' as const,
      path: ['image', name],
      message: `Cannot set '${name}' of image ${imageLabel} to ${JSON.stringify(value)}: expected ${expected}`,
    },
  });
  switch (name) {
    case 'name':
      return value === null || (typeof value === 'string' && value.length <= 255)
        ? { ok: true, value }
        : bad('a string of at most 255 characters, or null');
    case 'visibility':
      return typeof value === 'string' && (VISIBILITIES as readonly string[]).includes(value)
        ? { ok: true, value }
        : bad(`one of ${VISIBILITIES.join(', ')}`);
    case 'protected':
    case 'os_hidden':
      return typeof value === 'boolean' ? { ok: true, value } : bad('true or false');
    case 'disk_format':
      return value === null ||
        (typeof value === 'string' && (DISK_FORMATS as readonly string[]).includes(value))
        ? { ok: true, value }
        : bad(`one of ${DISK_FORMATS.join(', ')}, or null`);
    case 'container_format':
      return value === null ||
        (typeof value === 'string' && (CONTAINER_FORMATS as readonly string[]).includes(value))
        ? { ok: true, value }
        : bad(`one of ${CONTAINER_FORMATS.join(', ')}, or null`);
    case 'min_disk':
    case 'min_ram':
      return typeof value === 'number' && Number.isInteger(value) && value >= 0
        ? { ok: true, value }
        : bad('a whole number of at least 0');
    case 'tags':
      return Array.isArray(value) && value.every((t) => typeof t === 'string' && t.length <= 255)
        ? { ok: true, value: [...new Set(value as string[])] }
        : bad('a list of strings');
    default:
      return bad('a known attribute');
  }
}

/**
 * Removes image data a crash left behind (interrupted uploads, data of images that are gone) and
 * returns what it removed, for the log. The composition root runs it at start.
 */
export async function sweepImageData(deps: Pick<ImageDeps, 'store' | 'files'>): Promise<string[]> {
  const images = await deps.store.listImages({});
  const keep = new Set(images.flatMap((image) => image.dataLocation ?? []));
  return deps.files.sweep(keep);
}
