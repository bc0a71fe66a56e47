/**
 * Servers (Nova instances): create, list, show, delete and the lifecycle actions, on any number of
 * compute hosts. Create checks everything first — a conflict or a bad value is a 400 and records
 * nothing — then records the server (BUILD) and builds it in the background: schedule, claim
 * atomically (a lost race tries the next host), design, disk, define, start, read back, ACTIVE.
 * Any failure after the record leaves the server in ERROR with a fault, its claim released and no
 * domain or disk behind. Actions on one server run one at a time.
 */
import {
  orThrow,
  pageOf,
  POWER_STATE,
  POWER_STATE_NAMES,
  serverStatus,
  VM_STATES,
  type Flavor,
  type HostSettings,
  type Image,
  type PowerStateName,
  type ServerState,
  type ServerStatus,
} from '../domain/index.js';
import { ComputeError, HypervisorError, speaksOfHost } from '../errors/index.js';
import {
  computeExceptionEvent,
  instanceEvent,
  selectDestinationsEvent,
  toFaultInput,
  type ActionContext,
  type Event,
  type InstanceAction,
  type InstanceSnapshot,
} from '../notifications/index.js';
import type { BuildRequest, ComputeAgent } from '../ports/compute-agent.js';
import { serverNotFound } from '../ports/store-errors.js';
import type {
  ComputeHostRecord,
  DiskConfig,
  FlavorRecord,
  HostHintRecord,
  ImageRecord,
  ServerImage,
  ServerPmu,
  ServerRecord,
  Store,
} from '../ports/store.js';
import {
  buildRequestSpec,
  HostIndex,
  placeByHints,
  placeInGroup,
  type HostState,
} from '../scheduler/index.js';
import type { Clock, Ids } from '../ports/clock.js';
import { renderGuest, toPmuReport } from './guest-config.js';
import { isAdmin, requireWriter, type RequestContext } from './identity.js';
import { refuseIfLocked } from './server-locks.js';
import {
  checkMetadataQuota,
  checkResizeQuota,
  checkServerGroupMembersQuota,
  checkServerQuota,
  withQuotaLock,
} from './quotas.js';
import { markerNotFound, showFlavor, toFlavor } from './flavors.js';
import { serverComparator, serverFilter, type ServerListQuery } from './server-list.js';
import { showImage, toImage } from './images.js';
import { toFlavorInput, toImageInput, type toPmuProvenance } from './notification-inputs.js';

export type { ComputeHostRecord, ServerRecord, ServerStatus } from '../ports/store.js';

/** What reconcile() changed, by server id (and the unknown domains' UUIDs). */
export interface ReconcileReport {
  /** Servers put in ERROR: their guest is gone, or an operation was cut short. */
  errored: string[];
  /** Servers whose power state now follows their domain's. */
  corrected: string[];
  /** Servers whose delete was cut short and is now finished. */
  deleted: string[];
  /** Domains named like vpmu's that have no server record (left alone). */
  unknown: string[];
}

export type { ComputeAgent } from '../ports/compute-agent.js';

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
  /** The filesystem path of uploaded image data, the backing file of root disks. */
  readonly imageFile: (dataLocation: string) => string;
  /** DESIGN §2.7: require CUSTOM_HW_VPMU when the vPMU resolves to on. */
  readonly vpmuPrefilter: boolean;
  /** How long a graceful shutdown may take before the guest is destroyed. */
  readonly stopTimeoutMs: number;
  /**
   * Builds running at once (Nova's max_concurrent_builds); later ones wait in BUILD, so a burst
   * of creates cannot pile work on the hypervisor without bound. 0: no limit. @default 10
   */
  readonly maxConcurrentBuilds?: number;
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

/** A create request, shape-checked by the API. */
export interface NewServer extends ServerFields {
  readonly name: string;
  readonly flavorRef: string;
  readonly imageRef: string;
  /** `os:scheduler_hints.group`: the server group the server joins. */
  readonly serverGroupId?: string;
  /** `os:scheduler_hints.same_host` / `different_host`: servers to run beside or away from. */
  readonly hostHints?: HostHintRecord;
  /** Server tags given at create (2.52). */
  readonly tags?: readonly string[];
  /** Multiple create (Nova's min_count/max_count). @default 1 and 1 */
  readonly minCount?: number;
  readonly maxCount?: number;
}

/** What an update (PUT /servers/{id}) may change. */
export interface ServerUpdate extends ServerFields {
  readonly name?: string;
}

/** What a rebuild may change besides the image. */
export type RebuildOptions = ServerUpdate;

/** Nova's default `metadata_items` quota; the project's quota applies (./quotas.ts). */
export const METADATA_ITEMS_LIMIT = 128;

/** The record fields a user owns: a background save never overwrites them with stale values. */
const USER_FIELDS = [
  'name',
  'metadata',
  'accessIPv4',
  'accessIPv6',
  'description',
  'diskConfig',
] as const;
type UserField = (typeof USER_FIELDS)[number];

function userFieldsOf(server: ServerRecord): Pick<ServerRecord, UserField> {
  const picked: Partial<Record<UserField, unknown>> = {};
  for (const key of USER_FIELDS) if (server[key] !== undefined) picked[key] = server[key];
  return picked as Pick<ServerRecord, UserField>;
}

/** Per-call facts for notifications. */
export interface CallInfo {
  readonly requestId?: string | undefined;
}

/** Where the scheduler put a server, and the claim holding its resources there. */
interface Placement {
  readonly host: string;
  readonly claimId: string;
}

/** The reboot kinds Nova knows. */
export type RebootType = 'SOFT' | 'HARD';

/** What a save may change: everything but the status, which is derived from the state. */
type ServerChanges = Partial<Omit<ServerRecord, 'status'>>;

const { NOSTATE, RUNNING, SHUTDOWN } = POWER_STATE;
/** The idle states a server settles in. */
const RUNNING_STATE: ServerState = { vmState: 'active', taskState: null, powerState: RUNNING };
const STOPPED_STATE: ServerState = { vmState: 'stopped', taskState: null, powerState: SHUTDOWN };
const NOTHING_USED = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 } as const;

/** The servers service. Keep one per process; `idle()` waits for background builds. */
export class Servers {
  readonly #deps: ServerDeps;
  readonly #pending = new Map<string, Promise<unknown>>();
  readonly #buildSlots: Slots;
  /** Builds waiting for a slot: nothing of them exists yet beyond the record. */
  readonly #queued = new Set<string>();
  /**
   * The user's fields of servers edited (update, metadata API) since this process started, so a
   * build or action that read the record before the edit saves over it without losing it, and
   * without reading the record again on every save. One process only: many processes need the
   * store's compare-and-swap (issue 15).
   */
  readonly #userEdits = new Map<string, Pick<ServerRecord, UserField>>();

  constructor(deps: ServerDeps) {
    this.#deps = deps;
    this.#buildSlots = new Slots(deps.maxConcurrentBuilds ?? 10);
  }

