/**
 * What a crash, a lost domain or a failed rollback leaves, and how the service recovers: claims
 * healed, deletes finished, guests defined again, and faults that tell a tenant no more than theirs.
 * A "restart" is a second API over the same store with a new hypervisor, as test:///default is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { MemoryStore } from '../adapters/store/memory-store.js';
import type { ServerRecord } from '../ports/store.js';
import {
  failEveryStart,
  hypervisorFailingStarts,
  makeTestApi,
  type TestApi,
} from '../testing/api.js';
import { action, boot, flavor, image, message, show } from '../testing/server-calls.js';

async function usedVcpus(api: TestApi): Promise<number> {
  return (await api.store.listAllocations()).reduce((n, a) => n + a.resources.VCPU, 0);
}

/** Every start fails as libvirt fails it when QEMU cannot open a disk: with a host path. */
function failStartsOnHostPath(hypervisor: FakeHypervisor): void {
  failEveryStart(hypervisor, "Cannot access storage file '/srv/vpmu/instances/x/disk'");
}

async function recorded(store: MemoryStore, id: string): Promise<ServerRecord> {
  const server = await store.getServer(id);
  assert.ok(server, `server ${id} is recorded`);
  return server;
}

async function bootedSmall(api: TestApi, name = 'vm'): Promise<string> {
  const f = await flavor(api, `small-${name}`, {}, { vcpus: 1 });
  const img = await image(api, `plain-${name}`);
  const { id } = await boot(api, f, img, 'member', name);
  await api.servers.idle();
  return id;
}

