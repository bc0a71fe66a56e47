/**
 * RabbitMQ notifier over amqplib, publishing exactly as oslo.messaging's `messagingv2` driver
 * does, so an unchanged oslo notification listener reads it (wire facts:
 * shared/reference/oslo-notifications.md):
 *
 * - topic exchange, `durable: false, autoDelete: false` (amqplib defaults to durable, which oslo's
 *   exchange refuses with 406 PRECONDITION_FAILED);
 * - after every (re)connect, before the first message of each routing key, the default queue
 *   `versioned_notifications.<priority>` is declared (non-durable) and bound, so nothing is lost
 *   while no listener runs and a broker restart (which deletes non-durable objects) is survived;
 * - routing key `versioned_notifications.<priority in lower case>`;
 * - properties `contentType: application/json` (required by the listener), `contentEncoding:
 *   utf-8`, `deliveryMode: 2`, `priority: 0`, `headers: {}`.
 *
 * Never blocks the caller: `publish()` appends to a bounded buffer and returns. One background
 * loop connects (bounded), publishes in batches on a confirm channel (bounded confirm wait),
 * reconnects with capped exponential backoff, and drops-and-logs beyond the bound.
 */
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import {
  routingKey,
  VERSIONED_NOTIFICATIONS_TOPIC,
  type Notification,
} from '../../domain/index.js';
import type { Notifier, NotifierLog, NotifierStats } from '../../ports/notifier.js';

/** One broker to try (what `parseTransportUrl()` yields per host). */
export interface RabbitBroker {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

/** A parsed `rabbit://` transport URL (notifications/parseTransportUrl's TransportUrl). */
export interface RabbitTransport {
  readonly brokers: readonly [RabbitBroker, ...RabbitBroker[]];
  readonly virtualHost: string;
}

/** Options of the RabbitMQ notifier; every wait has a bound. */
export interface RabbitNotifierOptions {
  readonly transport: RabbitTransport;
  /** The topic exchange (oslo's control_exchange; Nova uses `nova`). */
  readonly exchange: string;
  readonly log: NotifierLog;
  /** @default 'versioned_notifications' */
  readonly topic?: string;
  /** Notifications kept while the broker is away; beyond it they are dropped and counted. @default 10000 */
  readonly bufferLimit?: number;
  /** Bound on one connection attempt, declarations included. @default 5000 */
  readonly connectTimeoutMs?: number;
  /** Bound on waiting for the broker to confirm a batch. @default 5000 */
  readonly confirmTimeoutMs?: number;
  /** Reconnect backoff: doubles from `initialMs` up to `maxMs`. @default { initialMs: 250, maxMs: 10000 } */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** AMQP heartbeat, so a silent broker loss is noticed. @default 10 */
  readonly heartbeatSeconds?: number;
}

const BATCH = 100;

interface Link {
  readonly connection: ChannelModel;
  readonly channel: ConfirmChannel;
  /** Routing keys whose default queue is declared and bound on this connection. */
  readonly declared: Set<string>;
  lost: boolean;
}

class Timeout extends Error {
  override readonly name = 'Timeout';
}

/** Races a promise against a timer (cleared as soon as the promise settles). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Timeout(`${what} took longer than ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Publishes to RabbitMQ in oslo.messaging's wire format; see the file header. */
export class RabbitNotifier implements Notifier {
  readonly #o: Required<Omit<RabbitNotifierOptions, 'backoff'>> & {
    readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  };
  readonly #queue: Notification[] = [];
  #link: Link | undefined;
  #wake: (() => void) | undefined;
  #interrupt: (() => void) | undefined;
  #closed = false;
  #stopping = false;
  #published = 0;
  #dropped = 0;
  #connections = 0;
  #brokerIndex = 0;
  readonly #loop: Promise<void>;

