/**
 * Boot path: N server creations through HTTP at concurrency 16, each until ACTIVE, then deleted,
 * against `vpmu serve` on its embedded defaults (libvirt's test driver). Reference in the same
 * run: the bare define + start of the same domain XML through the libvirt binding.
 */
import { loadBindingConnection } from '../adapters/libvirt/binding.js';
import { renderGuest } from '../services/index.js';
import { aHost, anImage } from '../testing/fixtures.js';
import { median, quantile } from './measure.js';
import type { PartReport } from './report.js';
import { BENCH_URI, cpuSeconds, memoryMiB, startService, type RunningService } from './service.js';

export const SERVERS = Number(process.env.VPMU_BENCH_SERVERS ?? 2000);
export const CONCURRENCY = 16;

export async function benchBoot(): Promise<PartReport> {
  const service = await startService();
  try {
    const run = await runBoots(service, [service.pid]);
    const memory = memoryMiB(service.pid);
    const rate = run.rate;
    const timesMs = run.timesMs;
    const reference = await bareLibvirtRate();
    return {
      part: 'boot',
      figures: {
        servers: SERVERS,
        concurrency: CONCURRENCY,
        'servers ACTIVE': timesMs.length,
        'servers in ERROR': run.errors,
        'creations per second': rate,
        'p50 time to ACTIVE (ms)': quantile(timesMs, 0.5),
        'p99 time to ACTIVE (ms)': quantile(timesMs, 0.99),
        'peak RSS of vpmu serve (MiB)': memory.peak,
        'service CPU per creation (ms)': run.cpuPerCreationMs,
        'bench client CPU per creation (ms)': run.clientCpuPerCreationMs,
        'HTTP requests per creation': run.requestsPerCreation,
        'bare libvirt define+start per second': reference,
        'control-plane overhead (bare / vpmu)': reference / rate,
      },
      targets: [
        { name: 'creations per second', goal: '>= 300', value: rate, unit: '/s', met: rate >= 300 },
        {
          name: 'p99 time to ACTIVE',
          goal: '< 100 ms',
          value: quantile(timesMs, 0.99),
          unit: 'ms',
          met: quantile(timesMs, 0.99) < 100,
        },
        {
          name: 'peak RSS',
          goal: '< 250 MiB',
          value: memory.peak,
          unit: 'MiB',
          met: memory.peak < 250,
        },
      ],
      notes: [
        `Each creation: POST /servers, GET until ACTIVE (polling), then DELETE; ${CONCURRENCY} workers over HTTP on loopback.`,
        `Hypervisor: ${BENCH_URI}. Reference: define + start of the rendered XML on the same URI through @unraid/libvirt, same concurrency, same count.`,
        "Profile (VPMU_BENCH_PROFILE=DIR writes a V8 CPU profile of the service; 2026-11-24, test:///default, 1,500 creations): vpmu's JavaScript runs on one thread, and that thread is ~83% busy, so its time per creation (~8.5 ms) caps the rate at ~115/s whatever the second core does; the client's CPU does not matter (a client 2 ms cheaper per creation left the rate unchanged). Per creation that thread spends ~15% in SQLite statements (~30, each a B-tree read or a WAL commit; 7-30 µs alone, slower under contention), ~7% in Kysely building queries, ~7% in loopback socket writes (~8 responses; a bare GET of the version document costs 110 µs of service CPU, 74 of them in writev), ~7% in libvirt binding calls (8 per creation), ~3% in notifications (6 per creation), ~2.5% in GC, the rest in HTTP parsing, routing and the services. 300 creations/s needs at most 3.3 ms of that thread per creation: not reachable by trimming one process. Splitting the build work from the API (Nova's own nova-api / nova-compute split, or a worker thread) would use the second core.",
        'Fixed in this round: read-back parsed by a streaming parser (saxes; ~18 µs where building an object tree cost ~300 µs per read-back, two per boot), 8 libvirt calls per creation where there were 13 (exists() before define, define takes the name and UUID its XML states, delete reads the state once), a disk is 4 file operations where it was 9, notifications are appended to an open file, a server save writes only its document, host usage is kept per host instead of summing every allocation at every boot, and the bench client uses node:http instead of fetch.',
      ],
    };
  } finally {
    await service.stop();
  }
}

/** What one run of creations measured. */
export interface BootRun {
  /** Times to ACTIVE of the servers that got there, sorted (ms). */
  readonly timesMs: number[];
  readonly errors: number;
  /** Servers ACTIVE per second of the whole run. */
  readonly rate: number;
  /** CPU of the `pids` (the service's processes) per creation. */
  readonly cpuPerCreationMs: number;
  readonly clientCpuPerCreationMs: number;
  readonly requestsPerCreation: number;
}

/**
 * SERVERS creations through `service`, CONCURRENCY at a time, each until ACTIVE then deleted;
 * `pids` are the processes whose CPU counts as the service's.
 */
