/**
 * Composition root of `vpmu serve`: configuration (flags, then environment, then a JSON file, then
 * defaults) → state directory → SQLite store, image files, pino logs → identity bootstrap → the
 * HTTP API on one port. This is the only place that reads configuration.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { HttpImageCache } from '../adapters/image-cache/http-image-cache.js';
import { FsImageFiles } from '../adapters/image-files/fs-image-files.js';
import { QemuImgInspector } from '../adapters/image-inspector/qemu-img-inspector.js';
import { openPostgresStore } from '../adapters/store/postgres-store.js';
import { openSqliteStore, type SqliteStore } from '../adapters/store/sqlite-store.js';
import { createApi, type ApiLogger } from '../api/app.js';
import { storageFailure } from '../api/faults.js';
import { listen } from '../api/listen.js';
import { ComputeError } from '../errors/index.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import { ROLES } from '../ports/store.js';
import { Qcow2Disks } from '../adapters/disks/qcow2-disks.js';
import { FsGuestFiles } from '../adapters/guest-files/fs-guest-files.js';
import { LocalHostProbe } from '../adapters/host/host-probe.js';
import { readHostUptime } from '../adapters/host/uptime.js';
import { LibvirtHypervisor } from '../adapters/libvirt/libvirt-hypervisor.js';
import { CPU_MODES, orThrow, VIRT_TYPES, type CpuMode, type VirtType } from '../domain/index.js';
import { imageUpdateEvent, parseTransportUrl, redactUrl } from '../notifications/index.js';
import {
  bootstrapIdentity,
  GLANCE_IMAGE_LIMITS,
  publishEvent,
  sweepImageData,
  CONDUCTOR_TOPIC,
  LocalComputeAgent,
  RemoteComputes,
  Servers,
  type BuildOrder,
  toImage,
  type IdentitySeed,
  type ImageLimits,
  type LockoutPolicy,
  type Role,
} from '../services/index.js';
import { toImageInput } from '../services/notification-inputs.js';
import { describeLocalHost, type ComputeHostConfig } from './compute-host.js';
import { heartbeatPeriodically } from './heartbeat.js';
import { deferredIntervalMs, periodically } from './periodically.js';
import { reclaimWhenIdle } from './idle-reclaim.js';
import { LogFile } from './log-file.js';
import {
  prepareStateDir,
  qemuCannotReach,
  sessionDaemonProblem,
  StateDirError,
  supplementaryGroups,
  type QemuUser,
} from './state-dir.js';
import { parseQemuDacLabel } from '../xml/index.js';
import {
  createNotifier,
  nonEmpty,
  notifierSettingsFrom,
  type NotifierSettings,
} from './notifier.js';
import { AmqpRpcTransport } from '../adapters/rpc/amqp-rpc.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import { startComputeRole, startConductorRole } from './roles.js';

/** Everything `vpmu serve` can be configured with. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
  /**
   * Where image data lives: the state dir's `images` by default. Processes of one deployment
   * (API processes, conductors, computes) share it (shared storage, as Glance's file store).
   */
  readonly imageDir: string;
  /**
   * `vpmu compute` only: the root of a vpmu API the compute reaches (a balancer in front of the
   * API processes). Set, the compute keeps its own image cache (`<instances>/_base`), filled from
   * that API's image service as user admin (VPMU_ADMIN_PASSWORD); unset, it reads `imageDir`.
   */
  readonly imageApiUrl: string | undefined;
  /** Seconds an image cache entry may stay unused before it is evicted. Default 86400. */
  readonly imageCacheMaxAge: number;
  /** Nova's instance_build_timeout (seconds): a build older than this goes to ERROR; 0 never. */
  readonly buildTimeoutSeconds: number;
  /** oslo's control_exchange: the RabbitMQ exchange of vpmu's RPC. @default 'vpmu' */
  readonly controlExchange: string;
  /** A `postgres://` URL: the store lives in that PostgreSQL database; undefined: SQLite in stateDir. */
  readonly databaseUrl: string | undefined;
  readonly tokenTtlSeconds: number;
  /**
   * Keystone's `public_endpoint`: the URL clients reach the API at, for the catalog and links.
   * Undefined: the listening address (this machine's host name when listening on every address).
   */
  readonly publicEndpoint: string | undefined;
  /** Keystone's `lockout_failure_attempts` and `lockout_duration`. */
  readonly lockout: LockoutPolicy;
  readonly region: string;
  readonly logLevel: string;
  /** From VPMU_ADMIN_PASSWORD; when undefined the stored or a generated one is used. */
  readonly adminPassword: string | undefined;
  readonly seed: IdentitySeed;
  /** libvirt URI of the local compute host. */
  readonly uri: string;
  readonly compute: ComputeHostConfig;
  /** DESIGN §2.7: require CUSTOM_HW_VPMU when the vPMU resolves to on. Off by default. */
  readonly vpmuPrefilter: boolean;
  /** Every server gets a config drive (Nova's force_config_drive). Off by default. */
  readonly forceConfigDrive: boolean;
  readonly stopTimeoutMs: number;
  readonly maxConcurrentBuilds: number;
  /** Nova's shelved_offload_time (seconds): 0 offload at once, -1 never. Default 0. */
  readonly shelvedOffloadTime: number;
  /** Nova's reclaim_instance_interval (seconds): 0 delete at once, N soft-delete for N s. Default 0. */
  readonly reclaimInstanceInterval: number;
  /** How often claims no server needs are released (after a crash); 0: only at start. */
  readonly healIntervalMs: number;
  /** Nova's report_interval (seconds): how often the local compute reports its heartbeat. Default 10. */
  readonly reportInterval: number;
  /** Nova's service_down_time (seconds): a compute silent longer is down. Default 60. */
  readonly serviceDownTime: number;
  /** Nova's [scheduler] max_attempts: hosts a build is tried on. */
  readonly schedulerMaxAttempts: number;
  /** RabbitMQ for RPC between the processes (--transport-url, VPMU_TRANSPORT_URL). */
  readonly transportUrl: string | undefined;
  readonly notifier: NotifierSettings;
  /** Glance's image_size_cap, user_storage_quota, image_property_quota, image_tag_quota and image_member_quota. */
  readonly imageLimits: ImageLimits;
  /** Images claiming a larger virtual size (bytes) are refused at upload and at boot. */
  readonly imageVirtualSizeCap: number;
}

