/**
 * RPC cost: sequential call latency (median, p95) and parallel calls per second, over the
 * in-process transport and, with a broker URL, over RabbitMQ (two connections: client and
 * server, as two processes would have).
 *
 *   node dist/bench/rpc.js [rabbit://guest:guest@127.0.0.1:5672/]   (or VPMU_TEST_TRANSPORT_URL)
 *
 * Prints one JSON line per transport. VPMU_BENCH_RPC_CALLS (default 2000) sets the number of
 * calls of each measure; parallel calls keep VPMU_BENCH_RPC_PARALLEL (default 64) in flight.
 * In `npm run bench` (part `rpc`), RabbitMQ is measured when VPMU_BENCH_TRANSPORT_URL is set.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AmqpRpcTransport } from '../adapters/rpc/amqp-rpc.js';
import { InProcessRpcTransport } from '../adapters/rpc/in-process-rpc.js';
import { parseTransportUrl } from '../notifications/index.js';
import type { RpcTransport } from '../ports/rpc.js';
import type { PartReport } from './report.js';

const CALLS = Number(process.env.VPMU_BENCH_RPC_CALLS ?? 2_000);
const PARALLEL = Number(process.env.VPMU_BENCH_RPC_PARALLEL ?? 64);
const ARGS = { server_id: randomUUID(), options: { stopTimeoutMs: 1000, graceful: true } };

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

/** One transport's figures. */
interface RpcFigures {
  readonly transport: string;
  readonly calls: number;
  readonly sequentialMedianMs: number;
  readonly sequentialP95Ms: number;
  readonly parallel: number;
  readonly parallelCallsPerSecond: number;
}

async function measure(
  name: string,
  client: RpcTransport,
  server: RpcTransport,
): Promise<RpcFigures> {
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
  return {
    transport: name,
    calls: CALLS,
    sequentialMedianMs: round(percentile(latencies, 50)),
    sequentialP95Ms: round(percentile(latencies, 95)),
    parallel: PARALLEL,
    parallelCallsPerSecond: Math.round(CALLS / seconds),
  };
}

/** The in-process transport, then RabbitMQ when a URL is given. */
async function measureAll(url: string | undefined): Promise<RpcFigures[]> {
  const results: RpcFigures[] = [];
  const inProcess = new InProcessRpcTransport();
  try {
    results.push(await measure('in-process', inProcess, inProcess));
  } finally {
    await inProcess.close();
  }
  if (url === undefined || url === '') return results;
  const parsed = parseTransportUrl(url);
  if (!parsed.ok) throw new Error(parsed.issues[0].message);
  const connect = () =>
    AmqpRpcTransport.connect({ transport: parsed.value, exchange: 'vpmu-bench' });
  const client = await connect();
  const server = await connect();
  try {
    results.push(await measure('amqp', client, server));
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
  return results;
}

/** RPC call latency and throughput, as a part of `npm run bench`. */
export async function benchRpc(
  url: string | undefined = process.env.VPMU_BENCH_TRANSPORT_URL,
): Promise<PartReport> {
  const figures: Record<string, number | string> = {};
  for (const r of await measureAll(url)) {
    figures[`${r.transport} sequential median ms`] = r.sequentialMedianMs;
    figures[`${r.transport} sequential p95 ms`] = r.sequentialP95Ms;
    figures[`${r.transport} parallel calls/s`] = r.parallelCallsPerSecond;
  }
  if (url === undefined || url === '') {
    figures.amqp = 'skipped (set VPMU_BENCH_TRANSPORT_URL)';
  }
  return {
    part: 'rpc',
    figures,
    targets: [],
    notes: [
      `${String(CALLS)} sequential calls, then ${String(CALLS)} with ${String(PARALLEL)} in flight; RabbitMQ over two connections (client and server), as two processes would have.`,
    ],
  };
}

// Run as a script (not when imported by the benchmark runner): one JSON line per transport.
if (process.argv[1]?.endsWith('rpc.js') === true) {
  for (const figures of await measureAll(process.argv[2] ?? process.env.VPMU_TEST_TRANSPORT_URL)) {
    console.log(JSON.stringify(figures));
  }
}
