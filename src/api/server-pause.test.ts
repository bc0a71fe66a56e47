/** pause/unpause and suspend/resume through the HTTP API: states, guests, notifications, refusals. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, boot, flavor, image, message, show } from '../testing/server-calls.js';

let made = 0;
async function booted(api: TestApi): Promise<string> {
  made++;
  const { id, status } = await boot(
    api,
    await flavor(api, `small-${made}`),
    await image(api, `plain-${made}`),
  );
  assert.equal(status, 202);
  await api.servers.idle();
  return id;
}

function stateOf(server: Record<string, unknown>): unknown[] {
  return [
    server.status,
    server['OS-EXT-STS:vm_state'],
    server['OS-EXT-STS:task_state'],
    server['OS-EXT-STS:power_state'],
  ];
}

describe('pause, unpause, suspend, resume', () => {
  it('holds the guest and records states, notifications and instance actions', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const id = await booted(api);
    const steps = [
      { body: { pause: null }, want: ['PAUSED', 'paused', null, 3], domain: 'paused' },
      { body: { unpause: null }, want: ['ACTIVE', 'active', null, 1], domain: 'running' },
      { body: { suspend: null }, want: ['SUSPENDED', 'suspended', null, 4], domain: 'shutoff' },
      { body: { resume: null }, want: ['ACTIVE', 'active', null, 1], domain: 'running' },
    ];
    for (const step of steps) {
      const res = await action(api, id, step.body);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.text, '');
      assert.deepEqual(stateOf(await show(api, id)), step.want, JSON.stringify(step.body));
      assert.equal(await hypervisor.state(id), step.domain);
    }
    const types = api.notifier.delivered
      .map((n) => n.eventType)
      .filter((t) => !t.startsWith('instance.create') && !t.startsWith('scheduler'));
    assert.deepEqual(types, [
      'instance.pause.start',
      'instance.pause.end',
      'instance.unpause.start',
      'instance.unpause.end',
      'instance.suspend.start',
      'instance.suspend.end',
      'instance.resume.start',
      'instance.resume.end',
    ]);
    const start = api.notifier.delivered.find((n) => n.eventType === 'instance.suspend.start');
    assert.match(start?.body ?? '', /\\"task_state\\":\\"suspending\\"/u);
    const listed = await api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions`, {
      as: 'member',
    });
    assert.deepEqual(
      (listed.body as { instanceActions: { action: string }[] }).instanceActions
        .map((a) => a.action)
        .sort(),
      ['create', 'pause', 'resume', 'suspend', 'unpause'],
    );
  });

  it('deletes a paused and a suspended server', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    for (const hold of ['pause', 'suspend']) {
      const id = await booted(api);
      assert.equal((await action(api, id, { [hold]: null })).status, 202);
      const del = await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' });
      assert.equal(del.status, 204);
      await api.servers.idle();
      assert.equal(await hypervisor.find(id), undefined, hold);
    }
  });

  const refusals = [
    {
      name: 'pause a paused server',
      first: 'pause',
      then: 'pause',
      status: 409,
      want: "Cannot 'pause' instance ID while it is in vm_state paused",
    },
    {
      name: 'unpause an active server',
      first: null,
      then: 'unpause',
      status: 409,
      want: "Cannot 'unpause' instance ID while it is in vm_state active",
    },
    {
      name: 'resume a paused server',
      first: 'pause',
      then: 'resume',
      status: 409,
      want: "Cannot 'resume' instance ID while it is in vm_state paused",
    },
    {
      name: 'suspend a paused server',
      first: 'pause',
      then: 'suspend',
      status: 409,
      want: "Cannot 'suspend' instance ID while it is in vm_state paused",
    },
    {
      name: 'stop a suspended server',
      first: 'suspend',
      then: 'os-stop',
      status: 409,
      want: "Cannot 'stop' instance ID while it is in vm_state suspended",
    },
  ];
  for (const c of refusals) {
    it(`refuses to ${c.name}`, async () => {
      const api = await makeTestApi();
      const id = await booted(api);
      if (c.first !== null) assert.equal((await action(api, id, { [c.first]: null })).status, 202);
      const res = await action(api, id, { [c.then]: null });
      assert.equal(res.status, c.status, res.text);
      assert.ok(message(res).startsWith(c.want.replace('ID', id)), message(res));
    });
  }

  it('is 404 for another project, 403 for a reader, 409 when locked', async () => {
    const api = await makeTestApi();
    const id = await booted(api);
    assert.equal((await action(api, id, { pause: null }, 'other')).status, 404);
    assert.equal((await action(api, id, { pause: null }, 'reader')).status, 403);
    assert.equal((await action(api, id, { lock: null }, 'admin')).status, 202);
    const locked = await action(api, id, { suspend: null });
    assert.equal(locked.status, 409, locked.text);
  });
});
