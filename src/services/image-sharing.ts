/**
 * Glance's image sharing, tags and actions: image members (the owner shares a `shared` image with
 * a project; that project accepts, rejects or leaves it pending), tag add and remove, and
 * deactivate/reactivate. Policy is Glance's default (glance/policies/image.py, new defaults): the
 * owner project's members (or an admin) add and remove members, tags and the image's status; only
 * the member project (or an admin) sets a membership's status; a member sees only its own
 * membership. Messages begin with Glance's words, then say which image and why.
 */
import { ComputeError } from '../errors/index.js';
import {
  MEMBER_STATUSES,
  type ImageMemberRecord,
  type ImageRecord,
  type MemberStatus,
} from '../ports/store.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';
import { checkTagQuota, showImage, writableImage, type ImageDeps } from './images.js';

export { MEMBER_STATUSES, type ImageMemberRecord, type MemberStatus } from '../ports/store.js';

/** Glance's schema for a tag: a string of at most 255 characters. */
export const TAG_MAX_LENGTH = 255;

function onlyShared(image: ImageRecord, prefix: string): ComputeError | undefined {
  if (image.visibility === 'shared') return undefined;
  // NOTE: Glance wording (glance/api/v2/image_members.py _check_visibility_and_ownership).
  return new ComputeError(
    'auth.forbidden',
    `${prefix}: Only shared images have members. Image ${image.id} is ${image.visibility}; set its visibility to shared first.`,
  );
}

function memberNotFound(imageId: string, memberId: string): ComputeError {
  // NOTE: Glance wording (glance/api/v2/image_members.py _lookup_member).
  return new ComputeError(
    'image.member_not_found',
    `${memberId} not found in the member list of the image ${imageId}.`,
  );
}

/** Whether the caller may see this membership: admins, the image's owner, the member itself. */
function seesMember(ctx: RequestContext, image: ImageRecord, memberId: string): boolean {
  return isAdmin(ctx) || image.owner === ctx.projectId || memberId === ctx.projectId;
}

/** Shares a shared image with a project, as pending; the owner project (or an admin) only. */
export async function addImageMember(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  memberId: string,
): Promise<ImageMemberRecord> {
  const image = await showImage(deps, ctx, imageId);
  const prefix = `Not allowed to create members for image ${imageId}`;
  const notShared = onlyShared(image, prefix);
  if (notShared !== undefined) throw notShared;
  if (!isAdmin(ctx) && image.owner !== ctx.projectId) {
    throw new ComputeError(
      'auth.forbidden',
      `${prefix}: it belongs to project ${image.owner}; only its owner shares it.`,
    );
  }
  requireWriter(ctx, `share image ${imageId}`);
  const now = deps.clock.now().toISOString();
  const member: ImageMemberRecord = {
    imageId,
    memberId,
    status: 'pending',
    createdAt: now,
    updatedAt: now,
  };
  const limit = deps.imageLimits.imageMemberQuota;
  await deps.store.addImageMember(member, limit < 0 ? Number.MAX_SAFE_INTEGER : limit);
  return member;
}

/** The members of a shared image the caller may see (a member sees only itself). */
export async function listImageMembers(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
): Promise<ImageMemberRecord[]> {
  const image = await showImage(deps, ctx, imageId);
  const notShared = onlyShared(image, `Not allowed to list members for image ${imageId}`);
  if (notShared !== undefined) throw notShared;
  const members = await deps.store.listImageMembers(imageId);
  return members.filter((m) => seesMember(ctx, image, m.memberId));
}

/** One membership; 404 when the caller may not see it (Glance hides it as not found). */
export async function showImageMember(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  memberId: string,
): Promise<ImageMemberRecord> {
  const image = await showImage(deps, ctx, imageId);
  if (image.visibility !== 'shared') {
    // NOTE: Glance answers 404 here, to leak nothing (glance/api/v2/image_members.py show).
    throw new ComputeError(
      'image.member_not_found',
      `Only shared images have members. Image ${imageId} is ${image.visibility}, so ${memberId} is not in its member list.`,
    );
  }
  const member = seesMember(ctx, image, memberId)
    ? await deps.store.getImageMember(imageId, memberId)
    : undefined;
  if (member === undefined) throw memberNotFound(imageId, memberId);
  return member;
}

/** Parses a membership status as Glance does, naming the value. */
export function parseMemberStatus(value: unknown): MemberStatus {
  if (typeof value === 'string' && (MEMBER_STATUSES as readonly string[]).includes(value)) {
    return value as MemberStatus;
  }
  // NOTE: Glance wording (glance/api/v2/image_members.py update, glance/domain ImageMember).
  throw new ComputeError(
    'request.invalid',
    `Incorrect request: Status must be "pending", "accepted" or "rejected". Value: ${JSON.stringify(value)}`,
  );
}