  /** Resolves when no build or action is running (tests wait on it; shutdown too). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending.values()]);
  }

  /** Waits for the work on one server. */
  async settled(id: string): Promise<void> {
    while (this.#pending.has(id)) await this.#pending.get(id)?.catch(() => undefined);
  }

  /** Validates, records the server in BUILD and starts building it; returns the record. */
  async create(ctx: RequestContext, input: NewServer, call: CallInfo = {}): Promise<ServerRecord> {
    const { servers } = await this.createMany(ctx, input, call);
    const [first] = servers;
    if (first === undefined) throw new TypeError('a create made no server');
    return first;
  }

  /**
   * Nova's multiple create: max_count servers (min_count 1 and max_count 1 unless asked) sharing
   * one reservation id, named `<name>-<n>` (Nova's default multi_instance_display_name_template
   * `%(name)s-%(count)d`, n from 1) when more than one. Everything is checked before anything is
   * recorded; then each server is scheduled and built on its own.
   */
  async createMany(
    ctx: RequestContext,
    input: NewServer,
    call: CallInfo = {},
  ): Promise<{ servers: ServerRecord[]; reservationId: string }> {
    requireWriter(ctx, 'create a server');
    // The quota check and the records it allows are one step (./quotas.ts).
    return withQuotaLock(this.#deps.store, ctx.projectId, () => this.#createMany(ctx, input, call));
  }

  async #createMany(
    ctx: RequestContext,
    input: NewServer,
    call: CallInfo,
  ): Promise<{ servers: ServerRecord[]; reservationId: string }> {
    const flavorRecord = await lookupFlavor(this.#deps, ctx, input.flavorRef);
    const imageRecord = await lookupImage(this.#deps, ctx, input.imageRef);
    if (input.serverGroupId !== undefined) {
      await this.#lookupGroup(ctx, input.serverGroupId, input.name);
    }
    const { sameHost = [], differentHost = [] } = input.hostHints ?? {};
    for (const [hint, ids] of [
      ['same_host', sameHost],
      ['different_host', differentHost],
    ] as const) {
      for (const other of ids) {
        const known = await this.#deps.store.getServer(other);
        if (known === undefined || (known.projectId !== ctx.projectId && !isAdmin(ctx))) {
          throw invalidHostHint(hint, other, input.name);
        }
      }
    }
    checkImageFits(flavorRecord, toServerImage(imageRecord));
    await checkMetadataQuota(this.#deps.store, ctx, input.metadata ?? {});
    const maxCount = input.maxCount ?? input.minCount ?? 1;
    if (input.serverGroupId !== undefined) {
      await checkServerGroupMembersQuota(this.#deps.store, ctx, input.serverGroupId, maxCount);
    }
    const store = this.#deps.store;
    const count = await checkServerQuota(store, ctx, flavorRecord, input.minCount ?? 1, maxCount);
    const ids = Array.from({ length: count }, () => this.#deps.ids.newUuid());
    // Nova's reservation ids are `r-` and 8 random characters: the first server's uuid's last 8.
    const reservationId = `r-${(ids[0] ?? '').slice(-8)}`;
    const servers: ServerRecord[] = [];
    for (const [index, id] of ids.entries()) {
      servers.push(
        this.#newRecord(ctx, input, flavorRecord, imageRecord, {
          id,
          name: count > 1 ? `${input.name}-${index + 1}` : input.name,
          reservationId,
          launchIndex: index,
        }),
      );
    }
    // Members join their group before any is placed, so each placement sees the others.
    if (input.serverGroupId !== undefined) {
      for (const id of ids) {
        if (!(await this.#deps.store.addServerGroupMember(input.serverGroupId, id))) {
          // The group went away since it was looked up: nothing of the request exists.
          throw invalidGroup(input.serverGroupId, input.name);
        }
      }
    }
    const context = actionContext(ctx, call);
    const placements = count > 1 ? await this.#scheduleAll(servers, context) : undefined;
    for (const [index, server] of servers.entries()) {
      const placed = placements?.[index];
      const record =
        placed === undefined || placed instanceof Error
          ? server
          : { ...server, claimId: placed.claimId };
      await this.#deps.store.createServer(record);
      this.#track(server.id, this.#build(record, context, placed));
    }
    return { servers, reservationId };
  }

  /**
   * A multiple create is placed all or nothing, as Nova's scheduler does: every server is claimed
   * before any is built, and when one cannot be, the claims made go back and every server of the
   * request fails with No valid host.
   */
  async #scheduleAll(
    servers: readonly ServerRecord[],
    context: ActionContext,
  ): Promise<(Placement | Error)[]> {
    const placed: Placement[] = [];
    try {
      for (const server of servers) placed.push(await this.#schedule(server, context));
      return placed;
    } catch (error) {
      for (const p of placed) await this.#deps.store.releaseClaim(p.claimId);
      const why = error instanceof Error ? error.message : String(error);
      const failure = new ComputeError(
        'scheduler.no_valid_host',
        `No valid host was found. There are not enough hosts available for all ${servers.length} servers of the request (Nova places a multiple create all or nothing): ${why}`,
      );
      return servers.map(() => failure);
    }
  }

  #newRecord(
    ctx: RequestContext,
    input: NewServer,
    flavorRecord: FlavorRecord,
    imageRecord: ImageRecord,
    slot: { id: string; name: string; reservationId: string; launchIndex: number },
  ): ServerRecord {
    const { id } = slot;
    const domainName = `instance-${id}`;
    const pmu = this.#precheck(toFlavor(flavorRecord), toImage(imageRecord), id, domainName, ctx);
    const now = this.#now();
    return {
      id,
      name: slot.name,
      projectId: ctx.projectId,
      userId: ctx.userId,
      flavor: flavorRecord,
      image: toServerImage(imageRecord),
      host: null,
      domainName,
      status: serverStatus('building', 'scheduling'),
      vmState: 'building',
      taskState: 'scheduling',
      powerState: NOSTATE,
      fault: null,
      pmu,
      claimId: null,
      resize: null,
      domainXml: null,
      createdAt: now,
      updatedAt: now,
      launchedAt: null,
      ...(input.serverGroupId === undefined ? {} : { serverGroupId: input.serverGroupId }),
      ...(input.hostHints === undefined ? {} : { hostHints: input.hostHints }),
      lock: null,
      tags: [...(input.tags ?? [])],
      metadata: { ...(input.metadata ?? {}) },
      accessIPv4: input.accessIPv4 ?? '',
      accessIPv6: input.accessIPv6 ?? '',
      description: input.description ?? null,
      diskConfig: input.diskConfig ?? 'MANUAL',
      reservationId: slot.reservationId,
      launchIndex: slot.launchIndex,
    };
  }

  /** PUT /servers/{id}: name, description, access addresses, disk config; any state but deleted. */
  async update(ctx: RequestContext, id: string, changes: ServerUpdate): Promise<ServerRecord> {
    await this.show(ctx, id);
    requireWriter(ctx, 'update a server');
    return this.#saveUserFields(id, definedOnly(changes));
  }

  /**
   * The server metadata API: `replace` (PUT) makes `items` the whole metadata, otherwise (POST,
   * PUT of one key) they are merged in. More than METADATA_ITEMS_LIMIT items is Nova's 403.
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
    await checkMetadataQuota(this.#deps.store, ctx, metadata);
    const saved = await this.#saveUserFields(id, { metadata });
    return saved.metadata ?? {};
  }

  /** Deletes one metadata item; Nova's 404 when the server has no such key. */
  async deleteMetadataItem(ctx: RequestContext, id: string, key: string): Promise<void> {
    const server = await this.show(ctx, id);
    requireWriter(ctx, 'change the metadata of a server');
    const current = server.metadata ?? {};
    if (!Object.hasOwn(current, key)) throw metadataNotFound();
    const metadata = Object.fromEntries(Object.entries(current).filter(([k]) => k !== key));
    await this.#saveUserFields(id, { metadata });
  }

  /** Saves user-owned fields on the stored record (not behind the server's running work). */
  async #saveUserFields(id: string, changes: ServerUpdate): Promise<ServerRecord> {
    const server = await this.#get(id);
    const next: ServerRecord = { ...server, ...changes, updatedAt: this.#now() };
    await this.#deps.store.saveServer(next);
    this.#userEdits.set(id, userFieldsOf(next));
    return next;
  }

  /**
   * One page of the servers the caller may see: its project's, or every project's for admins
   * with all_tenants, filtered and sorted as the query says. An unknown marker, or one in a
   * project the caller may not list, is Nova's 400 "marker [X] not found".
   */
  async list(ctx: RequestContext, query: ServerListQuery): Promise<ServerRecord[]> {
    const all = query.allTenants && isAdmin(ctx);
    const servers = await this.#deps.store.listServers(all ? {} : { projectId: ctx.projectId });
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
    const server = await this.#deps.store.getServer(id);
    if (server === undefined || (server.projectId !== ctx.projectId && !isAdmin(ctx))) {
      throw serverNotFound(id);
    }
    return server;
  }

  /** Deletes the server: stop, undefine, remove its disk, release its claims, forget it. */
  async delete(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<void> {
    // Visibility first: another project's server is 404 whatever the caller's role.
    const visible = await this.show(ctx, id);
    requireWriter(ctx, 'delete a server');
    refuseIfLocked(ctx, visible);
    const remove = async () => {
      const server = await this.#get(id);
      const context = actionContext(ctx, call);
      this.#notify('delete', 'start', server, context);
      const deleting = await this.#save(server, { taskState: 'deleting' });
      const agent = server.host === null ? undefined : this.#deps.computes.get(server.host);
      await this.#finishDelete(agent, deleting);
      this.#notify(
        'delete',
        'end',
        { ...deleting, status: serverStatus('deleted', deleting.taskState), vmState: 'deleted' },
        context,
      );
    };
    // A server still waiting for a build slot has no host, claim or guest: it goes at once, as
    // in Nova's local delete, instead of after the builds ahead of it.
    if (this.#queued.delete(id)) await remove();
    else await this.#serial(id, remove);
  }

  /** os-start: SHUTOFF → ACTIVE. */
  async start(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#action(
      ctx,
      id,
      'start',
      ['SHUTOFF'],
      async (server, agent, context) => {
        this.#notify('power_on', 'start', server, context);
        const started = await agent.power(server.id, 'on', this.#stopOptions());
        const restored = started === 'done' ? {} : await this.#defineAgain(agent, server);
        const done = await this.#save(server, {
          ...restored,
          ...RUNNING_STATE,
        });
        this.#notify('power_on', 'end', done, context);
        return done;
      },
      call,
    );
  }

  /** os-stop: ACTIVE (or ERROR with a domain) → SHUTOFF. */
  async stop(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#action(
      ctx,
      id,
      'stop',
      ['ACTIVE', 'ERROR'],
      async (server, agent, context) => {
        this.#notify('power_off', 'start', server, context);
        // A guest whose domain is gone is already off, as Nova's power-off finds it.
        await agent.power(server.id, 'off', this.#stopOptions());
        const done = await this.#save(server, STOPPED_STATE);
        this.#notify('power_off', 'end', done, context);
        return done;
      },
      call,
    );
  }

  /** reboot: SOFT (graceful stop, start) needs ACTIVE; HARD (destroy, start) also takes SHUTOFF. */
  async reboot(
    ctx: RequestContext,
    id: string,
    type: RebootType,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const allowed: ServerStatus[] = type === 'SOFT' ? ['ACTIVE'] : ['ACTIVE', 'SHUTOFF', 'ERROR'];
    return this.#action(
      ctx,
      id,
      'reboot',
      allowed,
      async (server, agent) => {
        const action = type === 'SOFT' ? 'reboot-soft' : 'reboot-hard';
        let restored: ServerChanges = {};
        if ((await agent.power(server.id, action, this.#stopOptions())) === 'no-domain') {
          // Nova's hard reboot defines the guest anew from the server's records (and its soft
          // reboot falls back to a hard one when the soft one cannot be done).
          restored = await this.#defineAgain(agent, server);
        }
        return this.#save(server, {
          ...restored,
          ...RUNNING_STATE,
          fault: null,
        });
      },
      call,
    );
  }

  /**
   * rebuild: the same server (same uuid, host and flavor) on a new image. The vPMU is resolved
   * again first; a conflict or bad value is a 400 and nothing changes.
   */
  async rebuild(
    ctx: RequestContext,
    id: string,
    imageRef: string,
    call: CallInfo = {},
    options: RebuildOptions = {},
  ): Promise<ServerRecord> {
    const current = await this.show(ctx, id);
    requireWriter(ctx, 'rebuild a server');
    const imageRecord = await lookupImage(this.#deps, ctx, imageRef);
    checkImageFits(current.flavor, toServerImage(imageRecord));
    if (options.metadata !== undefined) {
      await checkMetadataQuota(this.#deps.store, ctx, options.metadata);
    }
    const pmu = this.#precheck(
      toFlavor(current.flavor),
      toImage(imageRecord),
      id,
      current.domainName,
      ctx,
    );
    return this.#action(
      ctx,
      id,
      'rebuild',
      ['ACTIVE', 'SHUTOFF', 'ERROR'],
      async (server, agent, context) => {
        // A failed build or rebuild released the server's claim; it needs one again to run.
        const claimId = server.claimId ?? (await this.#claimAgain(server, 'rebuild'));
        const rebuilding = await this.#save(server, {
          ...definedOnly(options),
          taskState: 'rebuilding',
          image: toServerImage(imageRecord),
          pmu,
          claimId,
        });
        this.#notify('rebuild', 'start', rebuilding, context);
        try {
          await agent.remove(server.id, { ...this.#stopOptions(), graceful: true });
          // As Nova does, a server that was stopped is stopped again (hard) after its rebuild.
          const stopped = server.status === 'SHUTOFF';
          const built = await this.#spawn(agent, rebuilding, { leaveStopped: stopped });
          const done = await this.#save(rebuilding, {
            ...built,
            ...(stopped ? STOPPED_STATE : {}),
            fault: null,
          });
          this.#notify('rebuild', 'end', done, context);
          return done;
        } catch (error) {
          await this.#removeAfterFailure(agent, rebuilding);
          const failed = await this.#fail(rebuilding, error, 'rebuild');
          this.#notify('rebuild', 'error', failed, context, error);
          throw buildFailed(failed);
        }
      },
      call,
    );
  }

  /**
   * resize: a new flavor on the same host. The vPMU is resolved again (conflict → 400, nothing
   * changes); the new flavor's resources are claimed next to the old ones; the guest is
   * redefined (same uuid) and restarted; the server waits in VERIFY_RESIZE.
   */
  async resize(
    ctx: RequestContext,
    id: string,
    flavorRef: string,
    call: CallInfo = {},
  ): Promise<ServerRecord> {
    const current = await this.show(ctx, id);
    requireWriter(ctx, 'resize a server');
    const flavorRecord = await lookupFlavor(this.#deps, ctx, flavorRef);
    if (flavorRecord.id === current.flavor.id) {
      // NOTE: Nova wording (nova/exception.py CannotResizeToSameFlavor).
      throw new ComputeError('request.invalid', 'When resizing, instances must change flavor!');
    }
    checkImageFits(flavorRecord, current.image);
    await checkResizeQuota(this.#deps.store, current, flavorRecord);
    const imageForDesign = serverImageToImage(current.image);
    const pmu = this.#precheck(toFlavor(flavorRecord), imageForDesign, id, current.domainName, ctx);
    return this.#action(
      ctx,
      id,
      'resize',
      ['ACTIVE', 'SHUTOFF'],
      async (server, agent, context) => {
        const host = server.host ?? '';
        const claimId = `${server.id}/resize/${this.#deps.ids.newUuid()}`;
        // The task state goes first: a claim is only ever held by a server that is busy or that
        // names it, which is what healClaims() tells a leak by after a crash.
        const resizing = await this.#save(server, { taskState: 'resize_prep' });
        if (
          !(await this.#deps.store.claim({
            consumerId: claimId,
            host,
            resources: resourcesOf(flavorRecord),
          }))
        ) {
          await this.#save(server, {}); // back to the state it had before resize_prep
          // A refusal, not a failure of the service: Nova's synchronous NoValidHost is a 400 too.
          throw new ComputeError(
            'server.no_room_to_resize',
            `No valid host was found. Host ${host} has no room for flavor '${flavorRecord.name}' next to server ${server.id}'s current flavor '${server.flavor.name}'.`,
          );
        }
        const newFlavor = toFlavorInput(toFlavor(flavorRecord));
        const wasRunning = server.powerState === RUNNING;
        this.#notify('resize', 'start', resizing, context, undefined, newFlavor);
        const oldXml = server.domainXml ?? (await agent.domainXml(server.id));
        try {
          const redefined = await agent.redefine(server.id, {
            ...this.#stopOptions(),
            start: wasRunning,
            guest: {
              serverId: server.id,
              name: server.domainName,
              flavor: toFlavor(flavorRecord),
              image: imageForDesign,
              owner: { projectId: server.projectId, userId: server.userId },
            },
          });
          const report = {
            effective: redefined.pmu?.effective ?? null,
            reason: redefined.pmu?.reason ?? null,
          };
          const done = await this.#save(resizing, {
            vmState: 'resized',
            taskState: null,
            powerState: wasRunning ? RUNNING : SHUTDOWN,
            flavor: flavorRecord,
            pmu: { ...pmu, effective: report.effective, reason: report.reason },
            claimId,
            resize: {
              oldFlavor: server.flavor,
              oldClaimId: server.claimId ?? '',
              oldPmu: server.pmu,
              oldDomainXml: oldXml,
            },
            domainXml: redefined.domainXml,
          });
          this.#notify('resize', 'end', done, context, undefined, newFlavor);
          return done;
        } catch (error) {
          await this.#deps.store.releaseClaim(claimId);
          // Put the old guest back as it was; what cannot be put back is logged, not hidden.
          for (const failure of await agent.restore(server.id, oldXml, { start: wasRunning })) {
            this.#undoFailed(server, `resize rollback: ${failure.step}`, failure.error);
          }
          const failed = await this.#fail(resizing, error, 'resize', { keepClaim: true });
          this.#notify('resize', 'error', failed, context, error, newFlavor);
          throw buildFailed(failed);
        }
      },
      call,
    );
  }

  /** confirmResize: keep the new flavor, release the old claim. */
  async confirmResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#action(
      ctx,
      id,
      'confirmResize',
      ['VERIFY_RESIZE'],
      async (server) => {
        if (server.resize !== null) await this.#deps.store.releaseClaim(server.resize.oldClaimId);
        return this.#save(server, {
          ...(server.powerState === RUNNING ? RUNNING_STATE : STOPPED_STATE),
          resize: null,
        });
      },
      call,
    );
  }

  /** revertResize: the old flavor, domain and claim come back; the new claim is released. */
  async revertResize(ctx: RequestContext, id: string, call: CallInfo = {}): Promise<ServerRecord> {
    return this.#action(
      ctx,
      id,
      'revertResize',
      ['VERIFY_RESIZE'],
      async (server, agent) => {
        const { resize } = server;
        if (resize === null) throw invalidState(server, 'revertResize');
        const running = server.powerState === RUNNING;
        const reverted = await agent.redefine(server.id, {
          ...this.#stopOptions(),
          start: running,
          xml: resize.oldDomainXml ?? undefined,
        });
        if (server.claimId !== null) await this.#deps.store.releaseClaim(server.claimId);
        return this.#save(server, {
          ...(running ? RUNNING_STATE : STOPPED_STATE),
          flavor: resize.oldFlavor,
          pmu: resize.oldPmu,
          claimId: resize.oldClaimId,
          resize: null,
          domainXml: reverted.domainXml,
        });
      },
      call,
    );
  }

  /**
   * The compute host's `uptime` output, undefined when its agent cannot tell; a host with no
   * agent in this service is Nova's ComputeServiceUnavailable.
   */
  async hostUptime(host: string): Promise<string | undefined> {
    const agent = this.#deps.computes.get(host);
    if (agent === undefined) {
      // NOTE: Nova wording (nova/exception.py ComputeServiceUnavailable).
      throw new ComputeError(
        'hypervisor.service_unavailable',
        `Compute service of ${host} is unavailable at this time.`,
      );
    }
    return agent.uptime();
  }

  /** Registers (or refreshes) a compute host's record: inventory and traits. */
  async registerHost(host: ComputeHostRecord): Promise<void> {
    await this.#deps.store.putComputeHost(host);
  }

  /**
   * Brings the records in line with the domains each host's hypervisor actually has. A server
   * whose domain is gone goes to ERROR with a fault; a server whose domain's power state differs
   * follows the domain; a build cut short by a restart is cleaned up and goes to ERROR. Domains
   * that look like vpmu's but have no record are logged, never deleted.
   */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { errored: [], corrected: [], deleted: [], unknown: [] };
    const servers = await this.#deps.store.listServers();
    for (const server of servers.filter((s) => s.host === null && s.taskState === 'deleting')) {
      await this.#finishDelete(undefined, server);
      report.deleted.push(server.id);
    }
    // A build still waiting for its slot or its host when the service stopped never started.
    const unscheduled = servers.filter(
      (s) => s.host === null && s.status === 'BUILD' && s.taskState !== 'deleting',
    );
    for (const server of unscheduled) {
      await this.#fail(
        server,
        new ComputeError(
          'server.build_failed',
          `The service restarted before server ${server.id} was scheduled; nothing was built.`,
        ),
        'reconcile',
      );
      report.errored.push(server.id);
    }
    for (const [hostName, agent] of this.#deps.computes) {
      const domains = await agent.list();
      const byUuid = new Map(domains.map((d) => [d.uuid.toLowerCase(), d]));
      for (const server of servers.filter((s) => s.host === hostName)) {
        const domain = byUuid.get(server.id.toLowerCase());
        byUuid.delete(server.id.toLowerCase());
        if (server.taskState === 'deleting') {
          // As Nova's compute does at start: a delete cut short is finished, not undone.
          await this.#finishDelete(agent, server);
          report.deleted.push(server.id);
          continue;
        }
        if (['BUILD', 'REBUILD', 'RESIZE'].includes(server.status)) {
          // The disk may be there without the domain: a crash between the two.
          await this.#removeAfterFailure(agent, server);
          await this.#fail(
            server,
            new ComputeError(
              'server.build_failed',
              `The service restarted while server ${server.id} was in ${server.status}; its guest was removed from ${agent.uri}.`,
            ),
            'reconcile',
          );
          report.errored.push(server.id);
          continue;
        }
        if (domain === undefined) {
          if (server.status === 'ERROR' && server.fault !== null) continue;
          await this.#fail(
            server,
            new ComputeError(
              'server.build_failed',
              `The libvirt domain ${server.domainName} (${server.id}) of server '${server.name}' is gone from ${agent.uri}.`,
            ),
            'reconcile',
            { keepClaim: true },
          );
          report.errored.push(server.id);
          continue;
        }
        const running = domain.state === 'running' || domain.state === 'blocked';
        if (server.status === 'ACTIVE' && !running) {
          await this.#save(server, { vmState: 'stopped', powerState: SHUTDOWN });
          report.corrected.push(server.id);
        } else if (server.status === 'SHUTOFF' && running) {
          await this.#save(server, { vmState: 'active', powerState: RUNNING });
          report.corrected.push(server.id);
        }
      }
      for (const domain of byUuid.values()) {
        if (!domain.name.startsWith('instance-')) continue;
        report.unknown.push(domain.uuid);
        this.#deps.log.warn(
          { host: hostName, domain: domain.name, uuid: domain.uuid, uri: agent.uri },
          'reconcile: a domain named like a vpmu server has no server record; left alone',
        );
      }
    }
    if (report.errored.length + report.corrected.length + report.deleted.length > 0) {
      this.#deps.log.warn({ ...report }, 'reconcile: records changed to match the hypervisor');
    }
    return report;
  }

  /**
   * Releases the claims no server needs, as Nova's allocation heal does: every allocation whose
   * consumer is neither a server's claim nor the old-flavor claim of its resize, unless that
   * server is busy (a task under way, here or recorded) and may be about to record it. A crash
   * between a claim and the save that names it leaves exactly such a claim. Runs at start, after
   * reconcile(), and periodically; returns the consumers released (the caller logs them).
   */
  async healClaims(): Promise<string[]> {
    // Allocations first, servers second: a claim made in between belongs to a busy server.
    const allocations = await this.#deps.store.listAllocations();
    const servers = new Map((await this.#deps.store.listServers()).map((s) => [s.id, s]));
    const needed = new Set<string>();
    for (const server of servers.values()) {
      if (server.claimId !== null) needed.add(server.claimId);
      if (server.resize !== null) needed.add(server.resize.oldClaimId);
    }
    const released: string[] = [];
    for (const { consumerId } of allocations) {
      if (needed.has(consumerId)) continue;
      const owner = consumerId.split('/')[0] ?? consumerId;
      const server = servers.get(owner);
      const busy = this.#pending.has(owner) || (server !== undefined && server.taskState !== null);
      if (busy) continue;
      if (await this.#deps.store.releaseClaim(consumerId)) released.push(consumerId);
    }
    if (released.length > 0) {
      this.#deps.log.warn({ released }, 'heal: released claims that no server needs');
    }
    return released;
  }

  // ---- internals ----

  /** Design once with the first host's settings: conflicts and bad values refuse the request. */
  #precheck(
    flavor: Flavor,
    image: Image,
    id: string,
    name: string,
    ctx: RequestContext,
  ): ServerPmu {
    const [first] = this.#deps.computes.values();
    const settings: HostSettings = first?.settings ?? {
      virtType: 'qemu',
      arch: 'x86_64',
      cpuMode: 'host-model',
      instanceDir: '/nonexistent',
      network: { type: 'none' },
    };
    const design = orThrow(
      renderGuest({
        flavor,
        image,
        host: settings,
        name,
        uuid: id,
        owner: { projectId: ctx.projectId },
      }),
    );
    const report = toPmuReport(design.design);
    return {
      requested: report.requested,
      resolved: report.resolved,
      source: report.source,
      effective: null,
      reason: null,
    };
  }

  async #build(
    server: ServerRecord,
    context: ActionContext,
    placed?: Placement | Error,
  ): Promise<void> {
    this.#queued.add(server.id);
    const release = await this.#buildSlots.acquire();
    try {
      if (!this.#queued.delete(server.id)) return; // deleted while it waited
      await this.#buildInSlot(server, context, placed);
    } finally {
      release();
    }
  }

  async #buildInSlot(
    server: ServerRecord,
    context: ActionContext,
    preplaced?: Placement | Error,
  ): Promise<void> {
    this.#notify('create', 'start', server, context);
    let current = server;
    try {
      if (preplaced instanceof Error) throw preplaced;
      const placed = preplaced ?? (await this.#schedule(current, context));
      current = await this.#save(current, {
        host: placed.host,
        claimId: placed.claimId,
        taskState: 'spawning',
      });
      const agent = this.#agent(placed.host);
      const built = await this.#spawn(agent, current);
      current = await this.#save(current, built);
      this.#notify('create', 'end', current, context);
    } catch (error) {
      const agent = current.host === null ? undefined : this.#deps.computes.get(current.host);
      if (agent !== undefined) await this.#removeAfterFailure(agent, current);
      const failed = await this.#fail(current, error, 'create').catch((saveError: unknown) => {
        this.#deps.log.error(
          { server: server.id, err: String(saveError) },
          'cannot record the failure of a build',
        );
        return current;
      });
      this.#notify('create', 'error', failed, context, error);
    }
  }

  /** Picks hosts in weighed order and claims on the first that still has room. */
  async #schedule(server: ServerRecord, context: ActionContext): Promise<Placement> {
    const flavor = toFlavor(server.flavor);
    const image = serverImageToImage(server.image);
    const resolution = {
      requested: server.pmu?.requested ?? { flavor: null, image: null },
      resolved: server.pmu?.resolved ?? null,
      source: server.pmu?.source ?? 'unset',
    } as Parameters<typeof buildRequestSpec>[2];
    const request = orThrow(
      buildRequestSpec(flavor, image, resolution, { vpmuPrefilter: this.#deps.vpmuPrefilter }),
    );
    this.#deps.publish(selectDestinationsEvent('start', this.#requestSpecInput(server)));
    const records = (await this.#deps.store.listComputeHosts()).filter((h) =>
      this.#deps.computes.has(h.name),
    );
    const usage = await this.#deps.store.usageByHost();
    const states: HostState[] = records.map((h) => ({
      name: h.name,
      enabled: h.enabled,
      inventory: h.inventory,
      used: usage.get(h.name) ?? NOTHING_USED,
      traits: new Set(h.traits),
    }));
    const selection = new HostIndex(states).select(request, { count: Math.max(states.length, 1) });
    // As in Nova, NoValidHost ends the selection without an end event.
    if (!selection.ok) throw orThrowIssue(selection.issues);
    const byHints = await this.#placeByHints(server, selection.value.hosts);
    const groupId = server.serverGroupId;
    if (groupId === undefined) return this.#claimFirst(server, byHints, context);
    // Members of one group are placed one at a time, so each sees where the others went: the
    // same queue as a server's actions, keyed by the group.
    return this.#serial(`group:${groupId}`, async () => {
      const group = await this.#deps.store.getServerGroup(groupId);
      if (group === undefined) return this.#claimFirst(server, byHints, context);
      const others = new Set(group.members.filter((m) => m !== server.id));
      const membersPerHost = new Map<string, number>();
      for (const host of (await this.#hostsOf(others)).values()) {
        membersPerHost.set(host, (membersPerHost.get(host) ?? 0) + 1);
      }
      const hosts = placeInGroup(byHints, {
        name: group.name,
        policy: group.policy,
        maxServerPerHost: group.maxServerPerHost,
        membersPerHost,
      });
      if (!hosts.ok) throw orThrowIssue(hosts.issues);
      return this.#claimFirst(server, hosts.value, context);
    });
  }

  /** The hosts the `same_host` / `different_host` hints allow, where the named servers run now. */
  async #placeByHints(server: ServerRecord, hosts: readonly HostState[]): Promise<HostState[]> {
    const hints = server.hostHints;
    if (hints === undefined) return [...hosts];
    const named = new Set([...(hints.sameHost ?? []), ...(hints.differentHost ?? [])]);
    const where = await this.#hostsOf(named);
    const hostsOf = (ids: readonly string[]) => new Set(ids.flatMap((id) => where.get(id) ?? []));
    const placed = placeByHints(hosts, {
      ...(hints.sameHost === undefined ? {} : { sameHost: hostsOf(hints.sameHost) }),
      ...(hints.differentHost === undefined ? {} : { differentHost: hostsOf(hints.differentHost) }),
    });
    if (!placed.ok) throw orThrowIssue(placed.issues);
    return placed.value;
  }

  /** The host each of these servers holds its claim on (a server with no claim is absent). */
  async #hostsOf(serverIds: ReadonlySet<string>): Promise<Map<string, string>> {
    const where = new Map<string, string>();
    if (serverIds.size === 0) return where;
    for (const a of await this.#deps.store.listAllocations()) {
      if (serverIds.has(a.consumerId)) where.set(a.consumerId, a.host);
    }
    return where;
  }

  /** Claims on the first of the chosen hosts that still has room; the end of a selection. */
  async #claimFirst(
    server: ServerRecord,
    hosts: readonly HostState[],
    context: ActionContext,
  ): Promise<{ host: string; claimId: string }> {
    this.#deps.publish(selectDestinationsEvent('end', this.#requestSpecInput(server)));
    for (const host of hosts) {
      const claimId = server.id;
      if (
        await this.#deps.store.claim({
          consumerId: claimId,
          host: host.name,
          resources: resourcesOf(server.flavor),
        })
      ) {
        return { host: host.name, claimId };
      }
      this.#deps.log.info(
        { server: server.id, host: host.name, requestId: context.requestId },
        'claim lost a race; trying the next host',
      );
    }
    throw new ComputeError(
      'scheduler.no_valid_host',
      `No valid host was found. Every host that passed the filters (${hosts.map((h) => h.name).join(', ')}) was filled by concurrent claims before server ${server.id} could claim ${server.flavor.vcpus} VCPU, ${server.flavor.memoryMiB} MB RAM and ${server.flavor.diskGiB} GB disk.`,
    );
  }

  /**
   * Disk, define, start, read back on the agent: the fields of an ACTIVE server (the agent undoes
   * its own steps on failure). `reuseDisk` keeps the root disk a server already has (a guest
   * defined again, not rebuilt); `leaveStopped` powers it off (hard) once built.
   */
  async #spawn(
    agent: ComputeAgent,
    server: ServerRecord,
    options: Pick<BuildRequest, 'reuseDisk' | 'leaveStopped'> = {},
  ): Promise<ServerChanges> {
    const location = server.image.dataLocation;
    const built = await agent.build({
      serverId: server.id,
      name: server.domainName,
      flavor: toFlavor(server.flavor),
      image: serverImageToImage(server.image),
      owner: { projectId: server.projectId, userId: server.userId },
      imageFile: location === null ? undefined : this.#deps.imageFile(location),
      imageFormat: server.image.diskFormat ?? undefined,
      reuseDisk: options.reuseDisk === true,
      leaveStopped: options.leaveStopped === true,
    });
    return {
      ...(options.leaveStopped === true ? STOPPED_STATE : RUNNING_STATE),
      launchedAt: this.#now(),
      pmu: built.pmu,
      domainXml: built.domainXml,
    };
  }

  /**
   * After a failed build or rebuild: whatever of the guest is left (the agent undoes its own
   * steps, but a failure after it, such as the record's save, leaves a running domain) goes.
   */
  async #removeAfterFailure(agent: ComputeAgent, server: ServerRecord): Promise<void> {
    await agent
      .remove(server.id, { ...this.#stopOptions(), graceful: false })
      .catch((error: unknown) => {
        this.#deps.log.error(
          { server: server.id, host: agent.uri, err: String(error) },
          'cannot remove the guest of a failed build; it may be left on the host',
        );
      });
  }

  #stopOptions(): { stopTimeoutMs: number } {
    return { stopTimeoutMs: this.#deps.stopTimeoutMs };
  }

  /**
   * A server whose domain is gone (a failed build, a host that lost it) is defined and started
   * again around its own root disk (made anew from its image when that is gone too), holding its
   * flavor's resources again if a failure had released them. Returns the fields to record.
   */
  async #defineAgain(agent: ComputeAgent, server: ServerRecord): Promise<ServerChanges> {
    const claimId = server.claimId ?? (await this.#claimAgain(server, 'start'));
    try {
      return { ...(await this.#spawn(agent, server, { reuseDisk: true })), claimId, fault: null };
    } catch (error) {
      if (server.claimId === null) await this.#deps.store.releaseClaim(claimId);
      throw error;
    }
  }

  /** The end of every delete: the guest and its disks, the claims, then the record. */
  async #finishDelete(agent: ComputeAgent | undefined, server: ServerRecord): Promise<void> {
    if (agent !== undefined) {
      await agent.remove(server.id, { ...this.#stopOptions(), graceful: false });
    }
    await this.#releaseAll(server);
    this.#userEdits.delete(server.id);
    if (server.serverGroupId !== undefined) {
      await this.#deps.store.removeServerGroupMember(server.id);
    }
    await this.#deps.store.deleteServer(server.id);
  }

  /** A server group the caller may put a server in: its project's (any, for an admin). */
  async #lookupGroup(ctx: RequestContext, groupId: string, serverName: string) {
    const group = await this.#deps.store.getServerGroup(groupId);
    if (group === undefined || (group.projectId !== ctx.projectId && !isAdmin(ctx))) {
      throw invalidGroup(groupId, serverName);
    }
    return group;
  }

  /** A rollback or undo step that failed: the state it leaves behind is logged, never hidden. */
  #undoFailed(server: ServerRecord, step: string, error: unknown): void {
    this.#deps.log.error(
      { server: server.id, host: server.host, step, err: String(error) },
      'cannot undo a step; the guest may need an administrator',
    );
  }

  /** Claims the server's flavor on its host again, or refuses (400) when there is no room. */
  async #claimAgain(server: ServerRecord, action: 'rebuild' | 'start'): Promise<string> {
    const host = server.host ?? '';
    const resources = resourcesOf(server.flavor);
    if (await this.#deps.store.claim({ consumerId: server.id, host, resources })) return server.id;
    throw new ComputeError(
      action === 'rebuild' ? 'server.no_room_to_rebuild' : 'server.no_room_to_start',
      `No valid host was found. Host ${host} has no room to ${action} server ${server.id} with flavor '${server.flavor.name}' (${server.flavor.vcpus} VCPU, ${server.flavor.memoryMiB} MB RAM, ${server.flavor.diskGiB} GB disk).`,
    );
  }

  async #releaseAll(server: ServerRecord): Promise<void> {
    if (server.claimId !== null) await this.#deps.store.releaseClaim(server.claimId);
    if (server.resize !== null) await this.#deps.store.releaseClaim(server.resize.oldClaimId);
  }

  /** Records ERROR with a fault; releases the claims unless told to keep them. */
  async #fail(
    server: ServerRecord,
    error: unknown,
    operation: string,
    options: { keepClaim?: boolean } = {},
  ): Promise<ServerRecord> {
    const fault = faultOf(error, server.id, operation);
    if (error instanceof ComputeError) {
      this.#deps.log.warn(
        { server: server.id, operation, code: error.code, message: error.message },
        'server failed',
      );
    } else {
      this.#deps.log.error(
        {
          server: server.id,
          operation,
          err:
            error instanceof Error ? { message: error.message, stack: error.stack } : String(error),
        },
        'unexpected error',
      );
    }
    if (options.keepClaim !== true) await this.#releaseAll(server);
    return this.#save(server, {
      vmState: 'error',
      taskState: null,
      powerState: NOSTATE,
      ...(options.keepClaim === true ? {} : { claimId: null, resize: null }),
      fault: { code: 500, ...fault, created: this.#now() },
    });
  }

  async #action(
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
    return this.#serial(id, async () => {
      const server = await this.#get(id);
      if (!allowed.includes(server.status)) throw invalidState(server, action);
      const agent = server.host === null ? undefined : this.#deps.computes.get(server.host);
      if (agent === undefined) throw invalidState(server, action);
      return run(server, agent, actionContext(ctx, call));
    });
  }

  /** Runs `work` after whatever already runs under `key` (a server id, or `group:<id>`). */
  async #serial<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#pending.get(key) ?? Promise.resolve();
    const result = before.catch(() => undefined).then(work);
    this.#track(key, result);
    return result;
  }

  #track(id: string, work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.set(id, settled);
    void settled.then(() => {
      if (this.#pending.get(id) === settled) this.#pending.delete(id);
    });
  }

  async #get(id: string): Promise<ServerRecord> {
    const server = await this.#deps.store.getServer(id);
    if (server === undefined) throw serverNotFound(id);
    return server;
  }

  /** Saves `changes`; the status is always derived from the state, never set by hand. */
  async #save(server: ServerRecord, changes: ServerChanges): Promise<ServerRecord> {
    // The user's fields may have changed (update, metadata) while this work ran: keep theirs,
    // unless this save sets them itself (a rebuild's name, metadata, …).
    const edited = this.#userEdits.get(server.id);
    const merged = { ...server, ...edited, ...changes };
    const next: ServerRecord = {
      ...merged,
      status: serverStatus(merged.vmState, merged.taskState),
      updatedAt: this.#now(),
    };
    await this.#deps.store.saveServer(next);
    if (edited !== undefined) this.#userEdits.set(server.id, userFieldsOf(next));
    return next;
  }

  #agent(host: string): ComputeAgent {
    const agent = this.#deps.computes.get(host);
    if (agent === undefined) throw new TypeError(`no agent for host ${host}`);
    return agent;
  }

  #now(): string {
    return this.#deps.clock.now().toISOString();
  }

  #notify(
    action: InstanceAction,
    phase: 'start' | 'end' | 'error',
    server: ServerRecord,
    context: ActionContext,
    error?: unknown,
    newFlavor?: ReturnType<typeof toFlavorInput>,
  ): void {
    try {
      const fault =
        phase === 'error'
          ? toFaultInput(error, { functionName: action, moduleName: 'services/servers' })
          : undefined;
      this.#deps.publish(
        instanceEvent(action, phase, snapshot(server), context, {
          ...(fault === undefined ? {} : { fault }),
          ...(newFlavor === undefined ? {} : { newFlavor }),
        }),
      );
    } catch (buildError) {
      this.#deps.log.error(
        { server: server.id, event: `instance.${action}.${phase}`, err: String(buildError) },
        'cannot build a notification',
      );
      try {
        this.#deps.publish(
          computeExceptionEvent(
            toFaultInput(buildError, { functionName: 'notify', moduleName: 'services/servers' }),
          ),
        );
      } catch {
        // publishing never fails a request
      }
    }
  }

  #requestSpecInput(server: ServerRecord): Parameters<typeof selectDestinationsEvent>[1] {
    return {
      instanceUuid: server.id,
      projectId: server.projectId,
      userId: server.userId,
      availabilityZone: null,
      flavor: toFlavorInput(toFlavor(server.flavor)),
      image: toImageInput({ ...serverImageToImage(server.image), id: server.image.id }),
      numInstances: 1,
      pmu: pmuProvenance(server.pmu),
    };
  }
}