export const SERVE_USAGE = `Usage: vpmu serve [--host ADDR] [--port N] [--state-dir DIR] [--uri URI]
                  [--transport-url URL] [--config FILE]

Runs the identity (/identity/v3), compute (/compute/v2.1) and image (/image) APIs on one port.

Options (each overrides its environment variable, which overrides the config file):
  --host ADDR        address to listen on          VPMU_HOST        (default 127.0.0.1)
  --port N           TCP port; 0 picks a free one  VPMU_PORT        (default 8774)
  --state-dir DIR    database, image files, logs   VPMU_STATE_DIR   (default ./.vpmu)
  --uri URI          libvirt URI of this host      VPMU_URI         (default test:///default)
  --transport-url URL  rabbit://USER:PASS@HOST:PORT/VHOST for notifications
                                                   VPMU_TRANSPORT_URL (default: JSON lines in
                                                   the state dir, notifications.jsonl)
  --config FILE      JSON configuration file       VPMU_CONFIG
Config file only (see docs/operations.md): virtType, cpuMode, cpuModel, vpmuPrefilter,
  forceConfigDrive, computeHostName, hostIp, vcpus, memoryMiB, diskGiB, cpuAllocationRatio, ramAllocationRatio,
  diskAllocationRatio, stopTimeoutSeconds, maxConcurrentBuilds, healIntervalSeconds,
  reportInterval, serviceDownTime, schedulerMaxAttempts,
  shelvedOffloadTime, reclaimInstanceInterval, notificationExchange, notificationBufferLimit,
  notificationTransportUrl (or VPMU_NOTIFICATION_TRANSPORT_URL), imageSizeCap, userStorageQuota,
  imagePropertyQuota, imageTagQuota, imageMemberQuota, imageVirtualSizeCap
Environment only:
  VPMU_ADMIN_PASSWORD      password of user "admin" (else generated once, kept in the state dir;
                           required with VPMU_DATABASE_URL)
  VPMU_TOKEN_TTL_SECONDS   token lifetime (default 3600)
  VPMU_LOG_LEVEL           pino level: trace, debug, info, warn, error (default info)
  VPMU_REGION              region named in the service catalog (default RegionOne)
Store, environment or config file: VPMU_DATABASE_URL / databaseUrl, postgres://USER@HOST:PORT/DB
  keeps the records in that PostgreSQL database (default: SQLite, vpmu.db in the state dir)
Identity, config file only: publicEndpoint (URL for the catalog and links; default the
  listening address), lockoutFailureAttempts (default 10), lockoutDurationSeconds (default 300;
  either 0: no lockout)
`;

export const ROLE_USAGE = `Usage: vpmu api       [--host ADDR] [--port N] [--state-dir DIR] [--config FILE]
       vpmu conductor [--host NAME] [--state-dir DIR] [--config FILE]
       vpmu compute   [--host NAME] [--uri URI] [--state-dir DIR] [--config FILE]

The processes of a deployment over many hosts (docs/distributed.md). Each needs the shared
PostgreSQL store (VPMU_DATABASE_URL or databaseUrl) and RabbitMQ (--transport-url or
VPMU_TRANSPORT_URL), which carries RPC, and notifications too unless notificationTransportUrl
(VPMU_NOTIFICATION_TRANSPORT_URL) names their own; image data lives in a directory
every process shares (VPMU_IMAGE_DIR or imageDir; default the state dir's images).
  vpmu api        the HTTP APIs, as vpmu serve; builds go to a conductor; no libvirt connection
  vpmu conductor  schedules and runs builds; sweeps builds past buildTimeout and leaked claims
  vpmu compute    owns one host (--host NAME, default this machine's name; --uri its libvirt):
                  registers it, reports heartbeats every reportInterval, serves its guests;
                  with VPMU_IMAGE_API_URL or imageApiUrl (a vpmu API root) it fetches images
                  into its own cache (instances/_base) as user admin (VPMU_ADMIN_PASSWORD)
                  instead of reading imageDir; entries unused imageCacheMaxAge s (86400) go
Other settings are vpmu serve's (vpmu serve --help, docs/operations.md).
`;

