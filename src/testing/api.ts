/**
 * An in-process API for HTTP tests: memory store, image files in a temporary directory checked by
 * the real qemu-img inspector, a settable clock, sequential ids, and four users: admin (project admin), member and reader (project demo), and other
 * (project other, member). Requests go through Hono's app.request(); no port is opened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FsImageFiles } from '../adapters/image-files/fs-image-files.js';
import { QemuImgInspector } from '../adapters/image-inspector/qemu-img-inspector.js';
import type { ImageFiles } from '../ports/image-files.js';
import type { InstanceDisks } from '../ports/instance-disks.js';
import { MemoryStore } from '../adapters/store/memory-store.js';
import { aComputeHost } from '../ports/store.contract.js';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import { MemoryNotifier } from '../adapters/notifier/memory-notifier.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import type { HostSettings } from '../domain/index.js';
import { HypervisorError } from '../errors/index.js';
import {
  GLANCE_IMAGE_LIMITS,
  publishEvent,
  Servers,
  LocalComputeAgent,
  type ImageLimits,
  type LockoutPolicy,
} from '../services/index.js';
import { MemoryDisks } from './memory-disks.js';
import { MemoryGuestFiles } from './memory-guest-files.js';
import { createApi, type ApiDeps } from '../api/app.js';
import type { Store } from '../ports/store.js';
import { bootstrapIdentity } from '../services/index.js';

let imagesRoot: string | undefined;

/** A fresh images directory; all are removed when the test process exits. */
function imageDirectory(): string {
  if (imagesRoot === undefined) {
    const root = mkdtempSync(path.join(tmpdir(), 'vpmu-test-images-'));
    imagesRoot = root;
    process.on('exit', () => {
      rmSync(root, { recursive: true, force: true });
    });
  }
  return mkdtempSync(path.join(imagesRoot, 'api-'));
}

/** One recorded exchange, for API samples. */
export interface Exchange {
  readonly method: string;
  readonly path: string;
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly requestBody: unknown;
  readonly status: number;
  readonly responseHeaders: Readonly<Record<string, string>>;
  readonly responseBody: unknown;
}

/** Options of a request. */
export interface Call {
  /** Whose token to send: a user name, a raw token text, or none. */
  readonly as?: 'admin' | 'member' | 'reader' | 'other' | { token: string } | null;
  readonly body?: unknown;
  /** Sent as-is (not JSON-encoded). */
  readonly rawBody?: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A parsed response. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly text: string;
}

export const START = new Date('2026-01-01T00:00:00.000Z');

/** The test API and helpers around it. */
export interface TestApi {
  readonly store: Store;
  readonly clock: { now(): Date; set(date: Date): void };
  readonly deps: ApiDeps;
  readonly servers: Servers;
  readonly hypervisor: Hypervisor;
  /** Every compute host's hypervisor by host name: compute1, then any `extraHosts`. */
  readonly hypervisors: ReadonlyMap<string, Hypervisor>;
  readonly disks: MemoryDisks;
  /** compute1's config drives and console logs. */
  readonly guestFiles: MemoryGuestFiles;
  /** Where uploaded image data is stored (FsImageFiles), removed when the process exits. */
  readonly imagesDir: string;
  readonly notifier: MemoryNotifier;
  readonly logged: { level: string; fields: Record<string, unknown>; message: string }[];
  request(method: string, path: string, call?: Call): Promise<Reply>;
  /** Issues a token for a user; cached per user. */
  token(user: 'admin' | 'member' | 'reader' | 'other'): Promise<string>;
  /** Exchanges seen since the last call to take(), then forgets them. */
  take(): Exchange[];
}

/** Where the test API says it is reached (ApiDeps.publicEndpoint). */
export const PUBLIC_ENDPOINT = 'http://vpmu.test';

const PASSWORDS = {
  admin: 'admin-secret',
  member: 'member-secret',
  reader: 'reader-secret',
  other: 'other-secret',
};
const PROJECTS = { admin: 'admin', member: 'demo', reader: 'demo', other: 'other' };

/** The `uptime` line the test hosts report: compute1 is up 3 days, every other host 4. */
export function hostUptimeLine(host: string): string {
  return ` 12:00:00 up ${host === 'compute1' ? 3 : 4} days,  1:02,  1 user,  load average: 0.00, 0.00, 0.00`;
}