function actionContext(ctx: RequestContext, call: CallInfo): ActionContext {
  return { requestId: call.requestId ?? null, userId: ctx.userId, projectId: ctx.projectId };
}

async function lookupFlavor(
  deps: ServerDeps,
  ctx: RequestContext,
  id: string,
): Promise<FlavorRecord> {
  try {
    return await showFlavor(deps, ctx, id);
  } catch (error) {
    // NOTE: Nova answers a bad flavorRef with 400 (FlavorNotFound → HTTPBadRequest).
    if (error instanceof ComputeError && error.code === 'flavor.not_found') {
      throw new ComputeError('request.invalid', `Flavor ${id} could not be found.`);
    }
    throw error;
  }
}

async function lookupImage(
  deps: ServerDeps,
  ctx: RequestContext,
  id: string,
): Promise<ImageRecord> {
  let image: ImageRecord;
  try {
    image = await showImage(deps, ctx, id);
  } catch (error) {
    // NOTE: Nova wording (nova/exception.py ImageNotFound), answered with 400 on create.
    if (error instanceof ComputeError && error.code === 'image.not_found') {
      throw new ComputeError('request.invalid', `Image ${id} could not be found.`);
    }
    throw error;
  }
  if (image.status !== 'active') {
    // NOTE: Nova wording (nova/exception.py ImageNotActive).
    throw new ComputeError(
      'request.invalid',
      `Image ${id} is not active. Upload its data (openstack image create --file, or PUT /image/v2/images/${id}/file) before booting from it.`,
    );
  }
  return image;
}

