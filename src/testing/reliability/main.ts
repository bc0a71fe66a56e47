/**
 * `npm run test:reliability`: the reliability suite against real `vpmu serve` processes.
 *
 *   node dist/testing/reliability/main.js [--seed N] [--size N] [--only NAME[,NAME]]
 *
 * Environment: VPMU_RELIABILITY_SEED and VPMU_RELIABILITY_SIZE stand in for the flags. The seed
 * is fixed by default, so CI runs are reproducible; it is printed first. The whole run is bounded
 * (about 5 minutes at size 1): a watchdog kills every child and fails the run when it overruns.
 * Ends with the figures and a line `N passed, N failed`; exit status 0 only when every check
 * passed and requests aside every figure is zero.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crafted } from './crafted.js';
import { crash } from './crash.js';
import { disk } from './disk.js';
import { fuzz } from './fuzz.js';
import { Figures, Rng } from './harness.js';
import type { Scenario } from './scenario.js';

const DEFAULT_SEED = 13;
const SCENARIOS: readonly Scenario[] = [
  { name: 'fuzz', budgetSeconds: 120, run: fuzz },
  { name: 'crash', budgetSeconds: 120, run: crash },
  { name: 'disk', budgetSeconds: 40, run: disk },
  { name: 'crafted', budgetSeconds: 40, run: crafted },
];

interface Options {
  seed: number;
  size: number;
  only: readonly string[];
}

function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): Options {
  const options: Options = {
    seed: positiveInt(
      'VPMU_RELIABILITY_SEED',
      env.VPMU_RELIABILITY_SEED ?? String(DEFAULT_SEED),
      true,
    ),
    size: positiveInt('VPMU_RELIABILITY_SIZE', env.VPMU_RELIABILITY_SIZE ?? '1'),
    only: SCENARIOS.map((s) => s.name),
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1] ?? ''];
    if (flag === '--seed') options.seed = positiveInt('--seed', value, true);
    else if (flag === '--size') options.size = positiveInt('--size', value);
    else if (flag === '--only') options.only = value.split(',');
    else
      throw new Error(
        `unknown argument ${String(flag)} (use --seed N, --size N, --only ${SCENARIOS.map((s) => s.name).join(',')})`,
      );
  }
  for (const name of options.only) {
    if (!SCENARIOS.some((s) => s.name === name))
      throw new Error(`--only: no scenario named "${name}"`);
  }
  return options;
}

function positiveInt(name: string, value: string, zeroOk = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1))
    throw new Error(`${name}: "${value}" is not a whole number${zeroOk ? '' : ' from 1 up'}`);
  return n;
}

/** A seed per scenario, so `--only crash` replays what the full run did in that scenario. */
function scenarioSeed(seed: number, name: string): number {
  let hash = seed >>> 0;
  for (const char of name) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  return hash;
}

function report(figures: Figures, started: number): void {
  console.log('\nreliability figures');
  console.log(`  requests sent   ${figures.requests}`);
  console.log(`  5xx answers     ${figures.serverErrors}`);
  console.log(`  hung requests   ${figures.hangs}`);
  console.log(`  crashes         ${figures.crashes}`);
  console.log(`  leaks           ${figures.leaks}`);
  console.log(`  time            ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (figures.problems.length > 0) {
    console.log(`\nfailures (${figures.problems.length}):`);
    for (const problem of figures.problems) console.log(`  - ${problem}`);
  }
  console.log(`\n${figures.passed} passed, ${figures.failed} failed`);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const figures = new Figures();
  const started = Date.now();
  console.log(
    `reliability suite: seed ${options.seed}, size ${options.size} (replay with --seed ${options.seed})`,
  );
  const chosen = SCENARIOS.filter((s) => options.only.includes(s.name));
  const budget = chosen.reduce((sum, s) => sum + s.budgetSeconds * options.size, 0);
  // Scenario budgets say when to stop starting work; the watchdog allows for the checks after it.
  const watchdog = setTimeout(
    () => {
      figures.check('suite', false, `the run overran its bound of ${budget + 120} s`);
      report(figures, started);
      process.exit(1); // the 'exit' handler SIGKILLs every vpmu serve still running
    },
    (budget + 120) * 1000,
  );
  const workDir = mkdtempSync(path.join(tmpdir(), 'vpmu-reliability-'));
  try {
    for (const scenario of chosen) {
      const t0 = Date.now();
      console.log(`== ${scenario.name}`);
      try {
        await scenario.run({
          figures,
          rng: new Rng(scenarioSeed(options.seed, scenario.name)),
          size: options.size,
          workDir,
          deadline: t0 + scenario.budgetSeconds * options.size * 1000,
          log: (line) => {
            console.log(`   ${line}`);
          },
        });
      } catch (error) {
        figures.check(
          scenario.name,
          false,
          'scenario aborted',
          error instanceof Error ? error.message : String(error),
        );
      }
      console.log(`   ${scenario.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    clearTimeout(watchdog);
    rmSync(workDir, { recursive: true, force: true });
  }
  report(figures, started);
  const clean =
    figures.failed === 0 &&
    figures.serverErrors + figures.hangs + figures.crashes + figures.leaks === 0;
  return clean ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  },
);
