/**
 * What every server use case shares: the dependencies, the one-at-a-time queue per server, the
 * record's saves (the status always derived from the state), failures recorded as ERROR with a
 * fault, and the guest-level steps (spawn, define again, remove, delete) on a host's agent.
 */
import {
  POWER_STATE,
  serverStatus,
  type Flavor,
  type HostSettings,
  type Image,
  type ServerState,
  type ServerStatus,
} from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type {
  ActionContext,
  Event,
  InstanceAction,
  InstanceEventDetails,
} from '../notifications/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import type { BuildRequest, ComputeAgent } from '../ports/compute-agent.js';
import type { ImageFiles } from '../ports/image-files.js';
import { serverNotFound } from '../ports/store-errors.js';
import type {
  ComputeHostRecord,
  DiskConfig,
  InstanceActionRecord,
  ServerPmu,
  ServerRecord,
  Store,
} from '../ports/store.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';
import { toFlavor } from './flavors.js';
import {
  actionContext,
  faultOf,
  invalidState,
  resourcesOf,
  serverImageToImage,
  type CallInfo,
} from './server-checks.js';
import { notifyInstance } from './server-events.js';
import { bootFilesOf, configDriveDataOf } from './guest-data.js';
import { precheckGuest, type DesignHost } from './server-design.js';
import {
  beginAction,
  computeEventOf,
  RecordedAction,
  type ActionAlong,
} from './server-instance-actions.js';
import type { BuildOrder } from './server-create.js';
import { refuseIfLocked } from './server-locks.js';
import { stateOf } from './compute-services.js';
import { HostCache, type HostCacheOptions } from './host-cache.js';
import { KeyedQueue } from '../domain/keyed-queue.js';

/** Structured logging (pino-style). */
export interface ServerLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** What the servers use cases need. */
export interface ServerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Compute agents by host name; the scheduler only places on hosts listed here. */
  readonly computes: ReadonlyMap<string, ComputeAgent>;
  /**
   * Where a recorded create's build goes (`vpmu api`: a cast to a conductor, which runs
   * Servers.runBuild); unset, this process builds it. The order must not be lost silently: a
   * rejection fails the create.
   */
  readonly dispatchBuild?: (order: BuildOrder) => Promise<void>;
  /** The filesystem path of uploaded image data, the backing file of root disks. */
  readonly imageFile: (dataLocation: string) => string;
  /** Every server gets a config drive (Nova's force_config_drive). @default false */
  readonly forceConfigDrive?: boolean;
  /** DESIGN §2.7: require CUSTOM_HW_VPMU when the vPMU resolves to on. */
  readonly vpmuPrefilter: boolean;
  /** How long a graceful shutdown may take before the guest is destroyed. */
  readonly stopTimeoutMs: number;
  /**
   * Builds running at once (Nova's max_concurrent_builds); later ones wait in BUILD, so a burst
   * of creates cannot pile work on the hypervisor without bound. 0: no limit. @default 10
   */
  readonly maxConcurrentBuilds?: number;
  /** Where image data lives, so the image a shelve made goes with its data. */
  readonly imageFiles?: ImageFiles;
  /**
   * Nova's shelved_offload_time (seconds): 0 offloads a shelved server at once, -1 never,
   * N > 0 once it has been shelved N seconds (see Servers.runDeferred). @default 0
   */
  readonly shelvedOffloadTime?: number;
  /**
   * Nova's reclaim_instance_interval (seconds): 0 deletes at once; N > 0 soft-deletes, and a
   * soft-deleted server is reclaimed once N seconds old (Servers.runDeferred). @default 0
   */
  readonly reclaimInstanceInterval?: number;
  /**
   * Nova's service_down_time (seconds): a compute whose last heartbeat is older is down (no new
   * servers, may be evacuated from). @default 60
   */
  readonly serviceDownTime?: number;
  /**
   * Nova's [scheduler] max_attempts: the hosts a build is tried on before it fails (a build that
   * fails on its host goes to another). @default 3
   */
  readonly schedulerMaxAttempts?: number;
  /** Sends a notification; must never throw (publishEvent() does not). */
  readonly publish: (event: Event) => void;
  readonly log: ServerLog;
}

