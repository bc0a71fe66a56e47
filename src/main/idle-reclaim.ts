/**
 * Gives memory back once a burst of work is over. After a load (thousands of boots, long lists)
 * V8 keeps the heap it grew to, ~22 MiB live in ~75 MiB of committed pages, and its own memory
 * reducer does not reliably run when the process falls quiet. So `vpmu serve` watches how busy its
 * event loop is and, once it has been quiet for a while after real work, runs one full garbage
 * collection. Waiting matters: V8 also shrinks the young generation only when that collection
 * sees a low allocation rate, measured since the previous collection, which falls during the load.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** When a collection is worth it. */
export interface ReclaimPolicy {
  /** Event-loop work (ms) since the last collection that makes another worth running. */
  readonly busyMs: number;
  /** The most event-loop work (ms) in one interval that still counts as quiet. */
  readonly quietMs: number;
  /** Quiet intervals in a row before collecting. */
  readonly quietIntervals: number;
}

/** With 5-second intervals: after a second of work, collect once 30 s of quiet follow it. */
export const DEFAULT_RECLAIM_POLICY: ReclaimPolicy = {
  busyMs: 1000,
  quietMs: 50,
  quietIntervals: 6,
};

/** Decides, interval by interval, when to collect; pure apart from the injected collect(). */
export class IdleReclaimer {
  readonly #policy: ReclaimPolicy;
  readonly #collect: () => void;
  #workSinceCollect = 0;
  #quietInARow = 0;

  constructor(collect: () => void, policy: ReclaimPolicy = DEFAULT_RECLAIM_POLICY) {
    this.#collect = collect;
    this.#policy = policy;
  }

  /** Reports one interval's event-loop work (ms); returns whether it collected. */
  observe(activeMs: number): boolean {
    this.#workSinceCollect += activeMs;
    this.#quietInARow = activeMs <= this.#policy.quietMs ? this.#quietInARow + 1 : 0;
    if (
      this.#quietInARow < this.#policy.quietIntervals ||
      this.#workSinceCollect < this.#policy.busyMs
    )
      return false;
    this.#collect();
    this.#workSinceCollect = 0;
    this.#quietInARow = 0;
    return true;
  }
}

/**
 * Watches this process's event loop every `intervalMs` and collects as the policy says. The timer
 * does not keep the process alive. Returns a function that stops watching.
 */
export function reclaimWhenIdle(intervalMs = 5000): () => void {
  const reclaimer = new IdleReclaimer(fullCollection());
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    reclaimer.observe(performance.eventLoopUtilization(now, last).active);
    last = now;
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}

/**
 * V8's full collection without starting Node with --expose-gc: the flag is set just long enough
 * for a fresh context to carry the gc() function, then cleared so no script sees a global gc.
 */
export function fullCollection(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