/** Reads the configuration; `env` and `readText` are injected so tests need no real process. */
export function loadServeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readText: (file: string) => string,
  role: ProcessRole = 'all',
): ServeConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'state-dir': { type: 'string' },
        config: { type: 'string' },
        uri: { type: 'string' },
        'transport-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ComputeError('cli.usage', error instanceof Error ? error.message : String(error));
  }
  const configFile = str(values.config) ?? env.VPMU_CONFIG;
  const file = configFile === undefined ? {} : readConfigFile(configFile, readText);
  const pick = (flag: string | undefined, envName: string, key: string): string | undefined =>
    flag ?? env[envName] ?? fileString(file, key, configFile);
  const port = integer(pick(str(values.port), 'VPMU_PORT', 'port') ?? '8774', 'port', 0, 65535);
  const ttl = integer(
    pick(undefined, 'VPMU_TOKEN_TTL_SECONDS', 'tokenTtlSeconds') ?? '3600',
    'token lifetime',
    1,
    31_536_000,
  );
  const stateDir = pick(str(values['state-dir']), 'VPMU_STATE_DIR', 'stateDir') ?? '.vpmu';
  const absState = path.resolve(stateDir);
  const fileNumber = (key: string, min: number, integerOnly: boolean): number | undefined => {
    const raw = file[key];
    if (raw === undefined) return undefined;
    if (
      typeof raw !== 'number' ||
      !Number.isFinite(raw) ||
      raw < min ||
      (integerOnly && !Number.isInteger(raw))
    ) {
      throw new ComputeError(
        'input.invalid',
        `Cannot use config file ${configFile ?? ''}: "${key}" must be a ${integerOnly ? 'whole ' : ''}number of at least ${min}, not ${JSON.stringify(raw)}`,
      );
    }
    return raw;
  };
  const fileChoice = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const raw = file[key];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || !(allowed as readonly string[]).includes(raw)) {
      throw new ComputeError(
        'input.invalid',
        `Cannot use config file ${configFile ?? ''}: "${key}" must be one of ${allowed.join(', ')}, not ${JSON.stringify(raw)}`,
      );
    }
    return raw as T;
  };
  const fileAddress = (key: string): string | undefined => {
    const raw = file[key];
    if (raw === undefined) return undefined;
    if (typeof raw !== 'string' || isIP(raw) === 0) {
      throw new ComputeError(
        'input.invalid',
        `Cannot use config file ${configFile ?? ''}: "${key}" must be an IPv4 or IPv6 address, not ${JSON.stringify(raw)}`,
      );
    }
    return raw;
  };
  const prefilter = file.vpmuPrefilter ?? false;
  if (typeof prefilter !== 'boolean') {
    throw new ComputeError(
      'input.invalid',
      `Cannot use config file ${configFile ?? ''}: "vpmuPrefilter" must be true or false, not ${JSON.stringify(prefilter)}`,
    );
  }
  const forceConfigDrive = file.forceConfigDrive ?? false;
  if (typeof forceConfigDrive !== 'boolean') {
    throw new ComputeError(
      'input.invalid',
      `Cannot use config file ${configFile ?? ''}: "forceConfigDrive" must be true or false, not ${JSON.stringify(forceConfigDrive)}`,
    );
  }
  const cpuModel = fileString(file, 'cpuModel', configFile);
  const reportInterval = fileNumber('reportInterval', 1, true) ?? 10;
  const serviceDownTime = fileNumber('serviceDownTime', 1, true) ?? 60;
  if (serviceDownTime <= reportInterval) {
    throw new ComputeError(
      'input.invalid',
      `Cannot use config file ${configFile ?? ''}: "serviceDownTime" (${serviceDownTime} s) must be greater than "reportInterval" (${reportInterval} s), or every compute would be seen down between two reports`,
    );
  }
  const sharedDatabase = databaseUrl(pick(undefined, 'VPMU_DATABASE_URL', 'databaseUrl'));
  const adminPassword = env.VPMU_ADMIN_PASSWORD === '' ? undefined : env.VPMU_ADMIN_PASSWORD;
  const imageApi = imageApiUrl(pick(undefined, 'VPMU_IMAGE_API_URL', 'imageApiUrl'));
  if (role === 'compute' && imageApi !== undefined && adminPassword === undefined) {
    throw new ComputeError(
      'input.invalid',
      'Cannot use imageApiUrl without VPMU_ADMIN_PASSWORD: the compute fetches images from the image API as user "admin", so give it the password the API processes have',
    );
  }
  const seedsIdentity = role === 'all' || role === 'api';
  if (seedsIdentity && sharedDatabase !== undefined && adminPassword === undefined) {
    // Each API process sets admin's password at start: generated ones would undo each other's.
    throw new ComputeError(
      'input.invalid',
      'Cannot use databaseUrl without VPMU_ADMIN_PASSWORD: every vpmu process on the database sets the password of user "admin" at start, so give each the same one',
    );
  }
  return {
    uri: pick(str(values.uri), 'VPMU_URI', 'uri') ?? 'test:///default',
    compute: {
      // `vpmu compute --host NAME` (and a conductor's) names the host: those listen on no address.
      name:
        (role === 'compute' || role === 'conductor' ? str(values.host) : undefined) ??
        fileString(file, 'computeHostName', configFile) ??
        hostname(),
      hostIp: fileAddress('hostIp'),
      instanceDir: path.join(absState, 'instances'),
      virtType: fileChoice<VirtType>('virtType', VIRT_TYPES),
      cpuMode: fileChoice<CpuMode>('cpuMode', CPU_MODES),
      cpuModel,
      vcpus: fileNumber('vcpus', 1, true),
      memoryMiB: fileNumber('memoryMiB', 1, true),
      diskGiB: fileNumber('diskGiB', 0, true),
      cpuAllocationRatio: fileNumber('cpuAllocationRatio', 0, false),
      ramAllocationRatio: fileNumber('ramAllocationRatio', 0, false),
      diskAllocationRatio: fileNumber('diskAllocationRatio', 0, false),
    },
    vpmuPrefilter: prefilter,
    forceConfigDrive,
    stopTimeoutMs: (fileNumber('stopTimeoutSeconds', 0, false) ?? 30) * 1000,
    maxConcurrentBuilds: fileNumber('maxConcurrentBuilds', 0, true) ?? 10,
    shelvedOffloadTime: fileNumber('shelvedOffloadTime', -1, true) ?? 0,
    reclaimInstanceInterval: fileNumber('reclaimInstanceInterval', 0, true) ?? 0,
    healIntervalMs: (fileNumber('healIntervalSeconds', 0, false) ?? 300) * 1000,
    reportInterval,
    serviceDownTime,
    schedulerMaxAttempts: fileNumber('schedulerMaxAttempts', 1, true) ?? 3,
    transportUrl: nonEmpty(str(values['transport-url']) ?? env.VPMU_TRANSPORT_URL),
    notifier: notifierSettingsFrom(
      {
        stateDir: absState,
        transportUrl: str(values['transport-url']),
        notificationTransportUrl: fileString(file, 'notificationTransportUrl', configFile),
        exchange: fileString(file, 'notificationExchange', configFile),
        bufferLimit: fileNumber('notificationBufferLimit', 1, true),
      },
      env,
    ),
    imageLimits: {
      imageSizeCap: fileNumber('imageSizeCap', 0, true) ?? GLANCE_IMAGE_LIMITS.imageSizeCap,
      userStorageQuota:
        fileNumber('userStorageQuota', 0, true) ?? GLANCE_IMAGE_LIMITS.userStorageQuota,
      imagePropertyQuota:
        fileNumber('imagePropertyQuota', -1, true) ?? GLANCE_IMAGE_LIMITS.imagePropertyQuota,
      imageTagQuota: fileNumber('imageTagQuota', -1, true) ?? GLANCE_IMAGE_LIMITS.imageTagQuota,
      imageMemberQuota:
        fileNumber('imageMemberQuota', -1, true) ?? GLANCE_IMAGE_LIMITS.imageMemberQuota,
    },
    imageVirtualSizeCap: fileNumber('imageVirtualSizeCap', 0, true) ?? 1099511627776,
    host:
      pick(role === 'all' || role === 'api' ? str(values.host) : undefined, 'VPMU_HOST', 'host') ??
      '127.0.0.1',
    port,
    stateDir: absState,
    imageDir: path.resolve(
      pick(undefined, 'VPMU_IMAGE_DIR', 'imageDir') ?? path.join(absState, 'images'),
    ),
    imageApiUrl: imageApi,
    imageCacheMaxAge: fileNumber('imageCacheMaxAge', 1, true) ?? 86400,
    buildTimeoutSeconds: fileNumber('buildTimeout', 0, true) ?? 0,
    controlExchange: fileString(file, 'controlExchange', configFile) ?? 'vpmu',
    databaseUrl: sharedDatabase,
    tokenTtlSeconds: ttl,
    publicEndpoint: publicEndpoint(file.publicEndpoint, configFile ?? ''),
    lockout: {
      failureAttempts: fileNumber('lockoutFailureAttempts', 0, true) ?? 10,
      durationSeconds: fileNumber('lockoutDurationSeconds', 0, true) ?? 300,
    },
    region: pick(undefined, 'VPMU_REGION', 'region') ?? 'RegionOne',
    logLevel: pick(undefined, 'VPMU_LOG_LEVEL', 'logLevel') ?? 'info',
    adminPassword,
    seed: readSeed(file, configFile ?? ''),
  };
}

