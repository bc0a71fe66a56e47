/**
 * Nova's instance actions: every action on a server is recorded (who asked, when, with which
 * request id) with its events (the steps it ran, when each finished and how). ServerWork.action,
 * the create and the delete record them; `InstanceActionLog` reads them back for the API,
 * deleted servers' too.
 */
import { ComputeError } from '../errors/index.js';
import type { ActionContext } from '../notifications/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import { serverNotFound } from '../ports/store-errors.js';
import type {
  InstanceActionEventRecord,
  InstanceActionRecord,
  ServerRecord,
  Store,
} from '../ports/store.js';
import { isAdmin, type RequestContext } from './identity.js';
import { faultOf } from './server-checks.js';

/** Nova's event name for the compute step of each action (nova/compute/manager.py). */
const COMPUTE_EVENTS: Readonly<Record<string, string>> = {
  create: 'compute__do_build_and_run_instance',
  delete: 'compute_terminate_instance',
  start: 'compute_start_instance',
  stop: 'compute_stop_instance',
  reboot: 'compute_reboot_instance',
  rebuild: 'compute_rebuild_instance',
  resize: 'compute_prep_resize',
  confirmResize: 'compute_confirm_resize',
  revertResize: 'compute_revert_resize',
  migrate: 'compute_prep_resize',
  evacuate: 'compute_rebuild_instance',
  pause: 'compute_pause_instance',
  unpause: 'compute_unpause_instance',
  suspend: 'compute_suspend_instance',
  resume: 'compute_resume_instance',
  shelve: 'compute_shelve_instance',
  shelveOffload: 'compute_shelve_offload_instance',
  unshelve: 'compute_unshelve_instance',
  createImage: 'compute_snapshot_instance',
  createBackup: 'compute_backup_instance',
};

/** The compute event Nova records for an action. */
export function computeEventOf(action: string): string {
  return COMPUTE_EVENTS[action] ?? `compute_${action}_instance`;
}

/** Where recording failures are reported: a failed record never fails the action itself. */
interface RecorderLog {
  error(fields: Record<string, unknown>, message: string): void;
}

export interface InstanceActionDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
  readonly log: RecorderLog;
}

/**
 * An event's success recorded along with the step's last save (ServerWork.save), so the save and
 * the event's end are one write: `record()` is the action with the event finished now, and
 * `written()` is told when a save wrote it.
 */
export interface ActionAlong {
  record(): InstanceActionRecord;
  written(record: InstanceActionRecord): void;
}

/** One action being recorded: its events are added as they start and finish. */
export class RecordedAction {
  readonly #deps: InstanceActionDeps;
  #record: InstanceActionRecord;
  /** The record holds an event's end not written yet (event()'s `finishLater`). */
  #unwritten = false;

  constructor(deps: InstanceActionDeps, record: InstanceActionRecord) {
    this.#deps = deps;
    this.#record = record;
  }

  get requestId(): string {
    return this.#record.requestId;
  }

  /** The action as last recorded (or as it would have been, when recording failed). */
  get current(): InstanceActionRecord {
    return this.#record;
  }

  /** Records the action, with no events yet. */
  async start(): Promise<void> {
    await this.#put(this.#record);
  }

