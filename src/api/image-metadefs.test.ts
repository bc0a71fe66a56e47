import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';

type Who = 'admin' | 'member' | 'reader' | 'other';

function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

interface Schema {
  name: string;
  properties: Record<string, { type?: unknown; $ref?: string }>;
  additionalProperties?: unknown;
}

/** The JSON type names a value has, as JSON schema names them. */
function jsonTypes(value: unknown): string[] {
  if (value === null) return ['null'];
  if (Array.isArray(value)) return ['array'];
  if (typeof value === 'number')
    return Number.isInteger(value) ? ['integer', 'number'] : ['number'];
  return [typeof value];
}

/** Every key of `body` is described by `schema`, with a type that allows its value. */
function assertDescribes(schema: Schema, body: Record<string, unknown>, what: string): void {
  for (const [key, value] of Object.entries(body)) {
    const property = schema.properties[key];
    if (property === undefined) {
      assert.notEqual(
        schema.additionalProperties,
        false,
        `${what}: ${key} is not in ${schema.name}`,
      );
      continue;
    }
    if (property.type === undefined) continue; // a $ref or any value
    const allowed = Array.isArray(property.type) ? property.type : [property.type];
    assert.ok(
      jsonTypes(value).some((t) => allowed.includes(t)),
      `${what}: ${key}=${JSON.stringify(value)} is not ${JSON.stringify(allowed)}`,
    );
  }
}

async function get(api: TestApi, path: string, as: Who = 'member') {
  const res = await api.request('GET', `/image${path}`, { as });
  assert.equal(res.status, 200, `${path}: ${res.text}`);
  return res.body as Record<string, unknown>;
}

describe('image schemas', () => {
  // prettier-ignore
  const SCHEMAS: [string, string][] = [
    ['image', 'image'], ['images', 'images'], ['member', 'member'], ['members', 'members'],
    ['metadefs/namespace', 'namespace'], ['metadefs/namespaces', 'namespaces'],
    ['metadefs/object', 'object'], ['metadefs/objects', 'objects'],
    ['metadefs/property', 'property'], ['metadefs/properties', 'properties'],
    ['metadefs/resource_type', 'resource_type_association'],
    ['metadefs/resource_types', 'resource_type_associations'],
    ['metadefs/tag', 'tag'], ['metadefs/tags', 'tags'],
  ];
  it('serves every Glance schema under its name, and 404 for others', async () => {
    const api = await makeTestApi();
    for (const [path, name] of SCHEMAS) {
      const body = await get(api, `/v2/schemas/${path}`);
      assert.equal(body.name, name, path);
    }
    const missing = await api.request('GET', '/image/v2/schemas/task', { as: 'member' });
    assert.equal(missing.status, 404);
    assert.match(message(missing), /there is no schema task/u);
    assert.equal((await api.request('GET', '/image/v2/schemas/image', { as: null })).status, 401);
  });

  it('describes what vpmu returns: images, members, namespaces, objects, tags', async () => {
    const api = await makeTestApi();
    const schema = async (name: string) =>
      (await get(api, `/v2/schemas/${name}`)) as unknown as Schema;
    const created = await api.request('POST', '/image/v2/images', {
      as: 'member',
      body: { name: 'x', disk_format: 'raw', container_format: 'bare', hw_pmu: 'true' },
    });
    const image = created.body as Record<string, unknown>;
    assertDescribes(await schema('image'), image, 'image');
    const images = await get(api, '/v2/images');
    assertDescribes(await schema('images'), images, 'image list');
    const other = (await api.store.findProject('other', 'default'))?.id;
    const member = await api.request('POST', `/image/v2/images/${String(image.id)}/members`, {
      as: 'member',
      body: { member: other },
    });
    assertDescribes(await schema('member'), member.body as Record<string, unknown>, 'member');
    const members = await get(api, `/v2/images/${String(image.id)}/members`);
    assertDescribes(await schema('members'), members, 'members');
    const ns = await api.request('POST', '/image/v2/metadefs/namespaces', {
      as: 'admin',
      body: {
        namespace: 'Described',
        display_name: 'D',
        description: 'd',
        visibility: 'public',
        resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'x_' }],
        properties: { p: { title: 'P', type: 'string' } },
        objects: [{ name: 'o', properties: { q: { title: 'Q', type: 'integer' } } }],
        tags: [{ name: 't' }],
      },
    });
    assert.equal(ns.status, 201, ns.text);
    const namespace = await get(api, '/v2/metadefs/namespaces/Described');
    assertDescribes(await schema('metadefs/namespace'), namespace, 'namespace');
    const object = await get(api, '/v2/metadefs/namespaces/Described/objects/o');
    assertDescribes(await schema('metadefs/object'), object, 'object');
    const tag = await get(api, '/v2/metadefs/namespaces/Described/tags/t');
    assertDescribes(await schema('metadefs/tag'), tag, 'tag');
    const rts = await get(api, '/v2/metadefs/namespaces/Described/resource_types');
    for (const rt of rts.resource_type_associations as Record<string, unknown>[]) {
      assertDescribes(await schema('metadefs/resource_type'), rt, 'resource type association');
    }
    const property = await get(api, '/v2/metadefs/namespaces/Described/properties/p');
    assertDescribes(await schema('metadefs/property'), property, 'property');
  });
});

