/**
 * Named locks inside one process: a queue per name, so holders run one after another.
 * The stores use it for `Store.withLock`; PostgreSQL adds an advisory lock on top of it, so
 * processes sharing the database exclude each other too, with one waiter per name per process.
 */
import { KeyedQueue } from '../../domain/keyed-queue.js';
import type { LockOutcome } from '../../ports/store.js';

export class ProcessLocks {
  readonly #queue = new KeyedQueue();

  /** Whether some work holds (or waits for) `name` in this process. */
  held(name: string): boolean {
    return this.#queue.busy(name);
  }

  /** Runs `work` once every earlier holder of `name` here has finished. */
  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    return this.#queue.serial(name, work);
  }

  /** `withLock` for one process: 'skip' gives up when the lock is held here. */
  async withLock<T>(
    name: string,
    work: () => Promise<T>,
    ifHeld: 'wait' | 'skip',
  ): Promise<LockOutcome<T>> {
    if (ifHeld === 'skip' && this.held(name)) return { ran: false };
    return this.run(name, async () => ({ ran: true, value: await work() }));
  }
}
