/** Scheduling at scale: the pure scheduler over synthetic hosts, vPMU prefilter on. */
import { buildRequestSpec, HostIndex } from '../scheduler/index.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { syntheticHosts } from '../testing/hosts.js';
import { quantile } from './measure.js';
import type { PartReport } from './report.js';

const SIZES = [1_000, 10_000, 100_000] as const;
const DECISIONS = 1000;
const WARMUP = 200;

export async function benchSchedule(): Promise<PartReport> {
  const request = buildRequestSpec(
    aFlavor(),
    anImage({ properties: { hw_pmu: 'true' } }),
    {
      requested: { flavor: null, image: 'true' },
      resolved: true,
      source: 'image',
    },
    { vpmuPrefilter: true },
  );
  if (!request.ok) throw new Error(request.issues[0].message);
  const figures: Record<string, number> = {};
  const p50s: number[] = [];
  const p99ByHosts: Record<number, number> = {};
  for (const size of SIZES) {
    const hosts = syntheticHosts(size);
    const built = performance.now();
    const index = new HostIndex(hosts);
    figures[`index build ms @ ${size} hosts`] = performance.now() - built;
    const decisions = Math.max(300, Math.floor((DECISIONS * 10_000) / Math.max(size, 10_000)));
    const latencies: number[] = [];
    for (let i = 0; i < decisions + WARMUP; i++) {
      const t0 = performance.now();
      const picked = index.select(request.value, { count: 3 });
      const ms = performance.now() - t0;
      if (!picked.ok) throw new Error(picked.issues[0].message);
      if (i >= WARMUP) latencies.push(ms);
    }
    latencies.sort((a, b) => a - b);
    figures[`p50 ms @ ${size} hosts`] = quantile(latencies, 0.5);
    figures[`p99 ms @ ${size} hosts`] = quantile(latencies, 0.99);
    p50s.push(quantile(latencies, 0.5));
    p99ByHosts[size] = quantile(latencies, 0.99);
  }
  const growth = (p50s[2] ?? 0) / (p50s[1] ?? 1);
  figures['p50 growth 10k → 100k hosts (x)'] = growth;
  return {
    part: 'schedule',
    figures,
    targets: [
      {
        name: 'p99 @ 10,000 hosts',
        goal: '< 2 ms',
        value: p99ByHosts[10_000],
        unit: 'ms',
        met: (p99ByHosts[10_000] ?? Infinity) < 2,
      },
      {
        name: 'p99 @ 100,000 hosts',
        goal: '< 20 ms',
        value: p99ByHosts[100_000],
        unit: 'ms',
        met: (p99ByHosts[100_000] ?? Infinity) < 20,
      },
      {
        name: 'growth 10k → 100k',
        goal: '≈ linear (≤ 12x for 10x hosts)',
        value: growth,
        unit: 'x',
        met: growth <= 12,
      },
    ],
    notes: [
      'Synthetic hosts: 4 sizes, spread load, 1/3 with CUSTOM_HW_VPMU, 1/50 disabled; 3 best hosts kept per decision.',
    ],
  };
}