/** A running service. */
export interface RunningService {
  readonly url: string;
  readonly port: number;
  /** Set when this start generated the admin password (printed once). */
  readonly generatedAdminPassword: string | undefined;
  close(): Promise<void>;
}

/**
 * What a process runs (the command): `all` is `vpmu serve`, everything in one process on one host;
 * `api`, `conductor` and `compute` are the parts of a deployment over many hosts
 * (docs/distributed.md), sharing a PostgreSQL store and talking over RabbitMQ RPC.
 */
export type ProcessRole = 'all' | 'api' | 'conductor' | 'compute';

/** Starts the role's process: see ProcessRole. */
export async function startService(
  config: ServeConfig,
  role: ProcessRole = 'all',
): Promise<RunningService> {
  // What was opened, closed in reverse order on close and on a failed start.
  const opened: { what: string; close: () => Promise<unknown> }[] = [];
  // Each step bounded by `ms` on a failed start; a normal close waits for work under way.
  const closeAll = async (ms?: number) => {
    for (const { close } of opened.splice(0).reverse()) {
      const closing = close().catch(() => undefined);
      await (ms === undefined
        ? closing
        : Promise.race([closing, new Promise((resolve) => setTimeout(resolve, ms).unref())]));
    }
  };
  try {
    return await startRole(config, role, opened, closeAll);
  } catch (error) {
    await closeAll(1000);
    throw error;
  }
}

