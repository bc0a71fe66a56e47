/**
 * The Hypervisor port over libvirt: domains through the `@unraid/libvirt` N-API binding, and the
 * host's capabilities through `virsh` (the binding has no virConnectGetCapabilities or
 * virConnectGetDomainCapabilities).
 *
 * Failure handling:
 * - libvirt's message is kept verbatim in every HypervisorError, with the operation and domain;
 *   the binding carries no error number, so "not found" and "connection lost" are recognised
 *   from libvirt's message text.
 * - Every call is bounded by `callTimeoutMs`. A lost connection (daemon restarted or stopped) is
 *   dropped and reopened with exponential backoff on the next call; reads are retried once on a
 *   fresh connection, changes are not (their outcome is unknown), and the error says so.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { HypervisorError, type HypervisorErrorCode } from '../../errors/index.js';
import {
  describeKey,
  DOMAIN_STATES,
  isUuid,
  type DomainCapabilitiesQuery,
  type DomainKey,
  type DomainListing,
  type DomainRef,
  type DomainState,
  type HostInfo,
  type HypervisorVersion,
  type Hypervisor,
  type StopOutcome,
} from '../../ports/hypervisor.js';
import {
  loadBindingConnection,
  type ConnectionFactory,
  type NativeConnection,
  type NativeDomain,
} from './binding.js';

/** Runs `virsh ARGS` and resolves with its output; rejects with the reason it failed. */
export type VirshRunner = (args: readonly string[], timeoutMs: number) => Promise<string>;

/** How the adapter connects and how patient it is. */
export interface LibvirtHypervisorOptions {
  /** e.g. `qemu:///system`, `qemu:///session`, `test:///default`. */
  readonly uri: string;
  /** Upper bound on any single libvirt call. @default 30000 */
  readonly callTimeoutMs?: number;
  /** Connection attempts before a call gives up with `hypervisor.unavailable`. @default 4 */
  readonly connectAttempts?: number;
  /** First backoff delay; it doubles after each failed attempt. @default 200 */
  readonly backoffMs?: number;
  /** @default the `@unraid/libvirt` binding */
  readonly connectionFactory?: ConnectionFactory;
  /** @default execFile('virsh', …) */
  readonly runVirsh?: VirshRunner;
}

const NOT_FOUND = /\b(Domain not found|no domain with matching)\b/u;
const CONNECTION_LOST =
  /(Broken pipe|client socket is closed|invalid connection pointer|Cannot recv data|Cannot write data|End of file while reading|Connection reset|Failed to connect socket|no connection driver available|not connected|failed to connect to the hypervisor)/iu;

/**
 * A domain XML that opens with its name and UUID, as vpmu's own does. Names with entities or
 * surrounding spaces do not match: define() then asks libvirt instead of decoding them.
 */
const STATED_NAME_AND_UUID =
  /^\s*(?:<\?xml[^>]*>\s*)?<domain\b[^>]*>\s*<name>([^<&\s]+)<\/name>\s*<uuid>([0-9a-fA-F-]{36})<\/uuid>/u;

/** Domain handles kept per connection (see `handles`). */
const MAX_HANDLES = 4096;

/**
 * A copy of a short string that does not keep the string it was cut from alive. V8 represents a
 * regex capture as a slice of its subject, so a UUID matched in a domain XML and kept as a handle
 * key held the whole XML: 4,096 remembered handles kept ~7.6 MiB of XML on the heap.
 */
function detached(text: string): string {
  return (' ' + text).slice(1);
}

/** A read can be retried on a new connection; a change cannot (it may have happened). */
type CallKind = 'read' | 'change';

/** The libvirt adapter. One instance holds at most one open connection. */
export class LibvirtHypervisor implements Hypervisor {
  readonly uri: string;
  private readonly callTimeoutMs: number;
  private readonly connectAttempts: number;
  private readonly backoffMs: number;
  private readonly connectionFactory: ConnectionFactory;
  private readonly runVirsh: VirshRunner;
  private connection: Promise<NativeConnection> | undefined;
  /**
   * Domain handles by UUID, per connection. A handle is only a (name, UUID) pair that the driver
   * resolves again on every call, so looking one up before each call (half the libvirt calls of a
   * boot) bought nothing. Bounded; a handle whose domain is gone is dropped when a call says so.
   */
  private readonly handles = new WeakMap<NativeConnection, Map<string, NativeDomain>>();

  constructor(options: LibvirtHypervisorOptions) {
    this.uri = options.uri;
    this.callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.connectAttempts = Math.max(1, options.connectAttempts ?? 4);
    this.backoffMs = options.backoffMs ?? 200;
    this.connectionFactory = options.connectionFactory ?? loadBindingConnection;
    this.runVirsh = options.runVirsh ?? defaultVirsh;
  }

