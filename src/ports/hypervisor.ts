/**
 * The Hypervisor port: the only way the core talks to a hypervisor. Adapters (src/adapters/libvirt,
 * src/adapters/fake) implement it and pass the suite in hypervisor.contract.ts.
 *
 * Every failure is a HypervisorError (src/errors) whose code says what kind of failure it was:
 * `hypervisor.not_found` (no such domain), `hypervisor.unavailable` (no connection, no client
 * library) or `hypervisor.operation_failed` (the hypervisor refused or failed the call).
 */

/** A defined domain, as the hypervisor knows it. */
export interface DomainRef {
  readonly name: string;
  readonly uuid: string;
}

/** A domain's run state, in libvirt's vocabulary (virDomainState), lower-cased. */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

/** A domain in a listing. */
export interface DomainListing extends DomainRef {
  readonly state: DomainState;
}

/** What the host offers (libvirt's virNodeInfo). */
export interface HostInfo {
  /** CPU architecture as the hypervisor names it, e.g. `x86_64`. */
  readonly arch: string;
  readonly memoryKiB: number;
  readonly cpus: number;
  readonly mhz: number;
  readonly numaNodes: number;
  readonly sockets: number;
  readonly cores: number;
  readonly threads: number;
}

/** Which domain capabilities to ask for (libvirt's virConnectGetDomainCapabilities). */
export interface DomainCapabilitiesQuery {
  /** `kvm` or `qemu` (TCG) for the QEMU driver. */
  readonly virtType: string;
  readonly arch?: string;
  readonly machine?: string;
}

/** How `stop()` ended: the guest shut itself down, or it had to be destroyed. */
export type StopOutcome = 'already-stopped' | 'shutdown' | 'destroyed';

/** Names a domain by name or by UUID. */
export type DomainKey = string | DomainRef;

/** The hypervisor operations vpmu needs. All methods reject with HypervisorError. */
export interface Hypervisor {
  /** The connection URI, e.g. `qemu:///system` or `test:///default`. */
  readonly uri: string;
  /** Opens the connection; other methods call it on demand, so it is optional. */
  connect(): Promise<void>;
  /** Closes the connection; safe to call twice. */
  close(): Promise<void>;
  /**
   * Defines (persists) a domain from XML. Idempotent by UUID: defining XML whose UUID is already
   * defined updates that domain and keeps its UUID. Returns the domain's name and UUID.
   */
  define(xml: string): Promise<DomainRef>;
  /** Starts a defined, stopped domain. */
  start(domain: DomainKey): Promise<void>;
  /**
   * Asks the guest to shut down and waits up to `timeoutMs` (polling every `pollMs`); a guest that
   * is still running then is destroyed. A stopped domain is left alone.
   */
  stop(domain: DomainKey, options: { timeoutMs: number; pollMs?: number }): Promise<StopOutcome>;
  /** Powers a running domain off at once. */
  destroy(domain: DomainKey): Promise<void>;
  /** Pauses a running domain's vCPUs in memory (virDomainSuspend): state `paused`. */
  pause(domain: DomainKey): Promise<void>;
  /** Lets a paused domain run again (virDomainResume). */
  unpause(domain: DomainKey): Promise<void>;
  /**
   * Saves a running or paused domain's memory to `file` on the host and stops it (virDomainSave):
   * the domain stays defined, `shutoff`. An existing file is replaced.
   */
  save(domain: DomainKey, file: string): Promise<void>;
  /** Starts a domain again from a file save() wrote (virDomainRestore), then removes the file. */
  restore(file: string): Promise<void>;
  /** Removes a stopped domain's definition. */
  undefine(domain: DomainKey): Promise<void>;
  /** Every defined or running domain. */
  list(): Promise<readonly DomainListing[]>;
  /** Looks a domain up by name or UUID. */
  lookup(domain: DomainKey): Promise<DomainRef>;
  /** Looks a domain up; undefined when there is no such domain. */
  find(domain: DomainKey): Promise<DomainRef | undefined>;
  /** Whether a domain with this name or UUID is defined: find() without reading its name. */
  exists(domain: DomainKey): Promise<boolean>;
  state(domain: DomainKey): Promise<DomainState>;
  /** The domain XML; the live one for a running domain. */
  domainXml(domain: DomainKey): Promise<string>;
  /** `virsh capabilities`: the host and the guests it can run. */
  capabilitiesXml(): Promise<string>;
  /** `virsh domcapabilities`: what one emulator / virt type / arch can do. */
  domainCapabilitiesXml(query: DomainCapabilitiesQuery): Promise<string>;
  hostInfo(): Promise<HostInfo>;
  /**
   * The hypervisor libvirt drives here and its version, encoded as libvirt does
   * (major × 1,000,000 + minor × 1,000 + release): what Nova shows as `hypervisor_version`.
   */
  hypervisorVersion(): Promise<HypervisorVersion>;
}

/** The hypervisor libvirt drives (`QEMU`, `Test`, …) and its encoded version. */
export interface HypervisorVersion {
  readonly type: string;
  readonly version: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

/** True when a domain key is written as a UUID (so it is looked up by UUID, not by name). */
export function isUuid(key: string): boolean {
  return UUID.test(key);
}

/** A key as text, for messages. */
export function describeKey(domain: DomainKey): string {
  return typeof domain === 'string' ? domain : domain.name;
}
