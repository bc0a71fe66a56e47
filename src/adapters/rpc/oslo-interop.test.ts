/**
 * Our AMQP RPC transport against an unchanged oslo.messaging peer (src/testing/oslo-rpc-peer.py,
 * Debian's /usr/bin/python3 with python3-oslo.messaging 14): our client calls and casts to an oslo
 * RPC server, and an oslo RPCClient calls and casts to our server, failures included.
 *
 * Needs VPMU_TEST_TRANSPORT_URL (`.ci/run` starts RabbitMQ and sets it); without it these tests
 * skip locally and fail in CI. Every peer is bounded (its own --timeout, and the test's stop). The
 * suite holds the test broker (holdTestBroker) so that no other test file restarts it meanwhile.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RemoteError, type RpcArgs, type RpcContext } from '../../ports/rpc.js';
import { startChild, WAIT_MS, type TestChild } from '../../testing/processes.js';
import { holdTestBroker, transportOf } from '../../testing/rabbit.js';
import { requireEnv, requireTool } from '../../testing/tools.js';
import { AmqpRpcTransport } from './amqp-rpc.js';

const { value: URL_TEXT, skip: NO_BROKER } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);
const NO_PYTHON = requireTool(
  '/usr/bin/python3',
  ['--version'],
  'Debian python3 with python3-oslo.messaging',
);
const SKIP = NO_BROKER === false ? NO_PYTHON : NO_BROKER;
const BROKER_URL = URL_TEXT ?? '';
const EXCHANGE = 'vpmu-test';
const PEER = 'src/testing/oslo-rpc-peer.py';

function peer(mode: 'server' | 'client', topic: string, server: string): TestChild {
  return startChild('/usr/bin/python3', [
    PEER,
    mode,
    '--url',
    BROKER_URL,
    '--exchange',
    EXCHANGE,
    '--topic',
    topic,
    '--server',
    server,
    '--timeout',
    '30',
  ]);
}

function lines(child: TestChild): Record<string, unknown>[] {
  return child
    .stdout()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('RPC interop with an unchanged oslo.messaging peer', { skip: SKIP }, () => {
  let transport: AmqpRpcTransport;
  let release: (() => void) | undefined;
  before(async () => {
    release = await holdTestBroker();
    transport = await AmqpRpcTransport.connect({
      transport: transportOf(BROKER_URL),
      exchange: EXCHANGE,
    });
  });
  after(async () => {
    await transport.close();
    release?.();
  });

  it('our client calls and casts to an oslo RPC server, and gets its failure as a RemoteError', async () => {
    const topic = `oslo-${randomUUID().slice(0, 8)}`;
    const child = peer('server', topic, 'pyhost');
    try {
      await child.waitFor(/^READY$/mu, WAIT_MS);
      const context = { request_id: 'req-vpmu', project_id: 'p1', is_admin: false };
      // oslo's server adds the message's `_timeout` (null or absent here) to the context it
      // hands its endpoint.
      const seen = { ...context, client_timeout: null };
      for (const target of [{ topic }, { topic, server: 'pyhost' }]) {
        assert.deepEqual(
          await transport.call(
            target,
            'echo',
            { a: 1, list: [1, null] },
            { context, timeoutMs: 20_000 },
          ),
          { args: { a: 1, list: [1, null] }, context: seen },
        );
      }
      await transport.cast({ topic }, 'note', { n: 5 }, { context });
      await child.waitFor(/"note"/u, WAIT_MS);
      assert.deepEqual(lines(child), [{ context: seen, note: { n: 5 } }]);
      const error = await transport
        .call({ topic }, 'fail', { message: 'no room' }, { timeoutMs: 20_000 })
        .then(
          () => assert.fail('no failure'),
          (e: unknown) => e,
        );
      assert.ok(error instanceof RemoteError);
      assert.equal(error.remoteClass, 'ValueError');
      assert.equal(error.remoteModule, 'builtins');
      assert.equal(error.remoteMessage, 'no room');
      assert.deepEqual(error.remoteArgs, ['no room']);
      assert.match(error.traceback.join(''), /Traceback/u);
      await assert.rejects(transport.call({ topic }, 'nope', {}, { timeoutMs: 20_000 }), {
        name: 'RemoteError',
        remoteClass: 'NoSuchMethod',
      });
    } finally {
      await child.stop();
    }
  });

  it('an oslo RPCClient calls and casts to our server, and sees our failure as its RemoteError', async () => {
    const topic = `oslo-${randomUUID().slice(0, 8)}`;
    const notes: { context: RpcContext; args: RpcArgs }[] = [];
    const consumer = await transport.serve(topic, 'tshost', {
      echo: (context, args) => ({ args, context }),
      note: (context, args) => {
        notes.push({ context, args });
      },
      fail: (_context, args) => {
        throw new Error(String(args.message));
      },
      // Longer than the caller's call monitor: it lives on our heartbeats.
      slow: (_context, args) =>
        new Promise((resolve) => setTimeout(resolve, Number(args.ms))).then(() => 'slept'),
    });
    const child = peer('client', topic, 'tshost');
    try {
      const { code } = await Promise.race([
        child.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => {
            reject(new Error(`the oslo client did not finish:\n${child.output()}`));
          }, WAIT_MS).unref(),
        ),
      ]);
      assert.equal(code, 0, child.output());
      const context = { request_id: 'req-oslo', user_id: 'u-oslo', roles: ['reader'] };
      assert.deepEqual(lines(child), [
        { step: 'echo', result: { args: { a: 1, s: 'x', l: [1, null] }, context } },
        { step: 'echo-server', result: { args: { b: 2 }, context } },
        { step: 'cast' },
        { step: 'fail', error: 'RemoteError', exc_type: 'Error', value: 'refused by vpmu' },
        { step: 'slow', result: 'slept' },
        {
          step: 'missing',
          error: 'RemoteError',
          exc_type: 'NoSuchMethod',
          value: 'Endpoint does not support RPC method missing',
        },
      ]);
      assert.deepEqual(notes, [{ context, args: { n: 3 } }]);
    } finally {
      await child.stop();
      await consumer.stop();
    }
  });
});
