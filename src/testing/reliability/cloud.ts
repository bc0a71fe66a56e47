/**
 * What every scenario needs from a running cloud: users and tokens, a small image and flavors,
 * servers waited for with a bound, and the leak checks (usage against servers, stray files).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Figures } from './harness.js';
import {
  asArray,
  Client,
  field,
  Service,
  waitFor,
  type Reply,
  type RequestOptions,
} from './harness.js';
import type { ScenarioContext } from './scenario.js';
import { DEFAULT_RESERVED_HOST_MEMORY_MIB } from '../../main/compute-host.js';

export const ADMIN_PASSWORD = 'reliability-admin-secret';
/** The callers the suite acts as; `other` is a member of a second project. */
export const USERS = {
  member: { password: 'member-secret', project: 'demo', roles: ['member'] },
  reader: { password: 'reader-secret', project: 'demo', roles: ['reader'] },
  other: { password: 'other-secret', project: 'other', roles: ['member'] },
} as const;
export type Role = 'admin' | keyof typeof USERS;
const ROLES: readonly Role[] = ['admin', 'member', 'reader', 'other'];

export const FLAVOR_SMALL = 'rel-small';
export const FLAVOR_LARGE = 'rel-large';
export const FLAVORS = {
  [FLAVOR_SMALL]: { vcpus: 1, ram: 64, disk: 1 },
  [FLAVOR_LARGE]: { vcpus: 2, ram: 128, disk: 2 },
} as const;
/** Server states no operation is still working on. */
export const STABLE = new Set(['ACTIVE', 'SHUTOFF', 'ERROR', 'VERIFY_RESIZE']);
export const COMPUTE_MV = { 'openstack-api-version': 'compute 2.61' };

/** Writes the configuration file naming the suite's projects and users; returns its path. */
export function writeConfig(dir: string): string {
  const file = path.join(dir, 'config.json');
  const users = Object.entries(USERS).map(([name, u]) => ({
    name,
    password: u.password,
    project: u.project,
    roles: [...u.roles],
  }));
  writeFileSync(file, JSON.stringify({ projects: [{ name: 'demo' }, { name: 'other' }], users }));
  return file;
}

/**
 * A scenario's cloud, not started yet: one service with its state in `<workDir>/<name>-state` and
 * the suite's projects and users; `label` names the service in the report.
 */
export function scenarioCloud(ctx: ScenarioContext, name: string, label: string): Cloud {
  const service = new Service(
    {
      stateDir: path.join(ctx.workDir, `${name}-state`),
      configFile: writeConfig(ctx.workDir),
      adminPassword: ADMIN_PASSWORD,
    },
    ctx.figures,
    label,
  );
  return new Cloud(service, ctx.figures);
}

/** A running cloud as the scenarios see it: one service, its client and tokens per role. */
export class Cloud {
  readonly client: Client;
  readonly tokens = new Map<Role, string>();
  #leakedUsage: Usage = { vcpus: 0, ram: 0, disk: 0 };
  #usageLeakCounted = false;
  projectIds = new Map<string, string>();

  constructor(
    readonly service: Service,
    readonly figures: Figures,
  ) {
    this.client = new Client(service, figures);
  }

  get stateDir(): string {
    return this.service.options.stateDir;
  }

  get scenario(): string {
    return this.service.scenario;
  }

  check(ok: boolean, what: string, detail = ''): boolean {
    return this.figures.check(this.scenario, ok, what, detail);
  }

