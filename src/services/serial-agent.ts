/**
 * The compute's per-server lock, as nova-compute's lock on an instance's uuid: the operations that
 * change a server's guest run one at a time per server on its host, whichever API process or
 * conductor asked. Two actions racing from two API processes then never interleave on the host;
 * compare-and-swap refuses the record of the one that lost with a 409. Reads are not queued.
 */
import type { ComputeAgent } from '../ports/compute-agent.js';
import { KeyedQueue } from '../domain/keyed-queue.js';

type ServerOf = (args: readonly unknown[]) => unknown;

const byId: ServerOf = (args) => args[0];
const byRequest: ServerOf = (args) =>
  (args[0] as { readonly serverId?: unknown } | undefined)?.serverId;

/** The operations that change a guest, and where each finds its server's id. */
const CHANGES: Readonly<Partial<Record<keyof ComputeAgent, ServerOf>>> = {
  build: byRequest,
  migrateIn: byRequest,
  remove: byId,
  migrateOut: byId,
  power: byId,
  hold: byId,
  // Not snapshot: its data is read after the call returns, so the lock would end before the
  // copy does, and holding it through the stream would let an abandoned one block the server.
  redefine: byId,
  restore: byId,
};

/** The agent, with its guest-changing operations queued per server. */
export function serialPerServer(agent: ComputeAgent): ComputeAgent {
  const queue = new KeyedQueue();
  return new Proxy(agent, {
    get: (target, name) => {
      const value: unknown = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      const serverOf = CHANGES[name as keyof ComputeAgent];
      if (serverOf === undefined) return method;
      return (...args: unknown[]) => {
        const id = serverOf(args);
        return typeof id === 'string' ? queue.serial(id, () => method(...args)) : method(...args);
      };
    },
  });
}
