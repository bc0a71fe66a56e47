import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { JSON_BODY_LIMIT_BYTES } from './app.js';

const PATCH = { 'Content-Type': 'application/openstack-images-v2.1-json-patch' };
const PATCH_V20 = { 'Content-Type': 'application/openstack-images-v2.0-json-patch' };

async function createImage(
  api: TestApi,
  as: 'admin' | 'member' | 'other',
  body: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const res = await api.request('POST', '/image/v2/images', {
    as,
    body: { name: 'cirros', disk_format: 'qcow2', container_format: 'bare', ...body },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as Record<string, unknown>;
}

function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

describe('image API', () => {
  it('answers Glance version discovery at /image and /image/ with 300 and a v2 entry', async () => {
    const api = await makeTestApi();
    for (const path of ['/image', '/image/']) {
      const res = await api.request('GET', path, { as: null });
      assert.equal(res.status, 300);
      const versions = (
        res.body as { versions: { id: string; status: string; links: { href: string }[] }[] }
      ).versions;
      assert.deepEqual(versions[0], {
        id: 'v2.16',
        status: 'CURRENT',
        links: [{ rel: 'self', href: 'http://vpmu.test/image/v2/' }],
      });
    }
  });

  it('creates a queued image owned by the caller, with Glance defaults and properties', async () => {
    const api = await makeTestApi();
    const image = await createImage(api, 'member', { hw_pmu: 'true', tags: ['a', 'a'] });
    const demo = (await api.store.findProject('demo', 'default'))?.id;
    assert.deepEqual(
      { ...image, id: 'ID' },
      {
        hw_pmu: 'true',
        id: 'ID',
        name: 'cirros',
        status: 'queued',
        visibility: 'shared',
        protected: false,
        os_hidden: false,
        owner: demo,
        disk_format: 'qcow2',
        container_format: 'bare',
        min_disk: 0,
        min_ram: 0,
        size: null,
        virtual_size: null,
        checksum: null,
        os_hash_algo: null,
        os_hash_value: null,
        tags: ['a'],
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
        self: `/v2/images/${String(image.id)}`,
        file: `/v2/images/${String(image.id)}/file`,
        schema: '/v2/schemas/image',
      },
    );
  });

  // prettier-ignore
  const BAD_CREATES = [
    { name: 'hw_pmu=maybe', body: { hw_pmu: 'maybe' }, status: 400, code: 'spec.invalid_value', says: /'maybe' is not a valid boolean-like value\. The property 'hw_pmu' of image 'cirros'/u },
    { name: 'hw_disk_bus=floppy', body: { hw_disk_bus: 'floppy' }, status: 400, code: 'spec.invalid_value', says: /'floppy'.*property 'hw_disk_bus' of image 'cirros'/u },
    { name: 'a numeric property', body: { hw_pmu: 1 }, status: 400, code: 'request.invalid', says: /property 'hw_pmu' must be a string/u },
    { name: 'a read-only status', body: { status: 'active' }, status: 403, code: 'image.read_only', says: /^Attribute 'status' is read-only\.$/u },
    { name: 'a bad visibility', body: { visibility: 'everyone' }, status: 400, code: 'request.invalid', says: /'visibility' of image 'cirros' to "everyone"/u },
    { name: 'a bad disk_format', body: { disk_format: 'exe' }, status: 400, code: 'request.invalid', says: /disk_format/u },
    { name: 'an id that is not a UUID', body: { id: 'x' }, status: 400, code: 'request.invalid', says: /is not a UUID/u },
    { name: 'public visibility from a member', body: { visibility: 'public' }, status: 403, code: 'auth.forbidden', says: /publicize_image/u },
    { name: "another project as the owner, from a member", body: { owner: 'someoneelse' }, status: 403, code: 'auth.forbidden', says: /^You are not permitted to create images owned by 'someoneelse'\.$/u },
    { name: 'an owner that is not a string', body: { owner: 7 }, status: 400, code: 'request.invalid', says: /owner of image 'cirros'/u },
  ];
  for (const row of BAD_CREATES) {
    it(`refuses to create an image with ${row.name} (${row.status}, nothing stored)`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/image/v2/images', {
        as: 'member',
        body: { name: 'cirros', ...row.body },
      });
      assert.equal(res.status, row.status, JSON.stringify(res.body));
      assert.equal(res.headers.get('X-Compute-Error-Code'), row.code);
      assert.match(message(res), row.says);
      assert.deepEqual(await api.store.listImages(), []);
    });
  }

  it('refuses image writes from a reader (403)', async () => {
    const api = await makeTestApi();
    const res = await api.request('POST', '/image/v2/images', {
      as: 'reader',
      body: { name: 'x' },
    });
    assert.equal(res.status, 403);
    const image = await createImage(api, 'member');
    const patch = await api.request('PATCH', `/image/v2/images/${String(image.id)}`, {
      as: 'reader',
      headers: PATCH,
      rawBody: JSON.stringify([{ op: 'add', path: '/hw_pmu', value: 'on' }]),
    });
    assert.equal(patch.status, 403);
    assert.equal(
      (await api.request('GET', `/image/v2/images/${String(image.id)}`, { as: 'reader' })).status,
      200,
    );
  });

  it("hides another project's private and shared images (404 for show, patch, delete, data; absent from lists)", async () => {
    const api = await makeTestApi();
    const priv = await createImage(api, 'member', { name: 'priv', visibility: 'private' });
    const shared = await createImage(api, 'member', { name: 'shared' });
    const pub = await createImage(api, 'admin', { name: 'pub', visibility: 'public' });
    for (const image of [priv, shared]) {
      const id = String(image.id);
      const show = await api.request('GET', `/image/v2/images/${id}`, { as: 'other' });
      assert.equal(show.status, 404);
      assert.deepEqual(show.body, {
        itemNotFound: { code: 404, message: `No image found with ID ${id}` },
      });
      assert.equal(
        (
          await api.request('PATCH', `/image/v2/images/${id}`, {
            as: 'other',
            headers: PATCH,
            rawBody: '[]',
          })
        ).status,
        404,
      );
      assert.equal(
        (await api.request('DELETE', `/image/v2/images/${id}`, { as: 'other' })).status,
        404,
      );
      assert.equal(
        (await api.request('PUT', `/image/v2/images/${id}/file`, { as: 'other', rawBody: 'x' }))
          .status,
        404,
      );
      assert.equal(
        (await api.request('GET', `/image/v2/images/${id}/file`, { as: 'other' })).status,
        404,
      );
    }
    const names = async (as: 'admin' | 'member' | 'other', query = '') =>
      (
        (await api.request('GET', `/image/v2/images${query}`, { as })).body as {
          images: { name: string }[];
        }
      ).images.map((i) => i.name);
    assert.deepEqual(await names('other'), ['pub']);
    // Glance's default order: newest first.
    assert.deepEqual(await names('member'), ['pub', 'shared', 'priv']);
    assert.deepEqual(await names('admin'), ['pub', 'shared', 'priv']);
    assert.deepEqual(await names('member', '?name=shared'), ['shared']);
    assert.deepEqual(await names('member', '?visibility=private'), ['priv']);
    assert.deepEqual(await names('member', `?owner=${String(pub.owner)}`), ['pub']);
    assert.deepEqual(await names('other', '?name=priv'), []);
    assert.equal((await api.request('GET', '/image/v2/images?visibility=everyone')).status, 400);
    // A public image of another project is visible but not writable.
    const patch = await api.request('PATCH', `/image/v2/images/${String(pub.id)}`, {
      as: 'other',
      headers: PATCH,
      rawBody: JSON.stringify([{ op: 'add', path: '/hw_pmu', value: 'on' }]),
    });
    assert.equal(patch.status, 403);
  });

  it('updates properties with JSON patch: add, replace, remove, in order', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member')).id);
    const res = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      headers: PATCH,
      rawBody: JSON.stringify([
        { op: 'add', path: '/hw_pmu', value: 'true' },
        { op: 'add', path: '/os_distro', value: 'cirros' },
        { op: 'replace', path: '/os_distro', value: 'fedora' },
        { op: 'add', path: '/note~1x', value: 'slash' },
        { op: 'remove', path: '/note~1x' },
        { op: 'replace', path: '/name', value: 'profiling' },
        { op: 'replace', path: '/min_ram', value: 128 },
      ]),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as Record<string, unknown>;
    assert.deepEqual(
      [body.hw_pmu, body.os_distro, body.name, body.min_ram, 'note/x' in body],
      ['true', 'fedora', 'profiling', 128, false],
    );
    assert.deepEqual((await api.store.getImage(id))?.properties, {
      hw_pmu: 'true',
      os_distro: 'fedora',
    });
  });

  // prettier-ignore
  const BAD_PATCHES = [
    { name: 'hw_pmu=maybe', ops: [{ op: 'add', path: '/os_distro', value: 'x' }, { op: 'add', path: '/hw_pmu', value: 'maybe' }], status: 400, code: 'spec.invalid_value', says: /^Validation failed; 'maybe' is not a valid boolean-like value\. The property 'hw_pmu' of image 'cirros' accepts/u },
    { name: 'replace of a missing property', ops: [{ op: 'replace', path: '/hw_pmu', value: 'true' }], status: 409, code: 'image.conflict', says: /^Property hw_pmu does not exist\.$/u },
    { name: 'remove of a missing property', ops: [{ op: 'remove', path: '/hw_pmu' }], status: 409, code: 'image.conflict', says: /^Property hw_pmu does not exist\.$/u },
    { name: 'a read-only attribute', ops: [{ op: 'replace', path: '/status', value: 'active' }], status: 403, code: 'image.read_only', says: /^Attribute 'status' is read-only\.$/u },
    { name: 'a non-string property', ops: [{ op: 'add', path: '/hw_pmu', value: true }], status: 400, code: 'request.invalid', says: /property values must be strings/u },
    { name: 'an unknown op', ops: [{ op: 'move', path: '/hw_pmu', from: '/x' }], status: 400, code: 'request.invalid', says: /op "move"/u },
    { name: 'a nested path', ops: [{ op: 'add', path: '/locations/0', value: 'x' }], status: 400, code: 'request.invalid', says: /one top-level attribute/u },
    { name: 'making it public as a member', ops: [{ op: 'replace', path: '/visibility', value: 'public' }], status: 403, code: 'auth.forbidden', says: /publicize_image/u },
    { name: 'a new owner, from a member', ops: [{ op: 'replace', path: '/owner', value: 'someoneelse' }], status: 403, code: 'image.read_only', says: /^Attribute 'owner' is read-only\.$/u },
    { name: 'a v2.0 change naming no operation', type: 'v2.0', ops: [{ path: '/name', value: 'x' }], status: 400, code: 'request.invalid', says: /^Operation objects must contain exactly one member named "add", "remove", or "replace"\.$/u },
    { name: 'a v2.0 change naming two operations', type: 'v2.0', ops: [{ add: '/a', replace: '/b', value: 'x' }], status: 400, code: 'request.invalid', says: /^Operation objects must contain only one member named "add", "remove", or "replace"\.$/u },
    { name: 'a v2.0 add of an attribute that exists', type: 'v2.0', ops: [{ add: '/name', value: 'x' }], status: 409, code: 'image.conflict', says: /^Property name already present\.$/u },
    { name: 'a v2.0 op-style change (RFC 6902 body, v2.0 type)', type: 'v2.0', ops: [{ op: 'replace', path: '/name', value: 'x' }], status: 400, code: 'request.invalid', says: /exactly one member/u },
  ];
  for (const row of BAD_PATCHES) {
    it(`refuses a patch with ${row.name} (${row.status}); the image is unchanged`, async () => {
      const api = await makeTestApi();
      const id = String((await createImage(api, 'member')).id);
      const before = await api.store.getImage(id);
      const res = await api.request('PATCH', `/image/v2/images/${id}`, {
        as: 'member',
        headers: 'type' in row ? PATCH_V20 : PATCH,
        rawBody: JSON.stringify(row.ops),
      });
      assert.equal(res.status, row.status, JSON.stringify(res.body));
      assert.equal(res.headers.get('X-Compute-Error-Code'), row.code);
      assert.match(message(res), row.says);
      assert.deepEqual(await api.store.getImage(id), before);
    });
  }

  it('understands the v2.0 patch type: the operation named as the key holding the path', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member', { os_distro: 'cirros' })).id);
    const res = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      headers: PATCH_V20,
      rawBody: JSON.stringify([
        { replace: '/name', value: 'renamed' },
        { replace: '/protected', value: true },
        { add: '/hw_pmu', value: 'true' },
        { remove: '/os_distro' },
      ]),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as Record<string, unknown>;
    assert.deepEqual(
      [body.name, body.protected, body.hw_pmu, 'os_distro' in body],
      ['renamed', true, 'true', false],
    );
    // Tempest's test_delete_protected_image: refused while protected, cleaned up with v2.0.
    const del = await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' });
    assert.equal(del.status, 403);
    const unprotect = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      headers: PATCH_V20,
      rawBody: JSON.stringify([{ replace: '/protected', value: false }]),
    });
    assert.equal(unprotect.status, 200);
    assert.equal(
      (await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' })).status,
      204,
    );
  });

  it("lets an admin set an image's owner at create and with a patch", async () => {
    const api = await makeTestApi();
    const created = await createImage(api, 'admin', { owner: 'a1b2c3' });
    assert.equal(created.owner, 'a1b2c3');
    const id = String(created.id);
    for (const type of [PATCH, PATCH_V20]) {
      const owner = type === PATCH ? 'd4e5f6' : 'a7b8c9';
      const ops =
        type === PATCH
          ? [{ op: 'replace', path: '/owner', value: owner }]
          : [{ replace: '/owner', value: owner }];
      const res = await api.request('PATCH', `/image/v2/images/${id}`, {
        headers: type,
        rawBody: JSON.stringify(ops),
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const shown = await api.request('GET', `/image/v2/images/${id}`);
      assert.equal((shown.body as { owner: string }).owner, owner);
      assert.equal((await api.store.getImage(id))?.owner, owner);
    }
    // A member may name its own project as the owner (Glance's same-owner check).
    const own = String((await createImage(api, 'member')).owner);
    assert.equal((await createImage(api, 'member', { owner: own })).owner, own);
  });

  it('answers GET /image/v2/images/ (an empty image id) with 404, and the list without the slash', async () => {
    const api = await makeTestApi();
    await createImage(api, 'member');
    const empty = await api.request('GET', '/image/v2/images/', { as: 'member' });
    assert.equal(empty.status, 404, JSON.stringify(empty.body));
    const list = await api.request('GET', '/image/v2/images', { as: 'member' });
    assert.equal(list.status, 200);
    assert.equal((list.body as { images: unknown[] }).images.length, 1);
    const del = await api.request('DELETE', '/image/v2/images/', { as: 'member' });
    assert.equal(del.status, 404);
  });

  it('refuses a patch sent as application/json (415)', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member')).id);
    const res = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      body: [{ op: 'add', path: '/hw_pmu', value: 'true' }],
    });
    assert.equal(res.status, 415);
    assert.equal(res.headers.get('X-Compute-Error-Code'), 'request.unsupported_media_type');
  });

  it('uploads data once, records size and checksums, and downloads it back', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member', { disk_format: 'raw' })).id);
    const empty = await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' });
    assert.equal(empty.status, 204);
    const data = 'raw disk bytes';
    const put = await api.request('PUT', `/image/v2/images/${id}/file`, {
      as: 'member',
      rawBody: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(put.status, 204);
    const shown = (await api.request('GET', `/image/v2/images/${id}`, { as: 'member' }))
      .body as Record<string, unknown>;
    const bytes = Buffer.from(data, 'utf8');
    assert.deepEqual(
      [shown.status, shown.size, shown.checksum, shown.os_hash_algo, shown.os_hash_value],
      [
        'active',
        bytes.length,
        createHash('md5').update(bytes).digest('hex'),
        'sha512',
        createHash('sha512').update(bytes).digest('hex'),
      ],
    );
    const got = await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' });
    assert.equal(got.status, 200);
    assert.equal(got.text, data);
    assert.equal(got.headers.get('Content-MD5'), shown.checksum);
    for (const res of [empty, put, got]) {
      assert.match(res.headers.get('X-OpenStack-Request-ID') ?? '', /^req-/u);
    }
    const again = await api.request('PUT', `/image/v2/images/${id}/file`, {
      as: 'member',
      rawBody: 'other',
    });
    assert.equal(again.status, 409);
    assert.equal(
      (await api.request('GET', `/image/v2/images/${id}/file`, { as: 'member' })).text,
      data,
    );
  });

  it('refuses image data sent as anything but application/octet-stream (415, image stays queued)', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member')).id);
    const res = await api.request('PUT', `/image/v2/images/${id}/file`, {
      as: 'member',
      rawBody: 'x',
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(res.status, 415);
    assert.equal((await api.store.getImage(id))?.status, 'queued');
  });

  it('accepts image data larger than the JSON body limit', async () => {
    const api = await makeTestApi();
    const id = String((await createImage(api, 'member', { disk_format: 'raw' })).id);
    const big = new Uint8Array(JSON_BODY_LIMIT_BYTES + 10).fill(7);
    const res = await api.request('PUT', `/image/v2/images/${id}/file`, {
      as: 'member',
      rawBody: big,
    });
    assert.equal(res.status, 204);
    assert.equal((await api.store.getImage(id))?.size, JSON_BODY_LIMIT_BYTES + 10);
  });

  it('deletes an image and its data; a protected image is refused with 403', async () => {
    const api = await makeTestApi();
    const id = String(
      (await createImage(api, 'member', { protected: true, disk_format: 'raw' })).id,
    );
    const put = await api.request('PUT', `/image/v2/images/${id}/file`, {
      as: 'member',
      rawBody: 'bytes',
    });
    assert.equal(put.status, 204);
    const refused = await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' });
    assert.equal(refused.status, 403);
    assert.equal(message(refused), `Image ${id} is protected and cannot be deleted.`);
    const unprotect = await api.request('PATCH', `/image/v2/images/${id}`, {
      as: 'member',
      headers: PATCH,
      rawBody: JSON.stringify([{ op: 'replace', path: '/protected', value: false }]),
    });
    assert.equal(unprotect.status, 200);
    assert.equal(
      (await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' })).status,
      204,
    );
    assert.equal(
      (await api.request('GET', `/image/v2/images/${id}`, { as: 'member' })).status,
      404,
    );
    assert.equal(
      (await api.request('DELETE', `/image/v2/images/${id}`, { as: 'member' })).status,
      404,
    );
    await assert.rejects(async () => {
      for await (const chunk of api.deps.files.read(id))
        assert.fail(`data left behind: ${chunk.length} bytes`);
    });
  });

  it('serves metadefs: OS::Compute::LibvirtImage documents hw_pmu as Glance does, VPMU::Compute::Flavor documents hw:pmu', async () => {
    const api = await makeTestApi();
    const list = await api.request('GET', '/image/v2/metadefs/namespaces', { as: 'other' });
    assert.deepEqual(
      (list.body as { namespaces: { namespace: string }[] }).namespaces.map((n) => n.namespace),
      ['OS::Compute::LibvirtImage', 'VPMU::Compute::Flavor'],
    );
    assert.equal(
      'properties' in ((list.body as { namespaces: object[] }).namespaces[0] ?? {}),
      false,
    );
    const image = await api.request(
      'GET',
      '/image/v2/metadefs/namespaces/OS::Compute::LibvirtImage',
      { as: 'other' },
    );
    const ns = image.body as {
      resource_type_associations: unknown;
      properties: Record<string, unknown>;
    };
    assert.deepEqual(ns.resource_type_associations, [
      {
        name: 'OS::Glance::Image',
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      },
    ]);
    assert.deepEqual(ns.properties.hw_pmu, {
      title: 'Virtual Performance Monitoring Unit',
      description:
        'Controls emulation of a vPMU in the guest. To reduce latency in realtime workloads disable the vPMU by setting hw_pmu=false',
      type: 'string',
      enum: ['true', 'false'],
    });
    const flavor = await api.request('GET', '/image/v2/metadefs/namespaces/VPMU::Compute::Flavor', {
      as: 'other',
    });
    const fns = flavor.body as {
      resource_type_associations: unknown;
      properties: Record<string, { type: string; enum: string[] }>;
    };
    assert.deepEqual(fns.resource_type_associations, [
      {
        name: 'OS::Nova::Flavor',
        prefix: 'hw:',
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      },
    ]);
    assert.deepEqual(
      [fns.properties.pmu?.type, fns.properties.pmu?.enum],
      ['string', ['true', 'false']],
    );
    assert.equal(
      (await api.request('GET', '/image/v2/metadefs/namespaces/Nope', { as: 'other' })).status,
      404,
    );
    // Horizon's image form asks for the namespaces of images only.
    for (const [types, want] of [
      ['OS::Glance::Image', ['OS::Compute::LibvirtImage']],
      ['OS::Nova::Flavor', ['VPMU::Compute::Flavor']],
      ['OS::Cinder::Volume', []],
      ['OS::Cinder::Volume,OS::Nova::Flavor', ['VPMU::Compute::Flavor']],
    ] as const) {
      const listed = await api.request(
        'GET',
        `/image/v2/metadefs/namespaces?resource_types=${types}`,
        { as: 'other' },
      );
      assert.deepEqual(
        (listed.body as { namespaces: { namespace: string }[] }).namespaces.map((n) => n.namespace),
        want,
        types,
      );
    }
  });
});