  async connect(): Promise<void> {
    await this.open();
  }

  async close(): Promise<void> {
    const current = this.connection;
    this.connection = undefined;
    if (current === undefined) return;
    const conn = await current.catch(() => undefined);
    if (conn === undefined) return;
    await bounded(conn.connectClose(), this.callTimeoutMs, 'close').catch(() => undefined);
  }

  async define(xml: string): Promise<DomainRef> {
    const name = /<name>([^<]*)<\/name>/u.exec(xml)?.[1];
    const stated = STATED_NAME_AND_UUID.exec(xml);
    return this.call('define', name, 'change', async (conn) => {
      const domain = await conn.domainDefineXML(xml);
      // libvirt defines the name and UUID the XML states; asking for them back took two calls.
      const ref =
        stated?.[1] !== undefined && stated[2] !== undefined
          ? { name: detached(stated[1]), uuid: detached(stated[2].toLowerCase()) }
          : await refOf(conn, domain);
      this.remember(conn, ref.uuid, domain);
      return ref;
    });
  }

  async start(domain: DomainKey): Promise<void> {
    await this.onDomain('start', domain, 'change', (conn, d) => conn.domainCreate(d));
  }

  async stop(
    domain: DomainKey,
    options: { timeoutMs: number; pollMs?: number },
  ): Promise<StopOutcome> {
    const pollMs = Math.max(10, options.pollMs ?? 500);
    const ref = await this.lookupAs('stop', domain);
    if ((await this.state(ref)) === 'shutoff') return 'already-stopped';
    try {
      await this.onDomain('shut down', ref, 'change', (conn, d) => conn.domainShutdown(d));
    } catch (error) {
      // A guest that cannot take an ACPI request (or stopped meanwhile) is handled below.
      if (!(error instanceof HypervisorError) || error.code !== 'hypervisor.operation_failed')
        throw error;
    }
    const deadline = Date.now() + Math.max(0, options.timeoutMs);
    while (Date.now() < deadline) {
      if ((await this.state(ref)) === 'shutoff') return 'shutdown';
      await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    }
    if ((await this.state(ref)) === 'shutoff') return 'shutdown';
    try {
      await this.destroy(ref);
    } catch (error) {
      if ((await this.state(ref)) !== 'shutoff') throw error;
    }
    return 'destroyed';
  }

  async destroy(domain: DomainKey): Promise<void> {
    await this.onDomain('destroy', domain, 'change', (conn, d) => conn.domainDestroy(d));
  }

  async pause(domain: DomainKey): Promise<void> {
    await this.onDomain('pause', domain, 'change', (conn, d) => conn.domainSuspend(d));
  }

  async unpause(domain: DomainKey): Promise<void> {
    await this.onDomain('unpause', domain, 'change', (conn, d) => conn.domainResume(d));
  }

  async save(domain: DomainKey, file: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    await rm(file, { force: true });
    await this.onDomain('save', domain, 'change', (conn, d) => conn.domainSave(d, file));
  }

  async restore(file: string): Promise<void> {
    await this.call('restore', file, 'change', (conn) => conn.domainRestore(file));
    await rm(file, { force: true });
  }

  async undefine(domain: DomainKey): Promise<void> {
    const key = typeof domain === 'string' ? domain : domain.uuid;
    await this.onDomain('undefine', domain, 'change', async (conn, d) => {
      await conn.domainUndefine(d);
      const uuid = isUuid(key) ? key : await conn.domainGetUUIDString(d).catch(() => undefined);
      if (uuid !== undefined) this.handles.get(conn)?.delete(uuid.toLowerCase());
    });
  }

  async list(): Promise<readonly DomainListing[]> {
    return this.call('list domains', undefined, 'read', async (conn) => {
      const listed: DomainListing[] = [];
      for (const domain of await conn.connectListAllDomains()) {
        try {
          const ref = await refOf(conn, domain);
          const info = await conn.domainGetInfo(domain);
          listed.push({ ...ref, state: toState(info.state) });
        } catch (error) {
          // A domain undefined between the listing and the query is simply gone.
          if (!NOT_FOUND.test(messageOf(error))) throw error;
        }
      }
      return listed;
    });
  }

  async lookup(domain: DomainKey): Promise<DomainRef> {
    return this.lookupAs('look up', domain);
  }

  async find(domain: DomainKey): Promise<DomainRef | undefined> {
    try {
      return await this.lookup(domain);
    } catch (error) {
      if (error instanceof HypervisorError && error.code === 'hypervisor.not_found')
        return undefined;
      throw error;
    }
  }