function toServerImage(image: ImageRecord): ServerImage {
  return {
    id: image.id,
    name: image.name ?? image.id,
    owner: image.owner,
    properties: { ...image.properties },
    dataLocation: image.dataLocation,
    diskFormat: image.diskFormat,
    minRamMiB: image.minRamMiB,
    minDiskGiB: image.minDiskGiB,
    sizeBytes: image.size,
  };
}

const GIB = 1024 ** 3;

/**
 * Nova's flavor-against-image checks on boot, rebuild and resize (nova/compute/api.py): the
 * image's min_ram against the flavor's RAM; with a flavor disk (0 skips these, as in Nova) the
 * image data's size and min_disk against it. Messages are Nova's (nova/exception.py).
 */
export function checkImageFits(flavor: FlavorRecord, image: ServerImage): void {
  const minRam = image.minRamMiB ?? 0;
  if (minRam > flavor.memoryMiB) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's memory is too small for requested image. Flavor '${flavor.name}' has ${flavor.memoryMiB} MB, image ${image.id} needs min_ram ${minRam} MB.`,
    );
  }
  if (flavor.diskGiB === 0) return;
  const disk = flavor.diskGiB * GIB;
  const size = image.sizeBytes ?? 0;
  if (size > disk) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's disk is too small for requested image. Flavor disk is ${disk} bytes, image is ${size} bytes.`,
    );
  }
  const minDisk = (image.minDiskGiB ?? 0) * GIB;
  if (minDisk > disk) {
    throw new ComputeError(
      'request.invalid',
      `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${disk} bytes, minimum size is ${minDisk} bytes.`,
    );
  }
}

