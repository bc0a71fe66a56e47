/**
 * The only way the core sends versioned notifications. Adapters live in src/adapters/notifier/.
 *
 * Contract: `publish()` never throws, never waits and never fails the caller's request, whatever
 * the state of the transport; what cannot be delivered is counted (and logged by the adapter),
 * never lost without a trace. Every wait (`flush`, `close`) is bounded by its caller.
 */
import type { Notification } from '../domain/index.js';

/** Counters every notifier exposes. */
export interface NotifierStats {
  /** Delivered to the transport (confirmed by the broker, or written to the file). */
  readonly published: number;
  /** Waiting for delivery right now. */
  readonly buffered: number;
  /** Given up on: buffer full, write failed, or still buffered at close. */
  readonly dropped: number;
  /** Connections made again after a lost or failed one. */
  readonly reconnects: number;
}

/** Sends notifications; see the file header for the contract. */
export interface Notifier {
  /** Queues a notification for delivery and returns at once. Never throws. */
  publish(notification: Notification): void;
  /**
   * Waits until everything published so far is delivered or dropped, or `timeoutMs` passes.
   * Resolves true when nothing is left buffered.
   */
  flush(timeoutMs: number): Promise<boolean>;
  stats(): NotifierStats;
  /**
   * Delivers what it can within `timeoutMs`, drops (and counts) the rest, releases the
   * transport. Idempotent; `publish()` after close drops and counts.
   */
  close(timeoutMs: number): Promise<void>;
}

/** A structured log line: an event name and its fields (pino-style, without pino). */
export type NotifierLog = (
  level: 'info' | 'warn' | 'error',
  event: string,
  fields: Readonly<Record<string, string | number | boolean | null>>,
) => void;
