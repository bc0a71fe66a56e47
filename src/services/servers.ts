/**
 * Servers (Nova instances) on any number of compute hosts: the use case the API drives. It reads
 * and edits records itself and hands the rest to one module per concern:
 * - server-create.ts: checks, records and background builds (server-scheduling.ts places them);
 * - server-actions.ts: delete, start, stop, reboot, rebuild;
 * - server-resize.ts: resize, confirm, revert;
 * - server-migrate.ts: cold migrate, evacuate, os-migrations;
 * - server-pause.ts: pause, unpause, suspend, resume;
 * - server-snapshot.ts: createImage;
 * - server-shelve.ts: shelve, shelveOffload, unshelve;
 * - server-soft-delete.ts: soft delete and restore (reclaim_instance_interval);
 * - server-reconcile.ts: records against hypervisors after a restart, and claims no one needs;
 * - server-events.ts: the notifications; server-work.ts: what all of them share.
 * Actions on one server run one at a time.
 */
import { pageOf } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { HoldAction } from '../ports/compute-agent.js';
import type {
  ComputeHostRecord,
  ImageRecord,
  MigrationRecord,
  ServerRecord,
} from '../ports/store.js';
import { DEFAULT_SERVICE_DOWN_TIME } from './compute-services.js';
import { stateOf } from './compute-services.js';
import { markerNotFound } from './flavors.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';
import { ServerActions, type RebootType, type RebuildOptions } from './server-actions.js';
import { checkMetadataQuota } from './quotas.js';
import { definedOnly, type CallInfo } from './server-checks.js';
import { ServerCreation, type BuildOrder, type NewServer } from './server-create.js';
import { serverComparator, serverFilter, type ServerListQuery } from './server-list.js';
import {
  failStaleBuilds,
  healClaims,
  reconcile,
  type ReconcileReport,
} from './server-reconcile.js';
import { ServerHolds } from './server-pause.js';
import { ServerResizes } from './server-resize.js';
import { ServerMigrations, type EvacuateRequest, type MigrationQuery } from './server-migrate.js';
import { ServerSnapshots, type SnapshotRequest } from './server-snapshot.js';
import { ServerShelves, type UnshelveRequest } from './server-shelve.js';
import { ServerSoftDeletes } from './server-soft-delete.js';
import type { ImageDeps } from './images.js';
import { ServerWork, type ServerDeps, type ServerFields } from './server-work.js';

export type {
  ComputeHostRecord,
  MigrationRecord,
  ServerRecord,
  ServerStatus,
} from '../ports/store.js';
export type { ComputeAgent } from '../ports/compute-agent.js';
export type { RebootType, RebuildOptions } from './server-actions.js';
export { checkImageFits, type CallInfo } from './server-checks.js';
export type { BuildOrder, NewServer } from './server-create.js';
export type { SnapshotRequest } from './server-snapshot.js';
export type { UnshelveRequest } from './server-shelve.js';
export { snapshot } from './server-events.js';
export type { ReconcileReport } from './server-reconcile.js';
export type { EvacuateRequest, MigrationQuery } from './server-migrate.js';
export type { ServerDeps, ServerFields, ServerLog } from './server-work.js';

/** What an update (PUT /servers/{id}) may change. */
export interface ServerUpdate extends ServerFields {
  readonly name?: string;
}

/** The servers service. Keep one per process; `idle()` waits for background builds. */
export class Servers {
  readonly #work: ServerWork;
  readonly #creation: ServerCreation;
  readonly #actions: ServerActions;
  readonly #resizes: ServerResizes;
  readonly #migrations: ServerMigrations;
  readonly #holds: ServerHolds;
  readonly #snapshots: ServerSnapshots;
  readonly #shelves: ServerShelves;
  readonly #softDeletes: ServerSoftDeletes;