  /** Issues a project-scoped token for `role`'s user; returns the reply (token in a header). */
  async login(role: Role, options: RequestOptions = {}): Promise<Reply> {
    const user = role === 'admin' ? 'admin' : role;
    const password = role === 'admin' ? ADMIN_PASSWORD : USERS[role].password;
    const project = role === 'admin' ? 'admin' : USERS[role].project;
    return this.client.request('POST', '/identity/v3/auth/tokens', {
      ...options,
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: user, domain: { name: 'Default' }, password } },
          },
          scope: { project: { name: project, domain: { name: 'Default' } } },
        },
      },
    });
  }

  /** Logs every role in (after each start: tokens live in the database, but keep it simple). */
  async loginAll(): Promise<void> {
    for (const role of ROLES) {
      const reply = await this.login(role);
      const token = reply.headers['x-subject-token'];
      if (reply.status !== 201 || typeof token !== 'string') {
        throw new Error(`login as ${role} failed: ${reply.status} ${reply.text}`);
      }
      this.tokens.set(role, token);
      const projectId = field(reply.json, 'token', 'project', 'id');
      if (typeof projectId === 'string') {
        this.projectIds.set(role === 'admin' ? 'admin' : USERS[role].project, projectId);
      }
    }
  }

  token(role: Role): string {
    const token = this.tokens.get(role);
    if (token === undefined) throw new Error(`no token for ${role}`);
    return token;
  }

  async as(
    role: Role,
    method: string,
    target: string,
    options: RequestOptions = {},
  ): Promise<Reply> {
    return this.client.request(method, target, { ...options, token: this.token(role) });
  }

  /**
   * Creates the suite's flavors when missing (admin), and with them lifts Nova's default instance,
   * core and RAM quotas: the suite boots more servers per project than the defaults allow.
   */
  async ensureFlavors(): Promise<void> {
    let created = false;
    for (const [id, f] of Object.entries(FLAVORS)) {
      const shown = await this.as('admin', 'GET', `/compute/v2.1/flavors/${id}`);
      if (shown.status === 200) continue;
      const made = await this.as('admin', 'POST', '/compute/v2.1/flavors', {
        body: { flavor: { id, name: id, ...f } },
      });
      if (made.status !== 200) throw new Error(`flavor ${id}: ${made.status} ${made.text}`);
      created = true;
    }
    if (!created) return;
    const lifted = await this.as('admin', 'PUT', '/compute/v2.1/os-quota-class-sets/default', {
      body: { quota_class_set: { instances: -1, cores: -1, ram: -1 } },
    });
    if (lifted.status !== 200) throw new Error(`quotas: ${lifted.status} ${lifted.text}`);
  }

  /** Creates an image as `role` and uploads `data` (a real disk file's bytes); returns its id. */
  async uploadImage(role: Role, name: string, data: Buffer, diskFormat = 'qcow2'): Promise<string> {
    const made = await this.as(role, 'POST', '/image/v2/images', {
      body: { name, disk_format: diskFormat, container_format: 'bare', visibility: 'private' },
    });
    const id = field(made.json, 'id');
    if (made.status !== 201 || typeof id !== 'string') {
      throw new Error(`image create: ${made.status} ${made.text}`);
    }
    const put = await this.as(role, 'PUT', `/image/v2/images/${id}/file`, {
      raw: data,
      contentType: 'application/octet-stream',
    });
    if (put.status !== 204) throw new Error(`image upload: ${put.status} ${put.text}`);
    return id;
  }

  /** Boots a server as `role` and waits (bounded) until it is stable; returns id and status. */
  async boot(
    role: Role,
    name: string,
    imageId: string,
    flavor = FLAVOR_SMALL,
  ): Promise<{ id: string; status: string }> {
    const made = await this.as(role, 'POST', '/compute/v2.1/servers', {
      headers: COMPUTE_MV,
      body: { server: { name, flavorRef: flavor, imageRef: imageId, networks: 'none' } },
    });
    const id = field(made.json, 'server', 'id');
    if (made.status !== 202 || typeof id !== 'string') {
      throw new Error(`server create: ${made.status} ${made.text}`);
    }
    const status = await waitFor(`server ${id} to leave BUILD`, async () => {
      const shown = await this.as('admin', 'GET', `/compute/v2.1/servers/${id}`);
      const s = field(shown.json, 'server', 'status');
      return typeof s === 'string' && STABLE.has(s) ? s : undefined;
    });
    return { id, status };
  }

  /** Every server of every project (admin view, 2.61: embedded flavors). */
  async servers(): Promise<Record<string, unknown>[]> {
    const listed = await this.as('admin', 'GET', '/compute/v2.1/servers/detail?all_tenants=1', {
      headers: COMPUTE_MV,
    });
    if (listed.status !== 200) throw new Error(`server list: ${listed.status} ${listed.text}`);
    return asArray(field(listed.json, 'servers'));
  }

  /**
   * Every image of every project, hidden ones included: Glance's list is paged (25 by default)
   * and leaves out `os_hidden` images unless asked, so both lists are followed to their ends.
   */
  async images(): Promise<Record<string, unknown>[]> {
    const all: Record<string, unknown>[] = [];
    for (const first of ['/v2/images?limit=1000', '/v2/images?limit=1000&os_hidden=true']) {
      let next: string | undefined = first;
      while (next !== undefined) {
        const listed = await this.as('admin', 'GET', `/image${next}`);
        if (listed.status !== 200) throw new Error(`image list: ${listed.status} ${listed.text}`);
        all.push(...asArray(field(listed.json, 'images')));
        const link = field(listed.json, 'next');
        next = typeof link === 'string' ? link : undefined;
      }
    }
    return all;
  }

  /** Summed usage of every hypervisor. */
  async usage(): Promise<Usage> {
    const listed = await this.as('admin', 'GET', '/compute/v2.1/os-hypervisors/detail');
    // A refused list would read as zero usage: every leak check would pass on it.
    if (listed.status !== 200) throw new Error(`hypervisor list: ${listed.status} ${listed.text}`);
    const total = { vcpus: 0, ram: 0, disk: 0 };
    for (const h of asArray(field(listed.json, 'hypervisors'))) {
      total.vcpus += Number(h.vcpus_used);
      // Nova's memory_mb_used counts the host's reservation too; the suite's config sets no
      // memoryMiB, so the service reserves the default.
      total.ram += Number(h.memory_mb_used) - DEFAULT_RESERVED_HOST_MEMORY_MIB;
      total.disk += Number(h.local_gb_used);
    }
    return total;
  }

  /** Waits (bounded) until no server is mid-operation. */
  async waitStable(timeoutMs = 60_000): Promise<Record<string, unknown>[]> {
    return waitFor(
      'every server to reach a stable state',
      async () => {
        const servers = await this.servers();
        const busy = servers.some(
          (s) => !STABLE.has(String(s.status)) || s['OS-EXT-STS:task_state'] !== null,
        );
        return busy ? undefined : servers;
      },
      timeoutMs,
    );
  }

  /** Deletes every server and waits (bounded) until the list is empty. */
  async deleteAllServers(): Promise<void> {
    for (const s of await this.servers()) {
      await this.as('admin', 'DELETE', `/compute/v2.1/servers/${String(s.id)}`);
    }
    await waitFor('every server to be deleted', async () =>
      (await this.servers()).length === 0 ? true : undefined,
    );
  }

  /**
   * The leak checks: stray upload and data files, instance directories without a server, and
   * usage outside what the servers can hold (at least the running ones, at most all placed ones).
   */
  async checkLeaks(moment: string): Promise<void> {
    const servers = await this.servers();
    const images = await this.images();
    const imageIds = new Set(images.map((i) => String(i.id)));
    const serverIds = new Set(servers.map((s) => String(s.id)));
    for (const name of listDir(path.join(this.stateDir, 'images'))) {
      if (name.endsWith('.partial'))
        this.figures.leak(this.scenario, name, `${moment}: images/${name} left behind`);
      else if (!imageIds.has(name))
        this.figures.leak(this.scenario, name, `${moment}: images/${name} has no image`);
    }
    for (const name of listDir(path.join(this.stateDir, 'instances'))) {
      if (!serverIds.has(name)) {
        this.figures.leak(this.scenario, name, `${moment}: instances/${name} has no server`);
      }
    }
    for (const image of images) {
      const file = path.join(this.stateDir, 'images', String(image.id));
      if (image.status === 'active' && !existsSync(file)) {
        this.check(false, `${moment}: active image ${String(image.id)} has no data file`);
      }
    }
    const measured = await this.usage();
    // A leak already counted by checkEmpty stays claimed: count only what is new.
    const usage = {
      vcpus: measured.vcpus - this.#leakedUsage.vcpus,
      ram: measured.ram - this.#leakedUsage.ram,
      disk: measured.disk - this.#leakedUsage.disk,
    };
    const running = sumFlavors(servers.filter((s) => s.status !== 'ERROR'));
    const placed = sumFlavors(servers.filter((s) => s['OS-EXT-SRV-ATTR:host'] !== null));
    // A resize holds both flavors until confirmed or reverted, also when its server went to
    // ERROR meanwhile (as Nova's migration keeps the old allocation); the API does not say which
    // ERROR server has one, so each may hold the larger flavor once more. The exact check is
    // checkEmpty's, once every server is deleted.
    const resizing = sumFlavors(
      servers.filter(
        (s) =>
          s.status === 'VERIFY_RESIZE' ||
          (s.status === 'ERROR' && s['OS-EXT-SRV-ATTR:host'] !== null),
      ),
      FLAVOR_LARGE,
    );
    const outside = (['vcpus', 'ram', 'disk'] as const).filter(
      (key) => usage[key] < running[key] || usage[key] > placed[key] + resizing[key],
    );
    if (outside.length > 0) {
      this.#usageLeakCounted = true;
      const shown = (u: Usage): string => `${u.vcpus} vCPU/${u.ram} MiB/${u.disk} GiB`;
      const most = {
        vcpus: placed.vcpus + resizing.vcpus,
        ram: placed.ram + resizing.ram,
        disk: placed.disk + resizing.disk,
      };
      this.figures.leak(
        this.scenario,
        moment,
        `${moment}: ${shown(usage)} used, the servers hold between ${shown(running)} and ${shown(most)}`,
      );
    }
  }

  /** A tenant's view of its servers' faults shows no host path and no raw system error. */
  async checkFaults(moment: string): Promise<void> {
    const listed = await this.as('member', 'GET', '/compute/v2.1/servers/detail', {
      headers: COMPUTE_MV,
    });
    if (listed.status !== 200) throw new Error(`server list: ${listed.status} ${listed.text}`);
    for (const server of asArray(field(listed.json, 'servers'))) {
      const message = field(server, 'fault', 'message');
      if (typeof message !== 'string') continue;
      this.check(
        !message.includes(this.stateDir) && !HOST_DETAIL.test(message),
        `${moment}: a tenant's fault shows a host path or a raw system error`,
        message.slice(0, 200),
      );
    }
  }

  /**
   * Error-level log lines belong to requests answered with a 5xx (counted already); any other
   * one is an error the service hid from its answers, such as an abandoned upload logged as an
   * unexpected failure. Read after the service stopped, so the log is flushed.
   */
  checkErrorLog(moment: string): void {
    let text = '';
    try {
      text = readFileSync(path.join(this.stateDir, 'logs', 'vpmu.log'), 'utf8');
    } catch {
      this.check(false, `${moment}: no log file under logs/`);
      return;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let entry: { level?: number; requestId?: string; path?: string; msg?: string; err?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        this.check(false, `${moment}: a log line is not JSON`, line.slice(0, 200));
        continue;
      }
      if ((entry.level ?? 0) < 50) continue;
      if (entry.requestId !== undefined && this.figures.serverErrorIds.has(entry.requestId))
        continue;
      this.check(
        false,
        `${moment}: an error was logged for a request answered without a 5xx`,
        `${entry.path ?? '(no request)'}: ${JSON.stringify(field(entry.err, 'message') ?? entry.msg)}`,
      );
    }
  }

  /** After every server is deleted, nothing may stay claimed and no instance directory remain. */
  async checkEmpty(moment: string): Promise<void> {
    const usage = await this.usage();
    const leaked = this.#leakedUsage;
    if (usage.vcpus !== leaked.vcpus || usage.ram !== leaked.ram || usage.disk !== leaked.disk) {
      // The same claim seen a moment ago by checkLeaks counts once.
      if (!this.#usageLeakCounted) {
        this.figures.leak(
          this.scenario,
          `usage ${usage.vcpus}/${usage.ram}/${usage.disk}`,
          `${moment}: with no server left, usage is ${usage.vcpus} vCPU, ${usage.ram} MiB, ${usage.disk} GiB` +
            (leaked.vcpus + leaked.ram + leaked.disk > 0 ? ' (counting earlier leaks)' : ''),
        );
      }
      this.#leakedUsage = usage;
    }
    this.#usageLeakCounted = false;
    for (const name of listDir(path.join(this.stateDir, 'instances'))) {
      this.figures.leak(
        this.scenario,
        name,
        `${moment}: instances/${name} left after every server was deleted`,
      );
    }
  }
}

/** An absolute host path or a Node/SQLite error name in a message meant for a tenant. */
const HOST_DETAIL =
  /(^|[\s'"(])\/(tmp|work|home|var|etc|root|usr|srv)\/|\bE[A-Z]{3,}\b:|SqliteError/u;

export interface Usage {
  vcpus: number;
  ram: number;
  disk: number;
}

/** Sums the embedded (2.47+) flavors; `largest` stands in for a resize's other flavor. */
function sumFlavors(servers: readonly Record<string, unknown>[], largest?: string): Usage {
  const total = { vcpus: 0, ram: 0, disk: 0 };
  for (const server of servers) {
    const flavor =
      largest === undefined
        ? (field(server, 'flavor') as { vcpus?: number; ram?: number; disk?: number } | undefined)
        : FLAVORS[largest as keyof typeof FLAVORS];
    total.vcpus += flavor?.vcpus ?? 0;
    total.ram += flavor?.ram ?? 0;
    total.disk += flavor?.disk ?? 0;
  }
  return total;
}

export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
