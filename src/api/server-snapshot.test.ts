/** createImage through the HTTP API: the snapshot image, its properties, and Nova's answers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, boot, flavor, image, message, show } from '../testing/server-calls.js';

async function booted(api: TestApi, props: Record<string, string> = {}) {
  const img = await image(api, 'plain', props);
  const { id, status } = await boot(api, await flavor(api, 'small', {}, { disk: 2 }), img);
  assert.equal(status, 202);
  await api.servers.idle();
  return { id, img };
}

describe('createImage', () => {
  it('makes an active private image of the server, with the source image properties carried over', async () => {
    const api = await makeTestApi();
    const { id, img } = await booted(api, { hw_pmu: 'true' });
    const res = await action(api, id, {
      createImage: { name: 'snap', metadata: { purpose: 'test' } },
    });
    assert.equal(res.status, 202, res.text);
    const location = res.headers.get('location') ?? '';
    assert.match(location, /^http:\/\/vpmu\.test\/image\/v2\/images\/[0-9a-f-]{36}$/u);
    const shown = await api.request('GET', location.replace('http://vpmu.test', ''), {
      as: 'member',
    });
    assert.equal(shown.status, 200, shown.text);
    const body = shown.body as Record<string, unknown>;
    assert.equal(body.status, 'active');
    assert.equal(body.name, 'snap');
    assert.equal(body.visibility, 'private');
    assert.equal(body.min_disk, 2);
    assert.equal(body.hw_pmu, 'true');
    assert.equal(body.purpose, 'test');
    assert.equal(body.instance_uuid, id);
    assert.equal(body.image_type, 'snapshot');
    assert.equal(body.base_image_ref, img);
    assert.equal((await show(api, id))['OS-EXT-STS:task_state'], null);
    const listed = await api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, {
      as: 'member',
    });
    assert.match(listed.text, /"action":"createImage"/u);
    // instance.snapshot.start (task image_snapshot) and .end name the new image.
    const snapshots = api.notifier.delivered
      .filter((n) => n.eventType.startsWith('instance.snapshot.'))
      .map((n) => {
        const envelope = JSON.parse(n.body) as { 'oslo.message': string };
        const message = JSON.parse(envelope['oslo.message']) as {
          payload: { 'nova_object.data': Record<string, unknown> };
        };
        return { type: n.eventType, data: message.payload['nova_object.data'] };
      });
    assert.deepEqual(
      snapshots.map((n) => [n.type, n.data.snapshot_image_id, n.data.task_state]),
      [
        ['instance.snapshot.start', body.id, 'image_snapshot'],
        ['instance.snapshot.end', body.id, null],
      ],
    );
  });

  it('answers {"image_id"} from 2.45, from a stopped server too', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    assert.equal((await action(api, id, { 'os-stop': null })).status, 202);
    const res = await api.request('POST', `/compute/v2.1/servers/${id}/action`, {
      as: 'member',
      headers: { 'OpenStack-API-Version': 'compute 2.45' },
      body: { createImage: { name: 'snap' } },
    });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers.get('location'), null);
    assert.deepEqual(Object.keys(res.body as object), ['image_id']);
  });

  const refusals = [
    {
      name: 'no name',
      body: { createImage: {} },
      status: 400,
      want: "'name' is a required property",
    },
    {
      name: 'an unknown key',
      body: { createImage: { name: 's', visibility: 'public' } },
      status: 400,
      want: 'visibility',
    },
    {
      name: 'a non-string metadata value',
      body: { createImage: { name: 's', metadata: { a: 1 } } },
      status: 400,
      want: 'createImage/metadata/a',
    },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name}`, async () => {
      const api = await makeTestApi();
      const { id } = await booted(api);
      const res = await action(api, id, c.body);
      assert.equal(res.status, c.status, res.text);
      assert.ok(message(res).includes(c.want), message(res));
    });
  }

  it('is 404 for another project and 403 for a reader', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    assert.equal((await action(api, id, { createImage: { name: 's' } }, 'other')).status, 404);
    assert.equal((await action(api, id, { createImage: { name: 's' } }, 'reader')).status, 403);
  });
});

describe('createBackup', () => {
  it('makes backup images, keeping the newest `rotation` of the type', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    const made: string[] = [];
    for (const name of ['b1', 'b2', 'b3']) {
      api.clock.set(new Date(api.clock.now().getTime() + 1000));
      const res = await api.request('POST', `/compute/v2.1/servers/${id}/action`, {
        as: 'member',
        headers: { 'OpenStack-API-Version': 'compute 2.47' },
        body: { createBackup: { name, backup_type: 'daily', rotation: 2 } },
      });
      assert.equal(res.status, 202, res.text);
      made.push((res.body as { image_id: string }).image_id);
    }
    const images = await api.store.listImages({});
    const backups = images.filter((i) => i.properties.image_type === 'backup');
    assert.deepEqual(backups.map((i) => i.id).sort(), made.slice(1).sort());
    assert.ok(backups.every((i) => i.properties.backup_type === 'daily'));
  });

  it('refuses a missing rotation', async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    const res = await action(api, id, { createBackup: { name: 'b', backup_type: 'daily' } });
    assert.equal(res.status, 400, res.text);
    assert.ok(message(res).includes("'rotation' is a required property"), message(res));
  });
});
