/**
 * RPC inside one process, with no broker (for `vpmu serve` once its parts talk over RPC; nothing
 * is wired to it yet, see docs/rpc.md). A message goes straight to a
 * handler, but through the same JSON as on the wire (arguments, context, result and failure), so
 * nothing that would not cross a process boundary crosses here either.
 *
 * Routing as on RabbitMQ: a call or cast to `<topic>` goes to the servers of the topic in turn, to
 * `<topic>.<server>` to that server, a fanout cast to every server. A call nobody serves waits out
 * its timeout, as on the broker. Handlers run concurrently.
 */
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RpcTimeout,
  RpcUnavailable,
  type CallOptions,
  type CastOptions,
  type RpcArgs,
  type RpcConsumer,
  type RpcHandler,
  type RpcTarget,
  type RpcTransport,
} from '../../ports/rpc.js';
import {
  argsOf,
  deserializeFailure,
  noSuchMethod,
  packContext,
  plain,
  serializeFailure,
  unpackContext,
} from './wire.js';

interface Server {
  readonly topic: string;
  readonly name: string;
  readonly handlers: Readonly<Record<string, RpcHandler>>;
  readonly inFlight: Set<Promise<unknown>>;
  stopped: boolean;
}

type Outcome = { readonly result: unknown } | { readonly failure: string };

export class InProcessRpcTransport implements RpcTransport {
  readonly #servers: Server[] = [];
  readonly #turn = new Map<string, number>();
  readonly #waiting = new Set<() => void>();
  #closed = false;

  async call(
    target: RpcTarget,
    method: string,
    args: RpcArgs,
    options: CallOptions = {},
  ): Promise<unknown> {
    this.#open();
    if (target.fanout === true) throw new Error('A call cannot go to every server (fanout)');
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const message = wireMessage(args, options.context);
    const server = this.#pick(target);
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(abandon);
        reject(new RpcTimeout(target, method, timeoutMs));
      }, timeoutMs);
      const abandon = () => {
        clearTimeout(timer);
        reject(new RpcUnavailable('the RPC transport was closed'));
      };
      this.#waiting.add(abandon);
      if (server === undefined) return;
      void this.#dispatch(server, method, message).then((outcome) => {
        if (!this.#waiting.delete(abandon)) return; // timed out or closed meanwhile
        clearTimeout(timer);
        if ('failure' in outcome) reject(deserializeFailure(outcome.failure));
        else resolve(outcome.result);
      });
    });
  }

  async cast(
    target: RpcTarget,
    method: string,
    args: RpcArgs,
    options: CastOptions = {},
  ): Promise<void> {
    this.#open();
    const message = wireMessage(args, options.context);
    const servers =
      target.fanout === true
        ? this.#servers.filter((s) => s.topic === target.topic && !s.stopped)
        : [this.#pick(target)].filter((s) => s !== undefined);
    for (const server of servers) void this.#dispatch(server, method, message);
    await Promise.resolve();
  }

  async serve(
    topic: string,
    server: string,
    handlers: Readonly<Record<string, RpcHandler>>,
  ): Promise<RpcConsumer> {
    this.#open();
    const entry: Server = { topic, name: server, handlers, inFlight: new Set(), stopped: false };
    this.#servers.push(entry);
    await Promise.resolve();
    return {
      stop: async () => {
        entry.stopped = true;
        const at = this.#servers.indexOf(entry);
        if (at >= 0) this.#servers.splice(at, 1);
        await Promise.allSettled([...entry.inFlight]);
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const servers = this.#servers.splice(0);
    for (const server of servers) server.stopped = true;
    for (const abandon of [...this.#waiting]) abandon();
    this.#waiting.clear();
    await Promise.allSettled(servers.flatMap((s) => [...s.inFlight]));
  }

  #open(): void {
    if (this.#closed) throw new RpcUnavailable('the RPC transport is closed');
  }

  /** The server a call or cast to `target` goes to (round robin over a topic's servers). */
  #pick(target: RpcTarget): Server | undefined {
    const candidates = this.#servers.filter(
      (s) =>
        s.topic === target.topic &&
        !s.stopped &&
        (target.server === undefined || s.name === target.server),
    );
    if (candidates.length === 0) return undefined;
    const turn = this.#turn.get(target.topic) ?? 0;
    this.#turn.set(target.topic, turn + 1);
    return candidates[turn % candidates.length];
  }

  /** Runs the handler on what the wire would carry, and returns what the reply would carry. */
  #dispatch(server: Server, method: string, message: Record<string, unknown>): Promise<Outcome> {
    const run = (async (): Promise<Outcome> => {
      await Promise.resolve();
      try {
        const handler = Object.hasOwn(server.handlers, method)
          ? server.handlers[method]
          : undefined;
        if (handler === undefined) throw noSuchMethod(method);
        const result = await handler(unpackContext(message), argsOf(message.args));
        return { result: plain(result) };
      } catch (error) {
        return { failure: serializeFailure(error) };
      }
    })();
    server.inFlight.add(run);
    void run.finally(() => server.inFlight.delete(run));
    return run;
  }
}

/** The arguments and context as the wire carries them, copied now (the caller may change its own). */
function wireMessage(args: RpcArgs, context: CastOptions['context']): Record<string, unknown> {
  return plain({ args, ...packContext(context) }) as Record<string, unknown>;
}
