/**
 * What a server hands its guest (issue 16): the key pair, the user data and the config drive that
 * carries them, and the kernel and ramdisk of a kernel boot. Checked when a server is created or
 * rebuilt, kept on its record, and turned into the agent's build request.
 */
import { ComputeError } from '../errors/index.js';
import { guestHostname } from '../design/index.js';
import type { ConfigDriveData } from '../ports/compute-agent.js';
import type { ImageRecord, ServerBootImages, ServerRecord, Store } from '../ports/store.js';
import type { RequestContext } from './identity.js';
import { showImage } from './images.js';

/** The guest data a create or rebuild request gives (shape-checked by the API). */
export interface GuestDataRequest {
  /** A key pair of the caller's; null (rebuild only) takes the key away. */
  readonly keyName?: string | null;
  /** Base64 user data; null (rebuild only) takes it away. */
  readonly userData?: string | null;
  /** Nova's config_drive (create only). */
  readonly configDrive?: boolean;
  /**
   * Nova's adminPass. vpmu delivers it the one way it reaches a guest without an agent: on the
   * config drive (meta_data.json `admin_pass`), so asking for it gives the server one.
   */
  readonly adminPass?: string;
}

/** The record fields guest data sets. */
export type GuestDataFields = Pick<
  ServerRecord,
  'keypair' | 'userData' | 'configDrive' | 'bootImages'
>;

/** What resolving guest data needs. */
export interface GuestDataDeps {
  readonly store: Store;
  /** The operator's setting: every server gets a config drive (Nova's force_config_drive). */
  readonly forceConfigDrive?: boolean | undefined;
}

/** vpmu's availability zone as the guest is told it. */
const GUEST_AVAILABILITY_ZONE = 'nova';

/**
 * The record fields for a create (`current` undefined) or a rebuild of `current` on `image`: the
 * key pair looked up (400 when the caller has none of that name, Nova's KeypairNotFound), the user
 * data, whether the server has a config drive, and the kernel boot's images (400 when kernel_id or
 * ramdisk_id names no active image the caller can use).
 */
export async function resolveGuestData(
  deps: GuestDataDeps,
  ctx: RequestContext,
  request: GuestDataRequest,
  image: ImageRecord,
  current?: ServerRecord,
): Promise<GuestDataFields> {
  let keypair = current?.keypair ?? null;
  if (request.keyName === null) keypair = null;
  else if (request.keyName !== undefined) {
    const found = await deps.store.getKeypair(ctx.userId, request.keyName);
    if (found === undefined) {
      // NOTE: Nova wording (nova/exception.py KeypairNotFound), a 400 on create and rebuild.
      throw new ComputeError(
        'request.invalid',
        `Keypair ${request.keyName} not found for user ${ctx.userId}`,
      );
    }
    keypair = { name: found.name, type: found.type, publicKey: found.publicKey };
  }
  const userData = request.userData === undefined ? (current?.userData ?? null) : request.userData;
  const configDrive =
    request.configDrive === true ||
    request.adminPass !== undefined ||
    current?.configDrive === true ||
    image.properties.img_config_drive === 'mandatory' ||
    deps.forceConfigDrive === true;
  const bootImages = await lookupBootImages(deps, ctx, image);
  return { keypair, userData, configDrive, bootImages: bootImages ?? null };
}

async function lookupBootImages(
  deps: GuestDataDeps,
  ctx: RequestContext,
  image: ImageRecord,
): Promise<ServerBootImages | undefined> {
  const kernelId = image.properties.kernel_id;
  if (kernelId === undefined) return undefined;
  const kernel = await bootImage(deps, ctx, image, 'kernel_id', kernelId);
  const ramdiskId = image.properties.ramdisk_id;
  const ramdisk =
    ramdiskId === undefined
      ? undefined
      : await bootImage(deps, ctx, image, 'ramdisk_id', ramdiskId);
  return { kernel, ...(ramdisk === undefined ? {} : { ramdisk }) };
}

async function bootImage(
  deps: GuestDataDeps,
  ctx: RequestContext,
  image: ImageRecord,
  property: string,
  id: string,
): Promise<{ id: string; dataLocation: string }> {
  const problem = (why: string) =>
    new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute imageRef. Value: ${image.id}. Image '${image.name ?? image.id}' has ${property} ${id}, ${why}`,
    );
  let found: ImageRecord;
  try {
    found = await showImage(deps, ctx, id);
  } catch (error) {
    if (error instanceof ComputeError && error.code === 'image.not_found') {
      throw problem('which is no image you can use');
    }
    throw error;
  }
  if (found.status !== 'active' || found.dataLocation === null) {
    throw problem(`which is ${found.status}, not active with its data uploaded`);
  }
  return { id: found.id, dataLocation: found.dataLocation };
}

/** The boot files of a server's kernel boot, as host paths. */
export function bootFilesOf(
  server: Pick<ServerRecord, 'bootImages'>,
  imageFile: (dataLocation: string) => string,
): { kernel: string; ramdisk?: string } | undefined {
  const images = server.bootImages ?? undefined;
  if (images === undefined) return undefined;
  return {
    kernel: imageFile(images.kernel.dataLocation),
    ...(images.ramdisk === undefined ? {} : { ramdisk: imageFile(images.ramdisk.dataLocation) }),
  };
}

/**
 * What the server's config drive says (the agent adds the vPMU); undefined when it has none.
 * `adminPass` is the create's or rebuild's, which is never stored.
 */
export function configDriveDataOf(
  server: ServerRecord,
  adminPass?: string,
): ConfigDriveData | undefined {
  if (server.configDrive !== true) return undefined;
  const key = server.keypair ?? undefined;
  return {
    uuid: server.id,
    name: server.name,
    hostname: guestHostname(server.name),
    projectId: server.projectId,
    availabilityZone: server.availabilityZone ?? GUEST_AVAILABILITY_ZONE,
    launchIndex: server.launchIndex ?? 0,
    reservationId: server.reservationId ?? '',
    flavorName: server.flavor.name,
    metadata: { ...(server.metadata ?? {}) },
    key:
      key === undefined ? undefined : { name: key.name, type: key.type, publicKey: key.publicKey },
    userData: server.userData ?? undefined,
    ...(adminPass === undefined ? {} : { adminPass }),
  };
}
