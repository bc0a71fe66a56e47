import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { providerUuid } from '../services/index.js';
import { makeTestApi, type Call, type Reply, type TestApi } from '../testing/api.js';
import { action, boot, flavor, image, show } from '../testing/server-calls.js';

const COMPUTE1 = providerUuid('compute1');

/** A placement request at a microversion (default 1.39), as the admin unless told. */
function get(api: TestApi, path: string, version = '1.39', call: Call = {}): Promise<Reply> {
  return api.request('GET', `/placement${path}`, {
    ...call,
    headers: { 'OpenStack-API-Version': `placement ${version}`, ...call.headers },
  });
}

/** Placement's one error, checking its shape on the way. */
function placementError(res: Reply): Record<string, unknown> {
  const body = res.body as { errors: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(body), ['errors'], res.text);
  assert.equal(body.errors.length, 1);
  const [error] = body.errors;
  assert.ok(error !== undefined);
  assert.equal(error.status, res.status);
  assert.equal(error.code, 'placement.undefined_code');
  assert.equal(error.request_id, res.headers.get('X-OpenStack-Request-ID'));
  assert.equal(typeof error.title, 'string');
  return error;
}

/** A server of `vcpus` booted by the member and ACTIVE; returns its id. */
async function bootOne(api: TestApi, vcpus: number, name = 'vm'): Promise<string> {
  const small = await flavor(api, `f${vcpus}-${name}`, {}, { vcpus, ram: 512, disk: 2 });
  const img = await image(api, `img-${name}`);
  const res = await boot(api, small, img, 'member', name);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await api.servers.idle();
  assert.equal((await show(api, res.id)).status, 'ACTIVE');
  return res.id;
}