export async function runBoots(service: RunningService, pids: readonly number[]): Promise<BootRun> {
  const { flavorId, imageId } = await seed(service);
  const timesMs: number[] = [];
  let errors = 0;
  let next = 0;
  const requestsBefore = service.requests();
  const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const cpuBefore = cpu();
  const clientCpuBefore = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < SERVERS) {
      const n = next++;
      const t0 = performance.now();
      const id = await createServer(service, `bench-${n}`, flavorId, imageId);
      const status = await waitForStatus(service, id);
      if (status === 'ACTIVE') timesMs.push(performance.now() - t0);
      else errors++;
      await service.request('DELETE', `/compute/v2.1/servers/${id}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  timesMs.sort((a, b) => a - b);
  return {
    timesMs,
    errors,
    rate: timesMs.length / elapsedS,
    cpuPerCreationMs: ((cpu() - cpuBefore) * 1000) / SERVERS,
    clientCpuPerCreationMs: (clientCpu.user + clientCpu.system) / 1000 / SERVERS,
    requestsPerCreation: (service.requests() - requestsBefore) / SERVERS,
  };
}

/** A flavor and an image with data, as the typical guest of the xml part. */
export async function seed(
  service: RunningService,
): Promise<{ flavorId: string; imageId: string }> {
  const flavor = await service.request('POST', '/compute/v2.1/flavors', {
    flavor: { name: 'bench.small', ram: 2048, vcpus: 2, disk: 1 },
  });
  const flavorId = (flavor.body as { flavor?: { id?: string } } | undefined)?.flavor?.id;
  if (flavorId === undefined)
    throw new Error(`Cannot create the bench flavor: HTTP ${flavor.status}`);
  await service.request('POST', `/compute/v2.1/flavors/${flavorId}/os-extra_specs`, {
    extra_specs: { 'hw:pmu': 'false', 'hw:cpu_sockets': '1' },
  });
  const image = await service.request('POST', '/image/v2/images', {
    name: 'bench-image',
    disk_format: 'raw',
    container_format: 'bare',
    visibility: 'public',
  });
  const imageId = (image.body as { id?: string } | undefined)?.id;
  if (imageId === undefined) throw new Error(`Cannot create the bench image: HTTP ${image.status}`);
  const upload = await fetch(`${service.url}/image/v2/images/${imageId}/file`, {
    method: 'PUT',
    headers: { 'X-Auth-Token': service.token, 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(1024 * 1024),
  });
  if (upload.status !== 204)
    throw new Error(`Cannot upload the bench image: HTTP ${upload.status}`);
  // The bench measures the service, not Nova's default quotas (10 instances, 20 cores).
  const unlimited = await service.request('PUT', '/compute/v2.1/os-quota-class-sets/default', {
    quota_class_set: { instances: -1, cores: -1, ram: -1 },
  });
  if (unlimited.status !== 200)
    throw new Error(`Cannot lift the bench quotas: HTTP ${unlimited.status}`);
  return { flavorId, imageId };
}

/** POSTs a server and returns its id. */
export async function createServer(
  service: RunningService,
  name: string,
  flavorId: string,
  imageId: string,
): Promise<string> {
  const created = await service.request('POST', '/compute/v2.1/servers', {
    server: { name, flavorRef: flavorId, imageRef: imageId, networks: 'none' },
  });
  const id = (created.body as { server?: { id?: string } } | undefined)?.server?.id;
  if (created.status !== 202 || id === undefined) {
    throw new Error(
      `Cannot create server ${name}: HTTP ${created.status} ${JSON.stringify(created.body)}`,
    );
  }
  return id;
}

/** Polls a server until it leaves BUILD; returns its status. */
export async function waitForStatus(service: RunningService, id: string): Promise<string> {
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 20)) {
    const shown = await service.request('GET', `/compute/v2.1/servers/${id}`);
    const status =
      (shown.body as { server?: { status?: string } } | undefined)?.server?.status ??
      `HTTP ${shown.status}`;
    if (status !== 'BUILD') return status;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** Bare libvirt: define + start (then destroy + undefine) of the same XML, same count and concurrency. */
export async function bareLibvirtRate(): Promise<number> {
  // The adapter's loader: it keeps domain handles reachable during calls (see pinningDomains).
  const connection = await loadBindingConnection(BENCH_URI);
  await connection.connectOpen();
  const rates: number[] = [];
  for (let round = 0; round < 3; round++) {
    let next = 0;
    const started = performance.now();
    const worker = async () => {
      while (next < SERVERS) {
        const n = next++;
        const design = renderGuest({
          flavor: {
            name: 'bench.small',
            vcpus: 2,
            memoryMiB: 2048,
            diskGiB: 1,
            extraSpecs: { 'hw:pmu': 'false' },
          },
          image: anImage(),
          host: aHost({ network: { type: 'none' } }),
          name: `bare-${n}`,
          uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        });
        if (!design.ok) throw new Error(design.issues[0].message);
        const domain = await connection.domainDefineXML(design.value.xml);
        await connection.domainCreate(domain);
        await connection.domainDestroy(domain);
        await connection.domainUndefine(domain);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    rates.push(SERVERS / ((performance.now() - started) / 1000));
  }
  await connection.connectClose();
  return median(rates);
}
