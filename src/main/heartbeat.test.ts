import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { aComputeHost } from '../ports/store.contract.js';
import { heartbeatPeriodically, type HeartbeatLog } from './heartbeat.js';

const START = Date.parse('2026-01-01T00:00:00.000Z');

/** A clock the test moves along with the mocked timers. */
function testClock() {
  let now = START;
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
      mock.timers.tick(ms);
    },
  };
}

function recordingLog() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const log: HeartbeatLog = {
    warn: (fields, message) => lines.push({ level: 'warn', message, fields }),
    error: (fields, message) => lines.push({ level: 'error', message, fields }),
  };
  return { lines, log };
}

/** Lets the promises of a round settle (immediates are not mocked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A store whose reports resolve only when the test says so. */
function gatedStore() {
  const calls: { at: string; finish(result: boolean | Error): void }[] = [];
  return {
    calls,
    /** Ends the `n`th report (0-based) with its result or error. */
    finish(n: number, result: boolean | Error) {
      const call = calls[n];
      assert.ok(call !== undefined, `report ${String(n)} was made`);
      call.finish(result);
    },
    reportHeartbeat: (_host: string, at: string) =>
      new Promise<boolean>((resolve, reject) => {
        calls.push({
          at,
          finish: (result) => {
            if (result instanceof Error) reject(result);
            else resolve(result);
          },
        });
      }),
  };
}

describe('heartbeatPeriodically()', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout'] });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it("reports at once, then every interval, with the clock's time", async () => {
    const store = new MemoryStore();
    await store.putComputeHost(aComputeHost({ name: 'c1' }));
    const clock = testClock();
    const { lines, log } = recordingLog();
    const beat = heartbeatPeriodically(store, 'c1', 10_000, clock, log);
    await settle();
    assert.equal((await store.getComputeHost('c1'))?.heartbeatAt, '2026-01-01T00:00:00.000Z');
    clock.advance(9_999);
    await settle();
    assert.equal((await store.getComputeHost('c1'))?.heartbeatAt, '2026-01-01T00:00:00.000Z');
    clock.advance(1);
    await settle();
    assert.equal((await store.getComputeHost('c1'))?.heartbeatAt, '2026-01-01T00:00:10.000Z');
    clock.advance(10_000);
    await settle();
    assert.equal((await store.getComputeHost('c1'))?.heartbeatAt, '2026-01-01T00:00:20.000Z');
    await beat.stop();
    clock.advance(60_000);
    await settle();
    assert.equal(
      (await store.getComputeHost('c1'))?.heartbeatAt,
      '2026-01-01T00:00:20.000Z',
      'no report after stop()',
    );
    assert.deepEqual(lines, []);
  });

  it('never overlaps rounds, and stop() waits for the one under way', async () => {
    const store = gatedStore();
    const clock = testClock();
    const { log } = recordingLog();
    const beat = heartbeatPeriodically(store, 'c1', 10_000, clock, log);
    assert.equal(store.calls.length, 1, 'the first report starts at once');
    // A report slower than the interval: no second round while it runs.
    clock.advance(25_000);
    await settle();
    assert.equal(store.calls.length, 1);
    store.finish(0, true);
    await settle();
    // It took longer than the interval: the next round starts at once.
    clock.advance(0);
    await settle();
    assert.equal(store.calls.length, 2);
    assert.equal(store.calls[1]?.at, '2026-01-01T00:00:25.000Z');
    let stopped = false;
    const stopping = beat.stop().then(() => {
      stopped = true;
    });
    await settle();
    assert.equal(stopped, false, 'stop() waits for the report under way');
    store.finish(1, true);
    await stopping;
    clock.advance(60_000);
    await settle();
    assert.equal(store.calls.length, 2);
  });

  it('logs a failed report and tries again next round; an unknown host is logged once', async () => {
    const store = gatedStore();
    const clock = testClock();
    const { lines, log } = recordingLog();
    const beat = heartbeatPeriodically(store, 'c1', 1_000, clock, log);
    store.finish(0, new Error('database is locked'));
    await settle();
    assert.deepEqual(lines, [
      {
        level: 'error',
        message: 'heartbeat: cannot report this round',
        fields: { host: 'c1', err: 'database is locked' },
      },
    ]);
    for (let round = 1; round <= 3; round++) {
      clock.advance(1_000);
      await settle();
      store.finish(round, false);
      await settle();
    }
    assert.equal(store.calls.length, 4, 'a failure does not end the loop');
    assert.deepEqual(
      lines.slice(1).map((l) => [l.level, l.fields]),
      [['warn', { host: 'c1' }]],
      'an unknown host is said once, not every round',
    );
    clock.advance(1_000);
    await settle();
    store.finish(4, true);
    await beat.stop();
    assert.equal(lines.length, 2);
  });
});
