/**
 * The compute agent over RPC: `serveComputeAgent()` serves a host's agent on topic `compute` as
 * server `<host>`; `RemoteComputeAgent` is a ComputeAgent whose every operation is a call to it.
 * Arguments and results are plain JSON (the port's types already are); a ComputeError or
 * HypervisorError thrown on the host is raised again as the same class with the same code,
 * message and fields, anything else as the transport's RemoteError.
 *
 * A snapshot's data is a stream: `snapshot_open` answers with a stream id and the disk format,
 * each `snapshot_read` with the next chunk (base64, at most SNAPSHOT_CHUNK_BYTES) or null at the
 * end, `snapshot_close` gives the stream up early. A stream nobody reads for
 * SNAPSHOT_IDLE_MS is closed by the host.
 */
import {
  ComputeError,
  ERROR_CODES,
  HypervisorError,
  type ErrorCode,
  type HypervisorErrorCode,
  type Issue,
} from '../errors/index.js';
import type { HostSettings } from '../domain/index.js';
import type {
  BuildRequest,
  ComputeAgent,
  DomainListing,
  DomainState,
  GuestHandover,
  GuestOutcome,
  MigrateInRequest,
  HoldAction,
  PowerAction,
  PowerOutcome,
  RedefineOutcome,
  RedefineRequest,
  RestoreFailure,
  StopOptions,
} from '../ports/compute-agent.js';
import {
  RemoteError,
  VPMU_MODULE,
  type RpcArgs,
  type RpcConsumer,
  type RpcHandler,
  type RpcTransport,
} from '../ports/rpc.js';

/** The RPC topic compute hosts serve (the server name is the host's). */
export const COMPUTE_TOPIC = 'compute';
/** The RPC topic conductors serve: `build_instances` (cast) and `ping` (call). */
export const CONDUCTOR_TOPIC = 'conductor';
/** The most data one `snapshot_read` answers with. */
export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** A snapshot stream left unread this long is closed on the host. */
export const SNAPSHOT_IDLE_MS = 120_000;

/** What `describe` answers: what a RemoteComputeAgent needs before its first call. */
export interface AgentDescription {
  readonly uri: string;
  readonly settings: HostSettings;
}

interface OpenStream {
  readonly iterator: AsyncIterator<Uint8Array>;
  /** Bytes read from the iterator but not yet sent. */
  pending: Uint8Array | undefined;
  timer: ReturnType<typeof setTimeout>;
}

const str = (args: RpcArgs, key: string): string => {
  const value = args[key];
  if (typeof value !== 'string') throw new TypeError(`argument ${key} must be a string`);
  return value;
};

/** Serves `agent` on topic `compute` as server `host`, until the consumer is stopped. */
export async function serveComputeAgent(
  transport: RpcTransport,
  host: string,
  agent: ComputeAgent,
): Promise<RpcConsumer> {
  const streams = new Map<string, OpenStream>();
  let nextStream = 0;
  const closeStream = async (id: string) => {
    const stream = streams.get(id);
    if (stream === undefined) return;
    streams.delete(id);
    clearTimeout(stream.timer);
    await stream.iterator.return?.();
  };
  const idle = (id: string) =>
    setTimeout(() => {
      void closeStream(id).catch(() => undefined);
    }, SNAPSHOT_IDLE_MS).unref();

  const handlers: Record<string, RpcHandler> = {
    describe: (): AgentDescription => ({ uri: agent.uri, settings: agent.settings }),
    build: (_c, args) => agent.build(args.request as BuildRequest),
    remove: (_c, args) =>
      agent.remove(
        str(args, 'server_id'),
        args.options as StopOptions & { readonly graceful: boolean },
      ),
    power: (_c, args) =>
      agent.power(str(args, 'server_id'), args.action as PowerAction, args.options as StopOptions),
    hold: (_c, args) => agent.hold(str(args, 'server_id'), args.action as HoldAction),
    migrate_out: (_c, args) =>
      agent.migrateOut(str(args, 'server_id'), args.options as StopOptions),
    migrate_in: (_c, args) => agent.migrateIn(args.request as MigrateInRequest),
    state: async (_c, args) => (await agent.state(str(args, 'server_id'))) ?? null,
    domain_xml: (_c, args) => agent.domainXml(str(args, 'server_id')),
    redefine: (_c, args) => agent.redefine(str(args, 'server_id'), args.request as RedefineRequest),
    restore: (_c, args) =>
      agent.restore(str(args, 'server_id'), str(args, 'xml'), {
        start: args.start === true,
      }),
    console_output: (_c, args) =>
      agent.consoleOutput(
        str(args, 'server_id'),
        typeof args.lines === 'number' ? args.lines : undefined,
      ),
    list: () => agent.list(),
    sweep_disks: (_c, args) =>
      agent.sweepDisks(new Set(Array.isArray(args.keep) ? args.keep.map(String) : [])),
    uptime: async () => (await agent.uptime()) ?? null,
    snapshot_open: async (_c, args) => {
      const { diskFormat, data } = await agent.snapshot(str(args, 'server_id'));
      nextStream += 1;
      const id = `${host}-${nextStream}`;
      streams.set(id, {
        iterator: data[Symbol.asyncIterator](),
        pending: undefined,
        timer: idle(id),
      });
      return { stream: id, disk_format: diskFormat };
    },
    snapshot_read: async (_c, args) => {
      const id = str(args, 'stream');
      const stream = streams.get(id);
      if (stream === undefined) {
        throw new ComputeError('input.invalid', `No open snapshot stream ${id} on host ${host}`);
      }
      clearTimeout(stream.timer);
      stream.timer = idle(id);
      const parts: Uint8Array[] = [];
      let size = 0;
      while (size < SNAPSHOT_CHUNK_BYTES) {
        let part = stream.pending;
        stream.pending = undefined;
        if (part === undefined) {
          const next = await stream.iterator.next();
          if (next.done === true) break;
          part = next.value;
        }
        const room = SNAPSHOT_CHUNK_BYTES - size;
        if (part.byteLength > room) {
          stream.pending = part.subarray(room);
          part = part.subarray(0, room);
        }
        parts.push(part);
        size += part.byteLength;
      }
      if (parts.length === 0) {
        await closeStream(id);
        return { chunk: null };
      }
      return { chunk: Buffer.concat(parts).toString('base64') };
    },
    snapshot_close: (_c, args) => closeStream(str(args, 'stream')),
  };
  const consumer = await transport.serve(COMPUTE_TOPIC, host, handlers);
  return {
    stop: async () => {
      await consumer.stop();
      await Promise.allSettled([...streams.keys()].map(closeStream));
    },
  };
}