/** More metadata items than Nova's default quota allows: Nova's 403 (MetadataLimitExceeded). */
export function checkMetadataLimit(metadata: Readonly<Record<string, string>>): void {
  if (Object.keys(metadata).length > METADATA_ITEMS_LIMIT) {
    throw new ComputeError(
      'server.metadata_limit',
      `Maximum number of metadata items exceeds ${METADATA_ITEMS_LIMIT}`,
    );
  }
}

// NOTE: Nova wording (nova/api/openstack/compute/server_metadata.py).
function metadataNotFound(): ComputeError {
  return new ComputeError('server.metadata_not_found', 'Metadata item was not found');
}

/** The keys of `changes` that are set (an absent field changes nothing). */
function definedOnly<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

function serverImageToImage(image: ServerImage): Image {
  return { id: image.id, name: image.name, owner: image.owner, properties: image.properties };
}

function resourcesOf(flavor: FlavorRecord): { VCPU: number; MEMORY_MB: number; DISK_GB: number } {
  return { VCPU: flavor.vcpus, MEMORY_MB: flavor.memoryMiB, DISK_GB: flavor.diskGiB };
}

// NOTE: Nova wording (nova/exception.py InstanceInvalidState).
function invalidState(server: ServerRecord, action: string): ComputeError {
  return new ComputeError(
    'server.invalid_state',
    `Cannot '${action}' instance ${server.id} while it is in vm_state ${server.vmState} (status ${server.status}).`,
  );
}

