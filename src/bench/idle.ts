/** Idle cost: resident memory and CPU of an idle `vpmu serve` holding 10,000 server records. */
import { createServer, seed, waitForStatus } from './boot.js';
import type { PartReport } from './report.js';
import { cpuSeconds, memoryMiB, startService } from './service.js';

const RECORDS = Number(process.env.VPMU_BENCH_RECORDS ?? 10_000);
const IDLE_SECONDS = 30;
const CONCURRENCY = 16;

export async function benchIdle(): Promise<PartReport> {
  const service = await startService();
  try {
    const { flavorId, imageId } = await seed(service);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const empty = memoryMiB(service.pid);
    let next = 0;
    let active = 0;
    const worker = async () => {
      while (next < RECORDS) {
        const id = await createServer(service, `idle-${next++}`, flavorId, imageId);
        if ((await waitForStatus(service, id)) === 'ACTIVE') active++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await new Promise((resolve) => setTimeout(resolve, 5000)); // let the heap settle after the load
    const cpuBefore = cpuSeconds(service.pid);
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const cpuShare = (cpuSeconds(service.pid) - cpuBefore) / IDLE_SECONDS;
    const memory = memoryMiB(service.pid);
    return {
      part: 'idle',
      figures: {
        'servers recorded (ACTIVE)': active,
        'RSS with no servers (MiB)': empty.rss,
        'idle RSS (MiB)': memory.rss,
        'peak RSS while loading (MiB)': memory.peak,
        'idle CPU (% of one core)': cpuShare * 100,
      },
      targets: [
        {
          name: 'idle RSS',
          goal: '< 150 MiB',
          value: memory.rss,
          unit: 'MiB',
          met: memory.rss < 150,
        },
        {
          name: 'idle CPU',
          goal: '< 1% of a core',
          value: cpuShare * 100,
          unit: '%',
          met: cpuShare < 0.01,
        },
      ],
      notes: [
        `${RECORDS} servers booted through the API on test:///default, then ${IDLE_SECONDS} s idle; CPU from /proc/<pid>/stat, memory from /proc/<pid>/status.`,
        "With test:///default, libvirt's test driver runs inside the vpmu process, so every simulated domain's definition counts in this RSS; with qemu:///system those live in libvirtd. The modules alone (Hono, Kysely, better-sqlite3, pino, amqplib, the libvirt binding) take ~78 MiB.",
      ],
    };
  } finally {
    await service.stop();
  }
}