/** Sets a membership's status: the member project (or an admin) only, never the owner. */
export async function updateImageMemberStatus(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  memberId: string,
  status: MemberStatus,
): Promise<ImageMemberRecord> {
  const image = await showImage(deps, ctx, imageId);
  const prefix = `Not allowed to update members for image ${imageId}`;
  const notShared = onlyShared(image, prefix);
  if (notShared !== undefined) throw notShared;
  if (!isAdmin(ctx) && image.owner === ctx.projectId && memberId !== ctx.projectId) {
    // NOTE: Glance's reason: "You are not permitted to modify 'status' on this image member."
    throw new ComputeError(
      'auth.forbidden',
      `${prefix}: You are not permitted to modify 'status' on this image member; only project ${memberId} accepts or rejects the image.`,
    );
  }
  if (!seesMember(ctx, image, memberId)) throw memberNotFound(imageId, memberId);
  requireWriter(ctx, `update the membership of image ${imageId}`);
  const updated = await deps.store.setImageMemberStatus(
    imageId,
    memberId,
    status,
    deps.clock.now().toISOString(),
  );
  if (updated === undefined) throw memberNotFound(imageId, memberId);
  return updated;
}

/** Removes a membership: the owner project (or an admin) only. */
export async function deleteImageMember(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  memberId: string,
): Promise<void> {
  const image = await showImage(deps, ctx, imageId);
  const prefix = `Not allowed to delete members for image ${imageId}`;
  const notShared = onlyShared(image, prefix);
  if (notShared !== undefined) throw notShared;
  if (!seesMember(ctx, image, memberId)) throw memberNotFound(imageId, memberId);
  if (!isAdmin(ctx) && image.owner !== ctx.projectId) {
    // NOTE: Glance's reason: "You cannot delete image member."
    throw new ComputeError(
      'auth.forbidden',
      `${prefix}: You cannot delete image member; only the owner project ${image.owner} removes members.`,
    );
  }
  requireWriter(ctx, `remove a member of image ${imageId}`);
  if (!(await deps.store.deleteImageMember(imageId, memberId))) {
    throw memberNotFound(imageId, memberId);
  }
}

/** Adds a tag (once; adding it again changes nothing), within image_tag_quota. */
export async function addImageTag(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  tag: string,
): Promise<ImageRecord> {
  if (tag.length > TAG_MAX_LENGTH) {
    // NOTE: Glance validates the tag against its image schema (a 400).
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute tags. Value: ${JSON.stringify(tag)}. Tags of image ${imageId} are at most ${TAG_MAX_LENGTH} characters long.`,
    );
  }
  const image = await writableImage(deps, ctx, imageId, 'update tags of');
  if (image.tags.includes(tag)) return image;
  const tags = [...image.tags, tag];
  checkTagQuota(deps.imageLimits, imageId, tags);
  const updated: ImageRecord = { ...image, tags, updatedAt: deps.clock.now().toISOString() };
  await deps.store.saveImage(updated);
  return updated;
}

/** Removes a tag; `image.tag_not_found` when the image does not have it. */
export async function deleteImageTag(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  tag: string,
): Promise<ImageRecord> {
  const image = await writableImage(deps, ctx, imageId, 'delete tags of');
  if (!image.tags.includes(tag)) {
    throw new ComputeError(
      'image.tag_not_found',
      `Image ${imageId} has no tag ${JSON.stringify(tag)}.`,
    );
  }
  const updated: ImageRecord = {
    ...image,
    tags: image.tags.filter((t) => t !== tag),
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.saveImage(updated);
  return updated;
}

/**
 * Glance's deactivate and reactivate actions: active ⇄ deactivated (the same status again changes
 * nothing); any other status is a 403. The owner project's members or an admin may do it.
 */
export async function setImageActivation(
  deps: ImageDeps,
  ctx: RequestContext,
  imageId: string,
  action: 'deactivate' | 'reactivate',
): Promise<ImageRecord> {
  const image = await showImage(deps, ctx, imageId);
  if (!isAdmin(ctx) && (image.owner !== ctx.projectId || !ctx.roles.includes('member'))) {
    // NOTE: Glance wording (oslo.policy's PolicyNotAuthorized, glance/policies/image.py).
    throw new ComputeError(
      'auth.forbidden',
      `You are not authorized to complete ${action} action. (image ${imageId} belongs to project ${image.owner})`,
    );
  }
  const [from, to] =
    action === 'deactivate'
      ? (['active', 'deactivated'] as const)
      : (['deactivated', 'active'] as const);
  if (image.status === to) return image;
  if (image.status !== from) {
    // NOTE: Glance wording (glance/domain/__init__.py Image.deactivate/reactivate), a 403.
    throw new ComputeError(
      'image.status_forbidden',
      `Not allowed to ${action} image in status '${image.status}' (image ${imageId}; only an image in status '${from}' can be ${action}d)`,
    );
  }
  const updated: ImageRecord = {
    ...image,
    status: to,
    updatedAt: deps.clock.now().toISOString(),
  };
  await deps.store.saveImage(updated);
  return updated;
}
