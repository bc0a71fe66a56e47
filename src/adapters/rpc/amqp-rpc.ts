/**
 * RPC over RabbitMQ (amqplib) in oslo.messaging's wire format, so an unchanged oslo.messaging
 * peer can call our servers and be called by our clients (shared/reference/distributed.md §3):
 *
 * - topic exchange `vpmu` (a setting; never `nova`), `durable: false, autoDelete: false`;
 * - a server consumes queues `<topic>` and `<topic>.<server>` (bound with their own names), and
 *   `<topic>_fanout_<uuid hex>` on the fanout exchange `<topic>_fanout`;
 * - messages `{"oslo.version": "2.0", "oslo.message": "<JSON>"}` holding `{method, args,
 *   _unique_id, _context_*}`; a call adds `_msg_id`, `_reply_q` and `_timeout`;
 * - one reply queue `reply_<uuid hex>` per transport on the default exchange, non-durable with
 *   `x-expires`; replies `{result, failure, ending, _msg_id}`, failures as oslo serialises them;
 * - a server acks before it dispatches (at most once, as oslo), and runs at most `concurrency`
 *   handlers at a time (the rest wait unacked, held back by the prefetch).
 *
 * Brokers of a multi-host URL are tried in turn. The socket has `noDelay: true` (Nagle's algorithm put a sequential call at 48 ms). On broker loss
 * the calls waiting fail with RpcUnavailable, the next call or cast reconnects (bounded), and the
 * servers attach again in the background with capped backoff.
 */
import { randomUUID } from 'node:crypto';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  RpcTimeout,
  RpcUnavailable,
  describeTarget,
  type CallOptions,
  type CastOptions,
  type RpcArgs,
  type RpcConsumer,
  type RpcHandler,
  type RpcTarget,
  type RpcTransport,
} from '../../ports/rpc.js';
import type { RabbitTransport } from '../notifier/rabbit-notifier.js';
import {
  argsOf,
  deserializeFailure,
  envelope,
  noSuchMethod,
  packContext,
  plain,
  serializeFailure,
  unpackContext,
  unwrap,
} from './wire.js';

export type RpcLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  fields: Readonly<Record<string, unknown>>,
) => void;

export interface AmqpRpcOptions {
  readonly transport: RabbitTransport;
  /** The topic exchange (oslo's control_exchange). @default 'vpmu' */
  readonly exchange?: string;
  readonly log?: RpcLog;
  /** Bound on one connection attempt, declarations included. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** AMQP heartbeat, so a silent broker loss is noticed. @default 10 */
  readonly heartbeatSeconds?: number;
  /** `x-expires` of the reply and fanout queues (oslo's rabbit_transient_queues_ttl). @default 1800000 */
  readonly transientQueueTtlMs?: number;
  /** Handlers one server runs at a time (oslo's executor_thread_pool_size). @default 64 */
  readonly concurrency?: number;
  /** Reattaching servers after a broker loss: doubles from `initialMs` up to `maxMs`. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

interface Link {
  readonly connection: ChannelModel;
  /** Publishes calls, casts and replies, and consumes the reply queue. */
  readonly channel: Channel;
}

interface Waiting {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface Served {
  readonly topic: string;
  readonly server: string;
  readonly handlers: Readonly<Record<string, RpcHandler>>;
  readonly fanoutQueue: string;
  readonly inFlight: Set<Promise<void>>;
  readonly backlog: { channel: Channel; message: ConsumeMessage }[];
  channel: Channel | undefined;
  consumerTags: string[];
  stopped: boolean;
}

const JSON_PROPS = {
  contentType: 'application/json',
  contentEncoding: 'utf-8',
  deliveryMode: 2,
  priority: 0,
  headers: {},
} as const;

const hex = (): string => randomUUID().replaceAll('-', '');

/** RPC over RabbitMQ; see the file header. Make one with `AmqpRpcTransport.connect()`. */
export class AmqpRpcTransport implements RpcTransport {
  readonly #o: Required<AmqpRpcOptions>;
  readonly #replyQueue = `reply_${hex()}`;
  readonly #waiting = new Map<string, Waiting>();
  readonly #served = new Set<Served>();
  #link: Link | undefined;
  #connecting: Promise<Link> | undefined;
  #reattaching = false;
  #closed = false;
  #brokerIndex = 0;

