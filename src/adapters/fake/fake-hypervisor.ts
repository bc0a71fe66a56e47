/**
 * An in-memory Hypervisor for fast tests: it keeps domains in a map and behaves like libvirt where
 * the contract says so (idempotent define by UUID, names unique, not-found errors). It passes the
 * same contract suite as the libvirt adapter.
 */
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { HypervisorError } from '../../errors/index.js';
import {
  describeKey,
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

/** Knobs for tests. */
export interface FakeHypervisorOptions {
  /** @default 'fake:///default' */
  readonly uri?: string;
  /** When true, guests ignore a graceful shutdown (like a guest with no OS), so stop() destroys. */
  readonly ignoresShutdown?: boolean;
  /** Rewrites XML as it is stored, to imitate a hypervisor that changes what it was given. */
  readonly transformXml?: (xml: string) => string;
  /** Returned by capabilitiesXml(). */
  readonly capabilitiesXml?: string;
  /** Returned by domainCapabilitiesXml(); undefined makes it fail as on test:///default. */
  readonly domainCapabilitiesXml?: string;
  readonly hostInfo?: HostInfo;
}

interface FakeDomain {
  name: string;
  readonly uuid: string;
  xml: string;
  state: DomainState;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
});

const DEFAULT_CAPABILITIES = `<capabilities>
  <host>
    <cpu>
      <arch>x86_64</arch>
    </cpu>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name="x86_64">
      <domain type="qemu"/>
    </arch>
  </guest>
</capabilities>
`;

const DEFAULT_HOST_INFO: HostInfo = {
  arch: 'x86_64',
  memoryKiB: 8 * 1024 * 1024,
  cpus: 4,
  mhz: 2000,
  numaNodes: 1,
  sockets: 1,
  cores: 4,
  threads: 1,
};

/** The in-memory hypervisor. `domains` is exposed read-only so tests can assert on it. */
export class FakeHypervisor implements Hypervisor {
  readonly uri: string;
  readonly calls: string[] = [];
  private readonly byUuid = new Map<string, FakeDomain>();
  private readonly options: FakeHypervisorOptions;

  constructor(options: FakeHypervisorOptions = {}) {
    this.options = options;
    this.uri = options.uri ?? 'fake:///default';
  }

  /** Every defined domain, for assertions. */
  get domains(): readonly DomainListing[] {
    return [...this.byUuid.values()].map(({ name, uuid, state }) => ({ name, uuid, state }));
  }

  async connect(): Promise<void> {
    this.calls.push('connect');
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }

  async define(xml: string): Promise<DomainRef> {
    this.calls.push('define');
    const parsed = parseDefinition(xml);
    const uuid = parsed.uuid ?? randomUUID();
    const stored = withUuid(this.options.transformXml?.(xml) ?? xml, uuid);
    const existing = this.byUuid.get(uuid);
    const sameName = [...this.byUuid.values()].find((d) => d.name === parsed.name);
    if (sameName !== undefined && sameName.uuid !== uuid) {
      throw new HypervisorError('hypervisor.operation_failed', {
        operation: 'define',
        domain: parsed.name,
        detail: `operation failed: domain '${parsed.name}' already exists with uuid ${sameName.uuid}`,
      });
    }
    if (existing !== undefined) {
      existing.name = parsed.name;
      existing.xml = stored;
    } else {
      this.byUuid.set(uuid, { name: parsed.name, uuid, xml: stored, state: 'shutoff' });
    }
    return { name: parsed.name, uuid };
  }

  async start(domain: DomainKey): Promise<void> {
    this.calls.push('start');
    const d = this.get(domain, 'start');
    if (d.state === 'running')
      fail('start', d.name, 'Requested operation is not valid: domain is already running');
    d.state = 'running';
  }

  async stop(
    domain: DomainKey,
    options: { timeoutMs: number; pollMs?: number },
  ): Promise<StopOutcome> {
    this.calls.push('stop');
    const d = this.get(domain, 'stop');
    if (d.state === 'shutoff') return 'already-stopped';
    if (this.options.ignoresShutdown !== true) {
      d.state = 'shutoff';
      return 'shutdown';
    }
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
    d.state = 'shutoff';
    return 'destroyed';
  }

  async destroy(domain: DomainKey): Promise<void> {
    this.calls.push('destroy');
    const d = this.get(domain, 'destroy');
    if (d.state !== 'running' && d.state !== 'paused')
      fail('destroy', d.name, 'Requested operation is not valid: domain is not running');
    d.state = 'shutoff';
  }

  async pause(domain: DomainKey): Promise<void> {
    this.calls.push('pause');
    const d = this.get(domain, 'suspend');
    if (d.state !== 'running')
      fail('suspend', d.name, 'Requested operation is not valid: domain is not running');
    d.state = 'paused';
  }