describe('servers: recovery', () => {
  it('heals a resize claim that a crash left behind (claimed, never recorded), and only that', async () => {
    const store = new MemoryStore();
    const api = await makeTestApi({ store });
    const id = await bootedSmall(api);
    const other = await bootedSmall(api, 'other');
    // A kill -9 between the resize's claim and the save that names it.
    assert.ok(
      await store.claim({
        consumerId: `${id}/resize/leaked`,
        host: 'compute1',
        resources: { VCPU: 2, MEMORY_MB: 512, DISK_GB: 1 },
      }),
    );
    assert.equal(await usedVcpus(api), 4);
    const restarted = await makeTestApi({ store });
    assert.deepEqual(await restarted.servers.healClaims(), [`${id}/resize/leaked`]);
    assert.equal(await usedVcpus(restarted), 2, 'the two servers keep their own claims');
    assert.deepEqual(await restarted.servers.healClaims(), [], 'nothing more to heal');
    assert.ok(restarted.logged.some((l) => l.message.startsWith('heal: released claims')));
    assert.ok(await store.getServer(other));
  });

  it('keeps the claims of a server that is busy, and releases those of servers that are gone', async () => {
    const store = new MemoryStore();
    const api = await makeTestApi({ store });
    const id = await bootedSmall(api);
    const server = await recorded(store, id);
    await store.saveServer({ ...server, status: 'RESIZE', taskState: 'resize_prep' });
    const resources = { VCPU: 1, MEMORY_MB: 256, DISK_GB: 1 };
    await store.claim({ consumerId: `${id}/resize/in-flight`, host: 'compute1', resources });
    await store.claim({
      consumerId: 'ffffffff-0000-4000-8000-00000000dead',
      host: 'compute1',
      resources,
    });
    assert.deepEqual(await api.servers.healClaims(), ['ffffffff-0000-4000-8000-00000000dead']);
    assert.equal(await usedVcpus(api), 2);
  });

  it('after a crash mid-resize, restart leaves ERROR and usage equal to what live servers hold', async () => {
    const store = new MemoryStore();
    const hypervisor = new (class extends FakeHypervisor {
      override async define(xml: string) {
        // The resize's define never returns: the service is "killed" while it hangs.
        if (xml.includes('<vcpu>2</vcpu>')) {
          return new Promise<never>(() => undefined);
        }
        return super.define(xml);
      }
    })();
    const api = await makeTestApi({ store, hypervisor });
    const id = await bootedSmall(api);
    const big = await flavor(api, 'big', {}, { vcpus: 2 });
    void action(api, id, { resize: { flavorRef: big } });
    for (let spins = 0; spins < 1000 && (await usedVcpus(api)) < 3; spins++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await usedVcpus(api), 3, 'both claims held mid-resize');

    const restarted = await makeTestApi({ store });
    const report = await restarted.servers.reconcile();
    assert.deepEqual(report.errored, [id]);
    await restarted.servers.healClaims();
    const after = await store.getServer(id);
    assert.equal(after?.status, 'ERROR');
    assert.equal(
      await usedVcpus(restarted),
      0,
      'an ERROR server that gave up its guest holds nothing',
    );
    const del = await restarted.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204);
    assert.deepEqual(await store.listAllocations(), []);
  });

  it("after a crash between a build's disk and its domain, restart removes the disk and holds nothing", async () => {
    const store = new MemoryStore();
    const hypervisor = new (class extends FakeHypervisor {
      override async define(): Promise<never> {
        return new Promise<never>(() => undefined); // "killed" with the disk made, no domain
      }
    })();
    const api = await makeTestApi({ store, hypervisor });
    const f = await flavor(api, 'small', {}, { vcpus: 1 });
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    for (let spins = 0; spins < 1000 && api.disks.files.size === 0; spins++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(api.disks.files.size, 2, 'the disk and its image data were made');

    const restarted = await makeTestApi({ store });
    assert.deepEqual((await restarted.servers.reconcile()).errored, [id]);
    assert.ok(restarted.disks.removed.includes(`/instances/${id}`), 'the disk is removed');
    assert.deepEqual(await restarted.servers.healClaims(), []);
    assert.deepEqual(await store.listAllocations(), []);
  });

  it('finishes a delete that a crash cut short', async () => {
    const store = new MemoryStore();
    const api = await makeTestApi({ store });
    const id = await bootedSmall(api);
    const server = await recorded(store, id);
    await store.saveServer({ ...server, taskState: 'deleting' });
    const restarted = await makeTestApi({ store });
    const report = await restarted.servers.reconcile();
    assert.deepEqual(report.deleted, [id]);
    assert.equal(await store.getServer(id), undefined);
    assert.deepEqual(await store.listAllocations(), []);
    assert.ok(restarted.disks.removed.includes(`/instances/${id}`));
  });

  it('hard reboot defines again an ERROR server whose domain is gone; stop and start do too', async () => {
    const api = await makeTestApi();
    const id = await bootedSmall(api);
    await api.hypervisor.destroy(id);
    await api.hypervisor.undefine(id);
    await api.servers.reconcile();
    assert.equal((await show(api, id)).status, 'ERROR');

    const reboot = await action(api, id, { reboot: { type: 'HARD' } });
    assert.equal(reboot.status, 202, JSON.stringify(reboot.body));
    const rebooted = await show(api, id);
    assert.equal(rebooted.status, 'ACTIVE');
    assert.equal(rebooted.fault, undefined);
    assert.equal(await api.hypervisor.state(id), 'running');
    assert.equal(await usedVcpus(api), 1);

    await api.hypervisor.destroy(id);
    await api.hypervisor.undefine(id);
    await api.servers.reconcile();
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    assert.equal((await show(api, id)).status, 'SHUTOFF');
    assert.equal((await action(api, id, { 'os-start': null })).status, 202);
    assert.equal((await show(api, id)).status, 'ACTIVE');
    assert.equal(await api.hypervisor.state(id), 'running');
    assert.equal(await usedVcpus(api), 1);
  });

  it('a hard reboot of a failed build claims its resources again, or refuses with 400 when the host is full', async () => {
    const hypervisor = hypervisorFailingStarts(1);
    const api = await makeTestApi({ hypervisor, hostVcpus: 1 });
    const id = await bootedSmall(api, 'failed');
    assert.equal((await show(api, id)).status, 'ERROR');
    assert.equal(await usedVcpus(api), 0);
    const f = await flavor(api, 'filler', {}, { vcpus: 1 });
    const img = await image(api, 'filler');
    const filler = await boot(api, f, img, 'member', 'filler');
    await api.servers.idle();
    const refused = await action(api, id, { reboot: { type: 'HARD' } });
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(refused.body), /has no room to start server/u);
    assert.equal((await show(api, id)).status, 'ERROR', 'nothing changed');
    await api.request('DELETE', `/compute/v2.1/servers/${filler.id}`, { as: 'member' });
    await api.servers.idle();
    assert.equal((await action(api, id, { reboot: { type: 'HARD' } })).status, 202);
    assert.equal((await show(api, id)).status, 'ACTIVE');
    assert.equal(await usedVcpus(api), 1);
  });

  it('shows a tenant no host path or foreign error in a fault; an admin sees the cause', async () => {
    const hypervisor = new FakeHypervisor();
    hypervisor.start = () =>
      Promise.reject(
        Object.assign(
          new Error("ENOENT: no such file or directory, mkdir '/srv/vpmu/instances/x'"),
          {
            code: 'ENOENT',
          },
        ),
      );
    const api = await makeTestApi({ hypervisor });
    const id = await bootedSmall(api);
    const fault = (await show(api, id)).fault as { message: string; details?: string };
    assert.match(fault.message, /^Unexpected error during create of server /u);
    assert.doesNotMatch(fault.message, /\/srv|ENOENT/u);
    assert.equal(fault.details, undefined, 'details are for admins');
    const asAdmin = (await show(api, id, 'admin')).fault as { details: string };
    assert.match(asAdmin.details, /ENOENT: no such file or directory, mkdir '\/srv\/vpmu/u);
    assert.match(asAdmin.details, /internal\.unexpected/u);
  });

  it("words a hypervisor failure for the tenant, keeping libvirt's own words for admins", async () => {
    const hypervisor = new FakeHypervisor();
    failStartsOnHostPath(hypervisor);
    const api = await makeTestApi({ hypervisor });
    const id = await bootedSmall(api);
    const fault = (await show(api, id)).fault as { message: string };
    assert.match(fault.message, /the hypervisor could not start its guest/u);
    assert.doesNotMatch(fault.message, /\/srv/u);
    const asAdmin = (await show(api, id, 'admin')).fault as { details: string };
    assert.match(asAdmin.details, /Cannot access storage file '\/srv\/vpmu/u);
  });

  it('logs each step of a resize rollback that fails, instead of swallowing it', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const id = await bootedSmall(api);
    const big = await flavor(api, 'big', {}, { vcpus: 2 });
    hypervisor.define = () => Promise.reject(new Error('define refused'));
    const res = await action(api, id, { resize: { flavorRef: big } });
    assert.equal(res.status, 500);
    const rollback = api.logged.filter((l) => String(l.fields.step).startsWith('resize rollback'));
    assert.deepEqual(
      rollback.map((l) => l.fields.step),
      ['resize rollback: define the old guest again'],
    );
    assert.equal(await usedVcpus(api), 1, 'the new claim is released, the old kept');
  });
});

describe('servers: host failures in API answers', () => {
  it('answers an action the hypervisor fails with a plain 500; the log keeps the words', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const id = await bootedSmall(api);
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    failStartsOnHostPath(hypervisor);
    const res = await action(api, id, { 'os-start': null });
    assert.equal(res.status, 500);
    assert.match(
      message(res),
      /^The compute host could not complete the request \(hypervisor\.operation_failed\)\./u,
    );
    assert.doesNotMatch(JSON.stringify(res.body), /\/srv/u);
    assert.ok(
      api.logged.some((l) => String(l.fields.detail).includes("Cannot access storage file '/srv")),
      'the operator log has the cause',
    );
  });
});