function buildFailed(server: ServerRecord): ComputeError {
  return new ComputeError(
    'server.build_failed',
    server.fault?.message ?? `Server ${server.id} failed; it is in ERROR.`,
  );
}

function orThrowIssue(issues: readonly { code: string; message: string }[]): ComputeError {
  const message = issues.map((i) => i.message).join('\n');
  return new ComputeError('scheduler.no_valid_host', message);
}

/**
 * The fault a failure leaves on a server. Only vpmu's own coded errors tell a tenant their
 * message, and only when it is about the request rather than the host; anything else (a
 * SqliteError, a Node ENOENT naming a host path) is a generic fault, its words for admins alone.
 */
function faultOf(
  error: unknown,
  serverId: string,
  operation: string,
): { message: string; errorCode: string; details: string } {
  const details = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (!(error instanceof ComputeError)) {
    return {
      message: `Unexpected error during ${operation} of server ${serverId}; the service log has the details.`,
      errorCode: 'internal.unexpected',
      details,
    };
  }
  // Inside a build, input.* errors are about host files (the image data, the domain) too.
  if (!speaksOfHost(error.code) && !error.code.startsWith('input.')) {
    return { message: error.message, errorCode: error.code, details: error.message };
  }
  const what =
    error instanceof HypervisorError
      ? `the hypervisor could not ${error.operation} its guest`
      : error.code.startsWith('disk.')
        ? 'its root disk could not be prepared'
        : 'its compute host failed';
  return {
    message: `The ${operation} of server ${serverId} failed: ${what}. An administrator can see the cause in the fault details.`,
    errorCode: error.code,
    details: error.message,
  };
}

