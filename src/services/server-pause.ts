/**
 * pause/unpause and suspend/resume (Nova's os-pause-server and os-suspend-server): a guest held
 * without being stopped. Pause freezes its vCPUs in memory (PAUSED, power state paused); suspend
 * saves its memory on the host and stops it (SUSPENDED, power state shutdown), resume starts it
 * again from there. Each runs through ServerWork.action (visible, writable, unlocked, one state),
 * with Nova's task state while it runs and its notifications.
 */
import { POWER_STATE, type ServerState, type ServerStatus } from '../domain/index.js';
import type { InstanceAction } from '../notifications/index.js';
import type { HoldAction } from '../ports/compute-agent.js';
import type { ServerRecord } from '../ports/store.js';
import type { RequestContext } from './identity.js';
import type { CallInfo } from './server-checks.js';
import { RUNNING_STATE, type ServerWork } from './server-work.js';

interface HoldStep {
  /** The server's status the action needs (Nova's check_instance_state). */
  readonly from: ServerStatus;
  readonly task: 'pausing' | 'unpausing' | 'suspending' | 'resuming';
  readonly to: ServerState;
}

const STEPS: Readonly<Record<HoldAction, HoldStep>> = {
  pause: {
    from: 'ACTIVE',
    task: 'pausing',
    to: { vmState: 'paused', taskState: null, powerState: POWER_STATE.PAUSED },
  },
  unpause: { from: 'PAUSED', task: 'unpausing', to: RUNNING_STATE },
  suspend: {
    from: 'ACTIVE',
    task: 'suspending',
    to: { vmState: 'suspended', taskState: null, powerState: POWER_STATE.SHUTDOWN },
  },
  resume: { from: 'SUSPENDED', task: 'resuming', to: RUNNING_STATE },
};

/** The hold actions of servers. */
export class ServerHolds {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /** pause, unpause, suspend or resume, as Nova's API answers each. */
  async hold(
    ctx: RequestContext,
    id: string,
    action: HoldAction,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const work = this.#work;
    const step = STEPS[action];
    const notification: InstanceAction = action;
    return work.action(
      ctx,
      id,
      action,
      [step.from],
      async (server, agent, context) => {
        const busy = await work.save(server, { taskState: step.task });
        work.notify(notification, 'start', busy, context);
        try {
          if ((await agent.hold(server.id, action)) === 'no-domain') {
            throw new Error(`the host has no domain for server ${server.id}`);
          }
        } catch (error) {
          // As Nova's compute reverts the task state: the server stays as it was.
          await work.save(busy, { taskState: null });
          throw error;
        }
        const done = await work.save(busy, step.to);
        work.notify(notification, 'end', done, context);
        return done;
      },
      call,
    );
  }
}