  constructor(options: RabbitNotifierOptions) {
    this.#o = {
      topic: VERSIONED_NOTIFICATIONS_TOPIC,
      bufferLimit: 10_000,
      connectTimeoutMs: 5_000,
      confirmTimeoutMs: 5_000,
      heartbeatSeconds: 10,
      ...options,
      backoff: options.backoff ?? { initialMs: 250, maxMs: 10_000 },
    };
    this.#loop = this.#run();
  }

  publish(notification: Notification): void {
    if (this.#closed) {
      this.#drop(notification, 'notifier closed');
      return;
    }
    if (this.#queue.length >= this.#o.bufferLimit) {
      this.#drop(notification, `buffer full (${this.#o.bufferLimit})`);
      return;
    }
    this.#queue.push(notification);
    this.#signal();
  }

  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length > 0 && !this.#stopping && Date.now() < deadline) {
      await this.#sleep(Math.min(20, Math.max(1, deadline - Date.now())), false);
    }
    return this.#queue.length === 0;
  }

  stats(): NotifierStats {
    return {
      published: this.#published,
      buffered: this.#queue.length,
      dropped: this.#dropped,
      reconnects: Math.max(0, this.#connections - 1),
    };
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const deadline = Date.now() + timeoutMs;
    await this.flush(timeoutMs);
    this.#stopping = true;
    this.#signal();
    this.#interrupt?.();
    await within(this.#loop, Math.max(100, deadline - Date.now()), 'stopping').catch(() => {
      this.#o.log('warn', 'notifier.close_timeout', { timeout_ms: timeoutMs });
    });
    for (const n of this.#queue.splice(0)) this.#drop(n, 'not delivered before close');
    await this.#disconnect(Math.max(100, deadline - Date.now()));
  }

  // ---- the background loop -------------------------------------------------------------

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      if (this.#link === undefined || this.#link.lost) {
        await this.#disconnect(this.#o.connectTimeoutMs);
        if (await this.#connect()) {
          failures = 0;
        } else {
          failures += 1;
          await this.#sleep(this.#backoff(failures), true);
        }
        continue;
      }
      if (this.#queue.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      try {
        await this.#sendBatch(this.#link);
      } catch (error) {
        this.#o.log('warn', 'notifier.publish_failed', {
          error: describeError(error),
          buffered: this.#queue.length,
        });
        this.#link.lost = true;
        failures += 1;
        await this.#sleep(this.#backoff(failures), true);
      }
    }
    await this.#disconnect(this.#o.connectTimeoutMs);
  }

  #backoff(failures: number): number {
    const { initialMs, maxMs } = this.#o.backoff;
    return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20));
  }

  async #connect(): Promise<boolean> {
    const brokers = this.#o.transport.brokers;
    const broker = brokers[this.#brokerIndex % brokers.length] ?? brokers[0];
    this.#brokerIndex += 1;
    const where = `${broker.host}:${broker.port}`;
    const attempt = (async (): Promise<Link> => {
      const connection = await amqp.connect(
        {
          protocol: 'amqp',
          hostname: broker.host,
          port: broker.port,
          username: broker.username,
          password: broker.password,
          vhost: this.#o.transport.virtualHost,
          heartbeat: this.#o.heartbeatSeconds,
        },
        { timeout: this.#o.connectTimeoutMs },
      );
      try {
        const channel = await connection.createConfirmChannel();
        // NOTE: durable must be false, as oslo declares it; amqplib's default (true) gets 406.
        await channel.assertExchange(this.#o.exchange, 'topic', {
          durable: false,
          autoDelete: false,
        });
        return { connection, channel, declared: new Set(), lost: false };
      } catch (error) {
        await connection.close().catch(() => undefined);
        throw error;
      }
    })();
    try {
      const link = await within(attempt, this.#o.connectTimeoutMs, `connecting to ${where}`);
      if (this.#stopping) {
        await within(link.connection.close(), this.#o.connectTimeoutMs, 'closing').catch(
          () => undefined,
        );
        return false;
      }
      const markLost = (): void => {
        if (!link.lost) {
          link.lost = true;
          this.#o.log('warn', 'notifier.connection_lost', { broker: where });
        }
        this.#signal();
      };
      link.connection.on('error', (error: Error) => {
        this.#o.log('warn', 'notifier.connection_error', { broker: where, error: error.message });
      });
      link.connection.on('close', markLost);
      link.channel.on('error', (error: Error) => {
        this.#o.log('warn', 'notifier.channel_error', { broker: where, error: error.message });
      });
      link.channel.on('close', markLost);
      this.#link = link;
      this.#connections += 1;
      this.#o.log('info', 'notifier.connected', {
        broker: where,
        exchange: this.#o.exchange,
        reconnects: Math.max(0, this.#connections - 1),
      });
      return true;
    } catch (error) {
      // A connection that completes after the bound is closed at once.
      attempt.then((late) => late.connection.close()).catch(() => undefined);
      this.#o.log('warn', 'notifier.connect_failed', {
        broker: where,
        error: describeError(error),
        buffered: this.#queue.length,
      });
      return false;
    }
  }

  async #disconnect(timeoutMs: number): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    if (link === undefined) return;
    link.lost = true;
    await within(link.connection.close(), timeoutMs, 'closing the connection').catch(
      () => undefined,
    );
  }

  /** Publishes the head of the buffer and removes what the broker confirmed, in order. */
  async #sendBatch(link: Link): Promise<void> {
    const batch = this.#queue.slice(0, BATCH);
    for (const n of batch) {
      const key = routingKey(this.#o.topic, n.priority);
      if (!link.declared.has(key)) {
        // oslo's default queue: same flags as the exchange, no arguments, bound by its own name.
        await within(
          (async () => {
            await link.channel.assertQueue(key, {
              durable: false,
              autoDelete: false,
              exclusive: false,
            });
            await link.channel.bindQueue(key, this.#o.exchange, key);
          })(),
          this.#o.confirmTimeoutMs,
          `declaring queue ${key}`,
        );
        link.declared.add(key);
      }
    }
    const confirmed: boolean[] = batch.map(() => false);
    const confirms = batch.map(
      (n, i) =>
        new Promise<void>((resolve, reject) => {
          link.channel.publish(
            this.#o.exchange,
            routingKey(this.#o.topic, n.priority),
            Buffer.from(n.body, 'utf8'),
            {
              contentType: 'application/json',
              contentEncoding: 'utf-8',
              deliveryMode: 2,
              priority: 0,
              headers: {},
            },
            (error: unknown) => {
              if (error === null || error === undefined) {
                confirmed[i] = true;
                resolve();
              } else {
                reject(error instanceof Error ? error : new Error('message nacked'));
              }
            },
          );
        }),
    );
    let failure: Error | undefined;
    try {
      await within(Promise.all(confirms), this.#o.confirmTimeoutMs, 'waiting for confirms');
    } catch (error) {
      failure = error instanceof Error ? error : new Error(describeError(error));
    }
    // Remove the confirmed prefix only, so order holds; what follows is sent again (at least
    // once: oslo listeners drop a repeated _unique_id).
    let done = confirmed.indexOf(false);
    if (done === -1) done = batch.length;
    this.#queue.splice(0, done);
    this.#published += done;
    if (failure !== undefined) throw failure;
  }

  // ---- helpers ------------------------------------------------------------------------------

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /**
   * Sleeps `ms`. The loop's backoff sleeps are interruptible (close ends them) and never keep the
   * process alive; a caller's bounded wait (flush) does.
   */
  #sleep(ms: number, backoff: boolean): Promise<void> {
    return new Promise((resolve) => {
      if (backoff && this.#stopping) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        if (backoff) this.#interrupt = undefined;
        resolve();
      }, ms);
      if (!backoff) return;
      timer.unref();
      this.#interrupt = () => {
        this.#interrupt = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #drop(n: Notification, reason: string): void {
    this.#dropped += 1;
    this.#o.log('warn', 'notifier.dropped', {
      event_type: n.eventType,
      message_id: n.messageId,
      reason,
      dropped_total: this.#dropped,
    });
  }
}
