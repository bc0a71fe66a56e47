/**
 * Work queued by key (a server id, `group:<id>`): what runs under one key runs one at a time, in
 * the order it came; different keys run at once.
 */
export class KeyedQueue {
  /** The last work queued under each key, settled either way; gone once nothing is queued. */
  readonly #pending = new Map<string, Promise<unknown>>();

  /** Resolves when nothing is queued under any key. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending.values()]);
  }

  /** Resolves when nothing is queued under `key`. */
  async settled(key: string): Promise<void> {
    while (this.#pending.has(key)) await this.#pending.get(key)?.catch(() => undefined);
  }

  /** Whether work is queued under `key`. */
  busy(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Runs `work` after whatever already runs under `key`. */
  async serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#pending.get(key) ?? Promise.resolve();
    const result = before.catch(() => undefined).then(work);
    this.track(key, result);
    return result;
  }

  /** Counts `work` as queued under `key` until it settles. */
  track(key: string, work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.set(key, settled);
    void settled.then(() => {
      if (this.#pending.get(key) === settled) this.#pending.delete(key);
    });
  }
}
