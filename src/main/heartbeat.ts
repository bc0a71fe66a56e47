/**
 * A compute's heartbeat: it tells the store it is alive every `report_interval`, so any process
 * can tell its compute service up from down (serviceState(): silent longer than
 * service_down_time is down), as Nova's servicegroup does.
 */
import type { Clock } from '../ports/clock.js';
import type { Store } from '../ports/store.js';

/** Where the loop says what went wrong (pino's shape: fields first, then the message). */
export interface HeartbeatLog {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A running heartbeat loop. */
export interface Heartbeat {
  /** Ends the loop; resolves once the report under way, if any, is done. */
  stop(): Promise<void>;
}

/**
 * Reports `host`'s heartbeat at once, then every `intervalMs`, with the time from `clock`. Rounds
 * never overlap: the next is timed from the start of the last, and waits for it when a report
 * takes longer than the interval. A failed report is logged and the next round tries again; a
 * host the store does not know (its service was deleted) is logged once. The timer does not keep
 * the process alive.
 */
export function heartbeatPeriodically(
  store: Pick<Store, 'reportHeartbeat'>,
  host: string,
  intervalMs: number,
  clock: Clock,
  log: HeartbeatLog,
): Heartbeat {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  let unknownLogged = false;
  const report = async (): Promise<void> => {
    try {
      const known = await store.reportHeartbeat(host, clock.now().toISOString());
      if (!known && !unknownLogged) {
        log.warn(
          { host },
          'heartbeat: the store has no compute host of this name (its service was deleted?): it counts as down until it registers again',
        );
      }
      unknownLogged = !known;
    } catch (error) {
      log.error(
        { host, err: error instanceof Error ? error.message : String(error) },
        'heartbeat: cannot report this round',
      );
    }
  };
  const run = (): void => {
    const started = clock.now().getTime();
    round = report().then(() => {
      if (stopped) return;
      const took = clock.now().getTime() - started;
      timer = setTimeout(run, Math.max(0, intervalMs - took)).unref();
    });
  };
  run();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
