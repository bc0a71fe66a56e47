/**
 * Remote procedure calls between vpmu processes, in oslo.messaging's model: a server consumes a
 * topic (and `<topic>.<server>` for calls meant for it alone); a client casts (no answer) or calls
 * (one answer, or a failure, within a timeout) a method with keyword arguments and a request
 * context. Everything that crosses is plain JSON: an adapter serialises arguments, results and
 * context even when it never leaves the process, so a handler sees exactly what a remote peer
 * would send it.
 *
 * The AMQP adapter speaks oslo.messaging's wire format (shared/reference/distributed.md §3), so an
 * unchanged oslo.messaging peer can call and be called. Delivery is at most once: a lost or repeated
 * cast must be harmless, the store is the truth.
 */

/** Where a message goes: any one server of `topic`, the named `server`, or (`fanout`) all of them. */
export interface RpcTarget {
  readonly topic: string;
  /** One server only (routing key `<topic>.<server>`). */
  readonly server?: string | undefined;
  /** Every server of the topic (casts only). */
  readonly fanout?: boolean | undefined;
}

/** The request context, sent flattened as `_context_<key>` entries (JSON values). */
export type RpcContext = Readonly<Record<string, unknown>>;

/** A method's keyword arguments (JSON values). */
export type RpcArgs = Readonly<Record<string, unknown>>;

export interface CastOptions {
  readonly context?: RpcContext | undefined;
}

export interface CallOptions extends CastOptions {
  /** How long to wait for the answer. @default 60000 (oslo's rpc_response_timeout) */
  readonly timeoutMs?: number | undefined;
}

/** One method of a server: gets the context and the arguments, returns a JSON-able result. */
export type RpcHandler = (context: RpcContext, args: RpcArgs) => unknown;

/** A serving consumer; `stop()` stops taking messages and waits for the ones being handled. */
export interface RpcConsumer {
  stop(): Promise<void>;
}

export interface RpcTransport {
  /** Calls `method` on one server of `target` and resolves with its result. */
  call(target: RpcTarget, method: string, args: RpcArgs, options?: CallOptions): Promise<unknown>;
  /** Sends `method` to `target` without waiting for anything but the send. */
  cast(target: RpcTarget, method: string, args: RpcArgs, options?: CastOptions): Promise<void>;
  /** Serves `handlers` on `topic` as `server` until the consumer is stopped. */
  serve(
    topic: string,
    server: string,
    handlers: Readonly<Record<string, RpcHandler>>,
  ): Promise<RpcConsumer>;
  /** Stops every consumer and releases the transport; calls still waiting fail. */
  close(): Promise<void>;
}

/** The default call timeout (oslo.messaging's rpc_response_timeout). */
export const DEFAULT_CALL_TIMEOUT_MS = 60_000;

/** The module our own failures name: not importable by an oslo peer, so it shows a RemoteError. */
export const VPMU_MODULE = 'vpmu';

/**
 * A failure raised by the remote handler, as oslo serialises it: the exception's class and
 * module, its message, the remote traceback lines, and its args and kwargs.
 */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  /** The remote exception's class name (oslo's `exc_type`). */
  readonly remoteClass: string;
  readonly remoteModule: string;
  /** The remote exception's message (oslo's `value`). */
  readonly remoteMessage: string;
  readonly traceback: readonly string[];
  readonly remoteArgs: readonly unknown[];
  readonly remoteKwargs: Readonly<Record<string, unknown>>;

  constructor(failure: {
    readonly remoteClass: string;
    readonly remoteModule: string;
    readonly remoteMessage: string;
    readonly traceback?: readonly string[] | undefined;
    readonly remoteArgs?: readonly unknown[] | undefined;
    readonly remoteKwargs?: Readonly<Record<string, unknown>> | undefined;
  }) {
    super(`Remote error: ${failure.remoteClass} ${failure.remoteMessage}`);
    this.remoteClass = failure.remoteClass;
    this.remoteModule = failure.remoteModule;
    this.remoteMessage = failure.remoteMessage;
    this.traceback = failure.traceback ?? [];
    this.remoteArgs = failure.remoteArgs ?? [];
    this.remoteKwargs = failure.remoteKwargs ?? {};
  }
}

/** No answer came within the call's timeout (oslo's MessagingTimeout). */
export class RpcTimeout extends Error {
  override readonly name = 'RpcTimeout';
  readonly method: string;
  readonly target: RpcTarget;

  constructor(target: RpcTarget, method: string, timeoutMs: number) {
    super(
      `Timed out after ${timeoutMs} ms waiting for a reply to ${method} on ${describeTarget(target)}`,
    );
    this.method = method;
    this.target = target;
  }
}

/** The transport cannot reach its broker, or was closed; the message may or may not have gone. */
export class RpcUnavailable extends Error {
  override readonly name = 'RpcUnavailable';
}

/** `topic`, `topic.server` or `topic (fanout)`, for messages. */
export function describeTarget(target: RpcTarget): string {
  if (target.fanout === true) return `${target.topic} (fanout)`;
  return target.server === undefined ? target.topic : `${target.topic}.${target.server}`;
}