  constructor(deps: ServerDeps) {
    this.#work = new ServerWork(deps);
    this.#creation = new ServerCreation(this.#work);
    this.#actions = new ServerActions(this.#work, (id) => this.#creation.cancelQueued(id));
    this.#resizes = new ServerResizes(this.#work);
    this.#migrations = new ServerMigrations(this.#work);
    this.#holds = new ServerHolds(this.#work);
    this.#snapshots = new ServerSnapshots(this.#work);
    this.#shelves = new ServerShelves(this.#work);
    this.#softDeletes = new ServerSoftDeletes(this.#work);
  }

  /** Nova's service_down_time (seconds) compute services' state is told with (serviceState). */
  get serviceDownTime(): number {
    return this.#work.deps.serviceDownTime ?? DEFAULT_SERVICE_DOWN_TIME;
  }

  /** Resolves when no build or action is running (tests wait on it; shutdown too). */
  async idle(): Promise<void> {
    return this.#work.idle();
  }

  /** Waits for the work on one server. */
  async settled(id: string): Promise<void> {
    return this.#work.settled(id);
  }

  /** Validates, records the server in BUILD and starts building it; returns the record. */
  async create(ctx: RequestContext, input: NewServer, call: CallInfo = {}): Promise<ServerRecord> {
    const { servers } = await this.createMany(ctx, input, call);
    const [first] = servers;
    if (first === undefined) throw new TypeError('a create made no server');
    return first;
  }

  /** Runs a build another process dispatched (see ServerCreation.runBuild). */
  async runBuild(order: BuildOrder): Promise<void> {
    return this.#creation.runBuild(order);
  }

  /** Nova's multiple create (see ServerCreation.createMany). */
  async createMany(
    ctx: RequestContext,
    input: NewServer,
    call: CallInfo = {},
  ): Promise<{ servers: ServerRecord[]; reservationId: string }> {
    return this.#creation.createMany(ctx, input, call);
  }

