/** Periodic work of a process (heal, sweeps, cleanups): one timer, never two rounds at once. */
import type { ApiLogger } from '../api/app.js';

/**
 * Runs `round` every `intervalMs` (never when 0), never two at once (a slow round delays the
 * next); a failed round is logged, not fatal; the timer keeps no process alive; `stop` ends the
 * rounds and waits for the one under way, so none runs against a closed store.
 */
export function periodically(
  intervalMs: number,
  log: Pick<ApiLogger, 'error'>,
  what: string,
  round: () => Promise<unknown>,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer =
    intervalMs <= 0
      ? undefined
      : setInterval(() => {
          running ??= round()
            .then(
              () => undefined,
              (error: unknown) => {
                log.error({ err: String(error) }, `${what}: this round failed`);
              },
            )
            .finally(() => {
              running = undefined;
            });
        }, intervalMs).unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * How often the deferred shelve offloads and soft-delete reclaims run: at the smaller of the
 * positive settings, at most every 60 s; 0 when neither is on.
 */
export function deferredIntervalMs(settings: {
  readonly shelvedOffloadTime: number;
  readonly reclaimInstanceInterval: number;
}): number {
  const periods = [settings.shelvedOffloadTime, settings.reclaimInstanceInterval].filter(
    (s) => s > 0,
  );
  return periods.length === 0 ? 0 : Math.min(60, ...periods) * 1000;
}
