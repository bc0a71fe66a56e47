/** os-instance-actions through the HTTP API: what is recorded, and who sees what at which version. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { HypervisorError } from '../errors/index.js';
import { makeTestApi, type TestApi } from '../testing/api.js';
import { action, flavor, image, message } from '../testing/server-calls.js';

const mv = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

type Who = 'admin' | 'member' | 'reader' | 'other';

async function tick(api: TestApi): Promise<void> {
  api.clock.set(new Date(api.clock.now().getTime() + 1000));
}

async function booted(api: TestApi): Promise<{ id: string; requestId: string }> {
  const f = await flavor(api, 'small');
  const img = await image(api, 'plain');
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as: 'member',
    body: { server: { name: 'vm', flavorRef: f, imageRef: img, networks: 'none' } },
  });
  assert.equal(res.status, 202, res.text);
  await api.servers.idle();
  const id = (res.body as { server: { id: string } }).server.id;
  return { id, requestId: res.headers.get('x-compute-request-id') ?? '' };
}

async function list(api: TestApi, id: string, version = '2.1', as: Who = 'member', query = '') {
  return api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions${query}`, {
    as,
    headers: mv(version),
  });
}

async function showAction(
  api: TestApi,
  id: string,
  req: string,
  version = '2.1',
  as: Who = 'member',
) {
  return api.request('GET', `/compute/v2.1/servers/${id}/os-instance-actions/${req}`, {
    as,
    headers: mv(version),
  });
}

type ActionBody = Record<string, unknown> & { events?: Record<string, unknown>[] };

describe('os-instance-actions', () => {
  it('records create and every action with its request id, newest first', async () => {
    const api = await makeTestApi();
    const { id, requestId } = await booted(api);
    await tick(api);
    const stop = await action(api, id, { 'os-stop': null });
    assert.equal(stop.status, 202, stop.text);
    await tick(api);
    assert.equal((await action(api, id, { reboot: { type: 'HARD' } })).status, 202);
    const res = await list(api, id);
    assert.equal(res.status, 200, res.text);
    const actions = (res.body as { instanceActions: Record<string, unknown>[] }).instanceActions;
    assert.deepEqual(
      actions.map((a) => a.action),
      ['reboot', 'stop', 'create'],
    );
    assert.deepEqual(Object.keys(actions[2] ?? {}).sort(), [
      'action',
      'instance_uuid',
      'message',
      'project_id',
      'request_id',
      'start_time',
      'user_id',
    ]);
    assert.equal(actions[2]?.request_id, requestId);
    assert.equal(actions[1]?.request_id, stop.headers.get('x-compute-request-id'));
    assert.equal(actions[2].instance_uuid, id);
    assert.equal(actions[2].start_time, '2026-01-01T00:00:00.000000');
    assert.equal(actions[2].message, null);
  });

  const events = [
    { name: 'a member before 2.51 sees no events', as: 'member', version: '2.50', want: undefined },
    {
      name: 'an admin before 2.51 sees events with traceback',
      as: 'admin',
      version: '2.1',
      want: ['event', 'finish_time', 'result', 'start_time', 'traceback'],
    },
    {
      name: 'a member at 2.51 sees events without traceback',
      as: 'member',
      version: '2.51',
      want: ['event', 'finish_time', 'result', 'start_time'],
    },
    {
      name: 'a reader at 2.58 too',
      as: 'reader',
      version: '2.58',
      want: ['event', 'finish_time', 'result', 'start_time'],
    },
    {
      name: 'a member at 2.62 gets hostId',
      as: 'member',
      version: '2.62',
      want: ['event', 'finish_time', 'hostId', 'result', 'start_time'],
    },
    {
      name: 'an admin at 2.62 gets host too',
      as: 'admin',
      version: '2.62',
      want: ['event', 'finish_time', 'host', 'hostId', 'result', 'start_time', 'traceback'],
    },
    {
      name: 'a member at 2.84 gets details',
      as: 'member',
      version: '2.84',
      want: ['details', 'event', 'finish_time', 'hostId', 'result', 'start_time'],
    },
  ] as const;
  for (const c of events) {
    it(`show: ${c.name}`, async () => {
      const api = await makeTestApi();
      const { id, requestId } = await booted(api);
      const res = await showAction(api, id, requestId, c.version, c.as);
      assert.equal(res.status, 200, res.text);
      const body = (res.body as { instanceAction: ActionBody }).instanceAction;
      assert.equal(body.action, 'create');
      assert.equal('updated_at' in body, c.version === '2.58' || c.version >= '2.6');
      if (c.want === undefined) {
        assert.equal(body.events, undefined);
        return;
      }
      assert.deepEqual(
        body.events?.map((e) => e.event),
        ['conductor_schedule_and_build_instances', 'compute__do_build_and_run_instance'],
      );
      const build = (body.events ?? [])[1] ?? {};
      assert.deepEqual(Object.keys(build).sort(), c.want);
      assert.equal(build.result, 'Success');
      if ('host' in build) assert.equal(build.host, 'compute1');
    });
  }

  it('records a failed action: event Error, message Error, traceback for admins only', async () => {
    const hypervisor = new FakeHypervisor();
    const api = await makeTestApi({ hypervisor });
    const { id } = await booted(api);
    hypervisor.stop = () =>
      Promise.reject(
        new HypervisorError('hypervisor.operation_failed', {
          operation: 'stop',
          domain: id,
          detail: 'secret host detail',
        }),
      );
    await tick(api);
    const stop = await action(api, id, { 'os-stop': null });
    assert.equal(stop.status, 500, stop.text);
    const req = stop.headers.get('x-compute-request-id') ?? '';
    const asAdmin = (await showAction(api, id, req, '2.84', 'admin')).body as {
      instanceAction: ActionBody;
    };
    assert.equal(asAdmin.instanceAction.action, 'stop');
    assert.equal(asAdmin.instanceAction.message, 'Error');
    const [event] = asAdmin.instanceAction.events ?? [];
    assert.equal(event?.event, 'compute_stop_instance');
    assert.equal(event.result, 'Error');
    assert.match(String(event.traceback), /secret host detail/u);
    const asMember = (await showAction(api, id, req, '2.84', 'member')).body as {
      instanceAction: ActionBody;
    };
    const [seen] = asMember.instanceAction.events ?? [];
    assert.equal(seen?.traceback, undefined);
    assert.doesNotMatch(String(seen?.details), /secret/u);
  });

  it("keeps a deleted server's actions, listed from 2.21", async () => {
    const api = await makeTestApi();
    const { id } = await booted(api);
    await tick(api);
    assert.equal(
      (await api.request('DELETE', `/compute/v2.1/servers/${id}`, { as: 'member' })).status,
      204,
    );
    await api.servers.idle();
    assert.equal((await list(api, id, '2.20')).status, 404);
    const res = await list(api, id, '2.21');
    assert.equal(res.status, 200, res.text);
    const actions = (res.body as { instanceActions: Record<string, unknown>[] }).instanceActions;
    assert.deepEqual(
      actions.map((a) => a.action),
      ['delete', 'create'],
    );
    const del = await showAction(api, id, String(actions[0]?.request_id), '2.51');
    const body = (del.body as { instanceAction: ActionBody }).instanceAction;
    assert.deepEqual(
      body.events?.map((e) => [e.event, e.result]),
      [['compute_terminate_instance', 'Success']],
    );
    assert.equal((await list(api, id, '2.21', 'other')).status, 404, "another project's");
  });

  it('pages at 2.58: limit, marker, changes-since, next link', async () => {
    const api = await makeTestApi();
    const { id, requestId } = await booted(api);
    for (let i = 0; i < 2; i++) {
      await tick(api);
      assert.equal((await action(api, id, { reboot: { type: 'HARD' } })).status, 202);
    }
    const page = await list(api, id, '2.58', 'member', '?limit=2');
    const body = page.body as { instanceActions: Record<string, unknown>[]; links?: unknown };
    assert.deepEqual(
      body.instanceActions.map((a) => a.action),
      ['reboot', 'reboot'],
    );
    assert.ok(body.instanceActions.every((a) => typeof a.updated_at === 'string'));
    const marker = String(body.instanceActions[1]?.request_id);
    assert.deepEqual(body.links, [
      {
        rel: 'next',
        href: `http://vpmu.test/compute/v2.1/servers/${id}/os-instance-actions?limit=2&marker=${marker}`,
      },
    ]);
    const rest = await list(api, id, '2.58', 'member', `?marker=${marker}`);
    assert.deepEqual(
      (rest.body as { instanceActions: Record<string, unknown>[] }).instanceActions.map(
        (a) => a.request_id,
      ),
      [requestId],
    );
    const since = await list(api, id, '2.58', 'member', '?changes-since=2026-01-01T00:00:02Z');
    assert.equal((since.body as { instanceActions: unknown[] }).instanceActions.length, 1);
  });

  const refusals = [
    { name: 'an unknown marker', query: '?marker=nope', want: 'Marker nope could not be found.' },
    {
      name: 'a bad limit',
      query: '?limit=-1',
      want: "Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'",
    },
    {
      name: 'a bad changes-since',
      query: '?changes-since=soon',
      want: "Invalid input for query parameters changes-since. Value: soon. 'soon' is not a 'date-time'",
    },
    {
      name: 'changes-before before 2.66',
      query: '?changes-before=2026-01-01T00:00:00Z',
      want: 'Additional properties are not allowed',
    },
  ];
  for (const c of refusals) {
    it(`list at 2.58 refuses ${c.name}`, async () => {
      const api = await makeTestApi();
      const { id } = await booted(api);
      const res = await list(api, id, '2.58', 'member', c.query);
      assert.equal(res.status, 400, res.text);
      assert.ok(message(res).includes(c.want), message(res));
    });
  }

  it('404s: unknown server, unknown request id, another project', async () => {
    const api = await makeTestApi();
    const { id, requestId } = await booted(api);
    const unknown = await showAction(api, id, 'req-nope');
    assert.equal(unknown.status, 404);
    assert.equal(message(unknown), 'Action req-nope not found');
    assert.equal((await showAction(api, id, requestId, '2.1', 'other')).status, 404);
    assert.equal((await list(api, 'ffffffff-0000-4000-8000-000000000000')).status, 404);
  });
});