  private constructor(options: AmqpRpcOptions) {
    this.#o = {
      exchange: 'vpmu',
      log: () => undefined,
      connectTimeoutMs: 5_000,
      heartbeatSeconds: 10,
      transientQueueTtlMs: 1_800_000,
      concurrency: 64,
      backoff: { initialMs: 250, maxMs: 5_000 },
      ...options,
    };
  }

  /** Connects (bounded) and declares the exchange and the reply queue; RpcUnavailable if it cannot. */
  static async connect(options: AmqpRpcOptions): Promise<AmqpRpcTransport> {
    const transport = new AmqpRpcTransport(options);
    await transport.#ensure();
    return transport;
  }

  /** The reply queue of this transport (`reply_<uuid hex>`). */
  get replyQueue(): string {
    return this.#replyQueue;
  }

  async call(
    target: RpcTarget,
    method: string,
    args: RpcArgs,
    options: CallOptions = {},
  ): Promise<unknown> {
    if (target.fanout === true) throw new Error('A call cannot go to every server (fanout)');
    const timeoutMs = options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const msgId = hex();
    const message = {
      method,
      args: plain(args),
      ...packContext(options.context),
      _unique_id: hex(),
      _msg_id: msgId,
      _reply_q: this.#replyQueue,
      _timeout: null,
    };
    const link = await this.#ensure();
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(msgId);
        reject(new RpcTimeout(target, method, timeoutMs));
      }, timeoutMs);
      this.#waiting.set(msgId, { resolve, reject, timer });
      try {
        this.#publish(link, target, message, timeoutMs);
      } catch (error) {
        clearTimeout(timer);
        this.#waiting.delete(msgId);
        reject(unavailable(error, `send ${method} to ${describeTarget(target)}`));
      }
    });
  }

  async cast(
    target: RpcTarget,
    method: string,
    args: RpcArgs,
    options: CastOptions = {},
  ): Promise<void> {
    const message = {
      method,
      args: plain(args),
      ...packContext(options.context),
      _unique_id: hex(),
    };
    const link = await this.#ensure();
    try {
      if (target.fanout === true) await this.#declareFanout(link, target.topic);
      this.#publish(link, target, message, undefined);
    } catch (error) {
      throw unavailable(error, `send ${method} to ${describeTarget(target)}`);
    }
  }

  async serve(
    topic: string,
    server: string,
    handlers: Readonly<Record<string, RpcHandler>>,
  ): Promise<RpcConsumer> {
    const served: Served = {
      topic,
      server,
      handlers,
      fanoutQueue: `${topic}_fanout_${hex()}`,
      inFlight: new Set(),
      backlog: [],
      channel: undefined,
      consumerTags: [],
      stopped: false,
    };
    const link = await this.#ensure();
    await this.#attach(link, served);
    this.#served.add(served);
    return { stop: () => this.#stop(served) };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#served].map((s) => this.#stop(s)));
    this.#failWaiting('the RPC transport was closed');
    const link = this.#link ?? (await this.#connecting?.catch(() => undefined));
    this.#link = undefined;
    if (link !== undefined) await link.connection.close().catch(() => undefined);
  }

  #publish(
    link: Link,
    target: RpcTarget,
    message: Readonly<Record<string, unknown>>,
    timeoutMs: number | undefined,
  ): void {
    const props = timeoutMs === undefined ? JSON_PROPS : { ...JSON_PROPS, expiration: timeoutMs };
    if (target.fanout === true) {
      link.channel.publish(`${target.topic}_fanout`, target.topic, envelope(message), props);
      return;
    }
    const key = target.server === undefined ? target.topic : `${target.topic}.${target.server}`;
    link.channel.publish(this.#o.exchange, key, envelope(message), props);
  }

  /**
   * Declares the fanout exchange before every fanout cast, as oslo does: it is auto-delete, so it
   * goes with the topic's last server, and a publish to an exchange that is gone would close the
   * channel every call waits on.
   */
  async #declareFanout(link: Link, topic: string): Promise<void> {
    await link.channel.assertExchange(`${topic}_fanout`, 'fanout', {
      durable: false,
      autoDelete: true,
    });
  }

  /** The current connection, or a new one (one attempt at a time, bounded). */
  #ensure(): Promise<Link> {
    if (this.#closed) return Promise.reject(new RpcUnavailable('the RPC transport is closed'));
    if (this.#link !== undefined) return Promise.resolve(this.#link);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  /** Tries each broker once, from the one that worked last; RpcUnavailable if none answers. */
  async #connect(): Promise<Link> {
    const { brokers } = this.#o.transport;
    let failure: unknown;
    const start = this.#brokerIndex;
    for (const [offset] of brokers.entries()) {
      const broker = brokers[(start + offset) % brokers.length] ?? brokers[0];
      try {
        return await this.#connectTo(broker);
      } catch (error) {
        if (this.#closed) throw error;
        failure = error;
        this.#brokerIndex = start + offset + 1;
      }
    }
    throw failure;
  }

  async #connectTo(broker: RabbitTransport['brokers'][number]): Promise<Link> {
    const { transport } = this.#o;
    const where = `${broker.host}:${broker.port}`;
    const opened: { connection?: ChannelModel } = {};
    const attempt = (async () => {
      const connection = await amqp.connect(
        {
          protocol: 'amqp',
          hostname: broker.host,
          port: broker.port,
          username: broker.username,
          password: broker.password,
          vhost: transport.virtualHost,
          heartbeat: this.#o.heartbeatSeconds,
        },
        { timeout: this.#o.connectTimeoutMs, noDelay: true },
      );
      opened.connection = connection;
      const channel = await connection.createChannel();
      await channel.assertExchange(this.#o.exchange, 'topic', {
        durable: false,
        autoDelete: false,
      });
      await channel.assertQueue(this.#replyQueue, {
        durable: false,
        autoDelete: false,
        exclusive: false,
        arguments: { 'x-expires': this.#o.transientQueueTtlMs },
      });
      await channel.consume(
        this.#replyQueue,
        (m) => {
          this.#onReply(m);
        },
        { noAck: true },
      );
      return { connection, channel };
    })();
    let timer: NodeJS.Timeout | undefined;
    try {
      const link = await Promise.race([
        attempt,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`no answer within ${this.#o.connectTimeoutMs} ms`));
          }, this.#o.connectTimeoutMs);
        }),
      ]);
      const lost = () => {
        this.#lost(link, where);
      };
      link.connection.on('close', lost);
      link.connection.on('error', (error: Error) => {
        this.#o.log('warn', 'rpc.connection_error', { broker: where, error: error.message });
      });
      link.channel.on('close', lost);
      link.channel.on('error', (error: Error) => {
        this.#o.log('warn', 'rpc.channel_error', { broker: where, error: error.message });
      });
      if (this.#closed) {
        await link.connection.close().catch(() => undefined);
        throw new RpcUnavailable('the RPC transport is closed');
      }
      this.#link = link;
      this.#o.log('info', 'rpc.connected', { broker: where, replyQueue: this.#replyQueue });
      return link;
    } catch (error) {
      // A connection that completes after the bound is closed as soon as it does.
      attempt.then((late) => late.connection.close()).catch(() => undefined);
      void opened.connection?.close().catch(() => undefined);
      if (error instanceof RpcUnavailable) throw error;
      throw unavailable(error, `connect to the RabbitMQ broker at ${where}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The connection (or its main channel) went: fail the calls waiting, reattach the servers. */
  #lost(link: Link, where: string): void {
    if (this.#link !== link) return;
    this.#link = undefined;
    void link.connection.close().catch(() => undefined);
    this.#failWaiting(`lost the connection to the RabbitMQ broker at ${where}`);
    for (const served of this.#served) {
      served.channel = undefined;
      served.consumerTags = [];
      served.backlog.length = 0;
    }
    if (!this.#closed) {
      this.#o.log('warn', 'rpc.connection_lost', { broker: where });
      void this.#reattach();
    }
  }

  async #reattach(): Promise<void> {
    if (this.#reattaching) return;
    this.#reattaching = true;
    let delay = this.#o.backoff.initialMs;
    try {
      while (!this.#closed && [...this.#served].some((s) => s.channel === undefined)) {
        try {
          const link = await this.#ensure();
          for (const served of this.#served) {
            if (served.channel === undefined && !served.stopped) await this.#attach(link, served);
          }
          delay = this.#o.backoff.initialMs;
        } catch (error) {
          this.#o.log('warn', 'rpc.reattach_failed', { error: describe(error), retryInMs: delay });
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
          delay = Math.min(delay * 2, this.#o.backoff.maxMs);
        }
      }
    } finally {
      this.#reattaching = false;
    }
  }

  #failWaiting(why: string): void {
    for (const [id, waiting] of this.#waiting) {
      clearTimeout(waiting.timer);
      this.#waiting.delete(id);
      waiting.reject(new RpcUnavailable(why));
    }
  }

  #onReply(message: ConsumeMessage | null): void {
    if (message === null) return;
    let reply: Record<string, unknown>;
    try {
      reply = unwrap(message.content);
    } catch (error) {
      this.#o.log('warn', 'rpc.bad_reply', { error: describe(error) });
      return;
    }
    const msgId = reply._msg_id;
    if (typeof msgId !== 'string') return;
    // A heartbeat (ending false, no result or failure) only says the server is still at it.
    if (reply.ending === false && reply.failure == null && reply.result == null) return;
    const waiting = this.#waiting.get(msgId);
    if (waiting === undefined) return; // timed out already, or a duplicate
    this.#waiting.delete(msgId);
    clearTimeout(waiting.timer);
    if (reply.failure !== null && reply.failure !== undefined) {
      waiting.reject(deserializeFailure(reply.failure));
    } else {
      waiting.resolve(reply.result ?? null);
    }
  }

  /** Declares a server's queues on a channel of its own and consumes them. */
  async #attach(link: Link, served: Served): Promise<void> {
    const channel = await link.connection.createChannel();
    // Current before the first consume: deliveries start as soon as it is made.
    served.channel = channel;
    try {
      channel.on('error', (error: Error) => {
        this.#o.log('warn', 'rpc.channel_error', { topic: served.topic, error: error.message });
      });
      // A channel closed by the broker (a channel error) is replaced; a stop closes its own.
      channel.on('close', () => {
        if (served.channel !== channel || served.stopped) return;
        served.channel = undefined;
        served.consumerTags = [];
        void this.#reattach();
      });
      await channel.prefetch(this.#o.concurrency);
      const { exchange } = this.#o;
      const tags: string[] = [];
      const consume = async (queue: string) => {
        const { consumerTag } = await channel.consume(queue, (m) => {
          this.#onRequest(served, channel, m);
        });
        tags.push(consumerTag);
      };
      for (const queue of [served.topic, `${served.topic}.${served.server}`]) {
        await channel.assertQueue(queue, { durable: false, autoDelete: false, exclusive: false });
        await channel.bindQueue(queue, exchange, queue);
        await consume(queue);
      }
      const fanout = `${served.topic}_fanout`;
      await channel.assertExchange(fanout, 'fanout', { durable: false, autoDelete: true });
      await channel.assertQueue(served.fanoutQueue, {
        durable: false,
        autoDelete: false,
        exclusive: false,
        arguments: { 'x-expires': this.#o.transientQueueTtlMs },
      });
      await channel.bindQueue(served.fanoutQueue, fanout, served.topic);
      await consume(served.fanoutQueue);
      served.consumerTags = tags;
    } catch (error) {
      if (served.channel === channel) served.channel = undefined;
      await channel.close().catch(() => undefined);
      throw unavailable(error, `serve topic ${served.topic} as ${served.server}`);
    }
  }

  #onRequest(served: Served, channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled the consumer (its queue was deleted): attach again.
      if (served.channel === channel && !served.stopped) {
        served.channel = undefined;
        void channel.close().catch(() => undefined);
        void this.#reattach();
      }
      return;
    }
    served.backlog.push({ channel, message });
    this.#pump(served);
  }

  /** Starts waiting requests while fewer than `concurrency` run; each is acked as it starts. */
  #pump(served: Served): void {
    while (served.inFlight.size < this.#o.concurrency && served.backlog.length > 0) {
      const next = served.backlog.shift();
      if (next === undefined) break;
      if (next.channel !== served.channel) {
        // Its channel was replaced: give it back (a closed channel gives it back by itself).
        try {
          next.channel.nack(next.message, false, true);
        } catch {
          // The channel is closed already.
        }
        continue;
      }
      try {
        next.channel.ack(next.message);
      } catch {
        continue;
      }
      const run = this.#handle(served, next.message);
      served.inFlight.add(run);
      void run.finally(() => {
        served.inFlight.delete(run);
        if (!served.stopped) this.#pump(served);
      });
    }
  }

  async #handle(served: Served, delivery: ConsumeMessage): Promise<void> {
    let request: Record<string, unknown>;
    try {
      request = unwrap(delivery.content);
    } catch (error) {
      this.#o.log('warn', 'rpc.bad_message', { topic: served.topic, error: describe(error) });
      return;
    }
    const method = typeof request.method === 'string' ? request.method : '';
    const msgId = typeof request._msg_id === 'string' ? request._msg_id : undefined;
    const replyQ = typeof request._reply_q === 'string' ? request._reply_q : undefined;
    const reply = (body: Record<string, unknown>) => {
      if (msgId === undefined || replyQ === undefined) return;
      const link = this.#link;
      if (link === undefined) {
        this.#o.log('warn', 'rpc.reply_lost', { method, replyQueue: replyQ });
        return;
      }
      link.channel.publish('', replyQ, envelope({ ...body, _msg_id: msgId, _unique_id: hex() }), {
        ...JSON_PROPS,
        mandatory: true,
      });
    };
    // A caller with a call monitor (`_timeout` seconds) wants a heartbeat at half that interval.
    const monitor = request._timeout;
    const heartbeat =
      typeof monitor === 'number' && monitor > 0 && msgId !== undefined
        ? setInterval(
            () => {
              reply({ result: null, failure: null, ending: false });
            },
            Math.max(100, (monitor * 1000) / 2),
          )
        : undefined;
    let body: Record<string, unknown>;
    try {
      const handler = Object.hasOwn(served.handlers, method) ? served.handlers[method] : undefined;
      if (handler === undefined) throw noSuchMethod(method);
      const result = await handler(unpackContext(request), argsOf(request.args));
      body = { result: plain(result), failure: null, ending: true };
    } catch (error) {
      body = { result: null, failure: serializeFailure(error), ending: true };
    } finally {
      clearInterval(heartbeat);
    }
    try {
      reply(body);
    } catch (error) {
      this.#o.log('warn', 'rpc.reply_failed', { method, error: describe(error) });
    }
  }

  async #stop(served: Served): Promise<void> {
    if (served.stopped) return;
    served.stopped = true;
    this.#served.delete(served);
    const channel = served.channel;
    served.channel = undefined;
    if (channel !== undefined) {
      for (const tag of served.consumerTags) await channel.cancel(tag).catch(() => undefined);
    }
    // Requests received but not started go back to the broker with the channel (never acked).
    served.backlog.length = 0;
    await Promise.allSettled([...served.inFlight]);
    if (channel !== undefined) {
      await channel.deleteQueue(served.fanoutQueue).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function unavailable(error: unknown, what: string): RpcUnavailable {
  if (error instanceof RpcUnavailable) return error;
  return new RpcUnavailable(`Cannot ${what}: ${describe(error)}`, { cause: error });
}