export interface RemoteComputeAgentOptions {
  /**
   * Bound on the calls that do the work (build, remove, power, redefine, restore, sweep, snapshot
   * open): an image copy or a graceful stop can take minutes. @default 600000
   */
  readonly timeoutMs?: number;
  /** Bound on the calls that only look or hand over data (state, XML, list, snapshot reads, ...). @default 60000 */
  readonly quickTimeoutMs?: number;
}

/** The methods bounded by `timeoutMs`; every other one by `quickTimeoutMs`. */
const SLOW_METHODS = new Set([
  'build',
  'remove',
  'power',
  'hold',
  'redefine',
  'migrate_out',
  'migrate_in',
  'restore',
  'sweep_disks',
  'snapshot_open',
]);

/** A ComputeAgent on another host (or process), reached over RPC; see the file header. */
export class RemoteComputeAgent implements ComputeAgent {
  readonly uri: string;
  readonly #settings: HostSettings | undefined;
  readonly #transport: RpcTransport;
  readonly #host: string;
  readonly #timeouts: { readonly slow: number; readonly quick: number };

  private constructor(
    transport: RpcTransport,
    host: string,
    description: AgentDescription | undefined,
    options: RemoteComputeAgentOptions,
  ) {
    this.#transport = transport;
    this.#host = host;
    this.#timeouts = {
      slow: options.timeoutMs ?? 600_000,
      quick: options.quickTimeoutMs ?? 60_000,
    };
    // Without a description the host is named by its queue, in messages only.
    this.uri = description?.uri ?? `rpc:${COMPUTE_TOPIC}.${host}`;
    this.#settings = description?.settings;
  }

  /** The agent of `host`, its URI and settings fetched once now. */
  static async connect(
    transport: RpcTransport,
    host: string,
    options: RemoteComputeAgentOptions = {},
  ): Promise<RemoteComputeAgent> {
    const description = (await transport.call(
      { topic: COMPUTE_TOPIC, server: host },
      'describe',
      {},
      { timeoutMs: options.quickTimeoutMs ?? 60_000 },
    )) as AgentDescription;
    return new RemoteComputeAgent(transport, host, description, options);
  }

  /**
   * The agent of `host` with what its record says (no call now): the URI and settings the host
   * registered, or none yet (then `settings` throws; host records carry them, see settingsOf).
   */
  static of(
    transport: RpcTransport,
    host: string,
    description: AgentDescription | undefined,
    options: RemoteComputeAgentOptions = {},
  ): RemoteComputeAgent {
    return new RemoteComputeAgent(transport, host, description, options);
  }

  get settings(): HostSettings {
    if (this.#settings === undefined) {
      throw new ComputeError(
        'host.unregistered',
        `The guest settings of compute host ${this.#host} are not known: it has not registered them`,
      );
    }
    return this.#settings;
  }

  /** Calls `method` on the host; a host-side ComputeError comes back as one. */
  async #call(method: string, args: RpcArgs): Promise<unknown> {
    try {
      return await this.#transport.call(
        { topic: COMPUTE_TOPIC, server: this.#host },
        method,
        args,
        {
          timeoutMs: SLOW_METHODS.has(method) ? this.#timeouts.slow : this.#timeouts.quick,
        },
      );
    } catch (error) {
      throw rebuilt(error);
    }
  }

  async build(request: BuildRequest): Promise<GuestOutcome> {
    return (await this.#call('build', { request })) as GuestOutcome;
  }

  async remove(
    serverId: string,
    options: StopOptions & { readonly graceful: boolean },
  ): Promise<void> {
    await this.#call('remove', { server_id: serverId, options });
  }

  async power(serverId: string, action: PowerAction, options: StopOptions): Promise<PowerOutcome> {
    return (await this.#call('power', { server_id: serverId, action, options })) as PowerOutcome;
  }

  async hold(serverId: string, action: HoldAction): Promise<PowerOutcome> {
    return (await this.#call('hold', { server_id: serverId, action })) as PowerOutcome;
  }

  async snapshot(
    serverId: string,
  ): Promise<{ diskFormat: string; data: AsyncIterable<Uint8Array> }> {
    const opened = (await this.#call('snapshot_open', { server_id: serverId })) as {
      stream: string;
      disk_format: string;
    };
    const call = (method: string, args: RpcArgs) => this.#call(method, args);
    async function* data(): AsyncGenerator<Uint8Array> {
      let ended = false;
      try {
        for (;;) {
          const { chunk } = (await call('snapshot_read', { stream: opened.stream })) as {
            chunk: string | null;
          };
          if (chunk === null) {
            ended = true;
            return;
          }
          yield new Uint8Array(Buffer.from(chunk, 'base64'));
        }
      } finally {
        if (!ended) await call('snapshot_close', { stream: opened.stream }).catch(() => undefined);
      }
    }
    return { diskFormat: opened.disk_format, data: data() };
  }

  async migrateOut(serverId: string, options: StopOptions): Promise<GuestHandover> {
    return (await this.#call('migrate_out', { server_id: serverId, options })) as GuestHandover;
  }

  async migrateIn(request: MigrateInRequest): Promise<GuestOutcome> {
    return (await this.#call('migrate_in', { request })) as GuestOutcome;
  }

  async state(serverId: string): Promise<DomainState | undefined> {
    const state = (await this.#call('state', { server_id: serverId })) as DomainState | null;
    return state ?? undefined;
  }

  async domainXml(serverId: string): Promise<string> {
    return (await this.#call('domain_xml', { server_id: serverId })) as string;
  }

  async redefine(serverId: string, request: RedefineRequest): Promise<RedefineOutcome> {
    const outcome = (await this.#call('redefine', { server_id: serverId, request })) as {
      domainXml: string;
      pmu?: RedefineOutcome['pmu'] | null;
    };
    return { domainXml: outcome.domainXml, pmu: outcome.pmu ?? undefined };
  }

  async restore(
    serverId: string,
    xml: string,
    options: { readonly start: boolean },
  ): Promise<RestoreFailure[]> {
    return (await this.#call('restore', {
      server_id: serverId,
      xml,
      start: options.start,
    })) as RestoreFailure[];
  }

  async consoleOutput(serverId: string, lines: number | undefined): Promise<string> {
    return (await this.#call('console_output', { server_id: serverId, lines })) as string;
  }

  async list(): Promise<readonly DomainListing[]> {
    return (await this.#call('list', {})) as DomainListing[];
  }

  async sweepDisks(keep: ReadonlySet<string>): Promise<string[]> {
    return (await this.#call('sweep_disks', { keep: [...keep] })) as string[];
  }

  async uptime(): Promise<string | undefined> {
    return ((await this.#call('uptime', {})) as string | null) ?? undefined;
  }
}

/** A host-side ComputeError (or HypervisorError) again, from its RemoteError; others as they are. */
function rebuilt(error: unknown): unknown {
  if (!(error instanceof RemoteError) || error.remoteModule !== VPMU_MODULE) return error;
  const kwargs = error.remoteKwargs;
  const code = kwargs.code;
  if (typeof code !== 'string' || !Object.hasOwn(ERROR_CODES, code)) return error;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  if (error.remoteClass === 'HypervisorError' && code.startsWith('hypervisor.')) {
    return new HypervisorError(code as HypervisorErrorCode, {
      operation: text(kwargs.operation) ?? 'call the hypervisor',
      domain: text(kwargs.domain),
      detail: text(kwargs.detail) ?? error.remoteMessage,
      cause: error,
    });
  }
  if (error.remoteClass === 'ComputeError' || error.remoteClass === 'HypervisorError') {
    return new ComputeError(code as ErrorCode, error.remoteMessage, {
      issues: Array.isArray(kwargs.issues) ? (kwargs.issues as Issue[]) : [],
      cause: error,
    });
  }
  return error;
}