function pmuProvenance(pmu: ServerPmu | null): ReturnType<typeof toPmuProvenance> {
  return {
    flavor: pmu?.requested.flavor ?? null,
    image: pmu?.requested.image ?? null,
    resolved: pmu?.resolved ?? null,
    source: (pmu?.source ?? 'unset') as ReturnType<typeof toPmuProvenance>['source'],
    effective: pmu?.effective ?? null,
    reason: pmu?.reason ?? null,
  };
}

/** The notification view of a server at this moment. */
export function snapshot(server: ServerRecord): InstanceSnapshot {
  // Stored documents are trusted as they are read: an unknown state still makes a valid payload.
  const vmState = (VM_STATES as readonly string[]).includes(server.vmState)
    ? server.vmState
    : 'error';
  const powerNames: Readonly<Record<number, PowerStateName | undefined>> = POWER_STATE_NAMES;
  return {
    uuid: server.id,
    instanceName: server.domainName,
    displayName: server.name,
    displayDescription: server.description ?? null,
    projectId: server.projectId,
    userId: server.userId,
    host: server.host,
    hostName: server.name,
    node: server.host,
    availabilityZone: null,
    state: vmState,
    powerState: powerNames[server.powerState] ?? 'pending',
    taskState: server.taskState,
    createdAt: new Date(server.createdAt),
    updatedAt: new Date(server.updatedAt),
    launchedAt: server.launchedAt === null ? null : new Date(server.launchedAt),
    terminatedAt: null,
    deletedAt: null,
    flavor: toFlavorInput(toFlavor(server.flavor)),
    image: toImageInput({ ...serverImageToImage(server.image), id: server.image.id }),
    pmu: pmuProvenance(server.pmu),
  };
}

/** A counting semaphore: at most `limit` holders at once (0: unlimited), first come first served. */
class Slots {
  readonly #limit: number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.#limit > 0 && this.#held >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#held++;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so #held stays the same.
      if (next === undefined) this.#held--;
      else next();
    };
  }
}

function invalidHostHint(hint: string, serverId: string, serverName: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute os:scheduler_hints.${hint}. Value: ${serverId}. Server '${serverName}' cannot be placed relative to server ${serverId}: Instance ${serverId} could not be found.`,
  );
}

// NOTE: Nova refuses a hint naming a group that does not exist with a 400.
function invalidGroup(groupId: string, serverName: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute os:scheduler_hints.group. Value: ${groupId}. Server '${serverName}' cannot join server group ${groupId}: Instance group ${groupId} could not be found.`,
  );
}
