/**
 * The checks and lookups the server use cases share, and the errors they answer with: what a
 * request names (flavor, image, group, hints) must exist and fit before anything is recorded.
 */
import type { Image } from '../domain/index.js';
import { ComputeError, HypervisorError, speaksOfHost } from '../errors/index.js';
import type { ActionContext } from '../notifications/index.js';
import type {
  FlavorRecord,
  ImageRecord,
  ServerImage,
  ServerRecord,
  Store,
} from '../ports/store.js';
import { showFlavor, type FlavorDeps } from './flavors.js';
import type { RequestContext } from './identity.js';
import { showImage } from './images.js';

/** Per-call facts for notifications. */
export interface CallInfo {
  readonly requestId?: string | undefined;
}

export function actionContext(ctx: RequestContext, call: CallInfo): ActionContext {
  return { requestId: call.requestId ?? null, userId: ctx.userId, projectId: ctx.projectId };
}

export async function lookupFlavor(
  deps: FlavorDeps,
  ctx: RequestContext,
  id: string,
): Promise<FlavorRecord> {
  try {
    return await showFlavor(deps, ctx, id);
  } catch (error) {
    // NOTE: Nova answers a bad flavorRef with 400 (FlavorNotFound → HTTPBadRequest).
    if (error instanceof ComputeError && error.code === 'flavor.not_found') {
      throw new ComputeError('request.invalid', `Flavor ${id} could not be found.`);
    }
    throw error;
  }
}

export async function lookupImage(
  deps: { readonly store: Store },
  ctx: RequestContext,
  id: string,
): Promise<ImageRecord> {
  let image: ImageRecord;
  try {
    image = await showImage(deps, ctx, id);
  } catch (error) {
    // NOTE: Nova wording (nova/exception.py ImageNotFound), answered with 400 on create.
    if (error instanceof ComputeError && error.code === 'image.not_found') {
      throw new ComputeError('request.invalid', `Image ${id} could not be found.`);
    }
    throw error;
  }
  if (image.status !== 'active') {
    // NOTE: Nova wording (nova/exception.py ImageNotActive).
    throw new ComputeError(
      'request.invalid',
      image.status === 'deactivated'
        ? `Image ${id} is not active. It is deactivated; its owner or an administrator can reactivate it.`
        : `Image ${id} is not active. Upload its data (openstack image create --file, or PUT /image/v2/images/${id}/file) before booting from it.`,
    );
  }
  return image;
}

export function toServerImage(image: ImageRecord): ServerImage {
  return {
    id: image.id,
    name: image.name ?? image.id,
    owner: image.owner,
    properties: { ...image.properties },
    dataLocation: image.dataLocation,
    diskFormat: image.diskFormat,
    minRamMiB: image.minRamMiB,
    minDiskGiB: image.minDiskGiB,
    sizeBytes: image.size,
  };
}

const GIB = 1024 ** 3;

/**
 * Nova's flavor-against-image checks on boot, rebuild and resize (nova/compute/api.py): the
 * image's min_ram against the flavor's RAM; with a flavor disk (0 skips these, as in Nova) the
 * image data's size and min_disk against it. Messages are Nova's (nova/exception.py).
 */
export function checkImageFits(flavor: FlavorRecord, image: ServerImage): void {
  const minRam = image.minRamMiB ?? 0;
  if (minRam > flavor.memoryMiB) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's memory is too small for requested image. Flavor '${flavor.name}' has ${flavor.memoryMiB} MB, image ${image.id} needs min_ram ${minRam} MB.`,
    );
  }
  if (flavor.diskGiB === 0) return;
  const disk = flavor.diskGiB * GIB;
  const size = image.sizeBytes ?? 0;
  if (size > disk) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's disk is too small for requested image. Flavor disk is ${disk} bytes, image is ${size} bytes.`,
    );
  }
  const minDisk = (image.minDiskGiB ?? 0) * GIB;
  if (minDisk > disk) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${disk} bytes, minimum size is ${minDisk} bytes.`,
    );
  }
}

/** The keys of `changes` that are set (an absent field changes nothing). */
export function definedOnly<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

export function serverImageToImage(image: ServerImage): Image {
  return { id: image.id, name: image.name, owner: image.owner, properties: image.properties };
}

export function resourcesOf(flavor: FlavorRecord): {
  VCPU: number;
  MEMORY_MB: number;
  DISK_GB: number;
} {
  return { VCPU: flavor.vcpus, MEMORY_MB: flavor.memoryMiB, DISK_GB: flavor.diskGiB };
}

// NOTE: Nova wording (nova/exception.py InstanceInvalidState).
export function invalidState(server: ServerRecord, action: string): ComputeError {
  return new ComputeError(
    'server.invalid_state',
    `Cannot '${action}' instance ${server.id} while it is in vm_state ${server.vmState} (status ${server.status}).`,
  );
}

export function buildFailed(server: ServerRecord): ComputeError {
  return new ComputeError(
    'server.build_failed',
    server.fault?.message ?? `Server ${server.id} failed; it is in ERROR.`,
  );
}

export function orThrowIssue(issues: readonly { code: string; message: string }[]): ComputeError {
  const message = issues.map((i) => i.message).join('\n');
  return new ComputeError('scheduler.no_valid_host', message);
}

/**
 * The fault a failure leaves on a server. Only vpmu's own coded errors tell a tenant their
 * message, and only when it is about the request rather than the host; anything else (a
 * SqliteError, a Node ENOENT naming a host path) is a generic fault, its words for admins alone.
 */
export function faultOf(
  error: unknown,
  serverId: string,
  operation: string,
): { message: string; errorCode: string; details: string } {
  const details = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (!(error instanceof ComputeError)) {
    return {
      message: `Unexpected error during ${operation} of server ${serverId}; the service log has the details.`,
      errorCode: 'internal.unexpected',
      details,
    };
  }
  // Inside a build, input.* errors are about host files (the image data, the domain) too.
  if (!speaksOfHost(error.code) && !error.code.startsWith('input.')) {
    // A failure that wraps another (a build that failed on every host) shows admins the cause.
    const cause =
      error.cause instanceof Error ? ` Cause: ${error.cause.name}: ${error.cause.message}` : '';
    return { message: error.message, errorCode: error.code, details: `${error.message}${cause}` };
  }
  const what =
    error instanceof HypervisorError
      ? `the hypervisor could not ${error.operation} its guest`
      : error.code.startsWith('disk.')
        ? 'its root disk could not be prepared'
        : 'its compute host failed';
  return {
    message: `The ${operation} of server ${serverId} failed: ${what}. An administrator can see the cause in the fault details.`,
    errorCode: error.code,
    details: error.message,
  };
}

export function invalidHostHint(hint: string, serverId: string, serverName: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute os:scheduler_hints.${hint}. Value: ${serverId}. Server '${serverName}' cannot be placed relative to server ${serverId}: Instance ${serverId} could not be found.`,
  );
}

// NOTE: Nova refuses a hint naming a group that does not exist with a 400.
export function invalidGroup(groupId: string, serverName: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute os:scheduler_hints.group. Value: ${groupId}. Server '${serverName}' cannot join server group ${groupId}: Instance group ${groupId} could not be found.`,
  );
}
