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
import { CPU_MODES, VIRT_TYPES, type CpuMode, type VirtType } from '../domain/index.js';
import { imageUpdateEvent, redactUrl } from '../notifications/index.js';
import {
  bootstrapIdentity,
  GLANCE_IMAGE_LIMITS,
  publishEvent,
  sweepImageData,
  LocalComputeAgent,
  Servers,
  toImage,
  type IdentitySeed,
  type ImageLimits,
  type LockoutPolicy,
  type Role,
} from '../services/index.js';
import { toImageInput } from '../services/notification-inputs.js';
import { describeLocalHost, type ComputeHostConfig } from './compute-host.js';
import { reclaimWhenIdle } from './idle-reclaim.js';
import { LogFile } from './log-file.js';
import {
  prepareStateDir,
  qemuCannotReach,
  StateDirError,
  supplementaryGroups,
  type QemuUser,
} from './state-dir.js';
import { parseQemuDacLabel } from '../xml/index.js';
import { createNotifier, notifierSettingsFrom, type NotifierSettings } from './notifier.js';

/** Everything `vpmu serve` can be configured with. */
export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
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
  shelvedOffloadTime, reclaimInstanceInterval, notificationExchange, notificationBufferLimit, imageSizeCap, userStorageQuota,
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

/** Reads the configuration; `env` and `readText` are injected so tests need no real process. */
export function loadServeConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  readText: (file: string) => string,
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
  const sharedDatabase = databaseUrl(pick(undefined, 'VPMU_DATABASE_URL', 'databaseUrl'));
  const adminPassword = env.VPMU_ADMIN_PASSWORD === '' ? undefined : env.VPMU_ADMIN_PASSWORD;
  if (sharedDatabase !== undefined && adminPassword === undefined) {
    // Each process sets admin's password at start: generated ones would undo each other's.
    throw new ComputeError(
      'input.invalid',
      'Cannot use databaseUrl without VPMU_ADMIN_PASSWORD: every vpmu process on the database sets the password of user "admin" at start, so give each the same one',
    );
  }
  return {
    uri: pick(str(values.uri), 'VPMU_URI', 'uri') ?? 'test:///default',
    compute: {
      name: fileString(file, 'computeHostName', configFile) ?? hostname(),
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
    notifier: notifierSettingsFrom(
      {
        stateDir: absState,
        transportUrl: str(values['transport-url']),
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
    host: pick(str(values.host), 'VPMU_HOST', 'host') ?? '127.0.0.1',
    port,
    stateDir: absState,
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

/** Opens the state directory and starts the API. */
export async function startService(config: ServeConfig): Promise<RunningService> {
  const hypervisor = new LibvirtHypervisor({ uri: config.uri });
  // Read once (virsh takes seconds on a busy host): for QEMU's user here, the host probe below.
  const capabilities = hypervisor.capabilitiesXml();
  capabilities.catch(() => undefined);
  let changes: string[];
  try {
    const qemu = await qemuUser(capabilities, config.compute.virtType);
    changes = prepareStateDir(config.stateDir, qemu, process.getuid?.() ?? 0);
    if (typeof qemu === 'object') {
      const groups = supplementaryGroups(qemu.uid);
      for (const dir of [config.compute.instanceDir, path.join(config.stateDir, 'images')]) {
        const problem = qemuCannotReach(dir, qemu, groups, (d) => statSync(d));
        if (problem !== undefined) throw new StateDirError(problem);
      }
    }
  } catch (error) {
    await hypervisor.close();
    throw error;
  }
  const logFile = new LogFile({
    file: path.join(config.stateDir, 'logs', 'vpmu.log'),
    report: (line) => process.stderr.write(line),
  });
  const logger = pino(
    { level: config.logLevel, base: { service: 'vpmu' } },
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

  let store: SqliteStore;
  let password: string;
  let generated: boolean;
  try {
    ({ password, generated } = adminPassword(config));
    store =
      config.databaseUrl === undefined
        ? await openSqliteStore(path.join(config.stateDir, 'vpmu.db'))
        : await openPostgresStore(config.databaseUrl);
  } catch (error) {
    await hypervisor.close();
    await logFile.close(1000);
    throw config.databaseUrl === undefined ? explainStorageFailure(error, config.stateDir) : error;
  }
  const clock = { now: () => new Date() };
  const ids = {
    newUuid: () => randomUUID(),
    newSecret: () => randomBytes(32).toString('base64url'),
  };
  const notifier = createNotifier(config.notifier, (level, event, fields) => {
    logger[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info'](fields, event);
  });
  let servers: Servers | undefined;
  try {
    const local = await describeLocalHost(
      hypervisor,
      new LocalHostProbe(withCapabilities(hypervisor, capabilities)),
      config.compute,
      clock.now(),
    );
    if (local.probeError !== undefined) {
      logger.warn(
        { uri: config.uri, reason: local.probeError },
        'host probe incomplete (a failed capabilities probe means qemu/TCG with no traits)',
      );
    }
    logger.info(
      { host: local.record.name, settings: local.settings, traits: local.record.traits },
      'compute host',
    );
    const publishDeps = {
      notifier,
      host: local.record.name,
      now: () => clock.now(),
      newUuid: () => randomUUID(),
    };
    const imagesDir = path.join(config.stateDir, 'images');
    const files = new FsImageFiles(imagesDir);
    servers = new Servers({
      store,
      clock,
      ids,
      computes: new Map([
        [
          local.record.name,
          new LocalComputeAgent({
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
          }),
        ],
      ]),
      imageFile: (location) => path.join(imagesDir, location),
      vpmuPrefilter: config.vpmuPrefilter,
      forceConfigDrive: config.forceConfigDrive,
      stopTimeoutMs: config.stopTimeoutMs,
      maxConcurrentBuilds: config.maxConcurrentBuilds,
      imageFiles: files,
      shelvedOffloadTime: config.shelvedOffloadTime,
      reclaimInstanceInterval: config.reclaimInstanceInterval,
      publish: (event) => {
        publishEvent(publishDeps, event);
      },
      log,
    });
    await servers.registerHost(local.record);
    await servers.reconcile();
    await servers.healClaims();
    const seeded = await bootstrapIdentity(
      { store, clock, ids, tokenTtlSeconds: config.tokenTtlSeconds },
      password,
      config.seed,
    );
    if (seeded.notSeeded.length > 0) {
      logger.warn(
        { missing: seeded.notSeeded },
        'the configuration file seeds projects and users on the first start only; these are not in the store (create them with the identity API)',
      );
    }
    await store.deleteExpiredTokens(clock.now().toISOString());
    const swept = await sweepImageData({ store, files });
    if (swept.length > 0) {
      logger.warn({ removed: swept }, 'removed image data left by interrupted uploads');
    }
    let listeningAt = '';
    const app = createApi({
      store,
      files,
      inspector: new QemuImgInspector((location) => path.join(imagesDir, location), {
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
    const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `http://${shownHost}:${server.port}`;
    // Every address is no address a client can use: name this machine instead.
    const wildcard = config.host === '0.0.0.0' || config.host === '::';
    listeningAt = wildcard ? `http://${hostname()}:${server.port}` : url;
    logger.info({ publicEndpoint: config.publicEndpoint ?? listeningAt }, 'public endpoint');
    logger.info({ url, stateDir: config.stateDir }, 'listening');
    const healing = healPeriodically(servers, files, config.healIntervalMs, log);
    const deferred = runDeferredPeriodically(servers, config, log);
    return {
      url,
      port: server.port,
      generatedAdminPassword: generated ? password : undefined,
      close: async () => {
        await healing.stop();
        await deferred.stop();
        await server.close();
        await servers?.idle();
        await notifier.close(5000);
        await hypervisor.close();
        await store.close();
        await logFile.close(5000);
      },
    };
  } catch (error) {
    await notifier.close(1000);
    await hypervisor.close();
    await store.close();
    await logFile.close(1000);
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

/** `vpmu serve`: starts, prints where it listens, and runs until SIGINT or SIGTERM. */
export async function runServe(
  argv: readonly string[],
  io: { out(text: string): void; err(text: string): void },
): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(SERVE_USAGE);
    return 0;
  }
  let config: ServeConfig;
  try {
    config = loadServeConfig(argv, process.env, (file) => readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof ComputeError) {
      io.err(
        `Error: ${error.message} [${error.code}]\n${error.code === 'cli.usage' ? SERVE_USAGE : ''}`,
      );
      return error.code === 'cli.usage' ? 2 : 1;
    }
    throw error;
  }
  let service: RunningService;
  try {
    service = await startService(config);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    io.err(`Error: Cannot start vpmu on ${config.host}:${config.port}: ${reason}\n`);
    return 1;
  }
  if (service.generatedAdminPassword !== undefined) {
    io.out(
      `Generated the password of user "admin": ${service.generatedAdminPassword}\n` +
        `(stored in ${path.join(config.stateDir, 'admin-password')}, mode 0600; set VPMU_ADMIN_PASSWORD to choose one)\n`,
    );
  }
  io.out(
    `vpmu listening on ${service.url}\n` +
      `  identity ${service.url}/identity/v3   compute ${service.url}/compute/v2.1   image ${service.url}/image\n` +
      `  state directory ${config.stateDir} (logs in logs/vpmu.log)\n`,
  );
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
  io.out('vpmu stopped\n');
  return 0;
}

/**
 * Every `intervalMs` (never when 0): releases leaked claims and removes the `.partial` files of
 * uploads no longer under way. A failed round is logged, not fatal. `stop()` ends the rounds and
 * waits for one under way, so none runs against a closed store.
 */
function healPeriodically(
  servers: Servers,
  files: FsImageFiles,
  intervalMs: number,
  log: ApiLogger,
): { stop(): Promise<void> } {
  let round: Promise<unknown> = Promise.resolve();
  const heal = async (): Promise<void> => {
    await servers.healClaims().catch((error: unknown) => {
      log.error({ err: String(error) }, 'heal: cannot release leaked claims this round');
    });
    await files
      .sweepPartials()
      .then((removed) => {
        if (removed.length > 0) log.warn({ removed }, 'heal: removed interrupted uploads');
      })
      .catch((error: unknown) => {
        log.error({ err: String(error) }, 'heal: cannot remove interrupted uploads this round');
      });
  };
  const timer =
    intervalMs === 0
      ? undefined
      : setInterval(() => {
          round = heal();
        }, intervalMs).unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await round;
    },
  };
}

/**
 * The periodic offload of shelved servers (`shelvedOffloadTime` > 0) and reclaim of soft-deleted
 * ones (`reclaimInstanceInterval` > 0), as Nova's periodic tasks: a round at the smaller of the
 * positive settings, at most every 60 s; the timer does not keep the process alive, and `stop`
 * waits for the round under way.
 */
function runDeferredPeriodically(
  servers: Servers,
  config: Pick<ServeConfig, 'shelvedOffloadTime' | 'reclaimInstanceInterval'>,
  log: ApiLogger,
): { stop(): Promise<void> } {
  const periods = [config.shelvedOffloadTime, config.reclaimInstanceInterval].filter((s) => s > 0);
  let round: Promise<unknown> = Promise.resolve();
  const timer =
    periods.length === 0
      ? undefined
      : setInterval(
          () => {
            round = servers
              .runDeferred()
              .then(({ offloaded, reclaimed }) => {
                if (offloaded.length + reclaimed.length > 0) {
                  log.info(
                    { offloaded, reclaimed },
                    'offloaded shelved and reclaimed soft-deleted servers',
                  );
                }
              })
              .catch((error: unknown) => {
                log.error({ err: String(error) }, 'deferred server work failed this round');
              });
          },
          Math.min(60, ...periods) * 1000,
        ).unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await round;
    },
  };
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
    'shelvedOffloadTime',
    'reclaimInstanceInterval',
    'notificationExchange',
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
