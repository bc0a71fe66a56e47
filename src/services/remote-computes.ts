/**
 * The compute agents of a process that drives hosts it does not own (`vpmu api`, `vpmu conductor`):
 * every host is reached by RPC on its own queue, so any host name has an agent. Whether the host
 * is there to answer is the store's and the heartbeat's to say (its record, its service state),
 * not this map's. Records teach each agent its host's URI and settings (`learn`).
 */
import type { ComputeAgent } from '../ports/compute-agent.js';
import type { RpcTransport } from '../ports/rpc.js';
import type { ComputeHostRecord } from '../ports/store.js';
import { RemoteComputeAgent, type RemoteComputeAgentOptions } from './compute-agent-rpc.js';

export class RemoteComputes implements ReadonlyMap<string, ComputeAgent> {
  readonly #transport: RpcTransport;
  readonly #options: RemoteComputeAgentOptions;
  readonly #agents = new Map<string, RemoteComputeAgent>();
  /** What each agent was made from, so an unchanged record keeps its agent. */
  readonly #learned = new Map<string, string>();

  constructor(transport: RpcTransport, options: RemoteComputeAgentOptions = {}) {
    this.#transport = transport;
    this.#options = options;
  }

  /** Takes the URI and settings of each host from its record (a newer record replaces the agent). */
  learn(records: readonly ComputeHostRecord[]): void {
    for (const record of records) {
      const described = JSON.stringify([record.hypervisorUri, record.settings]);
      if (this.#learned.get(record.name) === described) continue;
      this.#learned.set(record.name, described);
      this.#agents.set(
        record.name,
        RemoteComputeAgent.of(
          this.#transport,
          record.name,
          record.settings === undefined
            ? undefined
            : { uri: record.hypervisorUri, settings: record.settings },
          this.#options,
        ),
      );
    }
  }

  get(host: string): ComputeAgent {
    let agent = this.#agents.get(host);
    if (agent === undefined) {
      agent = RemoteComputeAgent.of(this.#transport, host, undefined, this.#options);
      this.#agents.set(host, agent);
    }
    return agent;
  }

  /** Always: a host's queue can be named before its record is read. */
  has(): boolean {
    return true;
  }

  /** The hosts met so far (learned or asked for). */
  get size(): number {
    return this.#agents.size;
  }

  keys(): MapIterator<string> {
    return this.#agents.keys();
  }

  values(): MapIterator<ComputeAgent> {
    return this.#agents.values();
  }

  entries(): MapIterator<[string, ComputeAgent]> {
    return this.#agents.entries();
  }

  [Symbol.iterator](): MapIterator<[string, ComputeAgent]> {
    return this.#agents.entries();
  }

  forEach(
    each: (agent: ComputeAgent, host: string, map: ReadonlyMap<string, ComputeAgent>) => void,
  ): void {
    for (const [host, agent] of this.#agents) each(agent, host, this);
  }
}