  /**
   * One page of the servers the caller may see: its project's, or every project's for admins
   * with all_tenants, filtered and sorted as the query says. An unknown marker, or one in a
   * project the caller may not list, is Nova's 400 "marker [X] not found".
   */
  async list(ctx: RequestContext, query: ServerListQuery): Promise<ServerRecord[]> {
    const all = query.allTenants && isAdmin(ctx);
    const servers = await this.#work.deps.store.listServers(
      all ? {} : { projectId: ctx.projectId },
    );
    let marker: ServerRecord | undefined;
    if (query.marker !== undefined) {
      marker = servers.find((s) => s.id === query.marker);
      if (marker === undefined) throw markerNotFound(query.marker);
    }
    const matches = servers.filter(serverFilter(query));
    return pageOf(matches, serverComparator(query.sort), marker, query.limit);
  }

  /** One server the caller may see, or `server.not_found` (another project's servers are 404). */
  async show(ctx: RequestContext, id: string): Promise<ServerRecord> {
    return this.#work.show(ctx, id);
  }

  /** PUT /servers/{id}: name, description, access addresses, disk config; any state but deleted. */
  async update(ctx: RequestContext, id: string, changes: ServerUpdate): Promise<ServerRecord> {
    await this.show(ctx, id);
    requireWriter(ctx, 'update a server');
    return this.#work.saveUserFields(id, definedOnly(changes));
  }

  /**
   * The server metadata API: `replace` (PUT) makes `items` the whole metadata, otherwise (POST,
   * PUT of one key) they are merged in. More items than the project's `metadata_items` quota is Nova's 403.
   */
  async setMetadata(
    ctx: RequestContext,
    id: string,
    items: Readonly<Record<string, string>>,
    replace: boolean,
  ): Promise<Readonly<Record<string, string>>> {
    const server = await this.show(ctx, id);
    requireWriter(ctx, 'change the metadata of a server');
    const metadata = replace ? { ...items } : { ...(server.metadata ?? {}), ...items };
    await checkMetadataQuota(this.#work.deps.store, ctx, metadata);
    const saved = await this.#work.saveUserFields(id, { metadata });
    return saved.metadata ?? {};
  }

  /** Deletes one metadata item; Nova's 404 when the server has no such key. */
  async deleteMetadataItem(ctx: RequestContext, id: string, key: string): Promise<void> {
    const server = await this.show(ctx, id);
    requireWriter(ctx, 'change the metadata of a server');
    const current = server.metadata ?? {};
    if (!Object.hasOwn(current, key)) {
      // NOTE: Nova wording (nova/api/openstack/compute/server_metadata.py).
      throw new ComputeError('server.metadata_not_found', 'Metadata item was not found');
    }
    const metadata = Object.fromEntries(Object.entries(current).filter(([k]) => k !== key));
    await this.#work.saveUserFields(id, { metadata });
  }

  /** DELETE: soft delete when on and the server has a guest (server-soft-delete.ts), else delete. */
  async delete(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<void> {
    const shown = await this.show(ctx, id);
    if (this.#softDeletes.applies(shown)) {
      if ((await this.#softDeletes.softDelete(ctx, id, call)) !== undefined) return;
      return this.#actions.delete(ctx, id, call);
    }
    // The record just read is the delete's visibility and lock check: not read again.
    return this.#actions.delete(ctx, id, call, shown);
  }

  /** forceDelete: deleted now, soft delete or not. */
  async forceDelete(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<void> {
    return this.#actions.delete(ctx, id, call);
  }

  /** restore: a SOFT_DELETED server ACTIVE again. */
  async restore(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#softDeletes.restore(ctx, id, call);
  }

  /** shelve (see server-shelve.ts); the image is made with the image use cases' deps. */
  async shelve(
    ctx: RequestContext,
    id: string,
    images: ImageDeps,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#shelves.shelve(ctx, id, images, call);
  }

  async shelveOffload(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#shelves.shelveOffload(ctx, id, call);
  }

  async unshelve(
    ctx: RequestContext,
    id: string,
    request: UnshelveRequest,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#shelves.unshelve(ctx, id, request, call);
  }

  /**
   * The deferred work settings ask for: shelved servers offloaded after `shelvedOffloadTime`,
   * soft-deleted ones reclaimed after `reclaimInstanceInterval`. One failure is logged and the
   * rest go on; returns the ids offloaded and reclaimed.
   */
  async runDeferred(): Promise<{ offloaded: string[]; reclaimed: string[] }> {
    const offloaded = await this.#shelves.offloadExpired();
    const reclaimed: string[] = [];
    for (const id of await this.#softDeletes.due()) {
      try {
        await this.#actions.reclaim(id);
        reclaimed.push(id);
      } catch (error) {
        this.#work.deps.log.error(
          { server: id, err: String(error) },
          'cannot reclaim a soft-deleted server; it stays SOFT_DELETED',
        );
      }
    }
    return { offloaded, reclaimed };
  }

  async start(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#actions.start(ctx, id, call);
  }

  async stop(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#actions.stop(ctx, id, call);
  }

  async reboot(
    ctx: RequestContext,
    id: string,
    type: RebootType,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#actions.reboot(ctx, id, type, call);
  }

  async rebuild(
    ctx: RequestContext,
    id: string,
    imageRef: string,
    call: CallInfo = {},
    options: RebuildOptions = {},
  ): Promise<ServerRecord> {
    return this.#actions.rebuild(ctx, id, imageRef, call, options);
  }

  async resize(
    ctx: RequestContext,
    id: string,
    flavorRef: string,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#resizes.resize(ctx, id, flavorRef, call);
  }

  async confirmResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#resizes.confirmResize(ctx, id, call);
  }

  async revertResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#resizes.revertResize(ctx, id, call);
  }

  /** Cold migrate (admin; see server-migrate.ts); `host` names the destination. */
  async migrate(
    ctx: RequestContext,
    id: string,
    host: string | undefined,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#migrations.migrate(ctx, id, host, call);
  }

  /** Evacuate (admin) a server off a host that is down (see server-migrate.ts). */
  async evacuate(
    ctx: RequestContext,
    id: string,
    request: EvacuateRequest,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#migrations.evacuate(ctx, id, request, call);
  }

  /** A host that is up again removes the guests evacuated from it (see server-migrate.ts). */
  async cleanUpEvacuated(host: string): Promise<string[]> {
    return this.#migrations.cleanUpEvacuated(host);
  }

  /** os-migrations (admin). */
  async listMigrations(ctx: RequestContext, query: MigrationQuery): Promise<MigrationRecord[]> {
    return this.#migrations.list(ctx, query);
  }

  /** pause, unpause, suspend or resume (see server-pause.ts). */
  async hold(
    ctx: RequestContext,
    id: string,
    action: HoldAction,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    return this.#holds.hold(ctx, id, action, call);
  }

  /** createImage: the server's root disk as a new image (see server-snapshot.ts). */
  async createImage(
    ctx: RequestContext,
    id: string,
    request: SnapshotRequest,
    images: ImageDeps,
    call: CallInfo = {},
  ): Promise<ImageRecord> {
    return this.#snapshots.createImage(ctx, id, request, images, call);
  }

  /**
   * os-getConsoleOutput: the end of the server's console log (its last `lines` lines, all when
   * undefined), with control characters other than tab and newline removed, as Nova does. A server
   * on no host yet is Nova's InstanceNotReady (409).
   */
  async consoleOutput(ctx: RequestContext, id: string, lines: number | undefined): Promise<string> {
    const server = await this.show(ctx, id);
    const agent = this.#work.agentOf(server);
    if (agent === undefined || server.taskState === 'deleting') {
      // NOTE: Nova wording (nova/exception.py InstanceNotReady).
      throw new ComputeError('server.not_ready', `Instance ${server.id} is not ready`);
    }
    const output = await agent.consoleOutput(server.id, lines);
    // eslint-disable-next-line no-control-regex
    return output.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/gu, '');
  }

  /**
   * The compute host's `uptime` output, undefined when its agent cannot tell; a host with no
   * agent in this service is Nova's ComputeServiceUnavailable.
   */
  async hostUptime(host: string): Promise<string | undefined> {
    const { deps } = this.#work;
    const agent = deps.computes.get(host);
    const record = await deps.store.getComputeHost(host);
    // As Nova (must_be_up): a down host is not asked, it may never answer.
    if (agent === undefined || record === undefined || stateOf(deps, record) === 'down') {
      // NOTE: Nova wording (nova/exception.py ComputeServiceUnavailable).
      throw new ComputeError(
        'hypervisor.service_unavailable',
        `Compute service of ${host} is unavailable at this time.`,
      );
    }
    return agent.uptime();
  }

  /**
   * Registers (or refreshes) a compute host's record: inventory, traits and settings. What an
   * operator decided through os-services (disabled, its reason, forced down) outlives restarts.
   */
  async registerHost(host: ComputeHostRecord): Promise<void> {
    const { store } = this.#work.deps;
    const known = await store.getComputeHost(host.name);
    await store.putComputeHost(
      known === undefined
        ? host
        : {
            ...host,
            enabled: known.enabled,
            disabledReason: known.disabledReason ?? null,
            forcedDown: known.forcedDown ?? false,
          },
    );
  }

  /**
   * See server-reconcile.ts; first, the hosts that are up remove what was evacuated off them.
   * `hostsOnly`: only what is on this process's hosts (a `vpmu compute`), not the builds and
   * deletes no host has yet, which other processes may be running.
   */
  async reconcile(options: { readonly hostsOnly?: boolean } = {}): Promise<ReconcileReport> {
    for (const host of this.#work.deps.computes.keys()) {
      await this.#migrations.cleanUpEvacuated(host);
    }
    return reconcile(this.#work, options);
  }

  /** Builds older than `timeoutSeconds` go to ERROR (see server-reconcile.ts). */
  async failStaleBuilds(timeoutSeconds: number): Promise<string[]> {
    return failStaleBuilds(this.#work, timeoutSeconds);
  }

  /** See server-reconcile.ts. */
  async healClaims(): Promise<string[]> {
    return healClaims(this.#work);
  }
}
