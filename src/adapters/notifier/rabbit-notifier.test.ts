/**
 * The RabbitMQ notifier against a real broker and an unchanged oslo.messaging listener.
 *
 * Needs VPMU_TEST_TRANSPORT_URL (`.ci/run` starts the broker with scripts/rabbitmq.sh and sets
 * it); without it these tests skip locally and fail in CI. The outage test stops and restarts
 * that broker through scripts/rabbitmq.sh, so the suite holds the broker (holdTestBroker) against
 * other test files. The closed-port test needs no broker and always runs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import type { Notification } from '../../domain/index.js';
import {
  instanceEvent,
  SAMPLE_CONTEXT,
  SAMPLE_FAULT,
  SAMPLE_IMAGE,
  SAMPLE_INSTANCE,
  toNotification,
  type InstanceSnapshot,
  type TransportUrl,
} from '../../notifications/index.js';
import { aNotification, notifierContract } from '../../ports/notifier.contract.js';
import type { NotifierLog } from '../../ports/notifier.js';
import { toImagePropsInput } from '../../services/notification-inputs.js';
import { RabbitNotifier } from './rabbit-notifier.js';
import {
  amqpUrlOf,
  holdTestBroker,
  purgeDefaultQueues,
  startOsloListener,
  transportOf,
  type OsloListener,
} from '../../testing/rabbit.js';
import { requireEnv } from '../../testing/tools.js';

/** scripts/rabbitmq.sh waits for the broker itself; this bounds that wait. */
const BROKER_SCRIPT = { encoding: 'utf8', timeout: 120_000 } as const;

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);
const BROKER_URL = URL_TEXT ?? '';

function transport(): TransportUrl {
  return transportOf(BROKER_URL);
}

/** Log lines, kept for assertions. */
function recorder(): { log: NotifierLog; lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    log: (level, event, fields) => lines.push(`${level} ${event} ${JSON.stringify(fields)}`),
  };
}

interface Received {
  readonly priority: string;
  readonly publisher_id: string;
  readonly event_type: string;
  readonly message_id: string;
  readonly payload: {
    readonly 'nova_object.data': {
      readonly image: {
        readonly 'nova_object.data': {
          readonly properties: { readonly 'nova_object.data': Record<string, unknown> };
        };
      };
    };
  };
}

function startListener(exchange: string, count: number): Promise<OsloListener<Received>> {
  return startOsloListener<Received>(BROKER_URL, exchange, count);
}

type PmuCase = 'on' | 'off' | 'unset';

function instanceWith(pmu: PmuCase, n: number): InstanceSnapshot {
  const flavorPmu = { on: 'true', off: 'false', unset: undefined }[pmu];
  const imagePmu = { on: 'yes', off: 'no', unset: undefined }[pmu];
  return {
    ...SAMPLE_INSTANCE,
    uuid: randomUUID(),
    instanceName: `instance-0000000${n}`,
    displayName: `vpmu-${pmu}`,
    flavor: {
      ...SAMPLE_INSTANCE.flavor,
      extraSpecs: flavorPmu === undefined ? {} : { 'hw:pmu': flavorPmu },
    },
    image: {
      ...SAMPLE_IMAGE,
      properties: toImagePropsInput(imagePmu === undefined ? {} : { hw_pmu: imagePmu }),
    },
    pmu: {
      flavor: flavorPmu ?? null,
      image: imagePmu ?? null,
      resolved: pmu === 'unset' ? null : pmu === 'on',
      source: pmu === 'unset' ? 'unset' : 'both',
      effective: null,
      reason: null,
    },
  };
}

function hwPmuOf(r: Received): unknown {
  const props = r.payload['nova_object.data'].image['nova_object.data'].properties;
  return 'hw_pmu' in props['nova_object.data'] ? props['nova_object.data'].hw_pmu : 'absent';
}

function notify(
  event: ReturnType<typeof instanceEvent>,
  host: string,
): Notification & { readonly event: typeof event } {
  return {
    ...toNotification(event, {
      host,
      now: new Date(),
      messageId: randomUUID(),
      uniqueId: randomUUID(),
    }),
    event,
  };
}

