/**
 * Nova's instance actions (os-instance-actions): what was asked of a server, by whom and when,
 * with the steps (events) it ran and how each ended. Kept after the server is deleted.
 */

/** How an event ended; null while it runs. */
export type InstanceActionResult = 'Success' | 'Error';

/** One step of an action, on a host (Nova's instance action event). */
export interface InstanceActionEventRecord {
  /** Nova's event name, e.g. `compute_stop_instance`. */
  readonly event: string;
  readonly startTime: string;
  readonly finishTime: string | null;
  readonly result: InstanceActionResult | null;
  /** What went wrong, for admins (Nova's traceback); null on success. */
  readonly traceback: string | null;
  /** The user-facing error message (Nova's `details`, 2.84); null on success. */
  readonly details: string | null;
  /** The compute host the step ran on, null when none (a build that found no host). */
  readonly host: string | null;
}

/** One action on a server, identified by the server and the request that asked for it. */
export interface InstanceActionRecord {
  readonly serverId: string;
  readonly requestId: string;
  /** Nova's action name: create, delete, stop, reboot, pause, … */
  readonly action: string;
  readonly projectId: string;
  readonly userId: string;
  readonly startTime: string;
  readonly updatedAt: string;
  /** Nova's message: null, or `Error` once an event failed. */
  readonly message: string | null;
  /** In the order they started. */
  readonly events: readonly InstanceActionEventRecord[];
}