describe('metadef administration', () => {
  it('creates, shows, updates and deletes a namespace with its contents, as Tempest and Horizon do', async () => {
    const api = await makeTestApi();
    const req = (method: string, path: string, body?: unknown, as: Who = 'admin') =>
      api.request(method, `/image/v2/metadefs${path}`, {
        as,
        ...(body === undefined ? {} : { body }),
      });
    const types = await get(api, '/v2/metadefs/resource_types');
    const first = (types.resource_types as { name: string }[])[0]?.name;
    assert.equal(first, 'OS::Cinder::Volume');
    const created = await req('POST', '/namespaces', {
      namespace: 'Tempest',
      visibility: 'public',
      description: 'Tempest',
      display_name: 'Tempest',
      resource_type_associations: [{ name: first }],
      protected: true,
    });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body, {
      namespace: 'Tempest',
      display_name: 'Tempest',
      description: 'Tempest',
      visibility: 'public',
      protected: true,
      owner: (await api.store.findProject('admin', 'default'))?.id,
      resource_type_associations: [
        {
          name: 'OS::Cinder::Volume',
          created_at: '2026-01-01T00:00:00Z',
          updated_at: '2026-01-01T00:00:00Z',
        },
      ],
      created_at: '2026-01-01T00:00:00Z',
      updated_at: '2026-01-01T00:00:00Z',
      self: '/v2/metadefs/namespaces/Tempest',
      schema: '/v2/schemas/metadefs/namespace',
    });
    const listed = await get(api, '/v2/metadefs/namespaces', 'other');
    assert.deepEqual(
      (listed.namespaces as { namespace: string }[]).map((n) => n.namespace),
      ['OS::Compute::LibvirtImage', 'Tempest', 'VPMU::Compute::Flavor'],
    );
    // prettier-ignore
    const STEPS: [string, () => ReturnType<TestApi['request']>, number, RegExp?][] = [
      ['a duplicate namespace', () => req('POST', '/namespaces', { namespace: 'Tempest' }), 409, /The metadata definition namespace=Tempest already exists/u],
      ['a member creating one', () => req('POST', '/namespaces', { namespace: 'Mine' }, 'member'), 403, /not authorized to complete add_metadef_namespace action/u],
      ['no namespace name', () => req('POST', '/namespaces', { display_name: 'x' }), 400, /field\/attribute namespace.*required property/u],
      ['a bad visibility', () => req('POST', '/namespaces', { namespace: 'V', visibility: 'shared' }), 400, /field\/attribute visibility\. Value: "shared"/u],
      ['a read-only attribute', () => req('POST', '/namespaces', { namespace: 'R', created_at: 'x' }), 403, /Attribute 'created_at' is read-only/u],
      ['an unknown attribute', () => req('POST', '/namespaces', { namespace: 'U', colour: 'red' }), 400, /unknown field\(s\) colour/u],
      ['a property without a type', () => req('POST', '/namespaces', { namespace: 'P', properties: { p: { title: 'p' } } }), 400, /properties\.p\.type/u],
      ['deleting it while protected', () => req('DELETE', '/namespaces/Tempest'), 403, /Metadata definition namespace Tempest is protected and cannot be deleted/u],
      ['unprotecting it, private', () => req('PUT', '/namespaces/Tempest', { namespace: 'Tempest', description: 'Tempest', visibility: 'private', display_name: 'Tempest', protected: false }), 200],
      ['a member showing the private one', () => req('GET', '/namespaces/Tempest', undefined, 'member'), 404, /Metadata definition namespace=Tempest was not found/u],
      ['associating a resource type', () => req('POST', '/namespaces/Tempest/resource_types', { name: 'OS::Glance::Image', prefix: 'img_' }), 201],
      ['associating it twice', () => req('POST', '/namespaces/Tempest/resource_types', { name: 'OS::Glance::Image' }), 409, /resource-type=OS::Glance::Image to namespace=Tempest already exists/u],
      ['removing an association', () => req('DELETE', '/namespaces/Tempest/resource_types/OS::Cinder::Volume'), 204],
      ['removing it again', () => req('DELETE', '/namespaces/Tempest/resource_types/OS::Cinder::Volume'), 404, /was not found/u],
      ['adding a property', () => req('POST', '/namespaces/Tempest/properties', { name: 'hypervisor', title: 'H', type: 'string', enum: ['kvm', 'qemu'] }), 201],
      ['adding it twice', () => req('POST', '/namespaces/Tempest/properties', { name: 'hypervisor', title: 'H', type: 'string' }), 409, /property with name=hypervisor already exists/u],
      ['updating the property', () => req('PUT', '/namespaces/Tempest/properties/hypervisor', { name: 'hypervisor', title: 'H2', type: 'string' }), 200],
      ['adding an object', () => req('POST', '/namespaces/Tempest/objects', { name: 'obj' }), 201],
      ['renaming the object', () => req('PUT', '/namespaces/Tempest/objects/obj', { name: 'obj2', description: 'd' }), 200],
      ['showing the old name', () => req('GET', '/namespaces/Tempest/objects/obj'), 404, /object with name=obj was not found in namespace=Tempest/u],
      ['setting tags', () => req('POST', '/namespaces/Tempest/tags', { tags: [{ name: 'a' }, { name: 'b' }] }), 201],
      ['duplicate tags', () => req('POST', '/namespaces/Tempest/tags', { tags: [{ name: 'c' }, { name: 'C' }] }), 409, /metadata tag with name=c already exists/u],
      ['appending tags', () => api.request('POST', '/image/v2/metadefs/namespaces/Tempest/tags', { as: 'admin', headers: { 'X-Openstack-Append': 'true' }, body: { tags: [{ name: 'b0' }] } }), 201],
      ['a bad append header', () => api.request('POST', '/image/v2/metadefs/namespaces/Tempest/tags', { as: 'admin', headers: { 'X-Openstack-Append': 'maybe' }, body: { tags: [] } }), 400, /X-Openstack-Append: "maybe"/u],
      ['deleting the appended tag', () => req('DELETE', '/namespaces/Tempest/tags/B0'), 204],
      ['adding one tag', () => req('POST', '/namespaces/Tempest/tags/c'), 201],
      ['renaming a tag', () => req('PUT', '/namespaces/Tempest/tags/c', { name: 'd' }), 200],
      ['deleting a tag', () => req('DELETE', '/namespaces/Tempest/tags/a'), 204],
      ['a member adding a tag', () => req('POST', '/namespaces/Tempest/tags/e', undefined, 'member'), 403, /add_metadef_tag/u],
    ];
    for (const [name, call, status, words] of STEPS) {
      const res = await call();
      assert.equal(res.status, status, `${name}: ${res.text}`);
      if (words !== undefined) assert.match(message(res), words, name);
    }
    const shown = (await get(api, '/v2/metadefs/namespaces/Tempest', 'admin')) as {
      visibility: string;
      protected: boolean;
      resource_type_associations: { name: string; prefix?: string }[];
      properties: Record<string, { title: string }>;
      objects: { name: string; description: string }[];
      tags: { name: string }[];
    };
    assert.deepEqual(
      [
        shown.visibility,
        shown.protected,
        shown.resource_type_associations.map((r) => [r.name, r.prefix]),
        Object.entries(shown.properties).map(([k, v]) => [k, v.title]),
        shown.objects.map((o) => [o.name, o.description]),
        shown.tags.map((t) => t.name),
      ],
      [
        'private',
        false,
        [['OS::Glance::Image', 'img_']],
        [['hypervisor', 'H2']],
        [['obj2', 'd']],
        ['b', 'd'],
      ],
    );
    const tags = await get(api, '/v2/metadefs/namespaces/Tempest/tags', 'admin');
    assert.deepEqual(
      (tags.tags as { name: string }[]).map((t) => t.name),
      ['b', 'd'],
    );
    assert.equal((await req('DELETE', '/namespaces/Tempest/tags')).status, 204);
    assert.equal((await req('DELETE', '/namespaces/Tempest')).status, 204);
    assert.equal((await req('GET', '/namespaces/Tempest')).status, 404);
  });

  it("keeps vpmu's own namespaces (hw_pmu, hw:pmu) read-only, saying why", async () => {
    const api = await makeTestApi();
    const req = (method: string, path: string, body?: unknown) =>
      api.request(method, `/image/v2/metadefs${path}`, {
        as: 'admin',
        ...(body === undefined ? {} : { body }),
      });
    // prettier-ignore
    const CASES: [string, () => ReturnType<TestApi['request']>, number, RegExp][] = [
      ['delete', () => req('DELETE', '/namespaces/OS::Compute::LibvirtImage'), 403, /Cannot delete metadata definition namespace OS::Compute::LibvirtImage: it is vpmu's own namespace/u],
      ['update', () => req('PUT', '/namespaces/VPMU::Compute::Flavor', { namespace: 'VPMU::Compute::Flavor', protected: false }), 403, /Cannot update .* vpmu's own namespace/u],
      ['add a property', () => req('POST', '/namespaces/OS::Compute::LibvirtImage/properties', { name: 'x', title: 'x', type: 'string' }), 403, /vpmu's own namespace/u],
      ['delete hw_pmu', () => req('DELETE', '/namespaces/OS::Compute::LibvirtImage/properties/hw_pmu'), 403, /vpmu's own namespace/u],
      ['remove an association', () => req('DELETE', '/namespaces/VPMU::Compute::Flavor/resource_types/OS::Nova::Flavor'), 403, /vpmu's own namespace/u],
      ['create one of the same name', () => req('POST', '/namespaces', { namespace: 'OS::Compute::LibvirtImage' }), 409, /already exists/u],
      ['rename another to it', () => req('POST', '/namespaces', { namespace: 'Mine' }).then(async () => req('PUT', '/namespaces/Mine', { namespace: 'VPMU::Compute::Flavor' })), 409, /already exists/u],
    ];
    for (const [name, call, status, words] of CASES) {
      const res = await call();
      assert.equal(res.status, status, `${name}: ${res.text}`);
      assert.match(message(res), words, name);
    }
    const hwPmu = (await get(
      api,
      '/v2/metadefs/namespaces/OS::Compute::LibvirtImage/properties/hw_pmu',
    )) as {
      name: string;
      type: string;
    };
    assert.deepEqual([hwPmu.name, hwPmu.type], ['hw_pmu', 'string']);
  });
});