describe('Placement API', () => {
  it('answers the version document without a token, with the supported range', async () => {
    const api = await makeTestApi();
    const res = await api.request('GET', '/placement/', { as: null });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      versions: [
        {
          id: 'v1.0',
          max_version: '1.39',
          min_version: '1.0',
          status: 'CURRENT',
          links: [{ rel: 'self', href: '' }],
        },
      ],
    });
    assert.equal(res.headers.get('OpenStack-API-Version'), 'placement 1.0');
    const latest = await get(api, '', 'latest', { as: null });
    assert.equal(latest.headers.get('OpenStack-API-Version'), 'placement 1.39');
  });

  it('refuses a microversion out of range with 406 naming the range, and a malformed one with 400', async () => {
    const api = await makeTestApi();
    const high = await get(api, '/resource_providers', '1.40');
    assert.equal(high.status, 406);
    const error = placementError(high);
    assert.equal(error.title, 'Not Acceptable');
    assert.match(String(error.detail), /Unacceptable version header: 1\.40/u);
    assert.equal(error.max_version, '1.39');
    assert.equal(error.min_version, '1.0');
    const root = await get(api, '/', '2.0', { as: null });
    assert.equal(root.status, 406);
    assert.equal(placementError(root).max_version, '1.39');
    const bad = await get(api, '/resource_providers', '1.x');
    assert.equal(bad.status, 400);
    assert.match(String(placementError(bad).detail), /invalid version string: 1\.x/u);
  });

  it("needs a token, and the admin role (Placement's admin_api), answering in Placement's error body", async () => {
    const api = await makeTestApi();
    const none = await get(api, '/resource_providers', '1.39', { as: null });
    assert.equal(none.status, 401);
    assert.equal(placementError(none).title, 'Unauthorized');
    for (const who of ['member', 'reader'] as const) {
      const res = await get(api, '/resource_providers', '1.39', { as: who });
      assert.equal(res.status, 403);
      const error = placementError(res);
      assert.equal(error.title, 'Forbidden');
      assert.match(
        String(error.detail),
        /Policy does not allow placement:resource_providers:list to be performed\./u,
      );
    }
    const usages = await get(api, `/resource_providers/${COMPUTE1}/usages`, '1.39', {
      as: 'member',
    });
    assert.equal(usages.status, 403);
  });

  it('lists one provider per compute host with a stable UUIDv5, filtered by name, uuid and required traits', async () => {
    const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 4 }] });
    const compute2 = providerUuid('compute2');
    assert.match(
      COMPUTE1,
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u,
    );
    assert.equal(providerUuid('compute1'), COMPUTE1);
    assert.notEqual(compute2, COMPUTE1);
    const res = await get(api, '/resource_providers');
    assert.equal(res.status, 200);
    const providers = (res.body as { resource_providers: Record<string, unknown>[] })
      .resource_providers;
    assert.deepEqual(
      providers.map((p) => [p.name, p.uuid, p.parent_provider_uuid, p.root_provider_uuid]),
      [
        ['compute1', COMPUTE1, null, COMPUTE1],
        ['compute2', compute2, null, compute2],
      ],
    );
    assert.equal(typeof providers[0]?.generation, 'number');
    assert.deepEqual(
      (providers[0]?.links as { rel: string }[]).map((l) => l.rel),
      ['self', 'inventories', 'usages', 'aggregates', 'traits', 'allocations'],
    );
    // Before 1.14 there is no tree.
    const old = await get(api, '/resource_providers', '1.0');
    assert.equal(
      (old.body as { resource_providers: Record<string, unknown>[] }).resource_providers[0]
        ?.root_provider_uuid,
      undefined,
    );
    const names = async (query: string, version = '1.39') =>
      (
        (await get(api, `/resource_providers?${query}`, version)).body as {
          resource_providers: { name: string }[];
        }
      ).resource_providers.map((p) => p.name);
    assert.deepEqual(await names('name=compute2'), ['compute2']);
    assert.deepEqual(await names(`uuid=${COMPUTE1}`), ['compute1']);
    assert.deepEqual(await names('name=nope'), []);
    assert.deepEqual(await names('required=CUSTOM_HW_VPMU'), ['compute1', 'compute2']);
    assert.deepEqual(await names('required=!CUSTOM_HW_VPMU'), []);
    assert.deepEqual(await names('resources=VCPU:8'), ['compute1']);
    // `required` on providers is 1.18's; before, it is an unexpected parameter.
    const early = await get(api, '/resource_providers?required=CUSTOM_HW_VPMU', '1.17');
    assert.equal(early.status, 400);
    assert.match(String(placementError(early).detail), /'required' was unexpected/u);
    const aggregates = await get(api, '/resource_providers?member_of=in:abc');
    assert.equal(aggregates.status, 400);
    assert.match(
      String(placementError(aggregates).detail),
      /'member_of'.*vpmu does not implement/u,
    );
  });

  it('shows a provider, and answers 404 in Placement’s body for an unknown one', async () => {
    const api = await makeTestApi();
    const res = await get(api, `/resource_providers/${COMPUTE1}`);
    assert.equal(res.status, 200);
    assert.equal((res.body as { name: string }).name, 'compute1');
    const unknown = '7b4d3a4e-0000-4000-8000-000000000000';
    for (const path of ['', '/inventories', '/usages', '/traits', '/allocations']) {
      const missing = await get(api, `/resource_providers/${unknown}${path}`);
      assert.equal(missing.status, 404, path);
      const error = placementError(missing);
      assert.equal(error.title, 'Not Found');
      assert.match(
        String(error.detail),
        new RegExp(`No resource provider with uuid ${unknown} found`, 'u'),
      );
      assert.equal(missing.headers.get('OpenStack-API-Version'), 'placement 1.39');
    }
    const route = await get(api, '/nothing-here');
    assert.equal(route.status, 404);
    placementError(route);
  });

  it('lists and shows inventories: VCPU, MEMORY_MB, DISK_GB with the claim’s capacity as max_unit', async () => {
    const api = await makeTestApi();
    const res = await get(api, `/resource_providers/${COMPUTE1}/inventories`);
    assert.equal(res.status, 200);
    const body = res.body as {
      inventories: Record<string, Record<string, number>>;
      resource_provider_generation: number;
    };
    assert.deepEqual(body.inventories, {
      VCPU: {
        total: 16,
        reserved: 0,
        min_unit: 1,
        max_unit: 16,
        step_size: 1,
        allocation_ratio: 1,
      },
      MEMORY_MB: {
        total: 65536,
        reserved: 0,
        min_unit: 1,
        max_unit: 65536,
        step_size: 1,
        allocation_ratio: 1,
      },
      DISK_GB: {
        total: 1000,
        reserved: 0,
        min_unit: 1,
        max_unit: 1000,
        step_size: 1,
        allocation_ratio: 1,
      },
    });
    const one = await get(api, `/resource_providers/${COMPUTE1}/inventories/VCPU`);
    assert.deepEqual(one.body, {
      ...body.inventories.VCPU,
      resource_provider_generation: body.resource_provider_generation,
    });
    const none = await get(api, `/resource_providers/${COMPUTE1}/inventories/VGPU`);
    assert.equal(none.status, 404);
    assert.match(
      String(placementError(none).detail),
      new RegExp(`No inventory of class VGPU found for resource provider ${COMPUTE1}`, 'u'),
    );
  });

  it('lists traits: the host’s, COMPUTE_STATUS_DISABLED on a disabled host, filtered by name', async () => {
    const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 4 }] });
    const traits = await get(api, `/resource_providers/${COMPUTE1}/traits`);
    assert.equal(traits.status, 200);
    assert.deepEqual((traits.body as { traits: string[] }).traits, ['CUSTOM_HW_VPMU']);
    const host = await api.store.getComputeHost('compute2');
    assert.ok(host !== undefined);
    await api.store.putComputeHost({ ...host, enabled: false });
    const disabled = await get(api, `/resource_providers/${providerUuid('compute2')}/traits`);
    assert.deepEqual((disabled.body as { traits: string[] }).traits, [
      'COMPUTE_STATUS_DISABLED',
      'CUSTOM_HW_VPMU',
    ]);
    const list = async (query: string) =>
      ((await get(api, `/traits${query}`)).body as { traits: string[] }).traits;
    assert.deepEqual(await list(''), ['COMPUTE_STATUS_DISABLED', 'CUSTOM_HW_VPMU']);
    assert.deepEqual(await list('?name=startswith:CUSTOM_'), ['CUSTOM_HW_VPMU']);
    assert.deepEqual(await list('?name=in:CUSTOM_HW_VPMU,HW_CPU_X86_AVX'), ['CUSTOM_HW_VPMU']);
    assert.equal((await get(api, '/traits/CUSTOM_HW_VPMU')).status, 204);
    assert.equal((await get(api, '/traits/CUSTOM_NOPE')).status, 404);
    const bad = await get(api, '/traits?name=CUSTOM_HW_VPMU');
    assert.equal(bad.status, 400);
    // Traits are 1.6's: below, the route does not exist.
    assert.equal((await get(api, '/traits', '1.5')).status, 404);
  });

  it('lists the resource classes vpmu’s providers have', async () => {
    const api = await makeTestApi();
    const res = await get(api, '/resource_classes');
    assert.deepEqual(
      (res.body as { resource_classes: { name: string }[] }).resource_classes.map((r) => r.name),
      ['VCPU', 'MEMORY_MB', 'DISK_GB'],
    );
    assert.equal((await get(api, '/resource_classes/VCPU')).status, 200);
    assert.equal((await get(api, '/resource_classes/VGPU')).status, 404);
  });

  it('answers allocation candidates in Placement’s shape, filtered by required traits', async () => {
    const api = await makeTestApi({
      extraHosts: [{ name: 'compute2', vcpus: 4 }],
    });
    const res = await get(
      api,
      '/allocation_candidates?resources=VCPU:1,MEMORY_MB:512&required=CUSTOM_HW_VPMU',
    );
    assert.equal(res.status, 200, res.text);
    const body = res.body as {
      allocation_requests: unknown[];
      provider_summaries: Record<string, unknown>;
    };
    assert.deepEqual(body.allocation_requests[0], {
      allocations: { [COMPUTE1]: { resources: { VCPU: 1, MEMORY_MB: 512 } } },
      mappings: { '': [COMPUTE1] },
    });
    assert.equal(body.allocation_requests.length, 2);
    assert.deepEqual(body.provider_summaries[COMPUTE1], {
      resources: {
        VCPU: { capacity: 16, used: 0 },
        MEMORY_MB: { capacity: 65536, used: 0 },
        DISK_GB: { capacity: 1000, used: 0 },
      },
      traits: ['CUSTOM_HW_VPMU'],
      parent_provider_uuid: null,
      root_provider_uuid: COMPUTE1,
    });
    const big = await get(api, '/allocation_candidates?resources=VCPU:8');
    assert.deepEqual(Object.keys((big.body as typeof body).provider_summaries), [COMPUTE1]);
    const limited = await get(api, '/allocation_candidates?resources=VCPU:1&limit=1');
    assert.equal((limited.body as typeof body).allocation_requests.length, 1);
    const forbidden = await get(
      api,
      '/allocation_candidates?resources=VCPU:1&required=!CUSTOM_HW_VPMU',
    );
    assert.deepEqual((forbidden.body as typeof body).allocation_requests, []);
    const anyOf = await get(
      api,
      '/allocation_candidates?resources=VCPU:1&required=in:CUSTOM_HW_VPMU,HW_CPU_X86_AVX',
    );
    assert.equal((anyOf.body as typeof body).allocation_requests.length, 2);
    // 1.10's shape: a list of allocations, summaries of the requested classes only.
    const old = await get(api, '/allocation_candidates?resources=VCPU:1', '1.10');
    assert.deepEqual((old.body as typeof body).allocation_requests[0], {
      allocations: [{ resource_provider: { uuid: COMPUTE1 }, resources: { VCPU: 1 } }],
    });
    assert.deepEqual((old.body as typeof body).provider_summaries[COMPUTE1], {
      resources: { VCPU: { capacity: 16, used: 0 } },
    });
    // A disabled host is no candidate: the claim would refuse it.
    const host = await api.store.getComputeHost('compute2');
    assert.ok(host !== undefined);
    await api.store.putComputeHost({ ...host, enabled: false });
    const enabledOnly = await get(api, '/allocation_candidates?resources=VCPU:1');
    assert.deepEqual(Object.keys((enabledOnly.body as typeof body).provider_summaries), [COMPUTE1]);
  });

  it('refuses bad allocation candidate requests with 400 naming the value', async () => {
    const api = await makeTestApi();
    const cases: [string, RegExp][] = [
      ['resources=VCPU', /Badly formed resources parameter.*Got: VCPU\./u],
      [
        'resources=VCPU:one',
        /Requested resource VCPU expected positive integer amount\. Got: one\./u,
      ],
      ['resources=VCPU:0', /expected positive integer amount\. Got: 0\./u],
      ['resources=', /Got: empty string\./u],
      ['resources=VGPU:1', /No such resource class VGPU/u],
      ['resources=VCPU:1&required=CUSTOM_HW_VMPU', /No such trait\(s\): CUSTOM_HW_VMPU\./u],
      ['resources=VCPU:1&required=lower', /Got: lower/u],
      ['required=CUSTOM_HW_VPMU', /'resources' is a required property/u],
      ['resources=VCPU:1&limit=0', /'limit' must be a positive integer\. Got: 0/u],
      ['resources=VCPU:1&bogus=1', /'bogus' was unexpected/u],
      ['resources1=VCPU:1', /'resources1' is a Placement filter vpmu does not implement/u],
    ];
    for (const [query, detail] of cases) {
      const res = await get(api, `/allocation_candidates?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(String(placementError(res).detail), detail, query);
    }
    // `required` is 1.17's, `!` 1.22's, `in:` 1.39's.
    assert.equal(
      (await get(api, '/allocation_candidates?resources=VCPU:1&required=CUSTOM_HW_VPMU', '1.16'))
        .status,
      400,
    );
    assert.equal(
      (await get(api, '/allocation_candidates?resources=VCPU:1&required=!CUSTOM_HW_VPMU', '1.21'))
        .status,
      400,
    );
    assert.equal(
      (await get(api, '/allocation_candidates?resources=VCPU:1&required=in:CUSTOM_HW_VPMU', '1.38'))
        .status,
      400,
    );
    assert.equal((await get(api, '/allocation_candidates?resources=VCPU:1', '1.9')).status, 404);
  });

  it('shows a booted server in usages and allocations, and the candidates shrink', async () => {
    const api = await makeTestApi({ hostVcpus: 4 });
    const before = await get(api, `/resource_providers/${COMPUTE1}`);
    const fits = await get(api, '/allocation_candidates?resources=VCPU:4');
    assert.equal((fits.body as { allocation_requests: unknown[] }).allocation_requests.length, 1);

    const id = await bootOne(api, 3);

    const usages = await get(api, `/resource_providers/${COMPUTE1}/usages`);
    const generation = (before.body as { generation: number }).generation;
    assert.deepEqual((usages.body as { usages: unknown }).usages, {
      VCPU: 3,
      MEMORY_MB: 512,
      DISK_GB: 2,
    });
    assert.notEqual(
      (usages.body as { resource_provider_generation: number }).resource_provider_generation,
      generation,
    );
    const demo = await api.store.findProject('demo', 'default');
    assert.ok(demo !== undefined);
    const allocation = await get(api, `/allocations/${id}`);
    assert.deepEqual(
      { ...(allocation.body as Record<string, unknown>), user_id: undefined },
      {
        allocations: {
          [COMPUTE1]: {
            generation: (usages.body as { resource_provider_generation: number })
              .resource_provider_generation,
            resources: { VCPU: 3, MEMORY_MB: 512, DISK_GB: 2 },
          },
        },
        project_id: demo.id,
        user_id: undefined,
        consumer_generation: 1,
        consumer_type: 'INSTANCE',
      },
    );
    const onProvider = await get(api, `/resource_providers/${COMPUTE1}/allocations`);
    assert.deepEqual((onProvider.body as { allocations: unknown }).allocations, {
      [id]: { resources: { VCPU: 3, MEMORY_MB: 512, DISK_GB: 2 } },
    });
    const project = await get(api, `/usages?project_id=${demo.id}`, '1.9');
    assert.deepEqual((project.body as { usages: unknown }).usages, {
      VCPU: 3,
      MEMORY_MB: 512,
      DISK_GB: 2,
    });
    const typed = await get(api, `/usages?project_id=${demo.id}`);
    assert.deepEqual((typed.body as { usages: unknown }).usages, {
      INSTANCE: { consumer_count: 1, VCPU: 3, MEMORY_MB: 512, DISK_GB: 2 },
    });
    const otherProject = await get(api, '/usages?project_id=nobody', '1.9');
    assert.deepEqual((otherProject.body as { usages: unknown }).usages, {});
    assert.equal((await get(api, '/usages', '1.9')).status, 400);

    // Four vCPUs no longer fit; one does, with the usage in the summary.
    const full = await get(api, '/allocation_candidates?resources=VCPU:4');
    assert.deepEqual((full.body as { allocation_requests: unknown[] }).allocation_requests, []);
    const one = await get(api, '/allocation_candidates?resources=VCPU:1');
    assert.deepEqual(
      (one.body as { provider_summaries: Record<string, { resources: unknown }> })
        .provider_summaries[COMPUTE1]?.resources,
      {
        VCPU: { capacity: 4, used: 3 },
        MEMORY_MB: { capacity: 65536, used: 512 },
        DISK_GB: { capacity: 1000, used: 2 },
      },
    );

    // Deleted, the server's allocation is gone and the room is back.
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204);
    await api.servers.idle();
    assert.deepEqual((await get(api, `/allocations/${id}`)).body, { allocations: {} });
    const back = await get(api, '/allocation_candidates?resources=VCPU:4');
    assert.equal((back.body as { allocation_requests: unknown[] }).allocation_requests.length, 1);
    // The generation is a digest of the state: the same state, the same generation.
    const after = await get(api, `/resource_providers/${COMPUTE1}`);
    assert.equal((after.body as { generation: number }).generation, generation);
  });

  it('shows a resize’s old claim as the migration’s allocation, the new one as the server’s', async () => {
    const api = await makeTestApi({ hostVcpus: 8 });
    const id = await bootOne(api, 1);
    const bigger = await flavor(api, 'bigger', {}, { vcpus: 2, ram: 512, disk: 2 });
    assert.equal((await action(api, id, { resize: { flavorRef: bigger } })).status, 202);
    await api.servers.idle();
    assert.equal((await show(api, id)).status, 'VERIFY_RESIZE');
    const onProvider = (
      (await get(api, `/resource_providers/${COMPUTE1}/allocations`)).body as {
        allocations: Record<string, { resources: { VCPU: number } }>;
      }
    ).allocations;
    assert.equal(Object.keys(onProvider).length, 2);
    assert.equal(onProvider[id]?.resources.VCPU, 2);
    const [migration] = Object.keys(onProvider).filter((k) => k !== id);
    assert.ok(migration !== undefined);
    assert.equal(onProvider[migration]?.resources.VCPU, 1);
    const held = (await get(api, `/allocations/${migration}`)).body as { consumer_type: string };
    assert.equal(held.consumer_type, 'MIGRATION');
    assert.equal((await action(api, id, { confirmResize: null })).status, 204);
    await api.servers.idle();
    assert.deepEqual(
      Object.keys(
        (
          (await get(api, `/resource_providers/${COMPUTE1}/allocations`)).body as {
            allocations: object;
          }
        ).allocations,
      ),
      [id],
    );
  });

  it('refuses writes with 405 and a clear reason instead of accepting them', async () => {
    const api = await makeTestApi();
    const calls: [string, string][] = [
      ['POST', '/resource_providers'],
      ['PUT', `/resource_providers/${COMPUTE1}/traits`],
      ['PUT', `/resource_providers/${COMPUTE1}/inventories/VCPU`],
      ['DELETE', `/resource_providers/${COMPUTE1}`],
      ['PUT', '/allocations/00000000-0000-4000-8000-000000000099'],
      ['PUT', '/traits/CUSTOM_FOO'],
    ];
    for (const [method, path] of calls) {
      const res = await api.request(method, `/placement${path}`, {
        body: {},
        headers: { 'OpenStack-API-Version': 'placement 1.39' },
      });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get('Allow'), 'GET');
      assert.match(String(placementError(res).detail), /vpmu's Placement API is read-only/u);
    }
    const traits = await get(api, `/resource_providers/${COMPUTE1}/traits`);
    assert.deepEqual((traits.body as { traits: string[] }).traits, ['CUSTOM_HW_VPMU']);
  });
});
