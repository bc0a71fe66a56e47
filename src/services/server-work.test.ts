import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { ComputeError } from '../errors/index.js';
import { aServerRecord } from '../ports/store.contract.js';
import type { ServerRecord } from '../ports/store.js';
import { RUNNING_STATE, ServerWork } from './server-work.js';

const noLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function workOn(): Promise<{ work: ServerWork; store: MemoryStore; server: ServerRecord }> {
  const store = new MemoryStore();
  const work = new ServerWork({
    store,
    clock: { now: () => new Date('2026-01-01T00:00:00Z') },
    ids: { newUuid: () => 'u', newSecret: () => 's' },
    computes: new Map(),
    imageFile: (location) => location,
    vpmuPrefilter: false,
    stopTimeoutMs: 1000,
    publish: () => undefined,
    log: noLog,
  });
  await store.createServer(aServerRecord({ ...RUNNING_STATE, status: 'ACTIVE' }));
  return { work, store, server: await work.get(aServerRecord().id) };
}

/** Another process saves the server (by compare-and-swap, as ServerWork does). */
async function savedElsewhere(
  store: MemoryStore,
  read: ServerRecord,
  changes: Partial<ServerRecord>,
) {
  await store.saveServer(
    { ...read, ...changes, version: (read.version ?? 0) + 1 },
    { ifVersion: read.version ?? null },
  );
}

describe('ServerWork.save() compare-and-swap', () => {
  it('refuses a save whose server moved to another state meanwhile: server.conflict, nothing saved', async () => {
    const { work, store, server } = await workOn();
    await savedElsewhere(store, server, { taskState: 'deleting' });
    await assert.rejects(
      work.save(server, { taskState: 'pausing' }),
      (error: unknown) => error instanceof ComputeError && error.code === 'server.conflict',
    );
    assert.equal((await store.getServer(server.id))?.taskState, 'deleting');
  });

  it('puts its changes onto a record changed meanwhile in the same state (a rename)', async () => {
    const { work, store, server } = await workOn();
    await savedElsewhere(store, server, { name: 'renamed' });
    const saved = await work.save(server, { taskState: 'rebuilding' });
    assert.deepEqual(
      [saved.name, saved.taskState, saved.status, saved.version],
      ['renamed', 'rebuilding', 'REBUILD', 2],
    );
    assert.deepEqual(await store.getServer(server.id), saved);
  });

  it('lets its own later steps save from an earlier step’s record', async () => {
    const { work, store, server } = await workOn();
    const first = await work.save(server, { taskState: 'image_snapshot' });
    await work.save(first, { taskState: 'image_uploading' });
    const last = await work.save(first, { taskState: null });
    assert.deepEqual([last.taskState, last.version], [null, 3]);
    assert.equal((await store.getServer(server.id))?.version, 3);
  });
});