  /**
   * Runs one step as an event: recorded started, then finished with Success, or with Error (and
   * the action's message `Error`) when `run` throws, which is rethrown. `host` is read when the
   * step ends (a build learns its host on the way). `run` may write the Success with its last
   * save (`along`); `finishLater` keeps a Success for the action's next write (the next event's
   * start, or flush()). `startWith` writes the start itself, with a save that comes just before
   * the step (the action as started goes along it); when it fails, the event never started.
   */
  async event<T>(
    event: string,
    host: () => string | null,
    run: (along: ActionAlong) => Promise<T>,
    options: {
      readonly finishLater?: boolean;
      readonly startWith?: (along: ActionAlong) => Promise<void>;
    } = {},
  ): Promise<T> {
    const started: InstanceActionEventRecord = {
      event,
      startTime: this.#now(),
      finishTime: null,
      result: null,
      traceback: null,
      details: null,
      host: host(),
    };
    const index = this.#record.events.length;
    const withStart = { ...this.#record, events: [...this.#record.events, started] };
    if (options.startWith === undefined) {
      await this.#put(withStart);
    } else {
      const record = { ...withStart, updatedAt: this.#now() };
      await options.startWith({
        record: () => record,
        written: () => {
          this.#record = record;
          this.#unwritten = false;
        },
      });
      // A save that landed without its action (a store that refused it) leaves it to write here.
      if (this.#record !== record) await this.#put(withStart);
    }
    const along = { written: false };
    const alongSave: ActionAlong = {
      record: () =>
        this.#finished(index, { ...started, result: 'Success', host: host() }, this.#now()),
      written: (record) => {
        this.#record = record;
        this.#unwritten = false;
        along.written = true;
      },
    };
    try {
      const result = await run(alongSave);
      if (along.written) return result;
      const success: InstanceActionEventRecord = { ...started, result: 'Success', host: host() };
      if (options.finishLater === true) {
        this.#record = this.#finished(index, success, this.#now());
        this.#unwritten = true;
      } else {
        await this.#finish(index, success);
      }
      return result;
    } catch (error) {
      const fault = faultOf(error, this.#record.serverId, this.#record.action);
      await this.#finish(
        index,
        {
          ...started,
          result: 'Error',
          host: host(),
          details: fault.message,
          traceback: `${fault.details} (vpmu error code ${fault.errorCode})`,
        },
        'Error',
      );
      throw error;
    }
  }

  /** Writes an event's end kept by `finishLater`, if one is still unwritten. */
  async flush(): Promise<void> {
    if (this.#unwritten) await this.#put(this.#record);
  }

  async #finish(index: number, event: InstanceActionEventRecord, message?: string): Promise<void> {
    await this.#put(this.#finished(index, event, this.#now(), message));
  }

  /** The record with event `index` finished at `now` (and the action's `message`). */
  #finished(
    index: number,
    event: InstanceActionEventRecord,
    now: string,
    message?: string,
  ): InstanceActionRecord {
    const events = this.#record.events.map((e, i) =>
      i === index ? { ...event, finishTime: now } : e,
    );
    return {
      ...this.#record,
      events,
      ...(message === undefined ? {} : { message }),
      updatedAt: now,
    };
  }

  async #put(record: InstanceActionRecord): Promise<void> {
    this.#unwritten = false;
    this.#record = { ...record, updatedAt: this.#now() };
    await this.#deps.store.putInstanceAction(this.#record).catch((error: unknown) => {
      this.#deps.log.error(
        { server: record.serverId, requestId: record.requestId, err: String(error) },
        'cannot record an instance action',
      );
    });
  }

  #now(): string {
    return this.#deps.clock.now().toISOString();
  }
}

/** Starts recording `action` on the server, as asked in `context`'s request. */
export async function beginAction(
  deps: InstanceActionDeps,
  server: Pick<ServerRecord, 'id' | 'projectId'>,
  context: ActionContext,
  action: string,
): Promise<RecordedAction> {
  const recorded = newAction(deps, server, context, action);
  await recorded.start();
  return recorded;
}

/**
 * `action` on the server as beginAction() would record it, not written yet: for a write that
 * records it along with something else (Store.createServer's action).
 */
export function newAction(
  deps: InstanceActionDeps,
  server: Pick<ServerRecord, 'id' | 'projectId'>,
  context: ActionContext,
  action: string,
): RecordedAction {
  const now = deps.clock.now().toISOString();
  return new RecordedAction(deps, {
    serverId: server.id,
    requestId: context.requestId ?? `req-${deps.ids.newUuid()}`,
    action,
    // Nova records the server's project; the user is the one who asked.
    projectId: server.projectId,
    userId: context.userId ?? '',
    startTime: now,
    updatedAt: now,
    message: null,
    events: [],
  });
}

/**
 * The actions of a server the caller may see: its project's (or any for admins). A deleted
 * server's actions are found when `deleted` (Nova from 2.21), else it is 404 as any unknown one.
 */
export async function listInstanceActions(
  deps: { readonly store: Store },
  ctx: RequestContext,
  serverId: string,
  deleted: boolean,
): Promise<InstanceActionRecord[]> {
  const server = await deps.store.getServer(serverId);
  const visible = (projectId: string) => projectId === ctx.projectId || isAdmin(ctx);
  if (server !== undefined) {
    if (!visible(server.projectId)) throw serverNotFound(serverId);
    return deps.store.listInstanceActions(serverId);
  }
  const actions = deleted ? await deps.store.listInstanceActions(serverId) : [];
  const [first] = actions;
  if (first === undefined || !visible(first.projectId)) throw serverNotFound(serverId);
  return actions;
}

/** One action of a server the caller may see; Nova's 404 when it has none with that request id. */
export async function showInstanceAction(
  deps: { readonly store: Store },
  ctx: RequestContext,
  serverId: string,
  requestId: string,
  deleted: boolean,
): Promise<InstanceActionRecord> {
  const actions = await listInstanceActions(deps, ctx, serverId, deleted);
  const found = actions.find((a) => a.requestId === requestId);
  // NOTE: Nova wording (nova/api/openstack/compute/instance_actions.py show).
  if (found === undefined) {
    throw new ComputeError('server.action_not_found', `Action ${requestId} not found`);
  }
  return found;
}
