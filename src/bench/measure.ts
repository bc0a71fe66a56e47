/** Timing helpers for the benchmarks: medians and percentiles over repeated runs. */

/** The q-th quantile (0..1) of already sorted numbers. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN;
}

/** Runs `work` repeatedly for about `seconds`, returning per-call latencies in ms (sorted). */
export function timeLoop(
  work: () => unknown,
  seconds: number,
  warmup = 200,
): { latenciesMs: number[]; elapsedMs: number } {
  for (let i = 0; i < warmup; i++) work();
  const latenciesMs: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let now = start;
  while (now < deadline) {
    const t0 = now;
    work();
    now = performance.now();
    latenciesMs.push(now - t0);
  }
  return { latenciesMs: latenciesMs.sort((a, b) => a - b), elapsedMs: now - start };
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}
