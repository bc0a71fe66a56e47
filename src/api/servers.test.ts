import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import type { AllocationRecord, ServerRecord } from '../ports/store.js';
import { hypervisorFailingStarts, makeTestApi } from '../testing/api.js';
import { action, boot, flavor, image, message, show, vpmuOf } from '../testing/server-calls.js';

describe('servers API', () => {
  it('boots to ACTIVE with the effective vPMU, the domain defined with the server id as uuid', async () => {
    const api = await makeTestApi();
    const vran = await flavor(api, 'vran', { 'hw:pmu': 'false' });
    const img = await image(api, 'plain');
    const res = await boot(api, vran, img);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.ok(['BUILD', 'ACTIVE'].includes(String((await show(api, res.id)).status)));
    await api.servers.idle();
    const server = await show(api, res.id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-STS:vm_state'], 'active');
    assert.equal(server['OS-EXT-STS:power_state'], 1);
    assert.deepEqual(await vpmuOf(api, res.id), {
      requested: { flavor: 'false', image: null },
      resolved: false,
      source: 'flavor',
      effective: 'off',
      reason: 'Requested by hw:pmu=false from the flavor; libvirt passes pmu=off to QEMU.',
    });
    assert.equal('OS-EXT-SRV-ATTR:host' in server, false, 'members do not see the host');
    const domain = await api.hypervisor.lookup(res.id);
    assert.equal(domain.uuid, res.id);
    assert.match(await api.hypervisor.domainXml(res.id), /<pmu state=["']off["']\/>/u);
    assert.equal(await api.hypervisor.state(res.id), 'running');
    // The root disk is an overlay on the uploaded image data, taken into its own directory.
    const disk = api.disks.files.get(`/instances/${res.id}/disk`);
    assert.equal(disk?.backingFile, `/instances/${res.id}/base`);
    const base = api.disks.files.get(`/instances/${res.id}/base`);
    assert.ok(base?.image?.startsWith(`${api.imagesDir}/`));
    const admin = await show(api, res.id, 'admin');
    assert.equal(admin['OS-EXT-SRV-ATTR:host'], 'compute1');
    assert.match(
      String((await vpmuOf(api, res.id, 'admin')).domain_xml),
      /<pmu state=["']off["']\/>/u,
    );
    const events = api.notifier.delivered.map((n) => n.eventType);
    assert.deepEqual(
      events.filter((e) => e.startsWith('instance.') || e.startsWith('scheduler.')),
      [
        'instance.create.start',
        'scheduler.select_destinations.start',
        'scheduler.select_destinations.end',
        'instance.create.end',
      ],
    );
  });

  it('keeps vpmu keys out of server bodies unless X-Vpmu-Include asks for them', async () => {
    const api = await makeTestApi();
    const vran = await flavor(api, 'vran', { 'hw:pmu': 'false' });
    const { id } = await boot(api, vran, await image(api, 'plain'));
    await api.servers.idle();
    const vpmuKeys = (server: Record<string, unknown>) =>
      Object.keys(server).filter((k) => k.startsWith('vpmu:'));
    assert.deepEqual(vpmuKeys(await show(api, id)), []);
    assert.deepEqual(vpmuKeys(await show(api, id, 'admin')), []);
    const get = (path: string, as: 'member' | 'admin' | 'other', include: string) =>
      api.request('GET', `/compute/v2.1/servers${path}`, {
        as,
        headers: { 'X-Vpmu-Include': include },
      });
    const cases: {
      include: string;
      as: 'member' | 'admin';
      status: number;
      keys?: string[];
      says?: RegExp;
    }[] = [
      { include: 'pmu', as: 'member', status: 200, keys: ['vpmu:pmu'] },
      {
        include: ' pmu , domain_xml',
        as: 'admin',
        status: 200,
        keys: ['vpmu:pmu', 'vpmu:domain_xml'],
      },
      { include: 'domain_xml', as: 'member', status: 403, says: /vpmu:servers:domain_xml/u },
      {
        include: 'pmu,cpu',
        as: 'member',
        status: 400,
        says: /X-Vpmu-Include.*'cpu'.*pmu, domain_xml/u,
      },
    ];
    for (const t of cases) {
      // The member's server is in the admin's detail list only across projects.
      for (const path of [`/${id}`, t.as === 'admin' ? '/detail?all_tenants=1' : '/detail']) {
        const res = await get(path, t.as, t.include);
        assert.equal(res.status, t.status, `${t.include} ${path}: ${JSON.stringify(res.body)}`);
        if (t.says) assert.match(message(res), t.says);
        if (t.keys) {
          const body = res.body as {
            server?: Record<string, unknown>;
            servers?: Record<string, unknown>[];
          };
          const server = body.server ?? body.servers?.[0] ?? {};
          assert.deepEqual(vpmuKeys(server), t.keys, `${t.include} ${path}`);
          assert.deepEqual(server['vpmu:pmu'], await vpmuOf(api, id), 'the same block as os-vpmu');
        }
      }
    }
    // The sub-resource follows the server's visibility: another project sees no such server.
    const other = await api.request('GET', `/compute/v2.1/servers/${id}/os-vpmu`, { as: 'other' });
    assert.equal(other.status, 404);
    assert.equal('domain_xml' in (await vpmuOf(api, id)), false, 'members get no domain XML');
  });

  it("refuses a flavor/image vPMU conflict with Nova's message and records nothing", async () => {
    const api = await makeTestApi();
    const vran = await flavor(api, 'vran', { 'hw:pmu': 'false' });
    const perf = await image(api, 'perf', { hw_pmu: 'true' });
    const res = await boot(api, vran, perf);
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      badRequest: {
        code: 400,
        message:
          'Flavor vran has hw:pmu extra spec explicitly set to False, conflicting with image perf which has hw_pmu explicitly set to True.',
      },
    });
    assert.deepEqual(await api.store.listServers(), []);
    assert.deepEqual(await api.store.listAllocations(), []);
    assert.equal(api.disks.files.size, 0);
  });

  it('refuses bad create bodies naming the field and value', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const cases: [unknown, number, RegExp][] = [
      [{}, 400, /server/u],
      [{ server: { flavorRef: f, imageRef: img } }, 400, /field\/attribute name/u],
      [{ server: { name: 'a', flavorRef: f } }, 400, /imageRef/u],
      [{ server: { name: 'a', imageRef: img } }, 400, /flavorRef/u],
      [
        { server: { name: 'a', imageRef: img, flavorRef: 'nope' } },
        400,
        /Flavor nope could not be found/u,
      ],
      [
        { server: { name: 'a', imageRef: 'nope', flavorRef: f } },
        400,
        /Image nope could not be found/u,
      ],
      [{ server: { name: 'a', imageRef: img, flavorRef: f, max_count: 0 } }, 400, /max_count/u],
      [
        { server: { name: 'a', imageRef: img, flavorRef: f, bogus: 1 } },
        400,
        /'bogus' was unexpected/u,
      ],
    ];
    for (const [body, status, pattern] of cases) {
      const res = await api.request('POST', '/compute/v2.1/servers', { as: 'member', body });
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(message(res), pattern);
    }
    const queued = await api.request('POST', '/image/v2/images', {
      body: { name: 'empty', disk_format: 'raw', container_format: 'bare', visibility: 'public' },
    });
    const empty = (queued.body as { id: string }).id;
    const res = await boot(api, f, empty);
    assert.equal(res.status, 400);
    assert.match(message(res), /is not active/u);
    assert.deepEqual(await api.store.listServers(), []);
  });

  it('lets readers look but not boot, and hides servers from other projects (404)', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    assert.equal((await boot(api, f, img, 'reader')).status, 403);
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const list = await api.request('GET', '/compute/v2.1/servers', { as: 'reader' });
    assert.deepEqual(
      (list.body as { servers: { id: string }[] }).servers.map((s) => s.id),
      [id],
    );
    for (const [method, path, body] of [
      ['GET', `/compute/v2.1/servers/${id}`, undefined],
      ['DELETE', `/compute/v2.1/servers/${id}`, undefined],
      ['POST', `/compute/v2.1/servers/${id}/action`, { 'os-stop': null }],
    ] as const) {
      const res = await api.request(method, path, { as: 'other', body });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(message(res), `Instance ${id} could not be found.`);
    }
    const theirs = await api.request('GET', '/compute/v2.1/servers/detail', { as: 'other' });
    assert.deepEqual((theirs.body as { servers: unknown[] }).servers, []);
    const sneaky = await api.request('GET', '/compute/v2.1/servers/detail?all_tenants=1', {
      as: 'other',
    });
    assert.equal(sneaky.status, 403);
    const all = await api.request('GET', '/compute/v2.1/servers/detail?all_tenants=1');
    assert.equal((all.body as { servers: unknown[] }).servers.length, 1);
    const mine = await api.request('GET', '/compute/v2.1/servers/detail');
    assert.equal((mine.body as { servers: unknown[] }).servers.length, 0, 'admin project has none');
    const byName = await api.request('GET', '/compute/v2.1/servers/detail?name=nomatch', {
      as: 'member',
    });
    assert.deepEqual((byName.body as { servers: unknown[] }).servers, []);
    const byStatus = await api.request('GET', '/compute/v2.1/servers/detail?status=ACTIVE', {
      as: 'member',
    });
    assert.equal((byStatus.body as { servers: unknown[] }).servers.length, 1);
  });

  it('refuses every server action to readers (403) and to other projects (404), changing nothing', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const bigger = await flavor(api, 'bigger', {}, { vcpus: 2 });
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const before = await api.store.getServer(id);
    // prettier-ignore
    const ACTIONS = [
      { 'os-start': null }, { 'os-stop': null }, { reboot: { type: 'SOFT' } }, { reboot: { type: 'HARD' } },
      { rebuild: { imageRef: img } }, { resize: { flavorRef: bigger } },
      { confirmResize: null }, { revertResize: null },
    ];
    for (const body of ACTIONS) {
      const name = Object.keys(body)[0] ?? '';
      const reader = await action(api, id, body, 'reader');
      assert.equal(reader.status, 403, `${name} as reader: ${JSON.stringify(reader.body)}`);
      const other = await action(api, id, body, 'other');
      assert.equal(other.status, 404, `${name} as another project`);
      assert.equal(message(other), `Instance ${id} could not be found.`);
    }
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'reader' });
    assert.equal(del.status, 403);
    assert.deepEqual(await api.store.getServer(id), before);
    assert.equal(await api.hypervisor.state(id), 'running');
  });

  it('stops, starts, reboots and deletes, refusing actions in the wrong state with 409', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const start = await action(api, id, { 'os-start': null });
    assert.equal(start.status, 409);
    assert.match(message(start), /Cannot 'start' instance .* while it is in vm_state active/u);
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    assert.equal((await show(api, id)).status, 'SHUTOFF');
    assert.equal(await api.hypervisor.state(id), 'shutoff');
    assert.equal((await action(api, id, { reboot: { type: 'SOFT' } })).status, 409);
    assert.equal((await action(api, id, { reboot: { type: 'HARD' } })).status, 202);
    assert.equal(await api.hypervisor.state(id), 'running');
    assert.equal((await action(api, id, { reboot: { type: 'SOFT' } })).status, 202);
    assert.equal((await action(api, id, { reboot: { type: 'medium' } })).status, 400);
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    assert.equal((await action(api, id, { 'os-start': null })).status, 202);
    assert.equal((await show(api, id)).status, 'ACTIVE');
    assert.equal((await action(api, id, { rescue: null })).status, 400);
    assert.equal((await action(api, id, { 'os-stop': null }, 'reader')).status, 403);
    const readerDelete = await api.request('DELETE', `/compute/v2.1/servers/${id}`, {
      as: 'reader',
    });
    assert.equal(readerDelete.status, 403);
    assert.match(message(readerDelete), /only the reader role/u);
    const callsBefore = hypervisor.calls.length;
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204);
    // As in Nova, delete powers off at once: no graceful shutdown first.
    assert.deepEqual(hypervisor.calls.slice(callsBefore), ['destroy', 'undefine']);
    assert.equal(await api.hypervisor.find(id), undefined);
    assert.deepEqual(await api.store.listAllocations(), []);
    assert.ok(api.disks.removed.includes(`/instances/${id}`));
    assert.equal(
      (await api.request('GET', `/compute/v2.1/servers/${id}`, { as: 'member' })).status,
      404,
    );
    const types = api.notifier.delivered.map((n) => n.eventType);
    for (const e of [
      'instance.power_off.start',
      'instance.power_off.end',
      'instance.power_on.end',
      'instance.delete.start',
      'instance.delete.end',
    ]) {
      assert.ok(types.includes(e), e);
    }
  });

  it('rebuilds with a new image, resolving the vPMU again; a conflict changes nothing', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const off = await flavor(api, 'vran', { 'hw:pmu': 'false' });
    const plain = await image(api, 'plain');
    const perf = await image(api, 'perf', { hw_pmu: 'true' });
    const { id } = await boot(api, f, plain);
    await api.servers.idle();
    const rebuilt = await action(api, id, { rebuild: { imageRef: perf } });
    assert.equal(rebuilt.status, 202, JSON.stringify(rebuilt.body));
    const server = await show(api, id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal((server.image as { id: string }).id, perf);
    assert.equal((await vpmuOf(api, id)).effective, 'on');
    assert.match(await api.hypervisor.domainXml(id), /<pmu state=["']on["']\/>/u);
    assert.equal((await api.hypervisor.lookup(id)).uuid, id, 'same uuid');

    const { id: vranId } = await boot(api, off, plain);
    await api.servers.idle();
    const before = await api.store.getServer(vranId);
    const refused = await action(api, vranId, { rebuild: { imageRef: perf } });
    assert.equal(refused.status, 400);
    assert.match(message(refused), /^Flavor vran has hw:pmu extra spec explicitly set to False/u);
    assert.deepEqual(await api.store.getServer(vranId), before);
    assert.match(await api.hypervisor.domainXml(vranId), /<pmu state=["']off["']\/>/u);
  });

  it('resizes to VERIFY_RESIZE holding both claims; confirm keeps the new, revert restores the old', async () => {
    const api = await makeTestApi();
    const small = await flavor(api, 'small', {}, { vcpus: 1 });
    const big = await flavor(api, 'big', { 'hw:pmu': 'true' }, { vcpus: 2 });
    const vran = await flavor(api, 'vran', { 'hw:pmu': 'false' }, { vcpus: 2 });
    const perf = await image(api, 'perf', { hw_pmu: 'true' });
    const { id } = await boot(api, small, perf);
    await api.servers.idle();
    const conflict = await action(api, id, { resize: { flavorRef: vran } });
    assert.equal(conflict.status, 400);
    assert.match(message(conflict), /Flavor vran has hw:pmu extra spec explicitly set to False/u);
    assert.equal((await api.store.listAllocations()).length, 1);
    const same = await action(api, id, { resize: { flavorRef: small } });
    assert.equal(same.status, 400);
    assert.equal(message(same), 'When resizing, instances must change flavor!');

    assert.equal((await action(api, id, { resize: { flavorRef: big } })).status, 202);
    let server = await show(api, id);
    assert.equal(server.status, 'VERIFY_RESIZE');
    const vcpus = async () =>
      (await api.store.listAllocations()).reduce((n, a) => n + a.resources.VCPU, 0);
    assert.equal(await vcpus(), 3, 'old and new claims held');
    assert.match(await api.hypervisor.domainXml(id), /<vcpu[^>]*>2<\/vcpu>/u);
    assert.equal((await action(api, id, { revertResize: null })).status, 202);
    server = await show(api, id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal((server.flavor as { id: string }).id, small);
    assert.equal(await vcpus(), 1);
    assert.match(await api.hypervisor.domainXml(id), /<vcpu[^>]*>1<\/vcpu>/u);

    assert.equal((await action(api, id, { resize: { flavorRef: big } })).status, 202);
    assert.equal((await action(api, id, { confirmResize: null })).status, 204);
    server = await show(api, id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal((server.flavor as { id: string }).id, big);
    assert.equal(await vcpus(), 2);
    assert.equal((await action(api, id, { confirmResize: null })).status, 409);
    const types = api.notifier.delivered.map((n) => n.eventType);
    assert.ok(types.includes('instance.resize.start') && types.includes('instance.resize.end'));
  });

  it('refuses a resize its host has no room for with 400, and changes nothing', async () => {
    const api = await makeTestApi({ hostVcpus: 2 });
    const small = await flavor(api, 'small', {}, { vcpus: 1 });
    const big = await flavor(api, 'big', {}, { vcpus: 2 });
    const img = await image(api, 'plain');
    const { id } = await boot(api, small, img);
    await api.servers.idle();
    const before = await api.store.getServer(id);
    const refused = await action(api, id, { resize: { flavorRef: big } });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers.get('X-Compute-Error-Code'), 'server.no_room_to_resize');
    assert.match(
      message(refused),
      /^No valid host was found\. Host compute1 has no room for flavor 'big'/u,
    );
    // The same record; only its save counter moved (the refused resize saved it, then undid it).
    assert.deepEqual(
      { ...(await api.store.getServer(id)), version: undefined },
      {
        ...before,
        version: undefined,
      },
    );
    assert.equal((await api.store.listAllocations()).length, 1);
  });

  it('shows flavor details from microversion 2.47 on', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'vran', { 'hw:pmu': 'false' });
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const res = await api.request('GET', `/compute/v2.1/servers/${id}`, {
      as: 'member',
      headers: { 'OpenStack-API-Version': 'compute 2.47' },
    });
    assert.deepEqual((res.body as { server: { flavor: unknown } }).server.flavor, {
      vcpus: 1,
      ram: 256,
      disk: 1,
      ephemeral: 0,
      swap: 0,
      original_name: 'vran',
      extra_specs: { 'hw:pmu': 'false' },
    });
  });

  it('puts a server in ERROR with a fault and leaves nothing behind when the guest fails to start', async () => {
    const hypervisor = hypervisorFailingStarts(Infinity);
    const api = await makeTestApi({ hypervisor });
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const server = await show(api, id);
    assert.equal(server.status, 'ERROR');
    assert.equal((server.fault as { code: number }).code, 500);
    assert.equal(await hypervisor.find(id), undefined);
    assert.deepEqual(await api.store.listAllocations(), []);
    assert.ok(api.disks.removed.includes(`/instances/${id}`));
    assert.ok(api.notifier.delivered.some((n) => n.eventType === 'instance.create.error'));
    const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
    assert.equal(del.status, 204);
  });

  it('removes the running guest when the build fails after it started (the ACTIVE record cannot be saved)', async () => {
    const store = new (class extends MemoryStore {
      override async saveServer(server: ServerRecord): Promise<void> {
        if (server.status === 'ACTIVE') throw new Error('disk full');
        return super.saveServer(server);
      }
    })();
    const api = await makeTestApi({ store });
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const { id } = await boot(api, f, img);
    await api.servers.idle();
    const server = await show(api, id);
    assert.equal(server.status, 'ERROR');
    assert.equal(await api.hypervisor.find(id), undefined, 'no domain left behind');
    assert.deepEqual(await api.store.listAllocations(), []);
    assert.ok(api.disks.removed.includes(`/instances/${id}`));
  });

  it('rebuilds a server in ERROR only with its resources claimed again; a full host refuses with 400', async () => {
    const hypervisor = hypervisorFailingStarts(1);
    const api = await makeTestApi({ hypervisor, hostVcpus: 1 });
    const f = await flavor(api, 'one', {}, { vcpus: 1 });
    const img = await image(api, 'plain');
    const failed = await boot(api, f, img, 'member', 'failed');
    await api.servers.idle();
    assert.equal((await show(api, failed.id)).status, 'ERROR');
    const other = await boot(api, f, img, 'member', 'other');
    await api.servers.idle();
    assert.equal((await show(api, other.id)).status, 'ACTIVE', 'the released vCPU was reused');

    const before = await api.store.getServer(failed.id);
    const refused = await action(api, failed.id, { rebuild: { imageRef: img } });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(
      message(refused),
      /^No valid host was found\. Host compute1 has no room to rebuild/u,
    );
    assert.deepEqual(await api.store.getServer(failed.id), before, 'nothing changed');
    assert.deepEqual(
      (await api.store.listAllocations()).map((a) => a.consumerId),
      [other.id],
    );

    assert.equal((await api.request('DELETE', `/compute/v2.1/servers/${other.id}`)).status, 204);
    const rebuilt = await action(api, failed.id, { rebuild: { imageRef: img } });
    assert.equal(rebuilt.status, 202, JSON.stringify(rebuilt.body));
    assert.equal((await show(api, failed.id)).status, 'ACTIVE');
    assert.deepEqual(
      (await api.store.listAllocations()).map((a) => a.consumerId),
      [failed.id],
    );
  });

  it('rebuilds a stopped server and leaves it stopped, as Nova does', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const plain = await image(api, 'plain');
    const perf = await image(api, 'perf', { hw_pmu: 'true' });
    const { id } = await boot(api, f, plain);
    await api.servers.idle();
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    const rebuilt = await action(api, id, { rebuild: { imageRef: perf } });
    assert.equal(rebuilt.status, 202, JSON.stringify(rebuilt.body));
    const server = await show(api, id);
    assert.deepEqual(
      [server.status, server['OS-EXT-STS:vm_state'], server['OS-EXT-STS:power_state']],
      ['SHUTOFF', 'stopped', 4],
    );
    assert.equal(await api.hypervisor.state(id), 'shutoff');
    assert.match(await api.hypervisor.domainXml(id), /<pmu state=["']on["']\/>/u);
  });

  for (const kind of ['memory', 'SQLite'] as const) {
    it(`puts 10 of 50 concurrent boots in ERROR with "No valid host was found." on a host with room for 40 (${kind} store)`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-claims-'));
      const store =
        kind === 'SQLite' ? await openSqliteStore(path.join(dir, 'vpmu.db')) : undefined;
      try {
        // No build limit: all 50 race for the claims at once.
        const api = await makeTestApi({
          hostVcpus: 40,
          maxConcurrentBuilds: 0,
          ...(store === undefined ? {} : { store }),
        });
        // Past Nova's default quotas (10 instances), so the host's room is what refuses.
        await api.store.setQuotaLimits(
          { kind: 'class', name: 'default' },
          { instances: -1, cores: -1, ram: -1 },
        );
        const f = await flavor(api, 'one', {}, { vcpus: 1 });
        const img = await image(api, 'plain');
        const boots = await Promise.all(
          Array.from({ length: 50 }, (_, i) => boot(api, f, img, 'member', `vm${String(i)}`)),
        );
        assert.ok(boots.every((b) => b.status === 202));
        await api.servers.idle();
        const servers = await api.store.listServers();
        const active = servers.filter((s) => s.status === 'ACTIVE');
        const errored = servers.filter((s) => s.status === 'ERROR');
        assert.equal(active.length, 40);
        assert.equal(errored.length, 10);
        for (const s of errored)
          assert.match(s.fault?.message ?? '', /^No valid host was found\./u);
        const used = (await api.store.listAllocations()).reduce((n, a) => n + a.resources.VCPU, 0);
        assert.equal(used, 40);
        assert.equal(
          (await api.hypervisor.list()).filter((d) => d.name.startsWith('instance-')).length,
          40,
        );
      } finally {
        await store?.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('places on two hosts: a boot that loses its claim race takes the next host; a third finds none', async () => {
    // Both builds have chosen a host before either claims: the race, made certain.
    let claimers = 0;
    let bothChose!: () => void;
    const barrier = new Promise<void>((resolve) => (bothChose = resolve));
    const store = new (class extends MemoryStore {
      override async claim(allocation: AllocationRecord) {
        if (++claimers === 2) bothChose();
        if (claimers <= 2) await barrier;
        return super.claim(allocation);
      }
    })();
    const api = await makeTestApi({
      store,
      hostVcpus: 1,
      extraHosts: [{ name: 'compute2', vcpus: 1 }],
      maxConcurrentBuilds: 0,
    });
    const f = await flavor(api, 'one', {}, { vcpus: 1 });
    const img = await image(api, 'plain');
    const [a, b] = await Promise.all([
      boot(api, f, img, 'member', 'a'),
      boot(api, f, img, 'member', 'b'),
    ]);
    await api.servers.idle();
    const placed = await Promise.all(
      [a, b].map(async (s) => (await api.store.getServer(s.id))?.host),
    );
    assert.deepEqual([...placed].sort(), ['compute1', 'compute2']);
    // Both picked the same best host; the loser of the claim went on to the other.
    assert.ok(api.logged.some((l) => l.message === 'claim lost a race; trying the next host'));
    for (const [host, hypervisor] of api.hypervisors) {
      const mine = [a, b].filter((_, i) => placed[i] === host).map((s) => s.id);
      assert.deepEqual(
        (await hypervisor.list()).map((d) => d.uuid),
        mine,
        host,
      );
    }
    const c = await boot(api, f, img, 'member', 'c');
    await api.servers.idle();
    const third = await api.store.getServer(c.id);
    assert.equal(third?.status, 'ERROR');
    assert.match(third.fault?.message ?? '', /^No valid host was found\./u);
  });

  it('runs at most maxConcurrentBuilds builds at once; the others wait in BUILD, then finish', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let defining = 0;
    let most = 0;
    const hypervisor = new (class extends FakeHypervisor {
      override async define(xml: string) {
        defining++;
        most = Math.max(most, defining);
        await gate;
        defining--;
        return super.define(xml);
      }
    })();
    const api = await makeTestApi({ hypervisor, maxConcurrentBuilds: 3 });
    const f = await flavor(api, 'one', {}, { vcpus: 1 });
    const img = await image(api, 'plain');
    for (let i = 0; i < 8; i++)
      assert.equal((await boot(api, f, img, 'member', `b${i}`)).status, 202);
    for (let spins = 0; spins < 100; spins++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(defining, 3);
    const waiting = (await api.store.listServers()).filter((s) => s.status === 'BUILD');
    assert.equal(waiting.length, 8);
    open();
    await api.servers.idle();
    assert.equal(most, 3);
    const servers = await api.store.listServers();
    assert.deepEqual(
      servers.map((s) => s.status),
      Array.from({ length: 8 }, () => 'ACTIVE'),
    );
  });

  it('shows the notifier counters to admins only, counting what a boot published', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 3 });
    const img = await image(api, 'plain');
    const before = api.notifier.stats().published;
    await boot(api, f, img);
    await api.servers.idle();
    assert.equal(
      (await api.request('GET', '/compute/v2.1/vpmu/notifier', { as: 'member' })).status,
      403,
    );
    const shown = await api.request('GET', '/compute/v2.1/vpmu/notifier');
    assert.equal(shown.status, 200);
    const counters = (shown.body as { notifier: { published: number; dropped: number } }).notifier;
    assert.ok(counters.published > before, `published ${counters.published}`);
    assert.equal(counters.published, api.notifier.stats().published);
    assert.equal(counters.dropped, 0);
  });

  it('lists hypervisors with capacity and use to admins only (more in hypervisors.test.ts)', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small', {}, { vcpus: 2, ram: 512, disk: 3 });
    const img = await image(api, 'plain');
    await boot(api, f, img);
    await api.servers.idle();
    for (const path of ['', '/detail', '/1']) {
      const url = `/compute/v2.1/os-hypervisors${path}`;
      assert.equal((await api.request('GET', url, { as: 'member' })).status, 403, url);
    }
    const list = await api.request('GET', '/compute/v2.1/os-hypervisors');
    assert.deepEqual(list.body, {
      hypervisors: [{ id: 1, hypervisor_hostname: 'compute1', state: 'up', status: 'enabled' }],
    });
    const detail = await api.request('GET', '/compute/v2.1/os-hypervisors/detail');
    const [h] = (detail.body as { hypervisors: Record<string, unknown>[] }).hypervisors;
    assert.equal(h?.vcpus, 16);
    assert.equal(h.vcpus_used, 2);
    assert.equal(h.memory_mb_used, 512);
    assert.equal(h.local_gb_used, 3);
    assert.equal(h.running_vms, 1);
    assert.equal(
      Object.keys(h).some((key) => key.startsWith('vpmu:')),
      false,
      "inventories and traits are Placement's to show, not os-hypervisors'",
    );
    assert.equal((await api.request('GET', '/compute/v2.1/os-hypervisors/1')).status, 200);
    assert.equal((await api.request('GET', '/compute/v2.1/os-hypervisors/9')).status, 404);
  });

  it('with the vPMU prefilter on, a vPMU-on boot finds no host without CUSTOM_HW_VPMU', async () => {
    const api = await makeTestApi({ vpmuPrefilter: true, hostTraits: [] });
    const f = await flavor(api, 'small');
    const perf = await image(api, 'perf', { hw_pmu: 'true' });
    const plain = await image(api, 'plain');
    const on = await boot(api, f, perf);
    const unset = await boot(api, f, plain);
    await api.servers.idle();
    const failed = await api.store.getServer(on.id);
    assert.equal(failed?.status, 'ERROR');
    assert.match(failed.fault?.message ?? '', /^No valid host was found\./u);
    assert.equal((await api.store.getServer(unset.id))?.status, 'ACTIVE');
  });

  it('deletes a server still waiting for a build slot at once; it is never built', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const hypervisor = new (class extends FakeHypervisor {
      override async define(xml: string) {
        await gate;
        return super.define(xml);
      }
    })();
    const api = await makeTestApi({ hypervisor, maxConcurrentBuilds: 1 });
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const first = await boot(api, f, img, 'member', 'first');
    const waiting = await boot(api, f, img, 'member', 'waiting');
    for (let spins = 0; spins < 100; spins++) await new Promise((resolve) => setImmediate(resolve));
    const del = await api.request('DELETE', `/compute/v2.1/servers/${waiting.id}`);
    assert.equal(del.status, 204, 'answered while the first build still holds the only slot');
    assert.equal(await api.store.getServer(waiting.id), undefined);
    open();
    await api.servers.idle();
    assert.equal((await show(api, first.id)).status, 'ACTIVE');
    assert.deepEqual(
      (await api.hypervisor.list()).map((d) => d.uuid),
      [first.id],
    );
    const mine = api.notifier.delivered
      .filter((n) => n.body.includes(waiting.id))
      .map((n) => n.eventType);
    assert.deepEqual(mine, ['instance.delete.start', 'instance.delete.end']);
  });

  it('reconciles a build that was still waiting for its turn: ERROR, nothing claimed', async () => {
    const hypervisor = new (class extends FakeHypervisor {
      override async define(): Promise<never> {
        return new Promise<never>(() => undefined); // the first build never finishes
      }
    })();
    const api = await makeTestApi({ hypervisor, maxConcurrentBuilds: 1 });
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    await boot(api, f, img, 'member', 'first');
    const waiting = await boot(api, f, img, 'member', 'waiting');
    for (let spins = 0; spins < 100; spins++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal((await api.store.getServer(waiting.id))?.host, null);
    const report = await api.servers.reconcile();
    assert.ok(report.errored.includes(waiting.id), JSON.stringify(report));
    const errored = await api.store.getServer(waiting.id);
    assert.equal(errored?.status, 'ERROR');
    assert.match(errored.fault?.message ?? '', /restarted before server .* was scheduled/u);
    assert.equal(errored.claimId, null);
  });

  it('reconciles: a vanished domain puts its server in ERROR; a stopped one makes it SHUTOFF', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const a = await boot(api, f, img, 'member', 'a');
    const b = await boot(api, f, img, 'member', 'b');
    await api.servers.idle();
    await api.hypervisor.destroy(a.id);
    await api.hypervisor.undefine(a.id);
    await api.hypervisor.destroy(b.id);
    await api.hypervisor.define(
      '<domain type="qemu"><name>instance-stray</name><uuid>99999999-9999-4999-8999-999999999999</uuid><memory>1024</memory><os><type>hvm</type></os></domain>',
    );
    const report = await api.servers.reconcile();
    assert.deepEqual(report, {
      errored: [a.id],
      corrected: [b.id],
      deleted: [],
      unknown: ['99999999-9999-4999-8999-999999999999'],
      removedDisks: [],
    });
    const gone = await api.store.getServer(a.id);
    assert.equal(gone?.status, 'ERROR');
    assert.match(gone.fault?.message ?? '', /is gone from fake:\/\/\/default/u);
    assert.equal((await api.store.getServer(b.id))?.status, 'SHUTOFF');
    assert.ok(await api.hypervisor.find('instance-stray'), 'unknown domains are never deleted');
  });
});
