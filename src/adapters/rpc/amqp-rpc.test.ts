/**
 * The AMQP RPC transport against a real RabbitMQ broker. Needs VPMU_TEST_TRANSPORT_URL (`.ci/run`
 * starts the broker with scripts/rabbitmq.sh and sets it); without it these tests skip locally
 * and fail in CI.
 */
import { describe } from 'node:test';
import { rpcContract } from '../../ports/rpc.contract.js';
import { transportOf } from '../../testing/rabbit.js';
import { requireEnv } from '../../testing/tools.js';
import { AmqpRpcTransport } from './amqp-rpc.js';

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);

const connect = () =>
  AmqpRpcTransport.connect({ transport: transportOf(URL_TEXT ?? ''), exchange: 'vpmu-test' });

describe('AMQP RPC transport', { skip: SKIP }, () => {
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
});