/** The fields of a server its user sets (create, update, rebuild), already validated by the API. */
export interface ServerFields {
  readonly metadata?: Readonly<Record<string, string>>;
  readonly accessIPv4?: string;
  readonly accessIPv6?: string;
  readonly description?: string | null;
  readonly diskConfig?: DiskConfig;
}

/** What a save may change: everything but the status, which is derived from the state. */
export type ServerChanges = Partial<Omit<ServerRecord, 'status'>>;

const { NOSTATE, RUNNING, SHUTDOWN } = POWER_STATE;
/** The idle states a server settles in. */
export const RUNNING_STATE: ServerState = {
  vmState: 'active',
  taskState: null,
  powerState: RUNNING,
};
export const STOPPED_STATE: ServerState = {
  vmState: 'stopped',
  taskState: null,
  powerState: SHUTDOWN,
};

/** How many times a save is tried on a record other saves keep changing before `server.conflict`. */
export const SAVE_ATTEMPTS = 5;

/** Whether the error is the store's refusal of a stale compare-and-swap save. */
export function isConflict(error: unknown): boolean {
  return error instanceof ComputeError && error.code === 'server.conflict';
}

/** The record fields a user owns: a background save never overwrites them with stale values. */
const USER_FIELDS = [
  'name',
  'metadata',
  'accessIPv4',
  'accessIPv6',
  'description',
  'diskConfig',
] as const;
export type UserFields = Pick<ServerRecord, (typeof USER_FIELDS)[number]>;

function userFieldsOf(server: ServerRecord): UserFields {
  const picked: Partial<Record<keyof UserFields, unknown>> = {};
  for (const key of USER_FIELDS) if (server[key] !== undefined) picked[key] = server[key];
  return picked as UserFields;
}

/** The work under way on servers, and the steps every use case builds on. One per process. */
export class ServerWork {
  readonly deps: ServerDeps;
  readonly #queue = new KeyedQueue();
  /**
   * The user's fields of servers edited (update, metadata API) since this process started, so a
   * build or action that read the record before the edit saves over it without losing it, and
   * without reading the record again on every save. One process only: many processes need the
   * store's compare-and-swap (issue 15).
   */
  readonly #userEdits = new Map<string, UserFields>();
  /**
   * The version this process last saved of each server: its own work on a server runs one step
   * after another (serial), and a step may save from the record an earlier step read, so that
   * record's version is not stale for it. Only saves made elsewhere are.
   */
  readonly #saved = new Map<string, number>();
  /** The hosts this process places guests on, kept current by the store's change sequence. */
  readonly hosts: HostCache;
  /** designHosts() for the record list it was made from. */
  #design:
    | {
        readonly from: readonly ComputeHostRecord[];
        readonly all: readonly DesignHost[];
        readonly distinct: readonly DesignHost[];
      }
    | undefined;

  constructor(deps: ServerDeps, hostCache: HostCacheOptions = {}) {
    this.deps = deps;
    this.hosts = new HostCache(deps.store, (host) => deps.computes.has(host), deps, hostCache);
  }

