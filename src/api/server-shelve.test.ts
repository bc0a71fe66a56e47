/**
 * shelve, shelveOffload and unshelve, soft delete (restore, forceDelete, reclaim) and lock/unlock
 * instance actions, through the HTTP API: states, claims, quota, the shelve image, the vPMU.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor, image, message, show, vpmuOf, type Who } from '../testing/server-calls.js';

let made = 0;
async function booted(
  api: TestApi,
  props: Record<string, string> = {},
  size: { vcpus?: number } = {},
): Promise<{ id: string; img: string }> {
  made++;
  const img = await image(api, `plain-${made}`, props);
  const { id, status } = await boot(api, await flavor(api, `small-${made}`, {}, size), img);
  assert.equal(status, 202);
  await api.servers.idle();
  return { id, img };
}

function stateOf(server: Record<string, unknown>): unknown[] {
  return [
    server.status,
    server['OS-EXT-STS:vm_state'],
    server['OS-EXT-STS:task_state'],
    server['OS-EXT-STS:power_state'],
  ];
}

async function act(
  api: TestApi,
  id: string,
  body: unknown,
  options: { as?: Who; mv?: string } = {},
) {
  return api.request('POST', `/compute/v2.1/servers/${id}/action`, {
    as: options.as ?? 'member',
    body,
    ...(options.mv === undefined
      ? {}
      : { headers: { 'OpenStack-API-Version': `compute ${options.mv}` } }),
  });
}

async function actionsOf(api: TestApi, id: string): Promise<string[]> {
  const res = await api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, {
    as: 'member',
  });
  assert.equal(res.status, 200, res.text);
  return (res.body as { instanceActions: { action: string }[] }).instanceActions
    .map((a) => a.action)
    .sort();
}

async function shelvedImages(api: TestApi, id: string) {
  return (await api.store.listImages({})).filter((i) => i.properties.instance_uuid === id);
}

async function claimed(api: TestApi, id: string): Promise<boolean> {
  return (await api.store.listAllocations()).some((a) => a.consumerId === id);
}

async function demoProject(api: TestApi): Promise<string> {
  const found = (await api.store.listProjects()).find((p) => p.name === 'demo');
  assert.ok(found !== undefined);
  return found.id;
}

describe('shelve and unshelve', () => {
  it('shelves into an image and offloads at once, then unshelves on a host with the same vPMU', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const { id, img } = await booted(api, { hw_pmu: 'true' });
    const before = await vpmuOf(api, id);
    const res = await act(api, id, { shelve: null });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, '');
    const shelved = await show(api, id, 'admin');
    assert.deepEqual(stateOf(shelved), ['SHELVED_OFFLOADED', 'shelved_offloaded', null, 4]);
    assert.equal(shelved['OS-EXT-SRV-ATTR:host'], null);
    assert.equal(shelved['OS-EXT-SRV-ATTR:hypervisor_hostname'], null);
    assert.equal(await hypervisor.find(id), undefined, 'the guest left the host');
    assert.equal(await claimed(api, id), false, 'the claim is released');
    const [snap, ...more] = await shelvedImages(api, id);
    assert.ok(snap !== undefined && more.length === 0);
    assert.equal(snap.name, 'vm-shelved');
    assert.equal(snap.status, 'active');
    assert.equal(snap.owner, await demoProject(api));
    assert.equal(snap.properties.hw_pmu, 'true');
    assert.equal(snap.properties.base_image_ref, img);

    assert.equal((await act(api, id, { unshelve: null })).status, 202);
    const back = await show(api, id, 'admin');
    assert.deepEqual(stateOf(back), ['ACTIVE', 'active', null, 1]);
    assert.equal(back['OS-EXT-SRV-ATTR:host'], 'compute1');
    assert.deepEqual((back.image as { id: string }).id, img, 'the server keeps its image');
    assert.equal(await hypervisor.state(id), 'running');
    assert.equal(await claimed(api, id), true, 'the claim is taken again');
    assert.deepEqual(await shelvedImages(api, id), [], 'the shelve image is deleted');
    assert.deepEqual(await vpmuOf(api, id), before);

    const types = api.notifier.delivered
      .map((n) => n.eventType)
      .filter((t) => t.includes('shelve'));
    assert.deepEqual(types, [
      'instance.shelve.start',
      'instance.shelve.end',
      'instance.shelve_offload.start',
      'instance.shelve_offload.end',
      'instance.unshelve.start',
      'instance.unshelve.end',
    ]);
    assert.deepEqual(await actionsOf(api, id), ['create', 'shelve', 'unshelve']);
  });

  it('keeps a shelved server on its host when offload is off, until shelveOffload', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor, shelvedOffloadTime: -1 });
    const { id } = await booted(api);
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    const shelved = await show(api, id, 'admin');
    assert.deepEqual(stateOf(shelved), ['SHELVED', 'shelved', null, 4]);
    assert.equal(shelved['OS-EXT-SRV-ATTR:host'], 'compute1');
    assert.equal(await hypervisor.state(id), 'shutoff');
    assert.equal(await claimed(api, id), true);
    assert.equal((await api.servers.runDeferred()).offloaded.length, 0, '-1 never offloads');
    assert.equal((await act(api, id, { shelveOffload: null })).status, 202);
    assert.deepEqual(stateOf(await show(api, id)), [
      'SHELVED_OFFLOADED',
      'shelved_offloaded',
      null,
      4,
    ]);
    assert.equal(await claimed(api, id), false);
    assert.deepEqual(await actionsOf(api, id), ['create', 'shelve', 'shelveOffload']);
  });

  it('unshelves a SHELVED server by powering it on, deleting its image', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor, shelvedOffloadTime: -1 });
    const { id } = await booted(api);
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    assert.equal((await shelvedImages(api, id)).length, 1);
    assert.equal((await act(api, id, { unshelve: null })).status, 202);
    assert.deepEqual(stateOf(await show(api, id)), ['ACTIVE', 'active', null, 1]);
    assert.equal(await hypervisor.state(id), 'running');
    assert.deepEqual(await shelvedImages(api, id), []);
  });

  it('offloads periodically once shelved for shelvedOffloadTime seconds', async () => {
    const api = await makeTestApi({ shelvedOffloadTime: 30 });
    const { id } = await booted(api);
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    assert.equal((await show(api, id)).status, 'SHELVED');
    api.clock.set(new Date(api.clock.now().getTime() + 29_000));
    assert.deepEqual((await api.servers.runDeferred()).offloaded, []);
    api.clock.set(new Date(api.clock.now().getTime() + 1_000));
    assert.deepEqual((await api.servers.runDeferred()).offloaded, [id]);
    assert.equal((await show(api, id)).status, 'SHELVED_OFFLOADED');
    assert.equal(await claimed(api, id), false);
  });

  it('shelves stopped, paused and suspended servers', async () => {
    const api = await makeTestApi();
    for (const first of ['os-stop', 'pause', 'suspend']) {
      const { id } = await booted(api);
      assert.equal((await act(api, id, { [first]: null })).status, 202);
      const res = await act(api, id, { shelve: null });
      assert.equal(res.status, 202, `${first}: ${res.text}`);
      assert.equal((await show(api, id)).status, 'SHELVED_OFFLOADED', first);
    }
  });

  it('records a paused server whose shelve failed as stopped: its guest was powered off', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    assert.equal((await act(api, id, { pause: null })).status, 202);
    // The snapshot cannot read the disk: the shelve fails after the guest was powered off.
    api.disks.files.delete(`/instances/${id}/disk`);
    const res = await act(api, id, { shelve: null });
    assert.notEqual(res.status, 202, res.text);
    assert.deepEqual(stateOf(await show(api, id)), ['SHUTOFF', 'stopped', null, 4]);
    assert.equal(await api.hypervisor.state(id), 'shutoff');
    assert.deepEqual(await shelvedImages(api, id), []);
  });

  it('counts cores again at unshelve: over the quota is 403, the server stays offloaded', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api, {}, { vcpus: 4 });
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    await booted(api, {}, { vcpus: 4 });
    const project = await demoProject(api);
    const set = await api.request('PUT', `/compute/v2.1/os-quota-sets/${project}`, {
      body: { quota_set: { cores: 6 } },
    });
    assert.equal(set.status, 200, set.text);
    const res = await act(api, id, { unshelve: null });
    assert.equal(res.status, 403, res.text);
    assert.equal(
      message(res),
      'Quota exceeded for cores: Requested 4, but already used 4 of 6 cores',
    );
    assert.equal((await show(api, id)).status, 'SHELVED_OFFLOADED');
    assert.equal(await claimed(api, id), false);
    assert.equal((await shelvedImages(api, id)).length, 1, 'the image stays for a later unshelve');
  });

  it('deletes an offloaded server and its shelve image', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204, del.text);
    await api.servers.idle();
    assert.equal(await api.store.getServer(id), undefined);
    assert.deepEqual(await shelvedImages(api, id), []);
  });

  const refusals: {
    name: string;
    offload?: number;
    before: readonly unknown[];
    body: unknown;
    as?: Who;
    mv?: string;
    status: number;
    want: string | RegExp;
  }[] = [
    {
      name: 'shelve a shelved-offloaded server',
      before: [{ shelve: null }],
      body: { shelve: null },
      status: 409,
      want: /^Cannot 'shelve' instance [0-9a-f-]+ while it is in vm_state shelved_offloaded/u,
    },
    {
      name: 'unshelve an active server',
      before: [],
      body: { unshelve: null },
      status: 409,
      want: /^Cannot 'unshelve' instance [0-9a-f-]+ while it is in vm_state active/u,
    },
    {
      name: 'offload an active server',
      before: [],
      body: { shelveOffload: null },
      status: 409,
      want: /^Cannot 'shelveOffload' instance [0-9a-f-]+ while it is in vm_state active/u,
    },
    {
      name: 'shelve as a reader',
      before: [],
      body: { shelve: null },
      as: 'reader',
      status: 403,
      want: 'shelve a server',
    },
    {
      name: 'shelve another project’s server',
      before: [],
      body: { shelve: null },
      as: 'other',
      status: 404,
      want: 'could not be found',
    },
    {
      name: 'shelve a locked server as its member',
      before: [{ lock: null }],
      body: { shelve: null },
      status: 409,
      want: /is locked$/u,
    },
    {
      name: 'an empty unshelve object at 2.77',
      before: [{ shelve: null }],
      body: { unshelve: {} },
      mv: '2.77',
      status: 400,
      want: "'availability_zone' is a required property",
    },
    {
      name: 'an unknown availability zone',
      before: [{ shelve: null }],
      body: { unshelve: { availability_zone: 'elsewhere' } },
      mv: '2.77',
      status: 400,
      want: 'The requested availability zone is not available',
    },
    {
      name: 'a host before 2.91',
      before: [{ shelve: null }],
      body: { unshelve: { availability_zone: 'nova', host: 'compute1' } },
      mv: '2.90',
      status: 400,
      want: "('host' was unexpected)",
    },
    {
      name: 'a host from a member',
      before: [{ shelve: null }],
      body: { unshelve: { host: 'compute1' } },
      mv: '2.91',
      status: 403,
      want: 'unshelve_to_host',
    },
    {
      name: 'an unknown host',
      before: [{ shelve: null }],
      body: { unshelve: { host: 'nowhere' } },
      as: 'admin',
      mv: '2.91',
      status: 400,
      want: 'Compute host nowhere could not be found.',
    },
    {
      name: 'an availability zone for a server only shelved',
      offload: -1,
      before: [{ shelve: null }],
      body: { unshelve: { availability_zone: 'nova' } },
      mv: '2.77',
      status: 409,
      want: 'The server status must be SHELVED_OFFLOADED.',
    },
  ];
  for (const c of refusals) {
    it(`refuses to ${c.name} (${c.status})`, async () => {
      const api = await makeTestApi({ shelvedOffloadTime: c.offload ?? 0 });
      const { id } = await booted(api);
      for (const body of c.before) assert.equal((await act(api, id, body)).status, 202);
      const res = await act(api, id, c.body, {
        as: c.as ?? 'member',
        ...(c.mv === undefined ? {} : { mv: c.mv }),
      });
      assert.equal(res.status, c.status, res.text);
      if (typeof c.want === 'string') assert.ok(message(res).includes(c.want), message(res));
      else assert.match(message(res), c.want);
    });
  }

  it('unshelves on the host an admin names (2.91) and into the one zone (2.77)', async () => {
    const api = await makeTestApi({ extraHosts: [{ name: 'compute2', vcpus: 16 }] });
    const { id } = await booted(api);
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    const res = await act(api, id, { unshelve: { host: 'compute2' } }, { as: 'admin', mv: '2.91' });
    assert.equal(res.status, 202, res.text);
    assert.equal((await show(api, id, 'admin'))['OS-EXT-SRV-ATTR:host'], 'compute2');
    assert.equal((await act(api, id, { shelve: null })).status, 202);
    const az = await act(api, id, { unshelve: { availability_zone: 'nova' } }, { mv: '2.77' });
    assert.equal(az.status, 202, az.text);
    assert.equal((await show(api, id)).status, 'ACTIVE');
  });
});

describe('soft delete (reclaimInstanceInterval)', () => {
  it('soft-deletes, restores, and force-deletes', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor, reclaimInstanceInterval: 60 });
    const { id } = await booted(api);
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204, del.text);
    assert.deepEqual(stateOf(await show(api, id)), ['SOFT_DELETED', 'soft-delete', null, 4]);
    assert.equal(await hypervisor.state(id), 'shutoff');
    assert.equal(await claimed(api, id), true, 'a soft-deleted server keeps its claim');
    assert.equal((await act(api, id, { restore: null })).status, 202);
    assert.deepEqual(stateOf(await show(api, id)), ['ACTIVE', 'active', null, 1]);
    assert.equal(await hypervisor.state(id), 'running');
    const again = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(again.status, 204);
    assert.equal((await act(api, id, { forceDelete: null })).status, 202);
    await api.servers.idle();
    assert.equal(await api.store.getServer(id), undefined);
    assert.equal(await claimed(api, id), false);
    const types = api.notifier.delivered
      .map((n) => n.eventType)
      .filter((t) => /soft_delete|restore|instance\.delete/u.test(t));
    assert.deepEqual(types, [
      'instance.soft_delete.start',
      'instance.soft_delete.end',
      'instance.restore.start',
      'instance.restore.end',
      'instance.soft_delete.start',
      'instance.soft_delete.end',
      'instance.delete.start',
      'instance.delete.end',
    ]);
  });

  it('deletes a shelved server at once, with its image, soft delete or not', async () => {
    for (const offload of [-1, 0]) {
      const api = await makeTestApi({ reclaimInstanceInterval: 60, shelvedOffloadTime: offload });
      const { id } = await booted(api);
      assert.equal((await act(api, id, { shelve: null })).status, 202);
      const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
      assert.equal(del.status, 204, del.text);
      await api.servers.idle();
      assert.equal(await api.store.getServer(id), undefined, String(offload));
      assert.deepEqual(await shelvedImages(api, id), []);
    }
  });

  it('reclaims soft-deleted servers once older than the interval', async () => {
    const api = await makeTestApi({ reclaimInstanceInterval: 60 });
    const { id } = await booted(api);
    assert.equal(
      (await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' })).status,
      204,
    );
    api.clock.set(new Date(api.clock.now().getTime() + 59_000));
    assert.deepEqual((await api.servers.runDeferred()).reclaimed, []);
    api.clock.set(new Date(api.clock.now().getTime() + 1_000));
    assert.deepEqual((await api.servers.runDeferred()).reclaimed, [id]);
    assert.equal(await api.store.getServer(id), undefined);
    assert.equal(await claimed(api, id), false);
  });

  it('deletes at once when the interval is 0, and restore is then always 409', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    const res = await act(api, id, { restore: null });
    assert.equal(res.status, 409, res.text);
    assert.match(
      message(res),
      /^Cannot 'restore' instance [0-9a-f-]+ while it is in vm_state active/u,
    );
    assert.equal(
      (await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' })).status,
      204,
    );
    await api.servers.idle();
    assert.equal(await api.store.getServer(id), undefined);
  });
});

describe('lock and unlock as instance actions', () => {
  it('records lock and unlock in os-instance-actions', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    assert.equal(
      (await act(api, id, { lock: { locked_reason: 'audit' } }, { mv: '2.73' })).status,
      202,
    );
    assert.equal((await act(api, id, { unlock: null })).status, 202);
    assert.deepEqual(await actionsOf(api, id), ['create', 'lock', 'unlock']);
  });
});
