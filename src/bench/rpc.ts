/**
 * RPC cost: sequential call latency (median, p95) and parallel calls per second, over the
 * in-process transport and, with a broker URL, over RabbitMQ (two connections: client and
 * server, as two processes would have).
 *
 *   node dist/bench/rpc.js [rabbit://guest:guest@127.0.0.1:5672/]   (or VPMU_TEST_TRANSPORT_URL)
 *
 * Prints one JSON line per transport. VPMU_BENCH_RPC_CALLS (default 2000) sets the number of
 * calls of each measure; parallel calls keep VPMU_BENCH_RPC_PARALLEL (default 64) in flight.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AmqpRpcTransport } from '../adapters/rpc/amqp-rpc.js';
import { InProcessRpcTransport } from '../adapters/rpc/in-process-rpc.js';
import { parseTransportUrl } from '../notifications/index.js';
import type { RpcTransport } from '../ports/rpc.js';

const CALLS = Number(process.env.VPMU_BENCH_RPC_CALLS ?? 2_000);
const PARALLEL = Number(process.env.VPMU_BENCH_RPC_PARALLEL ?? 64);
const ARGS = { server_id: randomUUID(), options: { stopTimeoutMs: 1000, graceful: true } };

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

async function measure(name: string, client: RpcTransport, server: RpcTransport): Promise<void> {
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  const consumer = await server.serve(topic, 'host1', { echo: (_context, args) => args });
  const target = { topic, server: 'host1' };
  const call = () => client.call(target, 'echo', ARGS, { timeoutMs: 30_000 });
  for (let i = 0; i < 100; i += 1) await call(); // warm-up
  const latencies: number[] = [];
  for (let i = 0; i < CALLS; i += 1) {
    const started = performance.now();
    await call();
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < CALLS) {
        next += 1;
        await call();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await consumer.stop();
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  console.log(
    JSON.stringify({
      transport: name,
      calls: CALLS,
      sequentialMedianMs: round(percentile(latencies, 50)),
      sequentialP95Ms: round(percentile(latencies, 95)),
      parallel: PARALLEL,
      parallelCallsPerSecond: Math.round(CALLS / seconds),
    }),
  );
}

const inProcess = new InProcessRpcTransport();
await measure('in-process', inProcess, inProcess);
await inProcess.close();

const url = process.argv[2] ?? process.env.VPMU_TEST_TRANSPORT_URL;
if (url !== undefined && url !== '') {
  const parsed = parseTransportUrl(url);
  if (!parsed.ok) throw new Error(parsed.issues[0].message);
  const connect = () =>
    AmqpRpcTransport.connect({ transport: parsed.value, exchange: 'vpmu-bench' });
  const client = await connect();
  const server = await connect();
  try {
    await measure('amqp', client, server);
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
}
