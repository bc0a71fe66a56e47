/**
 * Glance v2 image members, image tags and image actions, under `/image/v2/images/{id}`:
 * `members` (add, list, show, update status, delete), `tags/{tag}` (PUT, DELETE) and
 * `actions/deactivate|reactivate`. Request parsing and views here; rules in
 * services/image-sharing.ts.
 */
import type { Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  addImageMember,
  addImageTag,
  deleteImageMember,
  deleteImageTag,
  listImageMembers,
  parseMemberStatus,
  setImageActivation,
  showImageMember,
  updateImageMemberStatus,
  type ImageMemberRecord,
} from '../services/index.js';
import { caller, readJsonObject } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';

/** Glance prints seconds: 2026-01-01T00:00:00Z. */
export function glanceTime(iso: string): string {
  return iso.replace(/\.\d+Z$/u, 'Z');
}

function memberView(member: ImageMemberRecord): Record<string, unknown> {
  return {
    member_id: member.memberId,
    image_id: member.imageId,
    status: member.status,
    created_at: glanceTime(member.createdAt),
    updated_at: glanceTime(member.updatedAt),
    schema: '/v2/schemas/member',
  };
}

/** Adds the member, tag and action routes to the image app (mounted at `/image`). */
export function addImageSharingRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  app.get('/v2/images/:id/members', async (c) => {
    const members = await listImageMembers(deps, caller(c), c.req.param('id'));
    return c.json({ members: members.map(memberView), schema: '/v2/schemas/members' });
  });

  app.post('/v2/images/:id/members', async (c) => {
    const id = c.req.param('id');
    const body = await readJsonObject(c, 'object like {"member": "<project id>"}');
    // NOTE: Glance wording (glance/api/v2/image_members.py RequestDeserializer.create).
    if (!Object.hasOwn(body, 'member')) {
      throw new ComputeError(
        'request.invalid',
        `Member to be added not specified: the body must be {"member": "<project id>"} (image ${id}).`,
      );
    }
    const { member } = body;
    if (member === '' || member === null) {
      throw new ComputeError('request.invalid', `Member can't be empty (image ${id}).`);
    }
    if (typeof member !== 'string' || member.length > 255) {
      throw new ComputeError(
        'request.invalid',
        `Invalid input for field/attribute member. Value: ${JSON.stringify(member)}. A member of image ${id} is a project id: a string of at most 255 characters.`,
      );
    }
    const unknown = Object.keys(body).filter((key) => key !== 'member');
    if (unknown.length > 0) {
      throw new ComputeError(
        'request.invalid',
        `Cannot add a member to image ${id}: unknown field(s) ${unknown.join(', ')}; the body is {"member": "<project id>"}.`,
      );
    }
    const added = await addImageMember(deps, caller(c), id, member);
    return c.json(memberView(added));
  });

  app.get('/v2/images/:id/members/:member', async (c) =>
    c.json(
      memberView(await showImageMember(deps, caller(c), c.req.param('id'), c.req.param('member'))),
    ),
  );

  app.put('/v2/images/:id/members/:member', async (c) => {
    const id = c.req.param('id');
    const body = await readJsonObject(c, 'object like {"status": "accepted"}');
    if (!Object.hasOwn(body, 'status')) {
      // NOTE: Glance wording (glance/api/v2/image_members.py RequestDeserializer.update).
      throw new ComputeError(
        'request.invalid',
        `Status not specified: the body must be {"status": "pending" | "accepted" | "rejected"} (image ${id}).`,
      );
    }
    const memberId = c.req.param('member');
    const unknown = Object.keys(body).filter((key) => key !== 'status' && key !== 'member');
    if (unknown.length > 0) {
      throw new ComputeError(
        'request.invalid',
        `Cannot update a member of image ${id}: unknown field(s) ${unknown.join(', ')}; the body is {"status": "<status>"}.`,
      );
    }
    // openstacksdk sends the member id again beside the status; it must name the same member.
    if (Object.hasOwn(body, 'member') && body.member !== memberId) {
      throw new ComputeError(
        'request.invalid',
        `Invalid input for field/attribute member. Value: ${JSON.stringify(body.member)}. The request updates member ${memberId} of image ${id}; the body may only name that member.`,
      );
    }
    const status = parseMemberStatus(body.status);
    const updated = await updateImageMemberStatus(deps, caller(c), id, memberId, status);
    return c.json(memberView(updated));
  });

  app.delete('/v2/images/:id/members/:member', async (c) => {
    await deleteImageMember(deps, caller(c), c.req.param('id'), c.req.param('member'));
    return c.body(null, 204);
  });

  app.put('/v2/images/:id/tags/:tag', async (c) => {
    const image = await addImageTag(deps, caller(c), c.req.param('id'), c.req.param('tag'));
    deps.onImageUpdate?.(image);
    return c.body(null, 204);
  });

  app.delete('/v2/images/:id/tags/:tag', async (c) => {
    const image = await deleteImageTag(deps, caller(c), c.req.param('id'), c.req.param('tag'));
    deps.onImageUpdate?.(image);
    return c.body(null, 204);
  });

  for (const action of ['deactivate', 'reactivate'] as const) {
    app.post(`/v2/images/:id/actions/${action}`, async (c) => {
      const image = await setImageActivation(deps, caller(c), c.req.param('id'), action);
      deps.onImageUpdate?.(image);
      return c.body(null, 204);
    });
  }
}