  /** Resolves when no build or action is running (tests wait on it; shutdown too). */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }

  /** Waits for the work on one server. */
  async settled(id: string): Promise<void> {
    await this.#queue.settled(id);
  }

  /** Whether work on the server (or under the key) is under way in this process. */
  busy(key: string): boolean {
    return this.#queue.busy(key);
  }

  /** Runs `work` after whatever already runs under `key` (a server id, or `group:<id>`). */
  async serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.#queue.serial(key, work);
  }

  /** Counts `work` as under way on `key` until it settles. */
  track(key: string, work: Promise<unknown>): void {
    this.#queue.track(key, work);
  }

  /** One server the caller may see, or `server.not_found` (another project's servers are 404). */
  async show(ctx: RequestContext, id: string): Promise<ServerRecord> {
    const server = await this.deps.store.getServer(id);
    if (server === undefined || (server.projectId !== ctx.projectId && !isAdmin(ctx))) {
      throw serverNotFound(id);
    }
    return server;
  }

  async get(id: string): Promise<ServerRecord> {
    const server = await this.deps.store.getServer(id);
    if (server === undefined) throw serverNotFound(id);
    return server;
  }

  /**
   * Saves `changes`; the status is always derived from the state, never set by hand. The save is a
   * compare-and-swap on the version `server` was read with (as Nova's expected_task_state): when
   * another save landed first (a user's edit, another process) and the server is still in the
   * state this work read, the changes go onto the new record; when its state moved on, this work
   * is stale and the save fails with `server.conflict`.
   */
  async save(
    server: ServerRecord,
    changes: ServerChanges,
    along?: ActionAlong,
  ): Promise<ServerRecord> {
    let base = server;
    for (let attempt = 1; ; attempt++) {
      // The user's fields may have changed (update, metadata) while this work ran: keep theirs,
      // unless this save sets them itself (a rebuild's name, metadata, …).
      const edited = this.#userEdits.get(server.id);
      const merged = { ...base, ...edited, ...changes };
      const ifVersion = this.#expectedVersion(base);
      const next: ServerRecord = {
        ...merged,
        status: serverStatus(merged.vmState, merged.taskState),
        updatedAt: this.now(),
        version: (ifVersion ?? 0) + 1,
      };
      // `along`: the step's event ends with this save, in the same write.
      const action = along?.record();
      try {
        await this.deps.store.saveServer(
          next,
          action === undefined ? { ifVersion } : { ifVersion, action },
        );
        if (action !== undefined) along?.written(action);
      } catch (error) {
        if (!isConflict(error) || attempt >= SAVE_ATTEMPTS) throw error;
        const fresh = await this.get(server.id);
        if (fresh.vmState !== server.vmState || fresh.taskState !== server.taskState) throw error;
        base = fresh;
        continue;
      }
      this.#saved.set(server.id, next.version ?? 0);
      if (edited !== undefined) this.#userEdits.set(server.id, userFieldsOf(next));
      return next;
    }
  }

  /** The version a save from `read` expects: the newer of the read one and this process's last. */
  #expectedVersion(read: ServerRecord): number | null {
    const saved = this.#saved.get(read.id);
    return saved !== undefined && saved > (read.version ?? 0) ? saved : (read.version ?? null);
  }

  /**
   * Saves user-owned fields on the stored record (not behind the server's running work), again
   * on the newer record when another save lands between the read and this one.
   */
  async saveUserFields(id: string, changes: Partial<UserFields>): Promise<ServerRecord> {
    for (let attempt = 1; ; attempt++) {
      const server = await this.get(id);
      const next: ServerRecord = {
        ...server,
        ...changes,
        updatedAt: this.now(),
        version: (server.version ?? 0) + 1,
      };
      try {
        await this.deps.store.saveServer(next, { ifVersion: server.version ?? null });
      } catch (error) {
        if (!isConflict(error) || attempt >= SAVE_ATTEMPTS) throw error;
        continue;
      }
      this.#saved.set(id, next.version ?? 0);
      this.#userEdits.set(id, userFieldsOf(next));
      return next;
    }
  }

  /**
   * Runs a lifecycle action: visible, writable and unlocked for the caller, then (queued behind
   * the server's other work) in one of the `allowed` states on a host this service drives.
   */
  async action(
    ctx: RequestContext,
    id: string,
    action: string,
    allowed: readonly ServerStatus[],
    run: (
      server: ServerRecord,
      agent: ComputeAgent,
      context: ActionContext,
    ) => Promise<ServerRecord>,
    call: CallInfo,
  ): Promise<ServerRecord> {
    const visible = await this.show(ctx, id);
    requireWriter(ctx, `${action} a server`);
    // Nova checks the lock before the state.
    refuseIfLocked(ctx, visible);
    return this.serial(id, async () => {
      const server = await this.get(id);
      if (!allowed.includes(server.status)) throw invalidState(server, action);
      const agent = this.agentOf(server);
      if (agent === undefined) throw invalidState(server, action);
      const context = actionContext(ctx, call);
      // Every action is recorded here (os-instance-actions), with its compute step as an event.
      const recorded = await this.record(server, context, action);
      return recorded.event(
        computeEventOf(action),
        () => server.host,
        () => run(server, agent, context),
      );
    });
  }

  /** Starts recording an instance action on the server (os-instance-actions). */
  async record(
    server: Pick<ServerRecord, 'id' | 'projectId'>,
    context: ActionContext,
    action: string,
  ): Promise<RecordedAction> {
    return beginAction(this.deps, server, context, action);
  }

  /** Continues recording an action another process began (a dispatched build's create). */
  recorded(action: InstanceActionRecord): RecordedAction {
    return new RecordedAction(this.deps, action);
  }

  /**
   * The agent of the server's host while its compute service is up; undefined when it is down,
   * so a delete forgets the server without asking a host that may never answer (Nova's local
   * delete). The guest a down host keeps is its own reconcile's to report when it is back.
   */
  async agentIfUp(server: ServerRecord): Promise<ComputeAgent | undefined> {
    const agent = this.agentOf(server);
    if (agent === undefined || server.host === null) return agent;
    const record = await this.deps.store.getComputeHost(server.host);
    return record !== undefined && stateOf(this.deps, record) === 'down' ? undefined : agent;
  }

  /** The agent of the server's host, if it has one this service drives. */
  agentOf(server: ServerRecord): ComputeAgent | undefined {
    return server.host === null ? undefined : this.deps.computes.get(server.host);
  }

  now(): string {
    return this.deps.clock.now().toISOString();
  }

  stopOptions(): { stopTimeoutMs: number } {
    return { stopTimeoutMs: this.deps.stopTimeoutMs };
  }

  notify(
    action: InstanceAction,
    phase: 'start' | 'end' | 'error',
    server: ServerRecord,
    context: ActionContext,
    error?: unknown,
    details?: InstanceEventDetails,
  ): void {
    notifyInstance(this.deps, action, phase, server, context, error, details);
  }

  /**
   * Resolves the vPMU before anything is recorded, checked against the hosts the guest may run
   * on: every known host, or only `onHost` (a rebuild or resize stays where it is). See
   * server-design.ts for when that is a 400 and when a scheduling filter.
   */
  async precheck(
    flavor: Flavor,
    image: Image,
    id: string,
    name: string,
    ctx: RequestContext,
    guestData: Pick<ServerRecord, 'bootImages'>,
    onHost?: string,
  ): Promise<ServerPmu> {
    const hosts = await this.designHosts(onHost === undefined ? 'distinct' : 'all');
    return precheckGuest(
      {
        flavor,
        image,
        name,
        uuid: id,
        owner: { projectId: ctx.projectId },
        bootFiles: bootFilesOf(guestData, this.deps.imageFile),
      },
      onHost === undefined ? hosts : hosts.filter((h) => h.name === onHost),
    );
  }

  /**
   * The hosts known to the store with the settings they design with, from the host cache (no
   * full read per create), made again only when a record changed. `distinct`: one host per
   * distinct settings, which design alike (what a precheck over every host needs).
   */
  async designHosts(which: 'all' | 'distinct'): Promise<readonly DesignHost[]> {
    const records = await this.hosts.records();
    if (this.#design?.from !== records) {
      const all = records.flatMap((record) => {
        const settings = this.settingsOf(record);
        return settings === undefined ? [] : [{ name: record.name, settings }];
      });
      const bySettings = new Map(all.map((host) => [JSON.stringify(host.settings), host]));
      this.#design = { from: records, all, distinct: [...bySettings.values()] };
    }
    return this.#design[which];
  }

  /** A host's guest settings: its record's, or its agent's here for an older record. */
  settingsOf(record: ComputeHostRecord): HostSettings | undefined {
    return record.settings ?? this.deps.computes.get(record.name)?.settings;
  }

  /**
   * Disk, define, start, read back on the agent: the fields of an ACTIVE server (the agent undoes
   * its own steps on failure). `reuseDisk` keeps the root disk a server already has (a guest
   * defined again, not rebuilt); `leaveStopped` powers it off (hard) once built. `adminPass` goes
   * on the config drive of this build only.
   */
  async spawn(
    agent: ComputeAgent,
    server: ServerRecord,
    options: Pick<BuildRequest, 'reuseDisk' | 'leaveStopped'> & { adminPass?: string } = {},
  ): Promise<ServerChanges> {
    const built = await agent.build({
      ...this.buildRequestOf(server, options.adminPass),
      reuseDisk: options.reuseDisk === true,
      leaveStopped: options.leaveStopped === true,
    });
    return {
      ...(options.leaveStopped === true ? STOPPED_STATE : RUNNING_STATE),
      launchedAt: this.now(),
      pmu: built.pmu,
      domainXml: built.domainXml,
    };
  }

  /**
   * What an agent needs to build the server's guest: its flavor, image, files and config drive
   * (with the create's or rebuild's `adminPass`, when it gave one).
   */
  buildRequestOf(server: ServerRecord, adminPass?: string): BuildRequest {
    const location = server.image.dataLocation;
    return {
      serverId: server.id,
      name: server.domainName,
      flavor: toFlavor(server.flavor),
      image: serverImageToImage(server.image),
      owner: { projectId: server.projectId, userId: server.userId },
      imageFile: location === null ? undefined : this.deps.imageFile(location),
      imageFormat: server.image.diskFormat ?? undefined,
      configDrive: server.configDrive === true,
      configDriveData: configDriveDataOf(server, adminPass),
      bootFiles: bootFilesOf(server, this.deps.imageFile),
    };
  }

  /**
   * After a failed build or rebuild: whatever of the guest is left (the agent undoes its own
   * steps, but a failure after it, such as the record's save, leaves a running domain) goes.
   */
  async removeAfterFailure(agent: ComputeAgent, server: ServerRecord): Promise<void> {
    await agent
      .remove(server.id, { ...this.stopOptions(), graceful: false })
      .catch((error: unknown) => {
        this.deps.log.error(
          { server: server.id, host: agent.uri, err: String(error) },
          'cannot remove the guest of a failed build; it may be left on the host',
        );
      });
  }

  /**
   * A server whose domain is gone (a failed build, a host that lost it) is defined and started
   * again around its own root disk (made anew from its image when that is gone too), holding its
   * flavor's resources again if a failure had released them. Returns the fields to record.
   */
  async defineAgain(agent: ComputeAgent, server: ServerRecord): Promise<ServerChanges> {
    const claimId = server.claimId ?? (await this.claimAgain(server, 'start'));
    try {
      return { ...(await this.spawn(agent, server, { reuseDisk: true })), claimId, fault: null };
    } catch (error) {
      if (server.claimId === null) await this.deps.store.releaseClaim(claimId);
      throw error;
    }
  }

  /** Claims the server's flavor on its host again, or refuses (400) when there is no room. */
  async claimAgain(server: ServerRecord, action: 'rebuild' | 'start'): Promise<string> {
    const host = server.host ?? '';
    const resources = resourcesOf(server.flavor);
    if (await this.deps.store.claim({ consumerId: server.id, host, resources })) return server.id;
    throw new ComputeError(
      action === 'rebuild' ? 'server.no_room_to_rebuild' : 'server.no_room_to_start',
      `No valid host was found. Host ${host} has no room to ${action} server ${server.id} with flavor '${server.flavor.name}' (${server.flavor.vcpus} VCPU, ${server.flavor.memoryMiB} MB RAM, ${server.flavor.diskGiB} GB disk).`,
    );
  }

  /** The end of every delete: the guest and its disks, the claims, then the record. */
  async finishDelete(
    agent: ComputeAgent | undefined,
    server: ServerRecord,
    along?: ActionAlong,
  ): Promise<void> {
    if (agent !== undefined) {
      await agent.remove(server.id, { ...this.stopOptions(), graceful: false });
    }
    // A cold migration not yet confirmed left the stopped guest on its source too.
    const source = server.resize?.sourceHost;
    if (source !== undefined && source !== server.host) {
      await this.deps.computes
        .get(source)
        ?.remove(server.id, { ...this.stopOptions(), graceful: false });
    }
    await this.releaseAll(server);
    if (server.shelved != null) await this.deleteShelvedImage(server.shelved.imageId);
    this.#userEdits.delete(server.id);
    this.#saved.delete(server.id);
    if (server.serverGroupId !== undefined) {
      await this.deps.store.removeServerGroupMember(server.id);
    }
    // `along`: the delete's event ends with the record, in the same write.
    const action = along?.record();
    await this.deps.store.deleteServer(server.id, action);
    if (action !== undefined) along?.written(action);
  }

  /**
   * Deletes the image a shelve made, with its data (an unshelve or delete no longer needs it). An
   * image already gone is no error; a failure is logged, never thrown: the server's own step
   * succeeded, and the image is an ordinary one its owner can still delete.
   */
  async deleteShelvedImage(imageId: string): Promise<void> {
    try {
      const image = await this.deps.store.getImage(imageId);
      if (image === undefined) return;
      await this.deps.store.deleteImage(imageId);
      if (image.dataLocation !== null) await this.deps.imageFiles?.delete(image.dataLocation);
    } catch (error) {
      this.deps.log.error(
        { image: imageId, err: String(error) },
        'cannot delete the image of a shelved server; delete it with the image API',
      );
    }
  }

  async releaseAll(server: ServerRecord): Promise<void> {
    if (server.claimId !== null) await this.deps.store.releaseClaim(server.claimId);
    if (server.resize !== null) await this.deps.store.releaseClaim(server.resize.oldClaimId);
  }

  /** Records ERROR with a fault; releases the claims unless told to keep them. */
  async fail(
    server: ServerRecord,
    error: unknown,
    operation: string,
    options: { keepClaim?: boolean } = {},
  ): Promise<ServerRecord> {
    const fault = faultOf(error, server.id, operation);
    if (error instanceof ComputeError) {
      this.deps.log.warn(
        { server: server.id, operation, code: error.code, message: error.message },
        'server failed',
      );
    } else {
      this.deps.log.error(
        {
          server: server.id,
          operation,
          err:
            error instanceof Error ? { message: error.message, stack: error.stack } : String(error),
        },
        'unexpected error',
      );
    }
    if (options.keepClaim !== true) await this.releaseAll(server);
    return this.save(server, {
      vmState: 'error',
      taskState: null,
      powerState: NOSTATE,
      ...(options.keepClaim === true ? {} : { claimId: null, resize: null }),
      fault: { code: 500, ...fault, created: this.now() },
    });
  }

  /** A rollback or undo step that failed: the state it leaves behind is logged, never hidden. */
  undoFailed(server: ServerRecord, step: string, error: unknown): void {
    this.deps.log.error(
      { server: server.id, host: server.host, step, err: String(error) },
      'cannot undo a step; the guest may need an administrator',
    );
  }
}
