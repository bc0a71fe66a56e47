/**
 * The compute agent over RPC: the ComputeAgent contract passes through RemoteComputeAgent and
 * serveComputeAgent around the local agent (fake hypervisor, memory disks), over the in-process
 * transport and over RabbitMQ (needs VPMU_TEST_TRANSPORT_URL; skips locally without it, fails in
 * CI).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { AmqpRpcTransport } from '../adapters/rpc/amqp-rpc.js';
import { InProcessRpcTransport } from '../adapters/rpc/in-process-rpc.js';
import { ComputeError, HypervisorError } from '../errors/index.js';
import { computeAgentContract, type AgentUnderTest } from '../ports/compute-agent.contract.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import { RpcTimeout, type RpcTransport } from '../ports/rpc.js';
import { aFlavor, aHost, anImage } from '../testing/fixtures.js';
import { MemoryDisks } from '../testing/memory-disks.js';
import { holdTestBroker, transportOf } from '../testing/rabbit.js';
import { requireEnv } from '../testing/tools.js';
import {
  RemoteComputeAgent,
  serveComputeAgent,
  SNAPSHOT_CHUNK_BYTES,
} from './compute-agent-rpc.js';
import { LocalComputeAgent } from './local-compute-agent.js';

const SETTINGS = aHost({
  virtType: 'qemu',
  cpuMode: 'custom',
  cpuModel: 'qemu64',
  network: { type: 'none' },
  instanceDir: '/srv/instances',
});

interface Local {
  readonly agent: LocalComputeAgent;
  readonly disks: MemoryDisks;
  readonly hypervisor: FakeHypervisor;
}

function localAgent(): Local {
  const disks = new MemoryDisks({ instanceRoot: '/srv/instances' });
  const hypervisor = new FakeHypervisor();
  const agent = new LocalComputeAgent({ host: 'compute1', hypervisor, disks, settings: SETTINGS });
  return { agent, disks, hypervisor };
}

const ELSEWHERE = '/srv/instances-compute2';

/** A second host on the same machine's disks (a cold migration's destination). */
function destinationOf(local: Local): LocalComputeAgent {
  return new LocalComputeAgent({
    host: 'compute2',
    hypervisor: new FakeHypervisor({ uri: 'fake:///compute2' }),
    disks: new MemoryDisks({ instanceRoot: ELSEWHERE, machine: local.disks }),
    settings: { ...SETTINGS, instanceDir: ELSEWHERE },
  });
}

const request = (serverId: string, vcpus = 1) => ({
  serverId,
  name: `instance-${serverId}`,
  flavor: aFlavor({ diskGiB: 1, vcpus }),
  image: anImage(),
  owner: { projectId: 'p1', userId: 'u1' },
});

/** The local agent served on `server` under a fresh host name, and its remote twin on `client`. */
async function remoteAgent(
  client: RpcTransport,
  server: RpcTransport,
  agent: ComputeAgent,
  host = `host-${randomUUID().slice(0, 8)}`,
): Promise<RemoteComputeAgent> {
  await serveComputeAgent(server, host, agent);
  return RemoteComputeAgent.connect(client, host, { timeoutMs: 30_000 });
}

