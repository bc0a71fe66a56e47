import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor } from '../testing/server-calls.js';
import { GLANCE_IMAGE_LIMITS } from '../services/index.js';

type Who = 'admin' | 'member' | 'reader' | 'other';

function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

async function projectId(api: TestApi, name: string): Promise<string> {
  const id = (await api.store.findProject(name, 'default'))?.id;
  assert.ok(id !== undefined, name);
  return id;
}

/** An image of project demo (user member), with data, shared by default. */
async function sharedImage(api: TestApi, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api.request('POST', '/image/v2/images', {
    as: 'member',
    body: { name: 'shared', disk_format: 'raw', container_format: 'bare', ...body },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = (res.body as { id: string }).id;
  const put = await api.request('PUT', `/image/v2/images/${id}/file`, {
    as: 'member',
    rawBody: new Uint8Array(1024),
  });
  assert.equal(put.status, 204, put.text);
  return id;
}

async function listedIds(api: TestApi, as: Who, query = ''): Promise<string[]> {
  const res = await api.request('GET', `/image/v2/images${query}`, { as });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { images: { id: string }[] }).images.map((i) => i.id);
}

describe('image members', () => {
  it('shares an image: pending, accepted, rejected and removed, as Glance lists and shows it', async () => {
    const api = await makeTestApi();
    const other = await projectId(api, 'other');
    const id = await sharedImage(api);
    const added = await api.request('POST', `/image/v2/images/${id}/members`, {
      as: 'member',
      body: { member: other },
    });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.deepEqual(added.body, {
      member_id: other,
      image_id: id,
      status: 'pending',
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      schema: '/v2/schemas/member',
    });
    // A pending member sees the image by id, but lists it only when it asks for pending ones.
    assert.equal((await api.request('GET', `/image/v2/images/${id}`, { as: 'other' })).status, 200);
    // prettier-ignore
    const LISTS: [string, string, boolean][] = [
      ['pending', '', false],
      ['pending', '?member_status=pending&visibility=shared', true],
      ['pending', '?member_status=all', true],
      ['pending', '?member_status=accepted', false],
      ['accepted', '', true],
      ['accepted', '?visibility=shared', true],
      ['accepted', '?member_status=pending', false],
      ['rejected', '', false],
      ['rejected', '?member_status=rejected', true],
    ];
    for (const [status, query, listed] of LISTS) {
      const set = await api.request('PUT', `/image/v2/images/${id}/members/${other}`, {
        as: 'other',
        body: { status },
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal((set.body as { status: string }).status, status);
      assert.equal(
        (await listedIds(api, 'other', query)).includes(id),
        listed,
        `${status} ${query}`,
      );
    }
    // The owner still lists its image whatever the members do; the reader of the owner project too.
    assert.ok((await listedIds(api, 'member')).includes(id));
    assert.ok((await listedIds(api, 'reader')).includes(id));
    const members = await api.request('GET', `/image/v2/images/${id}/members`, { as: 'member' });
    assert.deepEqual(
      (members.body as { members: { member_id: string; status: string }[] }).members.map((m) => [
        m.member_id,
        m.status,
      ]),
      [[other, 'rejected']],
    );
    assert.equal((members.body as { schema: string }).schema, '/v2/schemas/members');
    const shown = await api.request('GET', `/image/v2/images/${id}/members/${other}`, {
      as: 'other',
    });
    assert.equal((shown.body as { status: string }).status, 'rejected');
    const removed = await api.request('DELETE', `/image/v2/images/${id}/members/${other}`, {
      as: 'member',
    });
    assert.equal(removed.status, 204);
    assert.equal((await api.request('GET', `/image/v2/images/${id}`, { as: 'other' })).status, 404);
    assert.equal((await listedIds(api, 'other', '?member_status=all')).includes(id), false);
  });

  it('refuses what Glance refuses, with its status and words', async () => {
    const api = await makeTestApi({ imageLimits: { ...GLANCE_IMAGE_LIMITS, imageMemberQuota: 2 } });
    const other = await projectId(api, 'other');
    const admin = await projectId(api, 'admin');
    const id = await sharedImage(api);
    const priv = await sharedImage(api, { visibility: 'private' });
    const add = (as: Who, image: string, body: unknown) =>
      api.request('POST', `/image/v2/images/${image}/members`, { as, body });
    assert.equal((await add('member', id, { member: other })).status, 200);
    // prettier-ignore
    const CASES: [string, () => ReturnType<TestApi['request']>, number, RegExp][] = [
      ['a duplicate member', () => add('member', id, { member: other }), 409, new RegExp(`Member ${other} is duplicated for image ${id}`, 'u')],
      ['a private image', () => add('member', priv, { member: other }), 403, /Only shared images have members/u],
      ['a member sharing it on', () => add('other', id, { member: admin }), 403, /Not allowed to create members for image/u],
      ['a reader of the owner', () => add('reader', id, { member: admin }), 403, /reader role/u],
      ['no member field', () => add('member', id, {}), 400, /Member to be added not specified/u],
      ['an empty member', () => add('member', id, { member: '' }), 400, /Member can't be empty/u],
      ['a member that is not a string', () => add('member', id, { member: 5 }), 400, /field\/attribute member\. Value: 5/u],
      ['an unknown field', () => add('member', id, { member: 'x', role: 'y' }), 400, /unknown field\(s\) role/u],
      ['a missing image', () => add('member', '00000000-0000-4000-8000-000000000000', { member: other }), 404, /No image found/u],
      ['a stranger listing members', () => api.request('GET', `/image/v2/images/${priv}/members`, { as: 'other' }), 404, /No image found/u],
      ['the owner accepting for the member', () => api.request('PUT', `/image/v2/images/${id}/members/${other}`, { as: 'member', body: { status: 'accepted' } }), 403, /not permitted to modify 'status'/u],
      ['an invalid status', () => api.request('PUT', `/image/v2/images/${id}/members/${other}`, { as: 'other', body: { status: 'notavalidstatus' } }), 400, /Status must be "pending", "accepted" or "rejected"\. Value: "notavalidstatus"/u],
      ['another member in the body', () => api.request('PUT', `/image/v2/images/${id}/members/${other}`, { as: 'other', body: { status: 'accepted', member: admin } }), 400, /field\/attribute member\. Value: "[^"]+"\. The request updates member/u],
      ['no status', () => api.request('PUT', `/image/v2/images/${id}/members/${other}`, { as: 'other', body: {} }), 400, /Status not specified/u],
      ['the member removing itself', () => api.request('DELETE', `/image/v2/images/${id}/members/${other}`, { as: 'other' }), 403, /You cannot delete image member/u],
      ['an unknown member', () => api.request('GET', `/image/v2/images/${id}/members/nobody`, { as: 'member' }), 404, new RegExp(`nobody not found in the member list of the image ${id}`, 'u')],
      ['members of a private image', () => api.request('GET', `/image/v2/images/${priv}/members/${other}`, { as: 'member' }), 404, /Only shared images have members/u],
    ];
    for (const [name, call, status, words] of CASES) {
      const res = await call();
      assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
      assert.match(message(res), words, name);
    }
    // image_member_quota: 2 here.
    assert.equal((await add('member', id, { member: admin })).status, 200);
    const over = await add('member', id, { member: 'third' });
    assert.equal(over.status, 413);
    assert.match(
      message(over),
      /Image member limit exceeded for image .*Attempted: 3, Maximum: 2/u,
    );
    // A member sees only its own membership; the owner and admins see every one.
    const seen = async (as: Who) =>
      (
        (await api.request('GET', `/image/v2/images/${id}/members`, { as })).body as {
          members: { member_id: string }[];
        }
      ).members.map((m) => m.member_id);
    assert.deepEqual(await seen('other'), [other]);
    assert.deepEqual((await seen('member')).sort(), [admin, other].sort());
    assert.deepEqual((await seen('admin')).sort(), [admin, other].sort());
    // Deleting the image takes its members with it.
    assert.equal(
      (await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' })).status,
      204,
    );
    assert.deepEqual(await api.store.listImageMemberships(other), []);
  });

  it('boots a shared image for its members only; others get Nova’s image-not-found 400', async () => {
    const api = await makeTestApi();
    const other = await projectId(api, 'other');
    const small = await flavor(api, 'small');
    const id = await sharedImage(api);
    const stranger = await boot(api, small, id, 'other');
    assert.equal(stranger.status, 400);
    assert.match(message(stranger), new RegExp(`Image ${id} could not be found`, 'u'));
    await api.request('POST', `/image/v2/images/${id}/members`, {
      as: 'member',
      body: { member: other },
    });
    await api.request('PUT', `/image/v2/images/${id}/members/${other}`, {
      as: 'other',
      body: { status: 'accepted' },
    });
    const member = await boot(api, small, id, 'other');
    assert.equal(member.status, 202, JSON.stringify(member.body));
    await api.servers.idle();
  });
});

describe('image tags', () => {
  it('adds and removes tags one at a time, with Glance’s limits and 404s', async () => {
    const api = await makeTestApi({ imageLimits: { ...GLANCE_IMAGE_LIMITS, imageTagQuota: 2 } });
    const id = await sharedImage(api, { tags: ['a'] });
    const tags = async () =>
      (
        (await api.request('GET', `/image/v2/images/${id}`, { as: 'member' })).body as {
          tags: string[];
        }
      ).tags;
    const tag = (method: string, name: string, as: Who = 'member', image = id) =>
      api.request(method, `/image/v2/images/${image}/tags/${encodeURIComponent(name)}`, { as });
    // prettier-ignore
    const STEPS: [string, () => ReturnType<TestApi['request']>, number, string[], RegExp?][] = [
      ['add a tag', () => tag('PUT', 'with space'), 204, ['a', 'with space']],
      ['add it again: nothing changes', () => tag('PUT', 'with space'), 204, ['a', 'with space']],
      ['one more than image_tag_quota', () => tag('PUT', 'c'), 413, ['a', 'with space'], /Image tag limit exceeded for image .*Attempted: 3, Maximum: 2/u],
      ['a tag too long', () => tag('PUT', 'x'.repeat(256)), 400, ['a', 'with space'], /field\/attribute tags/u],
      ['another project', () => tag('PUT', 'z', 'other'), 404, ['a', 'with space'], /No image found/u],
      ['the reader', () => tag('PUT', 'z', 'reader'), 403, ['a', 'with space'], /reader role/u],
      ['a missing image', () => tag('PUT', 'z', 'member', '00000000-0000-4000-8000-000000000000'), 404, ['a', 'with space'], /No image found/u],
      ['remove a tag', () => tag('DELETE', 'a'), 204, ['with space']],
      ['remove a tag it does not have', () => tag('DELETE', 'a'), 404, ['with space'], /has no tag "a"/u],
      ['patch beyond the quota', () => api.request('PATCH', `/image/v2/images/${id}`, { as: 'member', headers: { 'Content-Type': 'application/openstack-images-v2.1-json-patch' }, body: [{ op: 'replace', path: '/tags', value: ['1', '2', '3'] }] }), 413, ['with space'], /image_tag_quota/u],
    ];
    for (const [name, call, status, after, words] of STEPS) {
      const res = await call();
      assert.equal(res.status, status, `${name}: ${res.text}`);
      if (words !== undefined) assert.match(message(res), words, name);
      assert.deepEqual(await tags(), after, name);
    }
  });
});

describe('image deactivate and reactivate', () => {
  it('follows Glance: active ⇄ deactivated, downloads refused to non-admins, boots refused as Nova does', async () => {
    const api = await makeTestApi();
    const small = await flavor(api, 'small');
    const id = await sharedImage(api);
    const queued = (
      (
        await api.request('POST', '/image/v2/images', {
          as: 'member',
          body: { name: 'q', disk_format: 'raw', container_format: 'bare' },
        })
      ).body as { id: string }
    ).id;
    const act = (action: string, as: Who = 'member', image = id) =>
      api.request('POST', `/image/v2/images/${image}/actions/${action}`, { as });
    const status = async () =>
      (
        (await api.request('GET', `/image/v2/images/${id}`, { as: 'admin' })).body as {
          status: string;
        }
      ).status;
    // prettier-ignore
    const STEPS: [string, () => ReturnType<TestApi['request']>, number, string, RegExp?][] = [
      ['deactivate as the owner', () => act('deactivate'), 204, 'deactivated'],
      ['deactivate again: nothing changes', () => act('deactivate'), 204, 'deactivated'],
      ['download as the owner', () => api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' }), 403, 'deactivated', /The requested image has been deactivated\. Image data download is forbidden/u],
      ['download as an admin', () => api.request('GET', `/image/v2/images/${id}/file`, { as: 'admin' }), 200, 'deactivated'],
      ['boot from it', () => boot(api, small, id).then((r) => ({ status: r.status, body: r.body, headers: new Headers(), text: '' })), 400, 'deactivated', new RegExp(`Image ${id} is not active\\.`, 'u')],
      ['upload to it', () => api.request('PUT', `/image/v2/images/${id}/file`, { as: 'member', rawBody: new Uint8Array(8) }), 409, 'deactivated'],
      ['reactivate as the reader', () => act('reactivate', 'reader'), 403, 'deactivated', /not authorized to complete reactivate action/u],
      ['reactivate as another project', () => act('reactivate', 'other'), 404, 'deactivated', /No image found/u],
      ['reactivate as the owner', () => act('reactivate'), 204, 'active'],
      ['reactivate again: nothing changes', () => act('reactivate'), 204, 'active'],
      ['deactivate as an admin', () => act('deactivate', 'admin'), 204, 'deactivated'],
      ['reactivate as an admin', () => act('reactivate', 'admin'), 204, 'active'],
      ['deactivate a queued image', () => act('deactivate', 'member', queued), 403, 'active', /Not allowed to deactivate image in status 'queued'/u],
      ['reactivate a queued image', () => act('reactivate', 'member', queued), 403, 'active', /Not allowed to reactivate image in status 'queued'/u],
    ];
    for (const [name, call, code, after, words] of STEPS) {
      const res = await call();
      assert.equal(res.status, code, `${name}: ${JSON.stringify(res.body)}`);
      if (words !== undefined) assert.match(message(res), words, name);
      assert.equal(await status(), after, name);
    }
    const download = await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' });
    assert.equal(download.status, 200);
    assert.equal((await boot(api, small, id)).status, 202);
    await api.servers.idle();
  });
});
