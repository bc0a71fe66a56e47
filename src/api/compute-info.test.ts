/** os-availability-zone and limits through the HTTP API, with Nova's bodies. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi } from '../testing/api.js';
import { aComputeHost } from '../ports/store.contract.js';
import { boot, flavor, image } from '../testing/server-calls.js';

const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

describe('os-availability-zone', () => {
  it('lists the one zone, nova, to any user', async () => {
    const api = await makeTestApi();
    for (const as of ['member', 'reader', 'admin'] as const) {
      const res = await api.request('GET', '/compute/v2.1/os-availability-zone', { as });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
      });
    }
  });

  it('details the enabled hosts and their nova-compute service to admins', async () => {
    const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 1 }] });
    await api.store.putComputeHost(aComputeHost({ name: 'compute3', enabled: false }));
    const member = await api.request('GET', '/compute/v2.1/os-availability-zone/detail', {
      as: 'member',
    });
    assert.equal(member.status, 403);
    const res = await api.request('GET', '/compute/v2.1/os-availability-zone/detail');
    const service = {
      'nova-compute': { available: true, active: true, updated_at: '2026-01-01T00:00:00.000000' },
    };
    assert.deepEqual(res.body, {
      availabilityZoneInfo: [
        {
          zoneName: 'nova',
          zoneState: { available: true },
          hosts: { compute1: service, compute2: service },
        },
      ],
    });
  });

  it('lists a zone whose compute hosts are all disabled as not available, as Nova does', async () => {
    const api = await makeTestApi();
    const [host] = await api.store.listComputeHosts();
    assert.ok(host !== undefined);
    await api.store.putComputeHost({ ...host, enabled: false });
    for (const path of ['', '/detail']) {
      const res = await api.request('GET', `/compute/v2.1/os-availability-zone${path}`);
      assert.deepEqual(
        res.body,
        {
          availabilityZoneInfo: [
            { zoneName: 'nova', zoneState: { available: false }, hosts: null },
          ],
        },
        path,
      );
    }
  });
});

describe('limits', () => {
  // Nova's default quotas.
  const QUOTAS_21 = {
    maxTotalRAMSize: 51200,
    maxTotalInstances: 10,
    maxTotalCores: 20,
    maxTotalKeypairs: 100,
    maxTotalFloatingIps: 10,
    maxServerMeta: 128,
    maxImageMeta: 128,
    maxPersonality: 5,
    maxPersonalitySize: 10240,
    maxSecurityGroups: 10,
    maxSecurityGroupRules: 20,
    maxServerGroups: 10,
    maxServerGroupMembers: 10,
    totalFloatingIpsUsed: 0,
    totalSecurityGroupsUsed: 0,
    totalServerGroupsUsed: 1,
  };
  const without = (keys: readonly string[]) =>
    Object.fromEntries(Object.entries(QUOTAS_21).filter(([k]) => !keys.includes(k)));
  const GONE_236 = [
    'maxTotalFloatingIps',
    'totalFloatingIpsUsed',
    'maxSecurityGroups',
    'maxSecurityGroupRules',
    'totalSecurityGroupsUsed',
  ];
  // prettier-ignore
  const BY_VERSION = [
    { mv: '2.1', quotas: QUOTAS_21 },
    { mv: '2.35', quotas: QUOTAS_21 },
    { mv: '2.36', quotas: without(GONE_236) },
    { mv: '2.39', quotas: without([...GONE_236, 'maxImageMeta']) },
    { mv: '2.57', quotas: without([...GONE_236, 'maxImageMeta', 'maxPersonality', 'maxPersonalitySize']) },
    { mv: '2.96', quotas: without([...GONE_236, 'maxImageMeta', 'maxPersonality', 'maxPersonalitySize']) },
  ];
  for (const { mv, quotas } of BY_VERSION) {
    it(`at ${mv}: the project's quotas and usage`, async () => {
      const api = await makeTestApi();
      const group = await api.request('POST', '/compute/v2.1/os-server-groups', {
        as: 'member',
        body: { server_group: { name: 'g', policies: ['anti-affinity'] } },
      });
      assert.equal(group.status, 200);
      const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 1 });
      const img = await image(api, 'plain');
      await boot(api, f, img, 'member', 'a');
      await boot(api, f, img, 'member', 'b');
      await boot(api, f, img, 'other', 'c');
      await api.servers.idle();
      const res = await api.request('GET', '/compute/v2.1/limits', {
        as: 'member',
        headers: MV(mv),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, {
        limits: {
          rate: [],
          absolute: { ...quotas, totalRAMUsed: 1024, totalCoresUsed: 4, totalInstancesUsed: 2 },
        },
      });
    });
  }

  it("shows another project's usage to admins only (tenant_id)", async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small', {}, { vcpus: 3, ram: 256, disk: 1 });
    await boot(api, f, await image(api, 'plain'), 'other');
    await api.servers.idle();
    const [other] = (await api.store.listServers()).map((s) => s.projectId);
    const mine = await api.request('GET', '/compute/v2.1/limits');
    const absolute = (r: { body: unknown }) =>
      (r.body as { limits: { absolute: Record<string, number> } }).limits.absolute;
    assert.equal(absolute(mine).totalCoresUsed, 0);
    const theirs = await api.request('GET', `/compute/v2.1/limits?tenant_id=${other ?? ''}`);
    assert.equal(absolute(theirs).totalCoresUsed, 3);
    assert.equal(absolute(theirs).totalRAMUsed, 256);
    const refused = await api.request('GET', `/compute/v2.1/limits?tenant_id=${other ?? ''}`, {
      as: 'member',
    });
    assert.equal(refused.status, 403);
  });

  it("follows the project's quotas, the default class's and the project's own", async () => {
    const api = await makeTestApi();
    const absolute = async () =>
      (
        (await api.request('GET', '/compute/v2.1/limits', { as: 'member' })).body as {
          limits: { absolute: Record<string, number> };
        }
      ).limits.absolute;
    const [demo] = (await api.store.listProjects()).filter((p) => p.name === 'demo');
    assert.ok(demo !== undefined);
    await api.request('PUT', '/compute/v2.1/os-quota-class-sets/default', {
      body: { quota_class_set: { cores: 40, metadata_items: 5 } },
    });
    await api.request('PUT', `/compute/v2.1/os-quota-sets/${demo.id}`, {
      body: { quota_set: { cores: 7, key_pairs: -1 } },
    });
    const got = await absolute();
    assert.deepEqual(
      [got.maxTotalCores, got.maxServerMeta, got.maxTotalKeypairs, got.maxTotalInstances],
      [7, 5, -1, 10],
    );
  });

  it('refuses unknown query parameters from 2.75, as Nova does', async () => {
    const api = await makeTestApi();
    const at = async (mv: string) =>
      (await api.request('GET', '/compute/v2.1/limits?bogus=1', { headers: MV(mv) })).status;
    assert.equal(await at('2.74'), 200);
    assert.equal(await at('2.75'), 400);
  });
});
