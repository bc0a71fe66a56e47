/** What the runner hands each scenario. */
import type { Figures, Rng } from './harness.js';

export interface ScenarioContext {
  readonly figures: Figures;
  /** Seeded from the run's seed and the scenario's name, so each scenario replays alone too. */
  readonly rng: Rng;
  /** The size knob: 1 is the CI default; work grows linearly with it. */
  readonly size: number;
  /** A scratch directory of this run, removed at the end. */
  readonly workDir: string;
  /** Epoch milliseconds by which the scenario should stop starting new work. */
  readonly deadline: number;
  readonly log: (line: string) => void;
}

export interface Scenario {
  readonly name: string;
  /** Seconds of the run's time this scenario may use (at size 1). */
  readonly budgetSeconds: number;
  readonly run: (ctx: ScenarioContext) => Promise<void>;
}
