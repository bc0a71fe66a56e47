/**
 * Issue 16's guest data through the HTTP API: key_name, user_data and config_drive on create and
 * rebuild, the config drive's content, kernel boots and os-getConsoleOutput.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, flavor, image, message, show, vpmuOf } from '../testing/server-calls.js';

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBwHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH t@h';
const USER_DATA = Buffer.from('#!/bin/sh\necho hello\n').toString('base64');

async function keypair(api: TestApi, name: string, as: 'member' | 'other' = 'member') {
  const res = await api.request('POST', '/compute/v2.1/os-keypairs', {
    as,
    body: { keypair: { name, public_key: KEY } },
  });
  assert.equal(res.status, 200, res.text);
}

async function create(
  api: TestApi,
  server: Record<string, unknown>,
  version = '2.1',
): Promise<{ status: number; id: string; body: unknown }> {
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as: 'member',
    headers: mv(version),
    body: { server: { name: 'guest', networks: 'none', ...server } },
  });
  const id = (res.body as { server?: { id: string } }).server?.id ?? '';
  await api.servers.idle();
  return { status: res.status, id, body: res.body };
}

function drive(_api: TestApi, id: string): string {
  return `/instances/${id}/disk.config`;
}

function driveJson(api: TestApi, id: string, file: string): Record<string, unknown> {
  return JSON.parse(api.guestFiles.file(drive(api, id), file) ?? 'null') as Record<string, unknown>;
}

describe('server create with key_name, user_data and config_drive', () => {
  it('delivers the key, the user data and the vPMU on a config-2 drive', async () => {
    const api = await makeTestApi();
    await keypair(api, 'mykey');
    const f = await flavor(api, 'perf', { 'hw:pmu': 'true' });
    const i = await image(api, 'img');
    const made = await create(api, {
      flavorRef: f,
      imageRef: i,
      key_name: 'mykey',
      user_data: USER_DATA,
      config_drive: true,
      metadata: { role: 'perf' },
    });
    assert.equal(made.status, 202, JSON.stringify(made.body));
    const server = await show(api, made.id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.key_name, 'mykey');
    assert.equal(server.config_drive, 'True');
    const admin = (
      await api.request('GET', `/compute/v2.1/servers/${made.id}`, { headers: mv('2.3') })
    ).body as { server: Record<string, unknown> };
    assert.equal(admin.server['OS-EXT-SRV-ATTR:user_data'], USER_DATA);

    assert.equal(api.guestFiles.drives.get(drive(api, made.id))?.label, 'config-2');
    const vpmu = await vpmuOf(api, made.id);
    const meta = driveJson(api, made.id, 'openstack/latest/meta_data.json');
    assert.deepEqual(meta.public_keys, { mykey: KEY });
    assert.deepEqual(meta.keys, [{ name: 'mykey', type: 'ssh', data: KEY }]);
    assert.equal(meta.uuid, made.id);
    assert.equal(meta.project_id, server.tenant_id);
    assert.deepEqual(meta.meta, {
      role: 'perf',
      vpmu_requested_flavor: 'true',
      vpmu_requested_image: '',
      vpmu_resolved: 'true',
      vpmu_source: 'flavor',
      vpmu_effective: vpmu.effective,
      vpmu_reason: vpmu.reason,
    });
    const vendor = driveJson(api, made.id, 'openstack/2012-08-10/vendor_data2.json');
    assert.deepEqual(vendor, {
      vpmu: {
        requested: { flavor: 'true', image: null },
        resolved: true,
        source: 'flavor',
        effective: vpmu.effective,
        reason: vpmu.reason,
      },
    });
    assert.equal(
      api.guestFiles.file(drive(api, made.id), 'openstack/latest/user_data'),
      '#!/bin/sh\necho hello\n',
    );
    const xml = await api.hypervisor.domainXml(made.id);
    assert.match(xml, /<disk type="file" device="cdrom">/u);
    assert.ok(xml.includes(`/instances/${made.id}/disk.config`), xml);
  });

  // prettier-ignore
  const DRIVE_CASES = [
    { name: 'config_drive asked', server: { config_drive: true }, props: {}, force: false, want: 'True' },
    { name: "config_drive 'True' as a string", server: { config_drive: 'True' }, props: {}, force: false, want: 'True' },
    { name: 'config_drive false', server: { config_drive: false }, props: {}, force: false, want: '' },
    { name: 'nothing asked', server: {}, props: {}, force: false, want: '' },
    { name: 'the image makes it mandatory', server: {}, props: { img_config_drive: 'mandatory' }, force: false, want: 'True' },
    { name: 'the operator forces it', server: {}, props: {}, force: true, want: 'True' },
  ];
  for (const c of DRIVE_CASES) {
    it(`attaches a config drive when ${c.name} (${c.want === '' ? 'none' : 'one'})`, async () => {
      const api = await makeTestApi({ forceConfigDrive: c.force });
      const f = await flavor(api, 'small');
      const i = await image(api, 'img', c.props);
      const made = await create(api, { flavorRef: f, imageRef: i, ...c.server });
      assert.equal(made.status, 202, JSON.stringify(made.body));
      assert.equal((await show(api, made.id)).config_drive, c.want);
      assert.equal(api.guestFiles.drives.has(drive(api, made.id)), c.want === 'True');
      const xml = await api.hypervisor.domainXml(made.id);
      assert.equal(xml.includes('device="cdrom"'), c.want === 'True');
    });
  }

  // prettier-ignore
  const BAD = [
    { name: 'user data that is not base64', server: { user_data: 'not base64!' }, want: /^Invalid input for field\/attribute user_data\. Value: not base64!\. 'not base64!' is not a 'base64'$/u },
    { name: 'user data with bad padding', server: { user_data: 'abc' }, want: /user_data.*is not a 'base64'/u },
    { name: 'user data that is not a string', server: { user_data: 5 }, want: /^Invalid input for field\/attribute user_data\. Value: 5\. 5 is not of type 'string'$/u },
    { name: 'user data over 65535 characters', server: { user_data: 'QUFB'.repeat(16384) }, want: /user_data.*65536 characters long; at most 65535/u },
    { name: 'an unknown key pair', server: { key_name: 'nope' }, want: /^Keypair nope not found for user [0-9a-f]+$/u },
    { name: 'an empty key name', server: { key_name: '' }, want: /^Invalid input for field\/attribute key_name/u },
    { name: 'config_drive that is no boolean', server: { config_drive: 'maybe' }, want: /^Invalid input for field\/attribute config_drive\. Value: maybe/u },
  ];
  for (const c of BAD) {
    it(`refuses ${c.name} with a 400 naming it`, async () => {
      const api = await makeTestApi();
      const f = await flavor(api, 'small');
      const i = await image(api, 'img');
      const made = await create(api, { flavorRef: f, imageRef: i, ...c.server });
      assert.equal(made.status, 400, JSON.stringify(made.body));
      assert.match(message(made), c.want);
    });
  }

  it("refuses another user's key pair", async () => {
    const api = await makeTestApi();
    await keypair(api, 'theirs', 'other');
    const f = await flavor(api, 'small');
    const i = await image(api, 'img');
    const made = await create(api, { flavorRef: f, imageRef: i, key_name: 'theirs' });
    assert.equal(made.status, 400);
    assert.match(message(made), /^Keypair theirs not found for user/u);
  });

  it('accepts user data of exactly 65535 characters (base64 with newlines)', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const i = await image(api, 'img');
    const data = `${'QUFB'.repeat(8000)}\n${'QUFB'.repeat(8383)}\n\n`;
    assert.equal(data.length, 65535);
    const made = await create(api, { flavorRef: f, imageRef: i, user_data: data });
    assert.equal(made.status, 202, message(made));
  });
});

describe('server rebuild with key_name (2.54) and user_data (2.57)', () => {
  it('replaces and removes the key and the user data, and writes the drive again', async () => {
    const api = await makeTestApi();
    await keypair(api, 'one');
    await keypair(api, 'two');
    const f = await flavor(api, 'small');
    const i = await image(api, 'img');
    const made = await create(api, {
      flavorRef: f,
      imageRef: i,
      key_name: 'one',
      user_data: USER_DATA,
      config_drive: true,
    });
    const rebuild = async (body: Record<string, unknown>, version: string) => {
      const res = await api.request('POST', `/compute/v2.1/servers/${made.id}/action`, {
        as: 'member',
        headers: mv(version),
        body: { rebuild: { imageRef: i, ...body } },
      });
      await api.servers.idle();
      return res;
    };
    const two = await rebuild({ key_name: 'two' }, '2.54');
    assert.equal(two.status, 202, two.text);
    assert.equal((two.body as { server: { key_name: string } }).server.key_name, 'two');
    let meta = driveJson(api, made.id, 'openstack/latest/meta_data.json');
    assert.deepEqual(meta.public_keys, { two: KEY });
    const cleared = await rebuild({ key_name: null, user_data: null }, '2.57');
    assert.equal(cleared.status, 202, cleared.text);
    const body = (cleared.body as { server: Record<string, unknown> }).server;
    assert.equal(body.key_name, null);
    assert.equal(body.user_data, null);
    meta = driveJson(api, made.id, 'openstack/latest/meta_data.json');
    assert.ok(!('public_keys' in meta));
    assert.equal(api.guestFiles.file(drive(api, made.id), 'openstack/latest/user_data'), undefined);
    const early = await rebuild({ key_name: 'one' }, '2.53');
    assert.equal(early.status, 400);
    const unknown = await rebuild({ key_name: 'nope' }, '2.54');
    assert.equal(unknown.status, 400);
    assert.match(message(unknown), /^Keypair nope not found/u);
    const bad = await rebuild({ user_data: '%%%' }, '2.57');
    assert.equal(bad.status, 400);
    assert.match(message(bad), /user_data/u);
  });
});

describe('adminPass on create and rebuild', () => {
  it('goes on a config drive (admin_pass) the server gets for it, never into a record or a body', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const i = await image(api, 'img');
    const made = await create(api, { flavorRef: f, imageRef: i, adminPass: 's3cret-one' });
    assert.equal(made.status, 202, JSON.stringify(made.body));
    // Nova with enable_instance_password=False: the create's body has no adminPass.
    assert.deepEqual(Object.keys((made.body as { server: object }).server).sort(), [
      'OS-DCF:diskConfig',
      'id',
      'links',
    ]);
    const server = await show(api, made.id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.config_drive, 'True');
    assert.equal(
      driveJson(api, made.id, 'openstack/latest/meta_data.json').admin_pass,
      's3cret-one',
    );
    assert.equal(
      driveJson(api, made.id, 'openstack/2012-08-10/meta_data.json').admin_pass,
      's3cret-one',
    );
    const everything = JSON.stringify(
      (await api.request('GET', `/compute/v2.1/servers/${made.id}`, { headers: mv('2.latest') }))
        .body,
    );
    assert.ok(!everything.includes('s3cret-one'), everything);

    const rebuild = async (body: Record<string, unknown>) => {
      const res = await api.request('POST', `/compute/v2.1/servers/${made.id}/action`, {
        as: 'member',
        body: { rebuild: { imageRef: i, ...body } },
      });
      await api.servers.idle();
      return res;
    };
    const again = await rebuild({ adminPass: 's3cret-two' });
    assert.equal(again.status, 202, again.text);
    assert.ok(!('adminPass' in (again.body as { server: object }).server));
    assert.equal(
      driveJson(api, made.id, 'openstack/latest/meta_data.json').admin_pass,
      's3cret-two',
    );
    // A rebuild without one writes the drive without one: the password was never kept.
    assert.equal((await rebuild({})).status, 202);
    const meta = driveJson(api, made.id, 'openstack/latest/meta_data.json');
    assert.ok(!('admin_pass' in meta), JSON.stringify(meta));
  });

  it('gives a server without a config drive one when a rebuild brings a password', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const i = await image(api, 'img');
    const made = await create(api, { flavorRef: f, imageRef: i });
    assert.equal((await show(api, made.id)).config_drive, '');
    const res = await api.request('POST', `/compute/v2.1/servers/${made.id}/action`, {
      as: 'member',
      body: { rebuild: { imageRef: i, adminPass: 'later' } },
    });
    assert.equal(res.status, 202, res.text);
    await api.servers.idle();
    const server = await show(api, made.id);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.config_drive, 'True');
    assert.equal(driveJson(api, made.id, 'openstack/latest/meta_data.json').admin_pass, 'later');
  });
});

describe('kernel boot images (kernel_id, ramdisk_id, os_command_line)', () => {
  it('boots from the kernel and ramdisk images with the command line', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const kernel = await image(api, 'vmlinuz');
    const ramdisk = await image(api, 'initrd');
    const root = await image(api, 'root', {
      kernel_id: kernel,
      ramdisk_id: ramdisk,
      os_command_line: 'console=ttyS0 panic=-1',
    });
    const made = await create(api, { flavorRef: f, imageRef: root });
    assert.equal(made.status, 202, JSON.stringify(made.body));
    const xml = await api.hypervisor.domainXml(made.id);
    const files = [...api.disks.images];
    assert.match(xml, /<kernel>[^<]+<\/kernel>/u);
    assert.ok(files.some((p) => xml.includes(`<kernel>${p}</kernel>`) && p.includes(kernel)));
    assert.ok(files.some((p) => xml.includes(`<initrd>${p}</initrd>`) && p.includes(ramdisk)));
    assert.match(xml, /<cmdline>console=ttyS0 panic=-1<\/cmdline>/u);
    const admin = (
      await api.request('GET', `/compute/v2.1/servers/${made.id}`, { headers: mv('2.3') })
    ).body as { server: Record<string, unknown> };
    assert.equal(admin.server['OS-EXT-SRV-ATTR:kernel_id'], kernel);
    assert.equal(admin.server['OS-EXT-SRV-ATTR:ramdisk_id'], ramdisk);
  });

  it('uses Nova’s default command line when the image sets none', async () => {
    const api = await makeTestApi();
    const f = await flavor(api, 'small');
    const kernel = await image(api, 'vmlinuz');
    const root = await image(api, 'root', { kernel_id: kernel });
    const made = await create(api, { flavorRef: f, imageRef: root });
    const xml = await api.hypervisor.domainXml(made.id);
    assert.match(xml, /<cmdline>root=\/dev\/vda console=tty0 console=ttyS0<\/cmdline>/u);
    assert.doesNotMatch(xml, /<initrd>/u);
  });

  // prettier-ignore
  const BAD = [
    { name: 'a kernel_id of no image', props: (k: string) => ({ kernel_id: k.replace(/^.{8}/u, 'ffffffff') }), want: /has kernel_id ffffffff-.*which is no image you can use/u },
    { name: 'a ramdisk without a kernel', props: (k: string) => ({ ramdisk_id: k }), want: /Cannot use ramdisk_id of image 'root' without kernel_id/u },
  ];
  for (const c of BAD) {
    it(`refuses ${c.name} with a 400`, async () => {
      const api = await makeTestApi();
      const f = await flavor(api, 'small');
      const kernel = await image(api, 'vmlinuz');
      const root = await image(api, 'root', c.props(kernel));
      const made = await create(api, { flavorRef: f, imageRef: root });
      assert.equal(made.status, 400, JSON.stringify(made.body));
      assert.match(message(made), c.want);
    });
  }
});

describe('image properties of guest data, checked by the image API', () => {
  // prettier-ignore
  const CASES = [
    { property: 'img_config_drive', value: 'always', want: /'always' is not one of the allowed values\. The property 'img_config_drive' of image 'img' accepts one of: optional, mandatory\./u },
    { property: 'kernel_id', value: 'vmlinuz', want: /The property 'kernel_id' of image 'img' accepts the id of an active image/u },
    { property: 'ramdisk_id', value: 'initrd', want: /The property 'ramdisk_id' of image 'img'/u },
    { property: 'os_command_line', value: 'a\u0001b', want: /The property 'os_command_line' of image 'img' accepts a kernel command line/u },
  ];
  for (const c of CASES) {
    it(`refuses ${c.property}=${JSON.stringify(c.value)} with a 400 naming it`, async () => {
      const api = await makeTestApi();
      const res = await api.request('POST', '/image/v2/images', {
        body: { name: 'img', disk_format: 'raw', container_format: 'bare', [c.property]: c.value },
      });
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, c.want);
    });
  }
});

describe('os-getConsoleOutput', () => {
  const LOG = 'one\ntwo\nthree\x07\nfour\n';
  // prettier-ignore
  const CASES = [
    { name: 'no length: everything', body: {}, want: 'one\ntwo\nthree\nfour\n' },
    { name: 'length null: everything', body: { length: null }, want: 'one\ntwo\nthree\nfour\n' },
    { name: 'length -1: everything', body: { length: -1 }, want: 'one\ntwo\nthree\nfour\n' },
    { name: 'length 2', body: { length: 2 }, want: 'three\nfour\n' },
    { name: "length '1' as a string", body: { length: '1' }, want: 'four\n' },
    { name: 'length 0', body: { length: 0 }, want: '' },
    { name: 'length past the start', body: { length: 99 }, want: 'one\ntwo\nthree\nfour\n' },
  ];
  for (const c of CASES) {
    it(`answers the log's end: ${c.name}`, async () => {
      const api = await makeTestApi();
      const made = await create(api, {
        flavorRef: await flavor(api, 'small'),
        imageRef: await image(api, 'img'),
      });
      api.guestFiles.consoleLogs.set(`/instances/${made.id}/console.log`, LOG);
      const res = await action(api, made.id, { 'os-getConsoleOutput': c.body });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { output: c.want });
    });
  }

  it('answers an empty output when the guest wrote nothing', async () => {
    const api = await makeTestApi();
    const made = await create(api, {
      flavorRef: await flavor(api, 'small'),
      imageRef: await image(api, 'img'),
    });
    const res = await action(api, made.id, { 'os-getConsoleOutput': { length: 5 } });
    assert.deepEqual(res.body, { output: '' });
  });

  // prettier-ignore
  const BAD = [
    { name: 'a length below -1', body: { 'os-getConsoleOutput': { length: -2 } }, want: /^Invalid input for field\/attribute length\. Value: -2\./u },
    { name: 'a length that is no number', body: { 'os-getConsoleOutput': { length: 'ten' } }, want: /^Invalid input for field\/attribute length\. Value: ten\./u },
    { name: 'an unknown key', body: { 'os-getConsoleOutput': { lines: 2 } }, want: /lines/u },
    { name: 'no object', body: { 'os-getConsoleOutput': 3 }, want: /os-getConsoleOutput/u },
  ];
  for (const c of BAD) {
    it(`refuses ${c.name} with a 400`, async () => {
      const api = await makeTestApi();
      const made = await create(api, {
        flavorRef: await flavor(api, 'small'),
        imageRef: await image(api, 'img'),
      });
      const res = await action(api, made.id, c.body);
      assert.equal(res.status, 400, res.text);
      assert.match(message(res), c.want);
    });
  }

  it("is 404 for another project's server", async () => {
    const api = await makeTestApi();
    const made = await create(api, {
      flavorRef: await flavor(api, 'small'),
      imageRef: await image(api, 'img'),
    });
    const res = await action(api, made.id, { 'os-getConsoleOutput': {} }, 'other');
    assert.equal(res.status, 404);
  });
});