  async exists(domain: DomainKey): Promise<boolean> {
    const key = typeof domain === 'string' ? domain : domain.uuid;
    return this.call('look up', describeKey(domain), 'read', async (conn) => {
      try {
        await this.nativeDomain(conn, key);
        return true;
      } catch (error) {
        if (NOT_FOUND.test(messageOf(error))) return false;
        throw error;
      }
    });
  }

  async state(domain: DomainKey): Promise<DomainState> {
    return this.onDomain('read the state of', domain, 'read', async (conn, d) =>
      toState((await conn.domainGetInfo(d)).state),
    );
  }

  async domainXml(domain: DomainKey): Promise<string> {
    return this.onDomain('read the XML of', domain, 'read', (conn, d) => conn.domainGetXMLDesc(d));
  }

  async capabilitiesXml(): Promise<string> {
    return this.virsh('read the host capabilities of', ['capabilities']);
  }

  async domainCapabilitiesXml(query: DomainCapabilitiesQuery): Promise<string> {
    const args = ['domcapabilities', '--virttype', query.virtType];
    if (query.arch !== undefined) args.push('--arch', query.arch);
    if (query.machine !== undefined) args.push('--machine', query.machine);
    return this.virsh(`read the ${query.virtType} domain capabilities of`, args);
  }

  async hostInfo(): Promise<HostInfo> {
    return this.call('read the node info', undefined, 'read', async (conn) => {
      const info = await conn.nodeGetInfo();
      return {
        arch: info.model,
        memoryKiB: info.memory,
        cpus: info.cpus,
        mhz: info.mhz,
        numaNodes: info.nodes,
        sockets: info.sockets,
        cores: info.cores,
        threads: info.threads,
      };
    });
  }

  async hypervisorVersion(): Promise<HypervisorVersion> {
    const operation = 'read the hypervisor version of';
    const text = await this.virsh(operation, ['version']);
    const parsed = parseRunningHypervisor(text);
    if (parsed !== undefined) return parsed;
    throw new HypervisorError('hypervisor.operation_failed', {
      operation: `${operation} ${this.uri}`,
      detail: `virsh version printed no "Running hypervisor" line: ${text.trim()}`,
    });
  }

  /** Looks a domain up afresh (never from `handles`: a lookup must see a rename or removal). */
  private async lookupAs(operation: string, domain: DomainKey): Promise<DomainRef> {
    const key = typeof domain === 'string' ? domain : domain.uuid;
    return this.call(operation, describeKey(domain), 'read', async (conn) => {
      const found = await this.nativeDomain(conn, key);
      if (!isUuid(key)) return refOf(conn, found);
      return { name: await conn.domainGetName(found), uuid: key.toLowerCase() };
    });
  }

  /** Looks a domain up by name or UUID; one found by UUID is remembered for the next call. */
  private async nativeDomain(conn: NativeConnection, key: string): Promise<NativeDomain> {
    if (!isUuid(key)) return conn.domainLookupByName(key);
    const found = await conn.domainLookupByUUIDString(key);
    this.remember(conn, key, found);
    return found;
  }

  /** Looks the domain up and runs `fn` on it, on one connection. */
  private async onDomain<T>(
    operation: string,
    domain: DomainKey,
    kind: CallKind,
    fn: (conn: NativeConnection, domain: NativeDomain) => Promise<T>,
  ): Promise<T> {
    const key = typeof domain === 'string' ? domain : domain.uuid;
    const uuid = isUuid(key) ? key.toLowerCase() : undefined;
    return this.call(operation, describeKey(domain), kind, async (conn) => {
      const cached = uuid === undefined ? undefined : this.handles.get(conn)?.get(uuid);
      if (cached === undefined) return fn(conn, await this.nativeDomain(conn, key));
      try {
        return await fn(conn, cached);
      } catch (error) {
        // Undefined behind our back (virsh, another client): forget it, report as a lookup would.
        if (uuid !== undefined && NOT_FOUND.test(messageOf(error)))
          this.handles.get(conn)?.delete(uuid);
        throw error;
      }
    });
  }

  private remember(conn: NativeConnection, uuid: string, domain: NativeDomain): void {
    const id = detached(uuid.toLowerCase());
    let byUuid = this.handles.get(conn);
    if (byUuid === undefined) {
      byUuid = new Map();
      this.handles.set(conn, byUuid);
    }
    if (byUuid.size >= MAX_HANDLES && !byUuid.has(id)) {
      const oldest = byUuid.keys().next();
      if (oldest.done !== true) byUuid.delete(oldest.value);
    }
    byUuid.set(id, domain);
  }

