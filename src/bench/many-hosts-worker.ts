/**
 * One worker process of the many-hosts part: AGENTS fake compute hosts in one process. Each
 * registers its host record (8 vCPUs, as `vpmu compute` describes a host), reports a heartbeat
 * every REPORT_INTERVAL seconds and serves the compute agent on RPC (topic `compute`, server = its
 * name) with queues and a channel of its own, as a `vpmu compute` would; AGENTS_PER_CONNECTION
 * agents share one RabbitMQ connection (a broker started with 1,024 open files takes ~830). The agent is vpmu's real
 * LocalComputeAgent over the FakeHypervisor and in-memory disks (testing/memory-disks.ts), so a
 * build answers at once.
 * The hosts share one PostgreSQL pool (a real compute has connections of its own).
 *
 * Usage: node dist/bench/many-hosts-worker.js (settings in the environment: see `settings`).
 * Prints `ready` once every agent serves, then one `stats {json}` line per second; stops on SIGTERM.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AmqpRpcTransport } from '../adapters/rpc/amqp-rpc.js';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { openPostgresStore } from '../adapters/store/postgres-store.js';
import type { HostSettings } from '../domain/index.js';
import { parseTransportUrl } from '../notifications/index.js';
import type { RpcConsumer } from '../ports/rpc.js';
import type { ComputeHostRecord } from '../ports/store.js';
import { LocalComputeAgent, serveComputeAgent } from '../services/index.js';
import { MemoryDisks } from '../testing/memory-disks.js';

/** In-memory disks over the cluster's real image directory (the shared image store). */
class SharedImageDisks extends MemoryDisks {
  override async exists(file: string): Promise<boolean> {
    const resolved = path.resolve(file);
    if (resolved.startsWith(`${settings.imageDir}/`) && existsSync(resolved)) {
      this.images.add(resolved);
      return true;
    }
    return super.exists(file);
  }
}

const settings = {
  databaseUrl: process.env.VPMU_BENCH_WORKER_DATABASE_URL ?? '',
  transportUrl: process.env.VPMU_BENCH_WORKER_TRANSPORT_URL ?? '',
  exchange: process.env.VPMU_BENCH_WORKER_EXCHANGE ?? '',
  imageDir: path.resolve(process.env.VPMU_BENCH_WORKER_IMAGE_DIR ?? '/nonexistent'),
  prefix: process.env.VPMU_BENCH_WORKER_PREFIX ?? 'fake',
  agents: Number(process.env.VPMU_BENCH_WORKER_AGENTS ?? 250),
  vcpus: Number(process.env.VPMU_BENCH_WORKER_VCPUS ?? 8),
  agentsPerConnection: Number(process.env.VPMU_BENCH_WORKER_AGENTS_PER_CONNECTION ?? 1),
  reportIntervalMs: Number(process.env.VPMU_BENCH_WORKER_REPORT_INTERVAL ?? 10) * 1000,
};

const HOST_SETTINGS: HostSettings = {
  virtType: 'qemu',
  arch: 'x86_64',
  cpuMode: 'custom',
  cpuModel: 'qemu64',
  instanceDir: '/srv/instances',
  network: { type: 'none' },
};

function record(name: string, now: string): ComputeHostRecord {
  return {
    name,
    hypervisorUri: `fake:///${name}`,
    hypervisorType: 'QEMU',
    hypervisorVersion: 7_002_000,
    hostIp: '127.0.0.1',
    cpuInfo: JSON.stringify({ arch: 'x86_64', model: 'qemu64', vendor: null }),
    enabled: true,
    settings: HOST_SETTINGS,
    inventory: {
      VCPU: { total: settings.vcpus, reserved: 0, allocationRatio: 1 },
      MEMORY_MB: { total: settings.vcpus * 1024, reserved: 0, allocationRatio: 1 },
      DISK_GB: { total: settings.vcpus * 10, reserved: 0, allocationRatio: 1 },
    },
    traits: [],
    updatedAt: now,
  };
}

async function main(): Promise<void> {
  const store = await openPostgresStore(settings.databaseUrl, { maxConnections: 4 });
  const transport = parseTransportUrl(settings.transportUrl);
  if (!transport.ok) throw new Error(transport.issues[0].message);
  const transports: AmqpRpcTransport[] = [];
  const consumers: RpcConsumer[] = [];
  const timers: NodeJS.Timeout[] = [];
  let heartbeats = 0;
  let heartbeatFailures = 0;
  let builds = 0;
  const stop = async () => {
    for (const timer of timers) clearInterval(timer);
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await Promise.allSettled(transports.map((t) => t.close()));
    await store.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  for (let i = 0; i < settings.agents; i++) {
    const name = `${settings.prefix}-${String(i).padStart(4, '0')}`;
    const now = new Date().toISOString();
    await store.putComputeHost(record(name, now));
    await store.reportHeartbeat(name, now);
    const agent = new LocalComputeAgent({
      host: name,
      hypervisor: new FakeHypervisor({ uri: `fake:///${name}` }),
      disks: new SharedImageDisks({ instanceRoot: HOST_SETTINGS.instanceDir }),
      settings: HOST_SETTINGS,
    });
    const counted = new Proxy(agent, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key);
        if (key === 'build') builds++;
        return typeof value === 'function' ? (value.bind(target) as unknown) : value;
      },
    });
    if (i % settings.agentsPerConnection === 0) {
      transports.push(
        await AmqpRpcTransport.connect({ transport: transport.value, exchange: settings.exchange }),
      );
    }
    const rpc = transports[transports.length - 1];
    if (rpc === undefined) throw new Error('no RabbitMQ connection');
    consumers.push(await serveComputeAgent(rpc, name, counted));
    // Spread the heartbeats over the interval, as independent hosts would be.
    const phase = Math.floor(Math.random() * settings.reportIntervalMs);
    setTimeout(() => {
      const beat = () => {
        store.reportHeartbeat(name, new Date().toISOString()).then(
          () => heartbeats++,
          () => heartbeatFailures++,
        );
      };
      beat();
      timers.push(setInterval(beat, settings.reportIntervalMs));
    }, phase).unref();
  }
  process.stdout.write('ready\n');
  timers.push(
    setInterval(() => {
      process.stdout.write(
        `stats ${JSON.stringify({ heartbeats, heartbeatFailures, builds, agents: consumers.length })}\n`,
      );
    }, 1000),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`many-hosts worker failed: ${String(error)}\n`);
  process.exit(1);
});