/** The payload data of a notification as it was sent. */
function sentData(n: Notification): unknown {
  const envelope = JSON.parse(n.body) as { 'oslo.message': string };
  return (JSON.parse(envelope['oslo.message']) as Received).payload['nova_object.data'];
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('RabbitNotifier without a broker (closed port)', () => {
  it('never blocks publish(), buffers up to the bound, drops and logs beyond it, closes bounded', async () => {
    const port = await closedPort();
    const { log, lines } = recorder();
    const notifier = new RabbitNotifier({
      transport: {
        brokers: [{ host: '127.0.0.1', port, username: 'guest', password: 'guest' }],
        virtualHost: '/',
      },
      exchange: 'vpmu-test',
      log,
      bufferLimit: 3,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    const started = performance.now();
    for (let i = 0; i < 5; i += 1) notifier.publish(aNotification());
    const publishMs = performance.now() - started;
    assert.ok(publishMs < 50, `5 publish() calls took ${publishMs.toFixed(1)} ms`);
    assert.deepEqual(notifier.stats(), { published: 0, buffered: 3, dropped: 2, reconnects: 0 });
    assert.equal(lines.filter((l) => l.startsWith('warn notifier.dropped ')).length, 2);
    assert.match(lines.find((l) => l.includes('notifier.dropped')) ?? '', /buffer full \(3\)/u);

    const flushStarted = performance.now();
    assert.equal(await notifier.flush(200), false);
    assert.ok(performance.now() - flushStarted < 1_000, 'flush() is bounded by its timeout');
    assert.ok(lines.some((l) => l.startsWith('warn notifier.connect_failed ')));

    const closeStarted = performance.now();
    await notifier.close(300);
    assert.ok(performance.now() - closeStarted < 2_000, 'close() is bounded');
    assert.deepEqual(notifier.stats(), { published: 0, buffered: 0, dropped: 5, reconnects: 0 });
    notifier.publish(aNotification());
    assert.equal(notifier.stats().dropped, 6);
  });
});

describe('RabbitNotifier on a real broker', { skip: SKIP }, () => {
  let admin: amqp.ChannelModel | undefined;
  let release: (() => void) | undefined;
  before(async () => {
    if (SKIP !== false) return;
    release = await holdTestBroker();
    admin = await amqp.connect(amqpUrlOf(BROKER_URL));
    // The outage test restarts the broker under this connection.
    admin.on('error', () => undefined);
  });
  after(async () => {
    await admin?.close().catch(() => undefined);
    release?.();
  });

  notifierContract('RabbitNotifier', async () => {
    if (admin === undefined) throw new Error('no broker');
    const exchange = `vpmu-contract-${randomUUID()}`;
    const ch = await admin.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
    const { queue } = await ch.assertQueue('', { exclusive: true, durable: false });
    await ch.bindQueue(queue, exchange, 'versioned_notifications.*');
    return {
      notifier: new RabbitNotifier({ transport: transport(), exchange, log: () => undefined }),
      delivered: async () => {
        const ids: string[] = [];
        for (;;) {
          const msg = await ch.get(queue, { noAck: true });
          if (msg === false) return ids;
          assert.equal(msg.properties.contentType, 'application/json');
          const envelope = JSON.parse(msg.content.toString('utf8')) as { 'oslo.message': string };
          ids.push((JSON.parse(envelope['oslo.message']) as { message_id: string }).message_id);
        }
      },
      cleanup: async () => {
        await ch.deleteExchange(exchange);
        await ch.close();
      },
    };
  });

  it('an unchanged oslo.messaging listener receives create/delete for vPMU on, off and unset, in order', async () => {
    const exchange = `vpmu-test-${randomUUID().slice(0, 8)}`;
    const host = `ci-${randomUUID().slice(0, 8)}`;
    await purgeDefaultQueues(BROKER_URL);

    const sent: (Notification & { readonly event: ReturnType<typeof instanceEvent> })[] = [];
    const expectedPmu: unknown[] = [];
    (['on', 'off', 'unset'] as const).forEach((pmu, i) => {
      const instance = instanceWith(pmu, i + 1);
      for (const [action, phase] of [
        ['create', 'start'],
        ['create', 'end'],
        ['delete', 'start'],
        ['delete', 'end'],
      ] as const) {
        sent.push(notify(instanceEvent(action, phase, instance, SAMPLE_CONTEXT), host));
        expectedPmu.push(pmu === 'unset' ? 'absent' : pmu === 'on');
      }
    });
    const failed = notify(
      instanceEvent('create', 'error', instanceWith('off', 9), SAMPLE_CONTEXT, {
        fault: SAMPLE_FAULT,
      }),
      host,
    );

    const listener = await startListener(exchange, sent.length + 1);
    const notifier = new RabbitNotifier({ transport: transport(), exchange, log: () => undefined });
    try {
      for (const n of [...sent.slice(0, 6), failed, ...sent.slice(6)]) notifier.publish(n);
      assert.equal(await notifier.flush(15_000), true, 'all confirmed by the broker');
    } finally {
      await notifier.close(5_000);
    }
    const { code, received, stderr } = await listener.done;
    assert.equal(code, 0, `listener: ${stderr}`);

    // Order is guaranteed per priority (one queue each), as in oslo.
    const info = received.filter((r) => r.priority === 'info');
    assert.deepEqual(
      info.map((r) => r.event_type),
      sent.map((n) => n.eventType),
    );
    assert.deepEqual(
      info.map((r) => r.message_id),
      sent.map((n) => n.messageId),
    );
    assert.deepEqual(info.map(hwPmuOf), expectedPmu);
    for (const r of received) assert.equal(r.publisher_id, `vpmu-compute:${host}`);
    assert.deepEqual(
      info.map((r) => r.payload['nova_object.data']),
      sent.map((n) => n.event.payload['nova_object.data']),
      'payloads arrive unchanged',
    );
    const errors = received.filter((r) => r.priority === 'error');
    assert.deepEqual(
      errors.map((r) => [r.event_type, hwPmuOf(r)]),
      [['instance.create.error', false]],
    );
    assert.deepEqual(notifier.stats(), {
      published: sent.length + 1,
      buffered: 0,
      dropped: 0,
      reconnects: 0,
    });
  });

  it('keeps publish() instant while the broker is stopped, drops beyond the bound, delivers the buffer after it returns', async () => {
    const exchange = `vpmu-outage-${randomUUID().slice(0, 8)}`;
    const host = `outage-${randomUUID().slice(0, 8)}`;
    const { log, lines } = recorder();
    const notifier = new RabbitNotifier({
      transport: transport(),
      exchange,
      log,
      bufferLimit: 4,
      backoff: { initialMs: 100, maxMs: 1_000 },
      connectTimeoutMs: 2_000,
      confirmTimeoutMs: 2_000,
      heartbeatSeconds: 2,
    });
    const event = (n: number): Notification =>
      notify(instanceEvent('create', 'end', instanceWith('on', n), SAMPLE_CONTEXT), host);
    try {
      notifier.publish(event(1));
      assert.equal(await notifier.flush(10_000), true);

      const stop = spawnSync('bash', ['scripts/rabbitmq.sh', 'stop'], BROKER_SCRIPT);
      assert.equal(stop.status, 0, stop.stderr);

      const during = [2, 3, 4, 5, 6, 7].map(event);
      let slowest = 0;
      for (const n of during) {
        const t0 = performance.now();
        notifier.publish(n);
        slowest = Math.max(slowest, performance.now() - t0);
      }
      assert.ok(slowest < 20, `slowest publish() during the outage took ${slowest.toFixed(1)} ms`);
      assert.equal(notifier.stats().buffered, 4);
      assert.equal(notifier.stats().dropped, 2);
      const dropped = lines.filter((l) => l.startsWith('warn notifier.dropped '));
      assert.equal(dropped.length, 2);
      assert.ok(dropped[1]?.includes(`"message_id":"${during[5]?.messageId ?? ''}"`));
      assert.ok(dropped[1]?.includes('"dropped_total":2'));

      const start = spawnSync('bash', ['scripts/rabbitmq.sh', 'start'], BROKER_SCRIPT);
      assert.equal(start.status, 0, start.stderr);
      // The restart deleted every non-durable queue; the notifier re-declares its default queue
      // on reconnect, so the buffered notifications wait there for the listener.
      assert.equal(await notifier.flush(30_000), true, `not delivered: ${lines.join('\n')}`);
      const stats = notifier.stats();
      assert.equal(stats.published, 5);
      assert.equal(stats.dropped, 2);
      assert.ok(stats.reconnects >= 1, 'reconnected');

      const listener = await startListener(exchange, 4);
      const { code, received } = await listener.done;
      assert.equal(code, 0);
      assert.deepEqual(
        received.map((r) => r.message_id),
        during.slice(0, 4).map((n) => n.messageId),
      );
      assert.deepEqual(
        received.map((r) => r.publisher_id),
        Array<string>(4).fill(`vpmu-compute:${host}`),
      );
      assert.deepEqual(
        received.map((r) => r.payload['nova_object.data']),
        during.slice(0, 4).map((n) => sentData(n)),
      );
    } finally {
      await notifier.close(5_000);
      // Leave the broker running for whatever runs next.
      spawnSync('bash', ['scripts/rabbitmq.sh', 'start'], BROKER_SCRIPT);
    }
  });
});