/** Builds a fresh API; `store` lets a test inject a failing or persistent one. */
export async function makeTestApi(
  options: {
    store?: Store;
    tokenTtlSeconds?: number;
    /** @default 10 failures lock for 300 s, as the service's default */
    lockout?: LockoutPolicy;
    /** The compute host's hypervisor. @default a FakeHypervisor */
    hypervisor?: Hypervisor;
    /** vCPUs of the one compute host "compute1" (ratio 1). @default 16 */
    hostVcpus?: number;
    hostTraits?: readonly string[];
    vpmuPrefilter?: boolean;
    /** Every server gets a config drive. @default false */
    forceConfigDrive?: boolean;
    /** Builds at once. @default 10, as in the service */
    maxConcurrentBuilds?: number;
    /**
     * More compute hosts, each with its own FakeHypervisor (ratio 1, the traits of compute1 unless
     * `traits`), its own instance directory (`/instances-<name>`, disks sharing `disks`' files as
     * on one machine), and compute1's guest settings unless `settings` changes some.
     */
    extraHosts?: readonly {
      readonly name: string;
      readonly vcpus: number;
      readonly settings?: Partial<HostSettings>;
      readonly traits?: readonly string[];
    }[];
    /** compute1's guest settings, over the defaults (kvm, x86_64, host-model). */
    hostSettings?: Partial<HostSettings>;
    /** Image limits. @default Glance's */
    imageLimits?: ImageLimits;
    /** Image data storage. @default FsImageFiles in the test's images directory */
    files?: ImageFiles;
    /** The disks of compute1 (for example a real Qcow2Disks). @default `disks`, a MemoryDisks */
    driverDisks?: InstanceDisks;
    /** Nova's shelved_offload_time (seconds). @default 0, offload at once */
    shelvedOffloadTime?: number;
    /** Nova's reclaim_instance_interval (seconds). @default 0, no soft delete */
    reclaimInstanceInterval?: number;
    /** compute1's instance directory. @default /instances */
    instanceDir?: string;
    /** Nova's service_down_time (seconds). @default 60, as in the service */
    serviceDownTime?: number;
    /** Nova's [scheduler] max_attempts. @default 3, as in the service */
    schedulerMaxAttempts?: number;
  } = {},
): Promise<TestApi> {
  let now = START;
  let uuid = 0;
  let secret = 0;
  const clock = {
    now: () => now,
    set: (date: Date) => {
      now = date;
    },
  };
  const ids = {
    newUuid: () => `00000000-0000-4000-8000-${String(++uuid).padStart(12, '0')}`,
    newSecret: () => `token-${String(++secret).padStart(4, '0')}`,
  };
  const store = options.store ?? new MemoryStore();
  const logged: TestApi['logged'] = [];
  const log = {
    info: (fields: Record<string, unknown>, message: string) =>
      logged.push({ level: 'info', fields, message }),
    warn: (fields: Record<string, unknown>, message: string) =>
      logged.push({ level: 'warn', fields, message }),
    error: (fields: Record<string, unknown>, message: string) =>
      logged.push({ level: 'error', fields, message }),
  };
  const hypervisor = options.hypervisor ?? new FakeHypervisor();
  const disks = new MemoryDisks({ instanceRoot: options.instanceDir ?? '/instances' });
  const guestFiles = new MemoryGuestFiles();
  const imagesDir = imageDirectory();
  const notifier = new MemoryNotifier();
  const driver: {
    hypervisor: Hypervisor;
    disks: InstanceDisks;
    guestFiles: MemoryGuestFiles;
    settings: HostSettings;
  } = {
    hypervisor,
    disks: options.driverDisks ?? disks,
    guestFiles,
    settings: {
      virtType: 'kvm',
      arch: 'x86_64',
      cpuMode: 'host-model',
      instanceDir: options.instanceDir ?? '/instances',
      network: { type: 'none' },
      ...options.hostSettings,
    },
  };
  const hosts = [
    {
      name: 'compute1',
      vcpus: options.hostVcpus ?? 16,
      driver,
      traits: undefined as readonly string[] | undefined,
    },
    ...(options.extraHosts ?? []).map((h) => {
      // Its own instance root on the same machine (a cold migration copies between the two).
      const instanceDir = h.settings?.instanceDir ?? `/instances-${h.name}`;
      return {
        ...h,
        driver: {
          ...driver,
          hypervisor: new FakeHypervisor({ uri: `fake:///${h.name}` }),
          disks: new MemoryDisks({ instanceRoot: instanceDir, machine: disks }),
          settings: { ...driver.settings, ...h.settings, instanceDir },
        },
      };
    }),
  ];
  const files = options.files ?? new FsImageFiles(imagesDir);
  const servers = new Servers({
    store,
    clock,
    ids,
    computes: new Map(
      hosts.map((h) => [
        h.name,
        new LocalComputeAgent({
          host: h.name,
          ...h.driver,
          log,
          // What `uptime` prints, one line per host (the adapter reading it has its own test).
          uptime: async () => hostUptimeLine(h.name),
        }),
      ]),
    ),
    imageFile: (location) => {
      const file = path.join(imagesDir, location);
      disks.images.add(file);
      return file;
    },
    vpmuPrefilter: options.vpmuPrefilter ?? false,
    forceConfigDrive: options.forceConfigDrive ?? false,
    stopTimeoutMs: 1000,
    imageFiles: files,
    shelvedOffloadTime: options.shelvedOffloadTime ?? 0,
    reclaimInstanceInterval: options.reclaimInstanceInterval ?? 0,
    ...(options.serviceDownTime === undefined ? {} : { serviceDownTime: options.serviceDownTime }),
    ...(options.schedulerMaxAttempts === undefined
      ? {}
      : { schedulerMaxAttempts: options.schedulerMaxAttempts }),
    ...(options.maxConcurrentBuilds === undefined
      ? {}
      : { maxConcurrentBuilds: options.maxConcurrentBuilds }),
    publish: (event) => {
      publishEvent(
        { notifier, host: 'compute1', now: clock.now, newUuid: () => ids.newUuid() },
        event,
      );
    },
    log,
  });
  for (const host of hosts) {
    await servers.registerHost(
      aComputeHost(
        {
          name: host.name,
          hypervisorUri: host.driver.hypervisor.uri,
          traits: [...(host.traits ?? options.hostTraits ?? ['CUSTOM_HW_VPMU'])].sort(),
          settings: host.driver.settings,
          updatedAt: START.toISOString(),
        },
        host.vcpus,
      ),
    );
  }
  const deps: ApiDeps = {
    store,
    files,
    inspector: new QemuImgInspector((location) => path.join(imagesDir, location), {
      maxVirtualSize: 1024 ** 4,
    }),
    imageLimits: options.imageLimits ?? GLANCE_IMAGE_LIMITS,
    clock,
    ids,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
    lockout: options.lockout ?? { failureAttempts: 10, durationSeconds: 300 },
    publicEndpoint: () => PUBLIC_ENDPOINT,
    region: 'RegionOne',
    log,
    servers,
    notifierStats: () => notifier.stats(),
  };
  await bootstrapIdentity(
    { store, clock, ids, tokenTtlSeconds: deps.tokenTtlSeconds },
    PASSWORDS.admin,
    {
      projects: [{ name: 'demo' }, { name: 'other' }],
      users: [
        { name: 'member', password: PASSWORDS.member, project: 'demo', roles: ['member'] },
        { name: 'reader', password: PASSWORDS.reader, project: 'demo', roles: ['reader'] },
        { name: 'other', password: PASSWORDS.other, project: 'other', roles: ['member'] },
      ],
    },
  );
  const app = createApi(deps);
  const tokens = new Map<string, string>();
  let exchanges: Exchange[] = [];

  const api: TestApi = {
    store,
    clock,
    deps,
    servers,
    hypervisor,
    hypervisors: new Map(hosts.map((h) => [h.name, h.driver.hypervisor])),
    disks,
    guestFiles,
    imagesDir,
    notifier,
    logged,
    async request(method, path, call = {}) {
      const headers: Record<string, string> = { ...call.headers };
      const as = call.as === undefined ? 'admin' : call.as;
      if (as !== null)
        headers['X-Auth-Token'] = typeof as === 'string' ? await api.token(as) : as.token;
      let body: string | Uint8Array | undefined;
      if (call.rawBody !== undefined) {
        body = call.rawBody;
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
          headers['Content-Type'] = 'application/octet-stream';
        }
      } else if (call.body !== undefined) {
        body = JSON.stringify(call.body);
        headers['Content-Type'] ??= 'application/json';
      }
      const res = await app.request(`${PUBLIC_ENDPOINT}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text === '' ? null : (JSON.parse(text) as unknown);
      } catch {
        // not JSON: keep the text
      }
      exchanges.push({
        method,
        path,
        requestHeaders: headers,
        requestBody: call.body ?? (typeof call.rawBody === 'string' ? call.rawBody : null),
        status: res.status,
        responseHeaders: Object.fromEntries(res.headers.entries()),
        responseBody: parsed,
      });
      return { status: res.status, headers: res.headers, body: parsed, text };
    },
    async token(user) {
      const cached = tokens.get(user);
      if (cached !== undefined) return cached;
      const res = await app.request('http://vpmu.test/identity/v3/auth/tokens', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(passwordAuth(user, PASSWORDS[user], PROJECTS[user])),
      });
      const token = res.headers.get('X-Subject-Token');
      if (res.status !== 201 || token === null)
        throw new Error(`Cannot get a token for ${user}: ${res.status}`);
      tokens.set(user, token);
      return token;
    },
    take() {
      const taken = exchanges;
      exchanges = [];
      return taken;
    },
  };
  return api;
}

/** The body `openstack` sends for password auth with project scope. */
export function passwordAuth(
  user: string,
  password: string,
  project: string,
): Record<string, unknown> {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: user, domain: { name: 'Default' }, password } },
      },
      scope: { project: { name: project, domain: { name: 'Default' } } },
    },
  };
}

/**
 * A FakeHypervisor whose first `count` guest starts fail with `boom: no emulator` (every one when
 * `count` is Infinity), as a host that cannot start a guest; later starts go through.
 */
/** Every start on `hypervisor` fails as libvirt fails one, with `detail` as libvirt's words. */
export function failEveryStart(hypervisor: FakeHypervisor, detail: string): void {
  hypervisor.start = (ref) =>
    Promise.reject(
      new HypervisorError('hypervisor.operation_failed', {
        operation: 'start',
        domain: typeof ref === 'string' ? ref : ref.uuid,
        detail,
      }),
    );
}

export function hypervisorFailingStarts(count: number): FakeHypervisor {
  const hypervisor = new FakeHypervisor();
  const start = hypervisor.start.bind(hypervisor);
  let failStarts = count;
  hypervisor.start = (ref) =>
    failStarts-- > 0 ? Promise.reject(new Error('boom: no emulator')) : start(ref);
  return hypervisor;
}
