/**
 * Server create, update, rebuild and the metadata API field by field, through the HTTP API:
 * every field of Nova's schemas is honoured (stored, shown, kept over a restart) or refused with
 * a 400 naming it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { openSqliteStore } from '../adapters/store/sqlite-store.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, flavor, image, message, show } from '../testing/server-calls.js';

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

async function create(
  api: TestApi,
  server: Record<string, unknown>,
  version = '2.1',
): Promise<{ status: number; body: Record<string, unknown>; id: string; text: string }> {
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as: 'member',
    headers: mv(version),
    body: { server },
  });
  const body = res.body as Record<string, unknown>;
  const id = (body.server as { id?: string } | undefined)?.id ?? '';
  return { status: res.status, body, id, text: message(res) };
}

async function showAt(
  api: TestApi,
  id: string,
  version: string,
  as: 'member' | 'admin' = 'member',
) {
  const res = await api.request('GET', `/compute/v2.1/servers/${id}`, { as, headers: mv(version) });
  assert.equal(res.status, 200, res.text);
  return (res.body as { server: Record<string, unknown> }).server;
}

/** An active image with Glance's min_ram/min_disk. */
async function sizedImage(api: TestApi, minRam: number, minDisk: number): Promise<string> {
  const res = await api.request('POST', '/image/v2/images', {
    body: {
      name: `min-${minRam}-${minDisk}`,
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
      min_ram: minRam,
      min_disk: minDisk,
    },
  });
  assert.equal(res.status, 201, res.text);
  const id = (res.body as { id: string }).id;
  const put = await api.request('PUT', `/image/v2/images/${id}/file`, {
    rawBody: new Uint8Array(1024),
  });
  assert.equal(put.status, 204, put.text);
  return id;
}

