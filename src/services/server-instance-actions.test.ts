/**
 * RecordedAction's fewer writes: an event's end kept for the action's next write
 * (`finishLater`, flush()) or written with the step's last save (`along`), the records the same.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import type { InstanceActionRecord, SaveServerOptions, ServerRecord } from '../ports/store.js';
import { aServerRecord } from '../ports/store.contract.js';
import { beginAction } from './server-instance-actions.js';

/** A memory store that counts the writes of instance actions, alone or with a save. */
class CountingStore extends MemoryStore {
  puts = 0;
  savesWithAction = 0;
  override async putInstanceAction(action: InstanceActionRecord): Promise<void> {
    this.puts++;
    return super.putInstanceAction(action);
  }
  override async saveServer(server: ServerRecord, options?: SaveServerOptions): Promise<void> {
    if (options?.action !== undefined) this.savesWithAction++;
    return super.saveServer(server, options);
  }
}

async function setUp() {
  const store = new CountingStore();
  let seconds = 0;
  const deps = {
    store,
    clock: { now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds++)) },
    ids: { newUuid: () => 'u', newSecret: () => 's' },
    log: { error: () => undefined },
  };
  const server = aServerRecord();
  await store.createServer(server);
  const recorded = await beginAction(
    deps,
    server,
    { requestId: 'req-1', userId: 'u1', projectId: server.projectId },
    'create',
  );
  return { store, server, recorded };
}

const stored = async (store: MemoryStore, id: string) => {
  const [action] = await store.listInstanceActions(id);
  return action?.events.map((e) => [e.event, e.result, e.finishTime !== null]);
};

describe('RecordedAction writes', () => {
  it('keeps a finishLater end for the next event start, and writes a run end with its save', async () => {
    const { store, server, recorded } = await setUp();
    assert.equal(store.puts, 1);
    await recorded.event(
      'first',
      () => null,
      async () => 1,
      { finishLater: true },
    );
    // Started written; the end kept.
    assert.equal(store.puts, 2);
    assert.deepEqual(await stored(store, server.id), [['first', null, false]]);
    await recorded.event(
      'second',
      () => 'host1',
      async (along) => {
        // The second start wrote the first's end with it.
        assert.equal(store.puts, 3);
        assert.deepEqual(await stored(store, server.id), [
          ['first', 'Success', true],
          ['second', null, false],
        ]);
        const action = along.record();
        await store.saveServer({ ...server, version: 1 }, { ifVersion: null, action });
        along.written(action);
      },
    );
    // The second's end went with the save: no write of its own.
    assert.equal(store.puts, 3);
    assert.equal(store.savesWithAction, 1);
    assert.deepEqual(await stored(store, server.id), [
      ['first', 'Success', true],
      ['second', 'Success', true],
    ]);
    await recorded.flush();
    assert.equal(store.puts, 3, 'nothing left to write');
  });

  it('writes a kept end on flush() when nothing else did, and a failed run as before', async () => {
    const { store, server, recorded } = await setUp();
    await recorded.event(
      'first',
      () => null,
      async () => 1,
      { finishLater: true },
    );
    await recorded.flush();
    assert.equal(store.puts, 3);
    assert.deepEqual(await stored(store, server.id), [['first', 'Success', true]]);
    await assert.rejects(
      recorded.event(
        'second',
        () => null,
        async (along) => {
          along.record(); // asked for, never written: the failure is recorded instead
          throw new Error('boom');
        },
        { finishLater: true },
      ),
      /boom/u,
    );
    const [action] = await store.listInstanceActions(server.id);
    assert.equal(action?.message, 'Error');
    assert.deepEqual(await stored(store, server.id), [
      ['first', 'Success', true],
      ['second', 'Error', true],
    ]);
  });

  it('writes a startWith start with the save before the step; a failed save starts nothing', async () => {
    const { store, server, recorded } = await setUp();
    await assert.rejects(
      recorded.event(
        'never',
        () => null,
        async () => 1,
        {
          startWith: async () => {
            throw new Error('conflict');
          },
        },
      ),
      /conflict/u,
    );
    assert.deepEqual(await stored(store, server.id), []);
    await recorded.event(
      'delete',
      () => 'host1',
      async (along) => {
        // Started with the save, not on its own.
        assert.equal(store.puts, 1);
        assert.deepEqual(await stored(store, server.id), [['delete', null, false]]);
        const action = along.record();
        await store.deleteServer(server.id, action);
        along.written(action);
      },
      {
        startWith: async (along) => {
          const action = along.record();
          await store.saveServer({ ...server, version: 1 }, { ifVersion: null, action });
          along.written(action);
        },
      },
    );
    assert.equal(store.puts, 1);
    assert.equal(store.savesWithAction, 1);
    assert.deepEqual(await stored(store, server.id), [['delete', 'Success', true]]);
    assert.equal(await store.getServer(server.id), undefined);
  });
});
