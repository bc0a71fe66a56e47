import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import {
  fullCollection,
  IdleReclaimer,
  reclaimWhenIdle,
  type ReclaimPolicy,
} from './idle-reclaim.js';

const POLICY: ReclaimPolicy = { busyMs: 1000, quietMs: 50, quietIntervals: 3 };

/** Feeds intervals of event-loop work (ms) and returns the ones after which it collected. */
function collectedAfter(intervals: readonly number[]): number[] {
  const collected: number[] = [];
  let index = -1;
  const reclaimer = new IdleReclaimer(() => collected.push(index), POLICY);
  intervals.forEach((activeMs, i) => {
    index = i;
    reclaimer.observe(activeMs);
  });
  return collected;
}

describe('IdleReclaimer', () => {
  const cases: { name: string; intervals: number[]; collected: number[] }[] = [
    {
      name: 'never on a service that was always idle',
      intervals: [0, 1, 0, 2, 0, 1],
      collected: [],
    },
    { name: 'never while busy', intervals: [900, 4000, 4800, 4900, 60, 4000], collected: [] },
    {
      name: 'once the quiet intervals follow real work',
      intervals: [4000, 4000, 0, 1, 2, 0, 0],
      collected: [4],
    },
    { name: 'not after too little work', intervals: [400, 300, 0, 0, 0, 0, 0], collected: [] },
    {
      name: 'work adds up across bursts',
      intervals: [400, 0, 400, 0, 300, 0, 0, 0],
      collected: [7],
    },
    {
      name: 'a busy interval restarts the quiet count',
      intervals: [2000, 0, 0, 500, 0, 0, 0],
      collected: [6],
    },
    {
      name: 'once per burst, again after the next one',
      intervals: [2000, 0, 0, 0, 0, 0, 0, 3000, 0, 0, 0],
      collected: [3, 10],
    },
    {
      name: 'work at the quiet bound still counts as quiet',
      intervals: [2000, 50, 50, 50],
      collected: [3],
    },
  ];
  for (const { name, intervals, collected } of cases) {
    it(`collects ${name}`, () => {
      assert.deepEqual(collectedAfter(intervals), collected);
    });
  }
});

describe('fullCollection()', () => {
  it('runs a full collection that frees unreachable objects', async () => {
    const collect = fullCollection();
    let garbage: object | undefined = { payload: new Array(1000).fill('x') };
    const watched = new WeakRef(garbage);
    garbage = undefined;
    // A WeakRef target stays alive until the current job ends; collect in a later one.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    assert.equal(watched.deref(), undefined);
  });
});

describe('reclaimWhenIdle()', () => {
  it('clears --expose-gc again: contexts made afterwards have no gc()', () => {
    const stop = reclaimWhenIdle(10);
    stop();
    assert.equal(runInNewContext('typeof gc'), 'undefined');
  });
});