  /**
   * Runs one bounded libvirt call and turns any failure into a HypervisorError. A lost connection
   * is dropped; a read is retried once on a fresh one.
   */
  private async call<T>(
    operation: string,
    domain: string | undefined,
    kind: CallKind,
    fn: (conn: NativeConnection) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const conn = await this.open();
      try {
        return await bounded(fn(conn), this.callTimeoutMs, operation);
      } catch (error) {
        const message = messageOf(error);
        if (error instanceof CallTimeout || CONNECTION_LOST.test(message)) {
          this.forget(conn);
          if (kind === 'read' && attempt === 1) continue;
          const note =
            kind === 'change'
              ? '; the connection was lost during the call, so whether it took effect is unknown'
              : '';
          throw new HypervisorError('hypervisor.unavailable', {
            operation: `${operation} (${this.uri})`,
            domain,
            detail: `${message}${note}`,
            cause: error,
          });
        }
        const code: HypervisorErrorCode = NOT_FOUND.test(message)
          ? 'hypervisor.not_found'
          : 'hypervisor.operation_failed';
        throw new HypervisorError(code, { operation, domain, detail: message, cause: error });
      }
    }
  }

  /** The open connection, opening it (with backoff) when there is none. */
  private async open(): Promise<NativeConnection> {
    this.connection ??= this.openWithBackoff();
    try {
      return await this.connection;
    } catch (error) {
      this.connection = undefined;
      throw error;
    }
  }

  private async openWithBackoff(): Promise<NativeConnection> {
    let delay = this.backoffMs;
    let last: unknown;
    for (let attempt = 1; attempt <= this.connectAttempts; attempt++) {
      const conn = await this.connectionFactory(this.uri);
      try {
        await bounded(conn.connectOpen(), this.callTimeoutMs, 'connect');
        return conn;
      } catch (error) {
        last = error;
        if (attempt < this.connectAttempts) await sleep(delay);
        delay *= 2;
      }
    }
    throw new HypervisorError('hypervisor.unavailable', {
      operation: `connect to ${this.uri}`,
      detail: `${messageOf(last)} (after ${this.connectAttempts} attempts; is libvirtd running?)`,
      cause: last,
    });
  }

  private forget(conn: NativeConnection): void {
    this.connection = undefined;
    // The old handle is useless; closing it frees libvirt's client state. Never awaited for long.
    void bounded(conn.connectClose(), 1_000, 'close').catch(() => undefined);
  }

  private async virsh(operation: string, args: readonly string[]): Promise<string> {
    try {
      return await this.runVirsh(['-c', this.uri, ...args], this.callTimeoutMs);
    } catch (error) {
      const message = messageOf(error);
      const code: HypervisorErrorCode = CONNECTION_LOST.test(message)
        ? 'hypervisor.unavailable'
        : 'hypervisor.operation_failed';
      throw new HypervisorError(code, {
        operation: `${operation} ${this.uri}`,
        detail: message,
        cause: error,
      });
    }
  }
}

/** Reads `virsh version`'s "Running hypervisor: QEMU 7.2.0" line; undefined when absent. */
export function parseRunningHypervisor(text: string): HypervisorVersion | undefined {
  const match = /^Running hypervisor:\s*(\S+)\s+(\d+)\.(\d+)\.(\d+)/mu.exec(text);
  if (match === null) return undefined;
  const [, type = '', major = '0', minor = '0', release = '0'] = match;
  return { type, version: Number(major) * 1_000_000 + Number(minor) * 1_000 + Number(release) };
}

class CallTimeout extends Error {}

async function bounded<T>(promise: Promise<T>, timeoutMs: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new CallTimeout(`libvirt did not answer ${operation} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function refOf(conn: NativeConnection, domain: NativeDomain): Promise<DomainRef> {
  const [name, uuid] = await Promise.all([
    conn.domainGetName(domain),
    conn.domainGetUUIDString(domain),
  ]);
  return { name, uuid };
}

function toState(code: number): DomainState {
  return DOMAIN_STATES[code] ?? 'nostate';
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const defaultVirsh: VirshRunner = (args, timeoutMs) =>
  new Promise((resolve, reject) => {
    execFile(
      'virsh',
      ['-q', ...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve(stdout);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          reject(new Error('virsh is not installed (apt-get install libvirt-clients)'));
          return;
        }
        const text = stderr.replace(/^error: /gmu, '').trim();
        reject(new Error(text === '' ? error.message : text.split('\n').join('; ')));
      },
    );
  });
