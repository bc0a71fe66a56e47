/**
 * The AMQP RPC transport against a real RabbitMQ broker: the RpcTransport contract, and broker
 * loss (through a TCP gate, so the shared broker is never restarted). Needs
 * VPMU_TEST_TRANSPORT_URL (`.ci/run` starts the broker with scripts/rabbitmq.sh and sets it);
 * without it these tests skip locally and fail in CI. The suite holds the test broker
 * (holdTestBroker) so that no other test file restarts it meanwhile.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { RpcTimeout, RpcUnavailable } from '../../ports/rpc.js';
import { rpcContract } from '../../ports/rpc.contract.js';
import { amqpUrlOf, holdTestBroker, transportOf } from '../../testing/rabbit.js';
import { openTcpGate } from '../../testing/tcp-gate.js';
import { requireEnv } from '../../testing/tools.js';
import { AmqpRpcTransport } from './amqp-rpc.js';

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);
const EXCHANGE = 'vpmu-test';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const connect = () =>
  AmqpRpcTransport.connect({ transport: transportOf(URL_TEXT ?? ''), exchange: EXCHANGE });

describe('AMQP RPC transport', { skip: SKIP }, () => {
  let release: (() => void) | undefined;
  before(async () => {
    release = await holdTestBroker();
  });
  after(() => {
    release?.();
  });

  rpcContract('AMQP, two connections', async () => {
    const client = await connect();
    const server = await connect();
    return {
      client,
      server,
      close: async () => {
        await Promise.all([client.close(), server.close()]);
      },
    };
  });

  it('fails what waits on a lost broker at once, refuses a connection it cannot make, and recovers', async () => {
    const real = transportOf(URL_TEXT ?? '');
    const broker = real.brokers[0];
    const gate = await openTcpGate({ host: broker.host, port: broker.port });
    const gated = {
      ...real,
      brokers: [{ ...broker, host: '127.0.0.1', port: gate.port }] as const,
    };
    const options = {
      transport: gated,
      exchange: EXCHANGE,
      connectTimeoutMs: 1_000,
      backoff: { initialMs: 100, maxMs: 500 },
    };
    const client = await AmqpRpcTransport.connect(options);
    const server = await AmqpRpcTransport.connect(options);
    const topic = `t${randomUUID().slice(0, 8)}`;
    try {
      let entered: () => void = () => undefined;
      const inHandler = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let unblock: () => void = () => undefined;
      const blocked = new Promise<void>((resolve) => {
        unblock = resolve;
      });
      await server.serve(topic, 'host1', {
        echo: (_context, args) => args,
        block: async () => {
          entered();
          await blocked;
          return 'late';
        },
      });
      const target = { topic, server: 'host1' };
      assert.deepEqual(await client.call(target, 'echo', { n: 1 }, { timeoutMs: 20_000 }), {
        n: 1,
      });
      const waiting = client.call(target, 'block', {}, { timeoutMs: 20_000 });
      await inHandler;
      const cutAt = Date.now();
      gate.cut();
      await assert.rejects(waiting, (error: unknown) => {
        assert.ok(error instanceof RpcUnavailable, String(error));
        assert.match(error.message, /lost the connection to the RabbitMQ broker at 127\.0\.0\.1:/u);
        return true;
      });
      assert.ok(Date.now() - cutAt < 10_000, 'failed at once, not at the call timeout');
      await assert.rejects(client.call(target, 'echo', {}, { timeoutMs: 20_000 }), {
        name: 'RpcUnavailable',
        message:
          /^Cannot connect to the RabbitMQ broker at 127\.0\.0\.1:\d+: no answer within 1000 ms$/u,
      });
      unblock();
      gate.restore();
      // The client connects again; the server attaches again on its own and answers.
      assert.deepEqual(await client.call(target, 'echo', { n: 2 }, { timeoutMs: 20_000 }), {
        n: 2,
      });
    } finally {
      await Promise.all([client.close(), server.close()]);
      await gate.close();
    }
  });

  it('tries the brokers of the URL in turn, and names the last one when none answers', async () => {
    const real = transportOf(URL_TEXT ?? '');
    const broker = real.brokers[0];
    const dead = { ...broker, host: '127.0.0.1', port: await closedPort() };
    const transport = await AmqpRpcTransport.connect({
      transport: { ...real, brokers: [dead, broker] },
      exchange: EXCHANGE,
    });
    try {
      const topic = `t${randomUUID().slice(0, 8)}`;
      await transport.serve(topic, 'host1', { ping: () => 'pong' });
      assert.equal(await transport.call({ topic }, 'ping', {}, { timeoutMs: 20_000 }), 'pong');
    } finally {
      await transport.close();
    }
    await assert.rejects(
      AmqpRpcTransport.connect({ transport: { ...real, brokers: [dead] }, exchange: EXCHANGE }),
      {
        name: 'RpcUnavailable',
        message: new RegExp(
          `^Cannot connect to the RabbitMQ broker at 127\\.0\\.0\\.1:${dead.port}: `,
          'u',
        ),
      },
    );
  });

  it('casts to every server of a topic whose last server went (its fanout exchange with it)', async () => {
    const events: string[] = [];
    const client = await AmqpRpcTransport.connect({
      transport: transportOf(URL_TEXT ?? ''),
      exchange: EXCHANGE,
      log: (_level, event) => events.push(event),
    });
    const server = await connect();
    try {
      const topic = `t${randomUUID().slice(0, 8)}`;
      const first = await server.serve(topic, 'a', { ping: () => 'pong' });
      await client.cast({ topic, fanout: true }, 'ping', {});
      await first.stop();
      await client.cast({ topic, fanout: true }, 'ping', {});
      await server.serve(topic, 'b', { ping: () => 'pong' });
      assert.equal(await client.call({ topic }, 'ping', {}, { timeoutMs: 20_000 }), 'pong');
      assert.deepEqual(events, ['rpc.connected'], 'the client kept its connection and channel');
    } finally {
      await Promise.all([client.close(), server.close()]);
    }
  });

  it('serves again when the broker cancels its consumer (its queue deleted behind its back)', async () => {
    const client = await connect();
    const server = await connect();
    const admin = await amqp.connect(amqpUrlOf(URL_TEXT ?? ''));
    try {
      const topic = `t${randomUUID().slice(0, 8)}`;
      await server.serve(topic, 'host1', { ping: () => 'pong' });
      const channel = await admin.createChannel();
      await channel.deleteQueue(`${topic}.host1`);
      // A call sent before the queue is declared again is dropped by the broker: try again.
      let answer: unknown;
      for (let attempt = 0; attempt < 40 && answer === undefined; attempt += 1) {
        answer = await client
          .call({ topic, server: 'host1' }, 'ping', {}, { timeoutMs: 500 })
          .catch((error: unknown) => {
            if (error instanceof RpcTimeout) return undefined;
            throw error;
          });
      }
      assert.equal(answer, 'pong');
    } finally {
      await admin.close();
      await Promise.all([client.close(), server.close()]);
    }
  });
});
