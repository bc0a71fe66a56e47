/** The errors every Store adapter and the services raise for missing or duplicate records. */
import { ComputeError } from '../errors/index.js';

// NOTE: Nova wording for the flavor messages (nova/exception.py FlavorIdExists, FlavorExists).
/** `flavor.exists` for a taken id. */
export function flavorIdExists(id: string): ComputeError {
  return new ComputeError('flavor.exists', `Flavor with ID ${id} already exists.`);
}

/** `flavor.exists` for a taken name. */
export function flavorNameExists(name: string): ComputeError {
  return new ComputeError('flavor.exists', `Flavor with name ${name} already exists.`);
}

/** `flavor.not_found`, Nova's FlavorNotFound. */
export function flavorNotFound(id: string): ComputeError {
  return new ComputeError('flavor.not_found', `Flavor ${id} could not be found.`);
}

/** `flavor.access_exists`, Nova's FlavorAccessExists. */
export function flavorAccessExists(flavorId: string, projectId: string): ComputeError {
  return new ComputeError(
    'flavor.access_exists',
    `Flavor access already exists for flavor ${flavorId} and project ${projectId} combination.`,
  );
}

/** `image.exists`, Glance's Duplicate. */
export function imageExists(id: string): ComputeError {
  return new ComputeError('image.exists', `Image with identifier ${id} already exists!`);
}

/** `image.not_found`, Glance's wording. */
export function imageNotFound(id: string): ComputeError {
  return new ComputeError('image.not_found', `No image found with ID ${id}`);
}

/** `server.exists`: a server id is taken (ids are uuids, so this is a bug or a replay). */
export function serverExists(id: string): ComputeError {
  return new ComputeError('server.exists', `Server with ID ${id} already exists.`);
}

/**
 * `server.conflict`: the server changed (another request or process saved it) since this one read
 * it, in a way that makes this change stale.
 */
export function serverConflict(id: string): ComputeError {
  return new ComputeError(
    'server.conflict',
    `Conflict updating instance ${id}: it was changed by another request. Retry the request.`,
  );
}

// NOTE: Nova wording (nova/exception.py InstanceNotFound).
/** `server.not_found`, Nova's InstanceNotFound. */
export function serverNotFound(id: string): ComputeError {
  return new ComputeError('server.not_found', `Instance ${id} could not be found.`);
}

/** `server.group_exists`: a server group id is taken (ids are uuids: a bug or a replay). */
export function serverGroupExists(id: string): ComputeError {
  return new ComputeError('server.group_exists', `Server group ${id} already exists.`);
}

// NOTE: Nova wording (nova/exception.py KeyPairExists, KeypairLimitExceeded).
/** `keypair.exists`: the user already has a key pair of this name. */
export function keypairExists(name: string): ComputeError {
  return new ComputeError('keypair.exists', `Key pair '${name}' already exists.`);
}

/** `keypair.quota_exceeded`: the user holds Nova's default key_pairs quota already. */
export function keypairQuotaExceeded(): ComputeError {
  return new ComputeError('keypair.quota_exceeded', 'Quota exceeded, too many key pairs.');
}

// NOTE: Glance wording (glance/api/v2/image_members.py create, glance/common/exception.py).
/** `image.member_exists`: the project is a member of the image already. */
export function imageMemberExists(imageId: string, memberId: string): ComputeError {
  return new ComputeError(
    'image.member_exists',
    `Member ${memberId} is duplicated for image ${imageId}`,
  );
}

/** `image.over_limit`: Glance's ImageMemberLimitExceeded (image_member_quota). */
export function imageMemberLimitExceeded(
  imageId: string,
  attempted: number,
  maximum: number,
): ComputeError {
  return new ComputeError(
    'image.over_limit',
    `Image member limit exceeded for image ${imageId}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${attempted}, Maximum: ${maximum} (image_member_quota)`,
  );
}

/** `metadef.exists`: Glance's MetadefDuplicateNamespace. */
export function metadefNamespaceExists(name: string): ComputeError {
  return new ComputeError(
    'metadef.exists',
    `The metadata definition namespace=${name} already exists.`,
  );
}

/** `metadef.not_found`: Glance's MetadefNamespaceNotFound. */
export function metadefNamespaceNotFound(name: string): ComputeError {
  return new ComputeError(
    'metadef.not_found',
    `Metadata definition namespace=${name} was not found.`,
  );
}

/** `identity.conflict` in Keystone's words, for a name already taken. */
export function identityNameExists(
  kind: string,
  name: string,
  scope = 'at domain ID default',
): ComputeError {
  // NOTE: Keystone wording (keystone/exception.py Conflict).
  return new ComputeError(
    'identity.conflict',
    `Conflict occurred attempting to store ${kind} - Duplicate entry found with name ${name} ${scope}.`,
  );
}

// NOTE: Nova wording (nova/exception.py AggregateNameExists, AggregateNotFound).
/** `aggregate.exists`: an aggregate of this name exists. */
export function aggregateNameExists(name: string): ComputeError {
  return new ComputeError('aggregate.exists', `Aggregate ${name} already exists.`);
}

/** `aggregate.not_found`, Nova's AggregateNotFound. */
export function aggregateNotFound(id: number | string): ComputeError {
  return new ComputeError('aggregate.not_found', `Aggregate ${id} could not be found.`);
}