describe('server fields', () => {
  it('honours every create field it accepts: stored, shown, kept over a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-fields-'));
    try {
      const file = path.join(dir, 'vpmu.db');
      const api = await makeTestApi({ store: await openSqliteStore(file) });
      const f = await flavor(api, 'small');
      const img = await image(api, 'plain');
      const fields = {
        metadata: { role: 'vran', 'a-b_c:d. e': 'x'.repeat(255) },
        accessIPv4: '192.0.2.10',
        accessIPv6: '2001:db8::10',
        description: 'a vRAN node',
        'OS-DCF:diskConfig': 'AUTO',
      };
      const res = await create(
        api,
        {
          name: 'vm',
          flavorRef: f,
          imageRef: img,
          networks: 'none',
          availability_zone: 'nova',
          ...fields,
        },
        '2.19',
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal((res.body.server as Record<string, unknown>)['OS-DCF:diskConfig'], 'AUTO');
      await api.servers.idle();
      const expected = (server: Record<string, unknown>) => {
        for (const [key, value] of Object.entries(fields)) {
          assert.deepEqual(server[key], value, key);
        }
        assert.equal(server['OS-EXT-AZ:availability_zone'], 'nova');
      };
      expected(await showAt(api, res.id, '2.19'));
      await api.store.close();
      // A restart: the record read back from the database file holds every field.
      const reopened = await openSqliteStore(file);
      const record = await reopened.getServer(res.id);
      await reopened.close();
      assert.deepEqual(
        {
          metadata: record?.metadata,
          accessIPv4: record?.accessIPv4,
          accessIPv6: record?.accessIPv6,
          description: record?.description,
          'OS-DCF:diskConfig': record?.diskConfig,
        },
        fields,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses every create field it does not offer, and bad values, naming the field', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const base = { name: 'vm', flavorRef: f, imageRef: img };
    const manyItems = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    const cases: {
      body: Record<string, unknown>;
      version?: string;
      status?: number;
      says: RegExp;
    }[] = [
      { body: { key_name: 'k' }, says: /^Keypair k not found for user [0-9a-f]+$/u },
      { body: { user_data: 'a' }, says: /user_data\. Value: a\. 'a' is not a 'base64'/u },
      { body: { config_drive: 'x' }, says: /config_drive\. Value: x\. "x" is not a boolean/u },
      {
        body: { security_groups: [{ name: 'default' }] },
        says: /security_groups:.*no networking service/u,
      },
      { body: { block_device_mapping_v2: [] }, says: /block_device_mapping_v2:.*no volumes/u },
      { body: { block_device_mapping: [] }, says: /block_device_mapping:.*no volumes/u },
      { body: { personality: [] }, says: /personality: vpmu does not inject files/u },
      { body: { personality: [] }, version: '2.57', says: /'personality' was unexpected/u },
      { body: { adminPass: '' }, says: /adminPass\. Value: \. An empty password cannot be given/u },
      {
        body: { adminPass: 7 },
        says: /adminPass\. Value: \*\*\*\. A number is not of type 'string'/u,
      },
      {
        body: { tags: ['a/b'], networks: 'none' },
        version: '2.52',
        says: /tags\. Value: \["a\/b"\]\. 'a\/b' does not match/u,
      },
      {
        body: { tags: 'a', networks: 'none' },
        version: '2.52',
        says: /The tags must be a list of strings/u,
      },
      { body: { tags: ['a'] }, says: /'tags' was unexpected/u },
      {
        body: { trusted_image_certificates: ['x'] },
        version: '2.63',
        says: /trusted_image_certificates/u,
      },
      {
        body: { host: 'compute1' },
        version: '2.74',
        says: /host: vpmu does not take a requested host/u,
      },
      { body: { hostname: 'h' }, version: '2.90', says: /hostname: vpmu has no metadata service/u },
      { body: { networks: 'auto' }, says: /networks: 'auto'.*no networking service/u },
      {
        body: { networks: [{ uuid: 'n' }] },
        says: /networks: requested networks.*no networking service/u,
      },
      { body: {}, version: '2.37', says: /'networks' is a required property/u },
      {
        body: { availability_zone: 'az2' },
        says: /The requested availability zone is not available/u,
      },
      { body: { metadata: { '': 'v' } }, says: /field\/attribute metadata.*metadata key ''/u },
      { body: { metadata: { ['k'.repeat(256)]: 'v' } }, says: /field\/attribute metadata/u },
      { body: { metadata: { k: 'v'.repeat(256) } }, says: /field\/attribute metadata\.k/u },
      { body: { metadata: { k: 1 } }, says: /field\/attribute metadata\.k/u },
      {
        body: { metadata: manyItems },
        status: 403,
        says: /Maximum number of metadata items exceeds 128/u,
      },
      {
        body: { accessIPv4: '300.1.1.1' },
        says: /accessIPv4\. Value: 300\.1\.1\.1\. '300\.1\.1\.1' is not a 'ipv4'/u,
      },
      { body: { accessIPv6: '1.2.3.4' }, says: /accessIPv6.*is not a 'ipv6'/u },
      { body: { accessIPv6: 'fe80::1%eth0' }, says: /accessIPv6.*is not a 'ipv6'/u },
      { body: { 'OS-DCF:diskConfig': 'auto' }, says: /OS-DCF:diskConfig\. Value: auto/u },
      { body: { description: 'd' }, says: /'description' was unexpected/u },
      {
        body: { description: 'd'.repeat(256) },
        version: '2.19',
        says: /field\/attribute description/u,
      },
      { body: { min_count: 0 }, says: /min_count/u },
      { body: { max_count: 'x' }, says: /max_count/u },
      { body: { min_count: 3, max_count: 2 }, says: /min_count must be <= max_count/u },
      { body: { return_reservation_id: 'maybe' }, says: /return_reservation_id/u },
    ];
    for (const c of cases) {
      const res = await create(api, { ...base, ...c.body }, c.version ?? '2.1');
      assert.equal(res.status, c.status ?? 400, `${JSON.stringify(c.body)}: ${res.text}`);
      assert.match(res.text, c.says, JSON.stringify(c.body));
    }
    const hints = await api.request('POST', '/compute/v2.1/servers', {
      as: 'member',
      body: { server: base, 'os:scheduler_hints': { same_host: 'x' } },
    });
    assert.equal(hints.status, 400);
    assert.match(message(hints), /os:scheduler_hints/u);
    assert.deepEqual(await api.store.listServers(), []);
  });

  it('updates name, description, access addresses and disk config with Nova’s update body', async () => {
    const api = await makeTestApi();
    const { id } = await create(api, {
      name: 'vm',
      flavorRef: await flavor(api, 'small'),
      imageRef: await image(api, 'plain'),
    });
    await api.servers.idle();
    const put = (body: unknown, version: string, as: 'member' | 'admin' | 'other' = 'member') =>
      api.request('PUT', `/compute/v2.1/servers/${id}`, { as, headers: mv(version), body });
    const changes = {
      name: 'renamed',
      description: 'now described',
      accessIPv4: '198.51.100.1',
      accessIPv6: '2001:db8::1',
      'OS-DCF:diskConfig': 'AUTO',
    };
    const res = await put(
      { server: { ...changes, accessIPv6: '2001:0db8:0000:0000:0000:0000:0000:0001' } },
      '2.19',
    );
    assert.equal(res.status, 200, res.text);
    const body = (res.body as { server: Record<string, unknown> }).server;
    for (const [key, value] of Object.entries(changes)) assert.equal(body[key], value, key);
    assert.equal(body.accessIPv6, '2001:db8::1', 'IPv6 kept in canonical form, as Nova does');
    assert.deepEqual(
      Object.keys(body).filter(
        (k) => k.startsWith('OS-EXT') || k === 'key_name' || k === 'config_drive',
      ),
      [],
      'no extended attributes before 2.75',
    );
    const shown = await showAt(api, id, '2.19');
    for (const [key, value] of Object.entries(changes)) assert.equal(shown[key], value, key);
    const full = await put({ server: {} }, '2.75', 'admin');
    assert.equal(full.status, 200, full.text);
    const fullBody = (full.body as { server: Record<string, unknown> }).server;
    assert.equal(fullBody['OS-EXT-STS:vm_state'], 'active');
    assert.equal(fullBody['OS-EXT-SRV-ATTR:user_data'], null);
    assert.deepEqual(fullBody.server_groups, []);
    const refusals: [unknown, string, RegExp][] = [
      [{ server: { description: 'x' } }, '2.18', /'description' was unexpected/u],
      [{ server: { metadata: {} } }, '2.19', /'metadata' was unexpected/u],
      [{ server: { accessIPv4: 'nope' } }, '2.1', /accessIPv4/u],
      [{ server: { name: ' ' } }, '2.1', /field\/attribute name/u],
    ];
    for (const [b, version, says] of refusals) {
      const r = await put(b, version);
      assert.equal(r.status, 400, JSON.stringify(b));
      assert.match(message(r), says);
    }
    assert.equal((await put({ server: { name: 'x' } }, '2.1', 'other')).status, 404);
    // Nova takes OS-DCF:diskConfig with a resize too.
    const bigger = await flavor(api, 'bigger', {}, { vcpus: 2 });
    const bad = await action(api, id, { resize: { flavorRef: bigger, 'OS-DCF:diskConfig': 'x' } });
    assert.equal(bad.status, 400);
    assert.match(message(bad), /OS-DCF:diskConfig\. Value: x/u);
    const resized = await action(api, id, {
      resize: { flavorRef: bigger, 'OS-DCF:diskConfig': 'MANUAL' },
    });
    assert.equal(resized.status, 202, resized.text);
    assert.equal((await show(api, id))['OS-DCF:diskConfig'], 'MANUAL');
  });

  it('serves the server metadata API with Nova’s bodies and errors', async () => {
    const api = await makeTestApi();
    const { id } = await create(api, {
      name: 'vm',
      flavorRef: await flavor(api, 'small'),
      imageRef: await image(api, 'plain'),
      metadata: { a: '1' },
    });
    await api.servers.idle();
    const url = `/compute/v2.1/servers/${id}/metadata`;
    const call = (
      method: string,
      suffix: string,
      body?: unknown,
      as: 'member' | 'other' = 'member',
    ) => api.request(method, `${url}${suffix}`, { as, ...(body === undefined ? {} : { body }) });
    const steps: [string, string, unknown, number, unknown][] = [
      ['GET', '', undefined, 200, { metadata: { a: '1' } }],
      ['POST', '', { metadata: { b: '2' } }, 200, { metadata: { a: '1', b: '2' } }],
      ['POST', '', { metadata: {} }, 200, { metadata: { a: '1', b: '2' } }],
      ['PUT', '', { metadata: { c: '3' } }, 200, { metadata: { c: '3' } }],
      ['GET', '/c', undefined, 200, { meta: { c: '3' } }],
      ['PUT', '/d', { meta: { d: '4' } }, 200, { meta: { d: '4' } }],
      ['GET', '', undefined, 200, { metadata: { c: '3', d: '4' } }],
      ['DELETE', '/c', undefined, 204, undefined],
      ['GET', '', undefined, 200, { metadata: { d: '4' } }],
    ];
    for (const [method, suffix, body, status, expected] of steps) {
      const res = await call(method, suffix, body);
      assert.equal(res.status, status, `${method} ${suffix} ${res.text}`);
      if (expected !== undefined) assert.deepEqual(res.body, expected, `${method} ${suffix}`);
    }
    const many = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    const errors: [string, string, unknown, number, RegExp, ('member' | 'other')?][] = [
      ['GET', '/nope', undefined, 404, /Metadata item was not found/u],
      ['DELETE', '/nope', undefined, 404, /Metadata item was not found/u],
      ['PUT', '/d', { meta: { e: '5' } }, 400, /Request body and URI mismatch/u],
      ['PUT', '/d', { meta: { d: '4', e: '5' } }, 400, /too many items/u],
      ['PUT', '', { metadata: { '': 'x' } }, 400, /metadata key ''/u],
      [
        'POST',
        '',
        { metadata: { ' ': 'x', ['k'.repeat(256)]: 'y' } },
        400,
        /field\/attribute metadata/u,
      ],
      ['PUT', '', { meta: { a: 'b' } }, 400, /'meta' was unexpected/u],
      ['PUT', '', {}, 400, /'metadata' is a required property/u],
      ['PUT', '', { metadata: many }, 403, /exceeds 128/u],
      ['POST', '', { metadata: many }, 403, /exceeds 128/u],
      ['GET', '', undefined, 404, /could not be found/u, 'other'],
      ['PUT', '/d', { meta: { d: 'x' } }, 404, /could not be found/u, 'other'],
    ];
    for (const [method, suffix, body, status, says, as] of errors) {
      const res = await call(method, suffix, body, as);
      assert.equal(res.status, status, `${method} ${suffix} ${res.text}`);
      assert.match(message(res), says, `${method} ${suffix}`);
    }
    assert.equal((await api.request('GET', '/compute/v2.1/servers/nope/metadata')).status, 404);
    assert.deepEqual((await show(api, id)).metadata, { d: '4' });
  });

  it('rebuilds with the new fields, refuses what it does not offer, and answers Nova’s rebuild body', async () => {
    const api = await makeTestApi();
    const img = await image(api, 'plain');
    const { id } = await create(api, {
      name: 'vm',
      flavorRef: await flavor(api, 'small'),
      imageRef: img,
    });
    await api.servers.idle();
    const rebuild = (body: Record<string, unknown>, version: string) =>
      api.request('POST', `/compute/v2.1/servers/${id}/action`, {
        as: 'member',
        headers: mv(version),
        body: { rebuild: { imageRef: img, ...body } },
      });
    const refusals: [Record<string, unknown>, string, RegExp][] = [
      [
        { preserve_ephemeral: true },
        '2.1',
        /preserve_ephemeral: vpmu servers have no ephemeral disks/u,
      ],
      [{ adminPass: '' }, '2.1', /adminPass\. Value: \. An empty password cannot be given/u],
      [{ key_name: 'k' }, '2.54', /^Keypair k not found for user/u],
      [{ key_name: 'k' }, '2.53', /'key_name' was unexpected/u],
      [{ user_data: 'a' }, '2.57', /user_data\. Value: a\. 'a' is not a 'base64'/u],
      [{ user_data: 'aGk=' }, '2.56', /'user_data' was unexpected/u],
      [{ personality: [] }, '2.57', /'personality' was unexpected/u],
      [{ description: 'd' }, '2.18', /'description' was unexpected/u],
      [{ metadata: { '': 'x' } }, '2.1', /metadata key ''/u],
      [{ accessIPv6: 'x' }, '2.1', /accessIPv6/u],
    ];
    for (const [body, version, says] of refusals) {
      const res = await rebuild(body, version);
      assert.equal(res.status, 400, `${JSON.stringify(body)} ${res.text}`);
      assert.match(message(res), says);
    }
    const fields = {
      name: 'rebuilt',
      metadata: { k: 'v' },
      accessIPv4: '203.0.113.5',
      description: 'after',
      'OS-DCF:diskConfig': 'AUTO',
      preserve_ephemeral: false,
    };
    const res = await rebuild(fields, '2.57');
    assert.equal(res.status, 202, res.text);
    const body = (res.body as { server: Record<string, unknown> }).server;
    assert.equal(body.name, 'rebuilt');
    assert.deepEqual(body.metadata, { k: 'v' });
    assert.equal(body.key_name, null);
    assert.equal(body.user_data, null);
    assert.equal('OS-EXT-STS:vm_state' in body, false);
    assert.equal('OS-EXT-AZ:availability_zone' in body, false);
    await api.servers.idle();
    const shown = await showAt(api, id, '2.19');
    assert.equal(shown.status, 'ACTIVE');
    assert.equal(shown.name, 'rebuilt');
    assert.equal(shown.description, 'after');
    assert.equal(shown.accessIPv4, '203.0.113.5');
    assert.equal(shown['OS-DCF:diskConfig'], 'AUTO');
    const full = await rebuild({}, '2.75');
    assert.equal(full.status, 202, full.text);
    const fullBody = (full.body as { server: Record<string, unknown> }).server;
    assert.equal(fullBody['OS-EXT-AZ:availability_zone'], 'nova');
    assert.equal('OS-EXT-SRV-ATTR:user_data' in fullBody, false);
    await api.servers.idle();
  });

  it('creates several servers as Nova does: names, one reservation, all or nothing', async () => {
    const api = await makeTestApi({ hostVcpus: 4 });
    const f = await flavor(api, 'two', {}, { vcpus: 2 });
    const img = await image(api, 'plain');
    const two = await create(api, { name: 'many', flavorRef: f, imageRef: img, min_count: 2 });
    assert.equal(two.status, 202, two.text);
    await api.servers.idle();
    const records = await api.store.listServers();
    assert.deepEqual(records.map((s) => s.name).sort(), ['many-1', 'many-2']);
    assert.equal(new Set(records.map((s) => s.reservationId)).size, 1);
    assert.deepEqual(
      records.map((s) => s.status),
      ['ACTIVE', 'ACTIVE'],
    );
    const admin = await showAt(api, two.id, '2.3', 'admin');
    assert.match(String(admin['OS-EXT-SRV-ATTR:reservation_id']), /^r-/u);
    for (const s of records) {
      assert.equal(
        (await api.request('DELETE', `/compute/v2.1/servers/${s.id}`, { as: 'member' })).status,
        204,
      );
    }
    await api.servers.idle();
    const resv = await create(api, {
      name: 'r',
      flavorRef: f,
      imageRef: img,
      max_count: 2,
      return_reservation_id: true,
    });
    assert.equal(resv.status, 202, resv.text);
    assert.deepEqual(Object.keys(resv.body), ['reservation_id']);
    await api.servers.idle();
    const kept = await api.store.listServers();
    assert.deepEqual(
      kept.map((s) => s.reservationId),
      [resv.body.reservation_id, resv.body.reservation_id],
    );
    for (const s of kept)
      await api.request('DELETE', `/compute/v2.1/servers/${s.id}`, { as: 'member' });
    await api.servers.idle();
    // Three of two VCPU on four: none is built, none holds a claim.
    const three = await create(api, { name: 'x', flavorRef: f, imageRef: img, max_count: 3 });
    assert.equal(three.status, 202, three.text);
    await api.servers.idle();
    const failed = await api.store.listServers();
    assert.deepEqual(
      failed.map((s) => s.status),
      ['ERROR', 'ERROR', 'ERROR'],
    );
    assert.match(failed[0]?.fault?.message ?? '', /No valid host was found/u);
    assert.deepEqual(await api.store.listAllocations(), []);
  });

  it('checks the image’s min_ram and min_disk against the flavor on boot, rebuild and resize', async () => {
    const api = await makeTestApi();
    const small = await flavor(api, 'small', {}, { ram: 256, disk: 1 });
    const big = await flavor(api, 'big', {}, { ram: 1024, disk: 4 });
    const zeroDisk = await flavor(api, 'zero', {}, { ram: 1024, disk: 0 });
    const needsRam = await sizedImage(api, 512, 0);
    const needsDisk = await sizedImage(api, 0, 2);
    const cases: [string, string, number, RegExp?][] = [
      [small, needsRam, 400, /^Flavor's memory is too small for requested image\./u],
      [
        small,
        needsDisk,
        400,
        /^Flavor's disk is smaller than the minimum size specified in image metadata\. Flavor disk is 1073741824 bytes, minimum size is 2147483648 bytes\./u,
      ],
      [big, needsRam, 202],
      [zeroDisk, needsDisk, 202],
    ];
    for (const [flavorRef, imageRef, status, says] of cases) {
      const res = await create(api, { name: 'vm', flavorRef, imageRef });
      assert.equal(res.status, status, res.text);
      if (says !== undefined) assert.match(res.text, says);
    }
    await api.servers.idle();
    const plain = await image(api, 'plain');
    const { id } = await create(api, { name: 'vm', flavorRef: small, imageRef: plain });
    await api.servers.idle();
    const rebuilt = await action(api, id, { rebuild: { imageRef: needsRam } });
    assert.equal(rebuilt.status, 400);
    assert.match(message(rebuilt), /Flavor's memory is too small/u);
    const { id: onBig } = await create(api, { name: 'vm2', flavorRef: big, imageRef: needsRam });
    await api.servers.idle();
    const resized = await action(api, onBig, { resize: { flavorRef: small } });
    assert.equal(resized.status, 400);
    assert.match(message(resized), /Flavor's memory is too small/u);
  });

  it('keeps the tags given at create (2.52), each once, in order', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const img = await image(api, 'plain');
    const res = await create(
      api,
      {
        name: 'tagged',
        flavorRef: f,
        imageRef: img,
        networks: 'none',
        tags: ['perf', 'x', 'perf'],
      },
      '2.52',
    );
    assert.equal(res.status, 202, res.text);
    await api.servers.idle();
    assert.deepEqual((await showAt(api, res.id, '2.52')).tags, ['perf', 'x']);
    const many = Array.from({ length: 51 }, (_, i) => `t${i}`);
    const refused = await create(
      api,
      { name: 'over', flavorRef: f, imageRef: img, networks: 'none', tags: many },
      '2.52',
    );
    assert.equal(refused.status, 400);
    assert.match(refused.text, /At most 50 tags are allowed/u);
  });

  it('keeps a rename and new metadata made while the server builds', async () => {
    // The guest's start waits until the edit is recorded, so the build's last save comes after.
    const hypervisor = new FakeHypervisor();
    const start = hypervisor.start.bind(hypervisor);
    const { promise: edited, resolve: release } = withResolvers();
    hypervisor.start = async (ref) => {
      await edited;
      return start(ref);
    };
    const api = await makeTestApi({ hypervisor });
    const { id } = await create(api, {
      name: 'vm',
      flavorRef: await flavor(api, 'small'),
      imageRef: await image(api, 'plain'),
    });
    const put = await api.request('PUT', `/compute/v2.1/servers/${id}`, {
      as: 'member',
      body: { server: { name: 'renamed' } },
    });
    assert.equal(put.status, 200, put.text);
    const meta = await api.request('POST', `/compute/v2.1/servers/${id}/metadata`, {
      as: 'member',
      body: { metadata: { owner: 'perf-team' } },
    });
    assert.equal(meta.status, 200, meta.text);
    release();
    await api.servers.idle();
    const server = await show(api, id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.name, 'renamed');
    assert.deepEqual(server.metadata, { owner: 'perf-team' });
  });
});

/** A promise and the function that resolves it (Promise.withResolvers, which node 20 lacks). */
function withResolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve: (() => void) | undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  if (resolve === undefined) throw new TypeError('a Promise executor runs at once');
  return { promise, resolve };
}