/** The agent with another snapshot: `bytes` bytes of a pattern, in pieces of odd sizes. */
function withSnapshot(agent: LocalComputeAgent, bytes: number): ComputeAgent {
  async function* data(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes;) {
      const size = Math.min(bytes - at, 300_001);
      yield Uint8Array.from({ length: size }, (_, i) => (at + i) % 251);
      at += size;
    }
  }
  return new Proxy(agent, {
    get(target, key) {
      if (key === 'snapshot') return async () => ({ diskFormat: 'qcow2', data: data() });
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

async function collect(data: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of data) parts.push(part);
  return Buffer.concat(parts);
}

function suite(name: string, transports: () => { client: RpcTransport; server: RpcTransport }) {
  computeAgentContract(`remote over RPC (${name}), around the local agent`, async () => {
    const { client, server } = transports();
    const local = localAgent();
    const { agent, disks, hypervisor } = local;
    const remote = await remoteAgent(client, server, agent);
    return {
      agent: remote,
      request,
      destination: {
        agent: await remoteAgent(client, server, destinationOf(local)),
        hasDisk: async (serverId) => disks.exists(`${ELSEWHERE}/${serverId}/disk`),
      },
      resized: (serverId) => request(serverId, 2),
      hasDisk: async (serverId) => disks.exists(`/srv/instances/${serverId}/disk`),
      dropDomain: async (serverId) => {
        if ((await hypervisor.state(serverId)) !== 'shutoff') await hypervisor.destroy(serverId);
        await hypervisor.undefine(serverId);
      },
    } satisfies AgentUnderTest;
  });

  describe(`RemoteComputeAgent over ${name}`, () => {
    const ID = '7d5f3c1a-4b2e-4c8d-9a6f-0e1b2c3d4e5f';

    it('has the host’s URI and settings, fetched at connect', async () => {
      const { client, server } = transports();
      const { agent } = localAgent();
      const remote = await remoteAgent(client, server, agent);
      assert.equal(remote.uri, agent.uri);
      assert.deepEqual(remote.settings, JSON.parse(JSON.stringify(agent.settings)));
    });

    it('gives up on a host that does not answer within the quick bound', async () => {
      const { client } = transports();
      await assert.rejects(
        RemoteComputeAgent.connect(client, `gone-${randomUUID().slice(0, 8)}`, {
          quickTimeoutMs: 100,
        }),
        (error: unknown) => error instanceof RpcTimeout && error.method === 'describe',
      );
    });

    it('raises a host’s ComputeError and HypervisorError again, code, message and fields', async () => {
      const { client, server } = transports();
      const { agent } = localAgent();
      const remote = await remoteAgent(client, server, agent);
      const local = await agent.domainXml(ID).then(
        () => assert.fail('no error'),
        (e: unknown) => e,
      );
      assert.ok(local instanceof HypervisorError);
      await assert.rejects(remote.domainXml(ID), (error: unknown) => {
        assert.ok(error instanceof HypervisorError);
        assert.deepEqual(
          [error.code, error.message, error.operation, error.domain, error.detail],
          [local.code, local.message, local.operation, local.domain, local.detail],
        );
        return true;
      });
      const snapshot = await remote.snapshot(ID);
      await assert.rejects(collect(snapshot.data), (error: unknown) => {
        assert.ok(error instanceof ComputeError);
        assert.match(error.message, new RegExp(`${ID}/disk`, 'u'));
        return true;
      });
    });

    it('streams a snapshot in chunks, and gives a stream up when the reader stops', async () => {
      const { client, server } = transports();
      const { agent } = localAgent();
      const bytes = 2 * SNAPSHOT_CHUNK_BYTES + 12_345;
      const host = `host-${randomUUID().slice(0, 8)}`;
      const remote = await remoteAgent(client, server, withSnapshot(agent, bytes), host);
      const { diskFormat, data } = await remote.snapshot(ID);
      assert.equal(diskFormat, 'qcow2');
      const sizes: number[] = [];
      const parts: Uint8Array[] = [];
      for await (const part of data) {
        sizes.push(part.byteLength);
        parts.push(part);
      }
      assert.deepEqual(sizes, [SNAPSHOT_CHUNK_BYTES, SNAPSHOT_CHUNK_BYTES, 12_345]);
      const all = Buffer.concat(parts);
      assert.ok(all.every((byte, i) => byte === i % 251));
      // A reader that stops early closes the stream; the next read of it is refused.
      const early = await remote.snapshot(ID);
      for await (const part of early.data) {
        assert.equal(part.byteLength, SNAPSHOT_CHUNK_BYTES);
        break;
      }
      await assert.rejects(
        client.call({ topic: 'compute', server: host }, 'snapshot_read', { stream: `${host}-2` }),
        { name: 'RemoteError', remoteMessage: `No open snapshot stream ${host}-2 on host ${host}` },
      );
    });
  });
}

suite('the in-process transport', () => {
  const transport = new InProcessRpcTransport();
  return { client: transport, server: transport };
});

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);

describe('the compute agent over RabbitMQ', { skip: SKIP }, () => {
  let client: AmqpRpcTransport | undefined;
  let server: AmqpRpcTransport | undefined;
  let release: (() => void) | undefined;
  before(async () => {
    release = await holdTestBroker();
    const connect = () =>
      AmqpRpcTransport.connect({ transport: transportOf(URL_TEXT ?? ''), exchange: 'vpmu-test' });
    client = await connect();
    server = await connect();
  });
  after(async () => {
    await Promise.all([client?.close(), server?.close()]);
    release?.();
  });
  suite('RabbitMQ', () => {
    assert.ok(client !== undefined && server !== undefined);
    return { client, server };
  });
});