async function startRole(
  config: ServeConfig,
  role: ProcessRole,
  opened: { what: string; close: () => Promise<unknown> }[],
  closeAll: (ms?: number) => Promise<void>,
): Promise<RunningService> {
  const drivesHost = role === 'all' || role === 'compute';
  if (role !== 'all' && (config.databaseUrl === undefined || config.transportUrl === undefined)) {
    throw new ComputeError(
      'cli.usage',
      `vpmu ${role} is one process of a deployment over many hosts: it needs the shared PostgreSQL store (VPMU_DATABASE_URL or databaseUrl) and the RabbitMQ transport (--transport-url or VPMU_TRANSPORT_URL); for one host, run vpmu serve`,
    );
  }
  const hypervisor = drivesHost ? new LibvirtHypervisor({ uri: config.uri }) : undefined;
  if (hypervisor !== undefined)
    opened.push({ what: 'hypervisor', close: () => hypervisor.close() });
  // Read once (virsh takes seconds on a busy host): for QEMU's user here, the host probe below.
  const capabilities = hypervisor?.capabilitiesXml();
  capabilities?.catch(() => undefined);
  if (hypervisor !== undefined) {
    const session = sessionDaemonProblem(config.uri, process.getuid?.() ?? 0, (f) => statSync(f));
    if (session !== undefined) throw new StateDirError(session);
  }
  const qemu =
    capabilities === undefined ? 'none' : await qemuUser(capabilities, config.compute.virtType);
  const changes = prepareStateDir(config.stateDir, qemu, process.getuid?.() ?? 0);
  if (typeof qemu === 'object') {
    const groups = supplementaryGroups(qemu.uid);
    // A compute with its own image cache (under the instance directory) never reads imageDir.
    const cached = role === 'compute' && config.imageApiUrl !== undefined;
    for (const dir of cached
      ? [config.compute.instanceDir]
      : [config.compute.instanceDir, config.imageDir]) {
      const problem = qemuCannotReach(dir, qemu, groups, (d) => statSync(d));
      if (problem !== undefined) throw new StateDirError(problem);
    }
  }
  const logFile = new LogFile({
    file: path.join(config.stateDir, 'logs', role === 'all' ? 'vpmu.log' : `vpmu-${role}.log`),
    report: (line) => process.stderr.write(line),
  });
  opened.push({ what: 'log file', close: () => logFile.close(5000) });
  const logger = pino(
    { level: config.logLevel, base: { service: role === 'all' ? 'vpmu' : `vpmu-${role}` } },
    pino.multistream([
      { level: 'warn', stream: process.stderr },
      { level: config.logLevel, stream: logFile },
    ]),
  );
  for (const change of changes) logger.warn({ stateDir: config.stateDir }, change);
  const log: ApiLogger = {
    info: (fields, message) => {
      logger.info(fields, message);
    },
    warn: (fields, message) => {
      logger.warn(fields, message);
    },
    error: (fields, message) => {
      logger.error(fields, message);
    },
  };

  const { password, generated } =
    role === 'all' || role === 'api'
      ? adminPassword(config)
      : { password: undefined, generated: false };
  let store: SqliteStore;
  try {
    store =
      config.databaseUrl === undefined
        ? await openSqliteStore(path.join(config.stateDir, 'vpmu.db'))
        : await openPostgresStore(config.databaseUrl);
  } catch (error) {
    throw config.databaseUrl === undefined ? explainStorageFailure(error, config.stateDir) : error;
  }
  opened.push({ what: 'store', close: () => store.close() });
  const clock = { now: () => new Date() };
  const ids = {
    newUuid: () => randomUUID(),
    newSecret: () => randomBytes(32).toString('base64url'),
  };
  const rpc =
    role === 'all' || config.transportUrl === undefined
      ? undefined
      : await AmqpRpcTransport.connect({
          transport: orThrow(parseTransportUrl(config.transportUrl)),
          exchange: config.controlExchange,
          log: (level, event, fields) => {
            logger[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info'](fields, event);
          },
        });
  if (rpc !== undefined) opened.push({ what: 'rpc', close: () => rpc.close() });
  const notifier = createNotifier(config.notifier, (level, event, fields) => {
    logger[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info'](fields, event);
  });
  opened.push({ what: 'notifier', close: () => notifier.close(5000) });

  try {
    const local =
      hypervisor === undefined || capabilities === undefined
        ? undefined
        : await describeLocalHost(
            hypervisor,
            new LocalHostProbe(withCapabilities(hypervisor, capabilities)),
            config.compute,
            clock.now(),
          );
    if (local?.probeError !== undefined) {
      logger.warn(
        { uri: config.uri, reason: local.probeError },
        'host probe incomplete (a failed capabilities probe means qemu/TCG with no traits)',
      );
    }
    if (local !== undefined) {
      logger.info(
        { host: local.record.name, settings: local.settings, traits: local.record.traits },
        'compute host',
      );
    }
    const publishDeps = {
      notifier,
      host: local?.record.name ?? config.compute.name,
      now: () => clock.now(),
      newUuid: () => randomUUID(),
    };
    const files = new FsImageFiles(config.imageDir);
    const imageCache =
      role === 'compute' && config.imageApiUrl !== undefined
        ? new HttpImageCache({
            dir: path.join(config.compute.instanceDir, '_base'),
            apiUrl: config.imageApiUrl,
            credentials: {
              userName: 'admin',
              password: config.adminPassword ?? '',
              projectName: 'admin',
            },
            clock,
          })
        : undefined;
    const agent =
      local === undefined || hypervisor === undefined
        ? undefined
        : new LocalComputeAgent({
            host: local.record.name,
            hypervisor,
            disks: new Qcow2Disks({
              instanceRoot: config.compute.instanceDir,
              maxVirtualSize: config.imageVirtualSizeCap,
            }),
            guestFiles: new FsGuestFiles({ instanceRoot: config.compute.instanceDir }),
            settings: local.settings,
            log,
            uptime: () => readHostUptime(),
            images: imageCache,
          });
    const remote = rpc === undefined || role === 'compute' ? undefined : new RemoteComputes(rpc);
    const computes: ReadonlyMap<string, ComputeAgent> =
      remote ??
      new Map(local === undefined || agent === undefined ? [] : [[local.record.name, agent]]);
    const servers = new Servers({
      store,
      clock,
      ids,
      computes,
      imageFile: (location) => path.join(config.imageDir, location),
      vpmuPrefilter: config.vpmuPrefilter,
      forceConfigDrive: config.forceConfigDrive,
      stopTimeoutMs: config.stopTimeoutMs,
      // A conductor hands builds to their hosts, which keep the build slots.
      maxConcurrentBuilds: role === 'conductor' ? 0 : config.maxConcurrentBuilds,
      imageFiles: files,
      shelvedOffloadTime: config.shelvedOffloadTime,
      reclaimInstanceInterval: config.reclaimInstanceInterval,
      serviceDownTime: config.serviceDownTime,
      schedulerMaxAttempts: config.schedulerMaxAttempts,
      ...(role === 'api' && rpc !== undefined
        ? {
            dispatchBuild: (order: BuildOrder) =>
              rpc.cast({ topic: CONDUCTOR_TOPIC }, 'build_instances', { order: { ...order } }),
          }
        : {}),
      publish: (event) => {
        publishEvent(publishDeps, event);
      },
      log,
    });
    opened.push({ what: 'servers', close: () => servers.idle() });
    if (remote !== undefined) remote.learn(await store.listComputeHosts());

    if (role === 'compute' && rpc !== undefined && local !== undefined && agent !== undefined) {
      return await startComputeRole({
        config,
        rpc,
        store,
        servers,
        host: local.record,
        agent,
        imageCache,
        clock,
        log,
        opened,
        closeAll,
      });
    }
    if (role === 'all' && local !== undefined) {
      await servers.registerHost(local.record);
      const heartbeat = heartbeatPeriodically(
        store,
        local.record.name,
        config.reportInterval * 1000,
        clock,
        log,
      );
      opened.push({ what: 'heartbeat', close: () => heartbeat.stop() });
      await servers.reconcile();
      await servers.healClaims();
    }
    if (role === 'conductor' && rpc !== undefined) {
      return await startConductorRole({ config, rpc, store, servers, log, opened, closeAll });
    }

    const seeded = await bootstrapIdentity(
      { store, clock, ids, tokenTtlSeconds: config.tokenTtlSeconds },
      password ?? '',
      config.seed,
    );
    if (seeded.notSeeded.length > 0) {
      logger.warn(
        { missing: seeded.notSeeded },
        'the configuration file seeds projects and users on the first start only; these are not in the store (create them with the identity API)',
      );
    }
    await store.deleteExpiredTokens(clock.now().toISOString());
    // Another API process may be taking an upload into the shared image directory right now.
    if (role === 'all') {
      const swept = await sweepImageData({ store, files });
      if (swept.length > 0) {
        logger.warn({ removed: swept }, 'removed image data left by interrupted uploads');
      }
    }
    let listeningAt = '';
    const app = createApi({
      store,
      files,
      inspector: new QemuImgInspector((location) => path.join(config.imageDir, location), {
        maxVirtualSize: config.imageVirtualSizeCap,
      }),
      imageLimits: config.imageLimits,
      clock,
      ids,
      tokenTtlSeconds: config.tokenTtlSeconds,
      lockout: config.lockout,
      publicEndpoint: () => config.publicEndpoint ?? listeningAt,
      region: config.region,
      log,
      servers,
      notifierStats: () => notifier.stats(),
      onImageUpdate: (image) => {
        try {
          publishEvent(
            publishDeps,
            imageUpdateEvent(
              toImageInput(
                { ...toImage(image), id: image.id },
                {
                  status: image.status,
                  visibility: image.visibility,
                  protected: image.protected,
                  checksum: image.checksum,
                  owner: image.owner,
                  sizeBytes: image.size,
                },
              ),
            ),
          );
        } catch (error) {
          logger.error({ image: image.id, err: String(error) }, 'cannot build image.update');
        }
      },
    });
    const server = await listen(app, config.host, config.port);
    opened.push({ what: 'http', close: () => server.close() });
    const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${shownHost}:${server.port}`;
    // Every address is no address a client can use: name this machine instead.
    const wildcard = config.host === '0.0.0.0' || config.host === '::';
    listeningAt = wildcard ? `http://${hostname()}:${server.port}` : url;
    logger.info({ publicEndpoint: config.publicEndpoint ?? listeningAt }, 'public endpoint');
    logger.info({ url, stateDir: config.stateDir, role }, 'listening');
    if (role === 'all') {
      const healing = periodically(config.healIntervalMs, log, 'heal', () =>
        heal(servers, files, log),
      );
      const deferred = periodically(deferredIntervalMs(config), log, 'deferred server work', () =>
        runDeferred(servers, log),
      );
      opened.push({
        what: 'periodic tasks',
        close: () => Promise.all([healing.stop(), deferred.stop()]),
      });
    }
    return {
      url,
      port: server.port,
      generatedAdminPassword: generated ? password : undefined,
      close: () => closeAll(),
    };
  } catch (error) {
    throw explainStorageFailure(error, config.stateDir);
  }
}

/** A start that failed on the state directory's disk, said in one line an operator can act on. */
function explainStorageFailure(error: unknown, stateDir: string): unknown {
  const failure = storageFailure(error);
  if (failure === undefined) return error;
  const what = failure.full ? 'is full' : 'cannot be written';
  return new StateDirError(
    `the state directory ${stateDir} ${what} (${failure.cause}): free space or make it writable, or choose another --state-dir`,
  );
}

/** The hypervisor, answering capabilitiesXml() with capabilities already asked for. */
function withCapabilities(hypervisor: Hypervisor, capabilities: Promise<string>): Hypervisor {
  return new Proxy(hypervisor, {
    get: (target, name) => {
      if (name === 'capabilitiesXml') return () => capabilities;
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
}

/** Who libvirt runs QEMU as, from the DAC label of the host capabilities. */
async function qemuUser(
  capabilities: Promise<string>,
  virtType: string | undefined,
): Promise<QemuUser> {
  let xml: string;
  try {
    xml = await capabilities;
  } catch {
    return 'unknown';
  }
  return parseQemuDacLabel(xml, virtType ?? 'kvm') ?? 'none';
}

/**
 * `vpmu serve` (role `all`), `vpmu api`, `vpmu conductor` and `vpmu compute`: starts, prints what it
 * serves, and runs until SIGINT or SIGTERM.
 */
export async function runServe(
  argv: readonly string[],
  io: { out(text: string): void; err(text: string): void },
  role: ProcessRole = 'all',
): Promise<number> {
  const usage = role === 'all' ? SERVE_USAGE : ROLE_USAGE;
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(usage);
    return 0;
  }
  let config: ServeConfig;
  try {
    config = loadServeConfig(argv, process.env, (file) => readFileSync(file, 'utf8'), role);
  } catch (error) {
    if (error instanceof ComputeError) {
      io.err(`Error: ${error.message} [${error.code}]\n${error.code === 'cli.usage' ? usage : ''}`);
      return error.code === 'cli.usage' ? 2 : 1;
    }
    throw error;
  }
  let service: RunningService;
  try {
    service = await startService(config, role);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const what = role === 'all' ? 'vpmu' : `vpmu ${role}`;
    const where = role === 'all' || role === 'api' ? ` on ${config.host}:${config.port}` : '';
    io.err(`Error: Cannot start ${what}${where}: ${reason}\n`);
    return error instanceof ComputeError && error.code === 'cli.usage' ? 2 : 1;
  }
  if (service.generatedAdminPassword !== undefined) {
    io.out(
      `Generated the password of user "admin": ${service.generatedAdminPassword}\n` +
        `(stored in ${path.join(config.stateDir, 'admin-password')}, mode 0600; set VPMU_ADMIN_PASSWORD to choose one)\n`,
    );
  }
  if (role === 'all' || role === 'api') {
    io.out(
      `vpmu ${role === 'api' ? 'api ' : ''}listening on ${service.url}\n` +
        `  identity ${service.url}/identity/v3   compute ${service.url}/compute/v2.1   image ${service.url}/image\n` +
        `  state directory ${config.stateDir} (logs in logs/${role === 'all' ? 'vpmu' : 'vpmu-api'}.log)\n`,
    );
  } else {
    io.out(
      `vpmu ${role} serving ${service.url}${role === 'compute' ? ` (libvirt ${config.uri})` : ''}\n` +
        `  state directory ${config.stateDir} (logs in logs/vpmu-${role}.log)\n`,
    );
  }
  const stopReclaiming = reclaimWhenIdle();
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  stopReclaiming();
  await service.close();
  io.out(`vpmu ${role === 'all' ? '' : `${role} `}stopped\n`);
  return 0;
}

/** One heal round: claims no server needs, and `.partial` files of uploads no longer under way. */
async function heal(servers: Servers, files: FsImageFiles, log: ApiLogger): Promise<void> {
  await servers.healClaims().catch((error: unknown) => {
    log.error({ err: String(error) }, 'heal: cannot release leaked claims this round');
  });
  const removed = await files.sweepPartials();
  if (removed.length > 0) log.warn({ removed }, 'heal: removed interrupted uploads');
}

/** One round of the deferred shelve offloads and soft-delete reclaims (Nova's periodic tasks). */
async function runDeferred(servers: Servers, log: ApiLogger): Promise<void> {
  const { offloaded, reclaimed } = await servers.runDeferred();
  if (offloaded.length + reclaimed.length > 0) {
    log.info({ offloaded, reclaimed }, 'offloaded shelved and reclaimed soft-deleted servers');
  }
}

function adminPassword(config: ServeConfig): { password: string; generated: boolean } {
  if (config.adminPassword !== undefined)
    return { password: config.adminPassword, generated: false };
  const file = path.join(config.stateDir, 'admin-password');
  if (existsSync(file)) return { password: readFileSync(file, 'utf8').trim(), generated: false };
  const password = randomBytes(18).toString('base64url');
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return { password, generated: true };
}

function readConfigFile(file: string, readText: (file: string) => string): Record<string, unknown> {
  let text: string;
  try {
    text = readText(file);
  } catch (error) {
    throw new ComputeError(
      'input.invalid',
      `Cannot read config file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new ComputeError(
      'input.invalid',
      `Cannot parse config file ${file} as JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ComputeError(
      'input.invalid',
      `Cannot use config file ${file}: expected a JSON object`,
    );
  }
  const known = new Set([
    'host',
    'port',
    'stateDir',
    'tokenTtlSeconds',
    'region',
    'logLevel',
    'projects',
    'users',
    'uri',
    'virtType',
    'cpuMode',
    'cpuModel',
    'vpmuPrefilter',
    'forceConfigDrive',
    'computeHostName',
    'hostIp',
    'vcpus',
    'memoryMiB',
    'diskGiB',
    'cpuAllocationRatio',
    'ramAllocationRatio',
    'diskAllocationRatio',
    'stopTimeoutSeconds',
    'maxConcurrentBuilds',
    'healIntervalSeconds',
    'reportInterval',
    'serviceDownTime',
    'schedulerMaxAttempts',
    'shelvedOffloadTime',
    'reclaimInstanceInterval',
    'notificationExchange',
    'notificationTransportUrl',
    'notificationBufferLimit',
    'imageSizeCap',
    'userStorageQuota',
    'imagePropertyQuota',
    'imageTagQuota',
    'imageMemberQuota',
    'imageVirtualSizeCap',
    'publicEndpoint',
    'lockoutFailureAttempts',
    'lockoutDurationSeconds',
    'databaseUrl',
    'imageDir',
    'imageApiUrl',
    'imageCacheMaxAge',
    'buildTimeout',
    'controlExchange',
  ]);
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new ComputeError(
        'input.invalid',
        `Cannot use config file ${file}: unknown setting "${key}"; known: ${[...known].join(', ')}`,
      );
    }
  }
  return value as Record<string, unknown>;
}

function fileString(
  file: Record<string, unknown>,
  key: string,
  name: string | undefined,
): string | undefined {
  const value = file[key];
  if (value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  throw new ComputeError(
    'input.invalid',
    `Cannot use config file ${name ?? ''}: "${key}" must be a string or number, not ${JSON.stringify(value)}`,
  );
}

function readSeed(file: Record<string, unknown>, name: string): IdentitySeed {
  const bad = (what: string, value: unknown) =>
    new ComputeError(
      'input.invalid',
      `Cannot use config file ${name}: ${what}, not ${JSON.stringify(value)}`,
    );
  const projects = file.projects ?? [];
  const users = file.users ?? [];
  if (!Array.isArray(projects)) throw bad('"projects" must be a list', projects);
  if (!Array.isArray(users)) throw bad('"users" must be a list', users);
  return {
    projects: projects.map((p: unknown) => {
      const r = p as Record<string, unknown> | null;
      if (typeof r?.name !== 'string' || r.name === '')
        throw bad('each project needs a "name" string', p);
      return {
        name: r.name,
        ...(typeof r.description === 'string' ? { description: r.description } : {}),
      };
    }),
    users: users.map((u: unknown) => {
      const r = u as Record<string, unknown> | null;
      if (
        typeof r?.name !== 'string' ||
        typeof r.password !== 'string' ||
        typeof r.project !== 'string'
      ) {
        throw bad('each user needs "name", "password" and "project" strings', u);
      }
      const roles = r.roles ?? ['member'];
      if (
        !Array.isArray(roles) ||
        roles.length === 0 ||
        !roles.every((role) => (ROLES as readonly unknown[]).includes(role))
      ) {
        throw bad(
          `the roles of user "${r.name}" must be a non-empty list of ${ROLES.join(', ')}`,
          roles,
        );
      }
      return { name: r.name, password: r.password, project: r.project, roles: roles as Role[] };
    }),
  };
}

/** Keystone's `public_endpoint`: an http(s) URL, kept without its trailing slash. */
function publicEndpoint(raw: unknown, file: string): string | undefined {
  if (raw === undefined) return undefined;
  const bad = () =>
    new ComputeError(
      'input.invalid',
      `Cannot use config file ${file}: "publicEndpoint" must be an http or https URL without query, fragment or credentials (e.g. "https://cloud.example.com:8774"), not ${JSON.stringify(raw)}`,
    );
  if (typeof raw !== 'string' || !URL.canParse(raw)) throw bad();
  const url = new URL(raw);
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== '' ||
    raw.includes('?') ||
    raw.includes('#')
  ) {
    throw bad();
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/u, '');
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The image API root of a compute's image cache: an http(s) URL, without its trailing slash. */
function imageApiUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new ComputeError(
      'input.invalid',
      `Cannot use imageApiUrl ${JSON.stringify(redactUrl(text))}: expected the http or https root of a vpmu API without credentials, query or fragment (e.g. "http://vpmu-api.example.com:8774")`,
    );
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/u, '');
}

/** The store's database URL: a PostgreSQL one, or undefined (empty too) for the SQLite file. */
function databaseUrl(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  let protocol: string;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new ComputeError(
      'cli.usage',
      `Cannot use databaseUrl "${redactUrl(text)}": expected postgres://USER@HOST:PORT/DATABASE (or leave it unset for SQLite in the state directory)`,
    );
  }
  return text;
}

function integer(text: string, what: string, min: number, max: number): number {
  const value = /^\d+$/u.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ComputeError(
      'cli.usage',
      `Cannot use ${what} "${text}": expected a whole number from ${min} to ${max}`,
    );
  }
  return value;
}
