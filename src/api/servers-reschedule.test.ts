/**
 * A build that fails on its host goes to another, as Nova's reschedule to an alternate: up to
 * schedulerMaxAttempts hosts, never back to one it failed on, never away from a host the request
 * named, and never for a failure every host would share.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { MemoryStore } from '../adapters/store/memory-store.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import { failEveryStart, makeTestApi, type TestApi } from '../testing/api.js';
import { boot, flavor, image, show } from '../testing/server-calls.js';

/** Every start on this host fails, as libvirt fails one when QEMU cannot start. */
function failStarts(hypervisor: Hypervisor | undefined): void {
  assert.ok(hypervisor instanceof FakeHypervisor);
  failEveryStart(hypervisor, 'internal error: qemu unexpectedly closed the monitor');
}

/** compute1 (16 vCPUs) is the best host, then compute2 (8), then compute3 (4). */
async function threeHosts(
  failing: readonly string[],
  options: { schedulerMaxAttempts?: number; store?: MemoryStore } = {},
): Promise<TestApi> {
  const api = await makeTestApi({
    extraHosts: [
      { name: 'compute2', vcpus: 8 },
      { name: 'compute3', vcpus: 4 },
    ],
    ...options,
  });
  for (const host of failing) failStarts(api.hypervisors.get(host));
  return api;
}

async function bootOne(api: TestApi, zone?: string): Promise<string> {
  const f = await flavor(api, 'one', {}, { vcpus: 1 });
  const img = await image(api, 'plain');
  if (zone === undefined) {
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    return id;
  }
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as: 'admin',
    body: {
      server: {
        name: 'vm',
        flavorRef: f,
        imageRef: img,
        networks: 'none',
        availability_zone: zone,
      },
    },
  });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await api.servers.idle();
  return (res.body as { server: { id: string } }).server.id;
}

async function domainsPerHost(api: TestApi): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [host, hypervisor] of api.hypervisors) {
    counts[host] = (await hypervisor.list()).length;
  }
  return counts;
}

async function eventsOf(api: TestApi, id: string): Promise<string[]> {
  const [create] = await api.store.listInstanceActions(id);
  return (create?.events ?? []).map((e) => `${e.event} ${String(e.result)} ${String(e.host)}`);
}

describe('servers: a failed build goes to another host', () => {
  it('builds on the next best host when the best one fails, leaving nothing on the first', async () => {
    const api = await threeHosts(['compute1']);
    const id = await bootOne(api);
    const view = await show(api, id, 'admin');
    assert.deepEqual([view.status, view['OS-EXT-SRV-ATTR:host']], ['ACTIVE', 'compute2']);
    assert.deepEqual(await domainsPerHost(api), { compute1: 0, compute2: 1, compute3: 0 });
    assert.deepEqual(
      (await api.store.listAllocations()).map((a) => [a.consumerId, a.host]),
      [[id, 'compute2']],
    );
    assert.deepEqual(await eventsOf(api, id), [
      'conductor_schedule_and_build_instances Success null',
      'compute__do_build_and_run_instance Error compute1',
      'conductor_schedule_and_build_instances Success null',
      'compute__do_build_and_run_instance Success compute2',
    ]);
    assert.ok(
      api.logged.some(
        (l) =>
          l.message === 'build failed on a host; rescheduling to another' &&
          l.fields.host === 'compute1',
      ),
    );
  });

  it('stops after schedulerMaxAttempts hosts, in ERROR on the last, with Nova’s words and no claim', async () => {
    const api = await threeHosts(['compute1', 'compute2', 'compute3']);
    const id = await bootOne(api);
    const view = await show(api, id, 'admin');
    assert.deepEqual([view.status, view['OS-EXT-SRV-ATTR:host']], ['ERROR', 'compute3']);
    const fault = view.fault as { message: string; details: string };
    assert.equal(
      fault.message,
      `Exceeded maximum number of retries. Exceeded max scheduling attempts 3 for instance ${id}. Last exception: The create of server ${id} failed: the hypervisor could not start its guest. An administrator can see the cause in the fault details.`,
    );
    assert.match(fault.details, /qemu unexpectedly closed the monitor/u, 'the cause, for admins');
    const tenant = (await show(api, id)).fault as { message: string; details?: string };
    assert.equal(tenant.details, undefined);
    assert.deepEqual(await api.store.listAllocations(), []);
    assert.deepEqual(await domainsPerHost(api), { compute1: 0, compute2: 0, compute3: 0 });
  });

  it('ends when no host is left to try, before max attempts', async () => {
    const api = await threeHosts(['compute1', 'compute2']);
    // compute3 is full.
    const big = await flavor(api, 'big', {}, { vcpus: 4 });
    const img = await image(api, 'filler');
    await boot(api, big, img, 'member', 'filler');
    await api.servers.idle();
    const id = await bootOne(api);
    const view = await show(api, id, 'admin');
    assert.deepEqual([view.status, view['OS-EXT-SRV-ATTR:host']], ['ERROR', 'compute2']);
    assert.match(
      (view.fault as { message: string }).message,
      /^Exceeded maximum number of retries\. Exhausted all hosts available for retrying build failures for instance [0-9a-f-]+\. Last exception: The create of server/u,
    );
    assert.deepEqual(
      (await api.store.listAllocations()).map((a) => a.host),
      ['compute3'],
      "the filler's only",
    );
  });

  it('keeps the failure as it was when there is no other host, or the request named the host', async () => {
    for (const zone of [undefined, 'nova:compute1']) {
      const api = await threeHosts(
        ['compute1'],
        zone === undefined ? { schedulerMaxAttempts: 1 } : {},
      );
      const id = await bootOne(api, zone);
      const view = await show(api, id, 'admin');
      assert.deepEqual([view.status, view['OS-EXT-SRV-ATTR:host']], ['ERROR', 'compute1'], zone);
      assert.match(
        (view.fault as { message: string }).message,
        /^The create of server .* failed: the hypervisor could not start its guest\./u,
      );
      assert.equal(
        (await eventsOf(api, id)).filter((e) => e.startsWith('compute_')).length,
        1,
        'one attempt',
      );
    }
  });

  it('fails with what went wrong when a reschedule cannot schedule for another reason', async () => {
    // The second decision (the reschedule) finds the database gone.
    let decisions = 0;
    const store = new (class extends MemoryStore {
      override async silentHosts(before: string): Promise<string[]> {
        if (++decisions === 2) throw new Error('database gone');
        return super.silentHosts(before);
      }
    })();
    const api = await threeHosts(['compute1'], { store });
    const id = await bootOne(api);
    const view = await show(api, id, 'admin');
    assert.equal(view.status, 'ERROR');
    const fault = view.fault as { message: string; details: string };
    assert.match(fault.message, /^Unexpected error during create of server /u);
    assert.match(fault.details, /database gone/u);
    assert.deepEqual(await api.store.listAllocations(), []);
  });
});