  async unpause(domain: DomainKey): Promise<void> {
    this.calls.push('unpause');
    const d = this.get(domain, 'resume');
    if (d.state !== 'paused')
      fail('resume', d.name, 'Requested operation is not valid: domain is not paused');
    d.state = 'running';
  }

  async save(domain: DomainKey, file: string): Promise<void> {
    this.calls.push('save');
    const d = this.get(domain, 'save');
    if (d.state !== 'running' && d.state !== 'paused') {
      fail('save', d.name, 'Requested operation is not valid: domain is not running');
    }
    d.state = 'shutoff';
    this.saved.set(file, d.uuid);
  }

  async restore(file: string): Promise<void> {
    this.calls.push('restore');
    const uuid = this.saved.get(file);
    const d = uuid === undefined ? undefined : this.byUuid.get(uuid);
    if (d === undefined) {
      return fail(
        'restore',
        undefined,
        `Failed to open domain image file '${file}': No such file or directory`,
      );
    }
    if (d.state !== 'shutoff') fail('restore', d.name, `domain '${d.name}' is already active`);
    d.state = 'running';
    this.saved.delete(file);
  }

  /** Files save() wrote, by path: the domain's uuid. */
  readonly saved = new Map<string, string>();

  async undefine(domain: DomainKey): Promise<void> {
    this.calls.push('undefine');
    const d = this.get(domain, 'undefine');
    this.byUuid.delete(d.uuid);
  }

  async list(): Promise<readonly DomainListing[]> {
    return this.domains;
  }

  async lookup(domain: DomainKey): Promise<DomainRef> {
    const { name, uuid } = this.get(domain, 'look up');
    return { name, uuid };
  }

  async find(domain: DomainKey): Promise<DomainRef | undefined> {
    const d = this.match(domain);
    return d === undefined ? undefined : { name: d.name, uuid: d.uuid };
  }

  async exists(domain: DomainKey): Promise<boolean> {
    return this.match(domain) !== undefined;
  }

  async state(domain: DomainKey): Promise<DomainState> {
    return this.get(domain, 'read the state of').state;
  }

  async domainXml(domain: DomainKey): Promise<string> {
    return this.get(domain, 'read the XML of').xml;
  }

  async capabilitiesXml(): Promise<string> {
    return this.options.capabilitiesXml ?? DEFAULT_CAPABILITIES;
  }

  async domainCapabilitiesXml(query: DomainCapabilitiesQuery): Promise<string> {
    const xml = this.options.domainCapabilitiesXml;
    if (xml === undefined) {
      return fail(
        'read domain capabilities',
        undefined,
        `this function is not supported by the connection driver (virt type ${query.virtType})`,
      );
    }
    return xml;
  }

  async hostInfo(): Promise<HostInfo> {
    return this.options.hostInfo ?? DEFAULT_HOST_INFO;
  }

  async hypervisorVersion(): Promise<HypervisorVersion> {
    return { type: 'QEMU', version: 7_002_000 };
  }

  private match(domain: DomainKey): FakeDomain | undefined {
    const key = typeof domain === 'string' ? domain : domain.uuid;
    if (isUuid(key)) return this.byUuid.get(key.toLowerCase());
    return [...this.byUuid.values()].find((d) => d.name === key);
  }

  private get(domain: DomainKey, operation: string): FakeDomain {
    const found = this.match(domain);
    if (found !== undefined) return found;
    throw new HypervisorError('hypervisor.not_found', {
      operation,
      domain: describeKey(domain),
      detail: `Domain not found: no domain with matching ${typeof domain === 'string' && !isUuid(domain) ? 'name' : 'uuid'} '${typeof domain === 'string' ? domain : domain.uuid}'`,
    });
  }
}

function fail(operation: string, domain: string | undefined, detail: string): never {
  throw new HypervisorError('hypervisor.operation_failed', { operation, domain, detail });
}

function parseDefinition(xml: string): { name: string; uuid: string | undefined } {
  try {
    SyntaxValidator.validate(xml);
  } catch (error) {
    fail(
      'define',
      undefined,
      `XML error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const doc = parser.parse(xml) as { domain?: { name?: unknown; uuid?: unknown } };
  const name = doc.domain?.name;
  if (typeof name !== 'string' || name === '') {
    fail('define', undefined, 'XML error: missing domain name information');
  }
  const uuid = doc.domain?.uuid;
  return { name, uuid: typeof uuid === 'string' && uuid !== '' ? uuid.toLowerCase() : undefined };
}

function withUuid(xml: string, uuid: string): string {
  return xml.includes('<uuid>') ? xml : xml.replace(/<\/name>/u, `</name>\n  <uuid>${uuid}</uuid>`);
}
