/**
 * The slice of `@unraid/libvirt` (an optional dependency) this adapter uses, typed locally so vpmu
 * builds and runs where the binding is absent. The module is loaded on first use; when it cannot
 * be loaded, every call fails with one message that says what to install.
 */
import { HypervisorError } from '../../errors/index.js';

/** An opaque libvirt domain handle. */
export type NativeDomain = object;

/** virDomainInfo as the binding returns it. */
export interface NativeDomainInfo {
  readonly state: number;
}

/** virNodeInfo as the binding returns it. */
export interface NativeNodeInfo {
  readonly model: string;
  readonly memory: number;
  readonly cpus: number;
  readonly mhz: number;
  readonly nodes: number;
  readonly sockets: number;
  readonly cores: number;
  readonly threads: number;
}

/** One libvirt connection (the binding's `Hypervisor` class). */
export interface NativeConnection {
  connectOpen(): Promise<void>;
  connectClose(): Promise<void>;
  connectListAllDomains(): Promise<NativeDomain[]>;
  domainDefineXML(xml: string): Promise<NativeDomain>;
  domainLookupByName(name: string): Promise<NativeDomain>;
  domainLookupByUUIDString(uuid: string): Promise<NativeDomain>;
  domainCreate(domain: NativeDomain): Promise<void>;
  domainShutdown(domain: NativeDomain): Promise<void>;
  domainDestroy(domain: NativeDomain): Promise<void>;
  domainUndefine(domain: NativeDomain): Promise<void>;
  domainSuspend(domain: NativeDomain): Promise<void>;
  domainResume(domain: NativeDomain): Promise<void>;
  domainSave(domain: NativeDomain, filename: string): Promise<void>;
  domainRestore(filename: string): Promise<void>;
  domainGetInfo(domain: NativeDomain): Promise<NativeDomainInfo>;
  domainGetName(domain: NativeDomain): Promise<string>;
  domainGetUUIDString(domain: NativeDomain): Promise<string>;
  domainGetXMLDesc(domain: NativeDomain): Promise<string>;
  nodeGetInfo(): Promise<NativeNodeInfo>;
}

/** Opens native connections; the default loads `@unraid/libvirt`. */
export type ConnectionFactory = (uri: string) => Promise<NativeConnection>;

/** The package name, kept in a variable so TypeScript does not need the package to build. */
const BINDING_MODULE = '@unraid/libvirt';

/** The message every call carries when the binding is missing. */
function bindingMissingHint(moduleName: string): string {
  return (
    `the optional Node module ${moduleName} is not installed or did not build; ` +
    'install the libvirt headers and reinstall: apt-get install libvirt-dev && npm install'
  );
}

/**
 * A factory that loads the binding `moduleName` once and creates unopened connections. When the
 * module cannot load, every connection attempt fails with `hypervisor.unavailable` saying what to
 * install (and it tries again next time, so installing it fixes a running service).
 */
export function bindingConnectionFactory(moduleName: string = BINDING_MODULE): ConnectionFactory {
  let loaded: Promise<new (options: { uri: string }) => NativeConnection> | undefined;
  return async (uri) => {
    loaded ??= importBinding(moduleName);
    const Native = await loaded.catch((cause: unknown) => {
      loaded = undefined;
      throw new HypervisorError('hypervisor.unavailable', {
        operation: `connect to ${uri}`,
        detail: `${bindingMissingHint(moduleName)} (${cause instanceof Error ? cause.message : String(cause)})`,
        cause,
      });
    });
    return pinningDomains(new Native({ uri }));
  };
}

/** Handles in use by a native call, with how many calls use each. */
const inFlight = new Map<NativeDomain, number>();

/**
 * The binding's workers keep a raw pointer to the domain they act on, not a reference to its JS
 * handle. If the handle is garbage-collected mid-call, its finalizer frees the libvirt domain under
 * the worker: vpmu serve crashed (SIGSEGV) after ~3,000 boots on test+unix:///default. Every call
 * that takes a handle keeps it reachable here until the call settles.
 */
export function pinningDomains(native: NativeConnection): NativeConnection {
  const pinned =
    <T>(call: (domain: NativeDomain) => Promise<T>) =>
    async (domain: NativeDomain): Promise<T> => {
      inFlight.set(domain, (inFlight.get(domain) ?? 0) + 1);
      try {
        return await call(domain);
      } finally {
        const left = (inFlight.get(domain) ?? 1) - 1;
        if (left === 0) inFlight.delete(domain);
        else inFlight.set(domain, left);
      }
    };
  return {
    connectOpen: () => native.connectOpen(),
    connectClose: () => native.connectClose(),
    connectListAllDomains: () => native.connectListAllDomains(),
    domainDefineXML: (xml) => native.domainDefineXML(xml),
    domainLookupByName: (name) => native.domainLookupByName(name),
    domainLookupByUUIDString: (uuid) => native.domainLookupByUUIDString(uuid),
    domainCreate: pinned((d) => native.domainCreate(d)),
    domainShutdown: pinned((d) => native.domainShutdown(d)),
    domainDestroy: pinned((d) => native.domainDestroy(d)),
    domainUndefine: pinned((d) => native.domainUndefine(d)),
    domainSuspend: pinned((d) => native.domainSuspend(d)),
    domainResume: pinned((d) => native.domainResume(d)),
    domainSave: (d, filename) => pinned((dd) => native.domainSave(dd, filename))(d),
    domainRestore: (filename) => native.domainRestore(filename),
    domainGetInfo: pinned((d) => native.domainGetInfo(d)),
    domainGetName: pinned((d) => native.domainGetName(d)),
    domainGetUUIDString: pinned((d) => native.domainGetUUIDString(d)),
    domainGetXMLDesc: pinned((d) => native.domainGetXMLDesc(d)),
    nodeGetInfo: () => native.nodeGetInfo(),
  };
}

/** The default factory, over `@unraid/libvirt`. */
export const loadBindingConnection: ConnectionFactory = bindingConnectionFactory();

async function importBinding(
  moduleName: string,
): Promise<new (options: { uri: string }) => NativeConnection> {
  const module = (await import(moduleName)) as { Hypervisor?: unknown };
  if (typeof module.Hypervisor !== 'function') {
    throw new Error(`${moduleName} has no Hypervisor export`);
  }
  return module.Hypervisor as new (options: { uri: string }) => NativeConnection;
}
