/**
 * The compute agent: everything the servers use case asks of one compute host, as coarse
 * per-server operations. Inputs and outputs are plain data (ids, domain records, XML strings), so
 * the same calls can later cross a process boundary over RPC; no hypervisor object crosses it.
 */
import type { Flavor, HostSettings, Image, Owner } from '../domain/index.js';
import type { DomainListing, DomainState } from './hypervisor.js';
import type { ServerPmu } from './store.js';

export type { DomainListing, DomainState } from './hypervisor.js';

/** The guest to design on the agent's host: flavor + image + who and what it is. */
export interface GuestRequest {
  /** The server's id, the domain's UUID. */
  readonly serverId: string;
  /** The domain's name (`instance-<id>`). */
  readonly name: string;
  readonly flavor: Flavor;
  readonly image: Image;
  readonly owner: Owner;
  /** Attach the server's config drive (written by build) as a cdrom. */
  readonly configDrive?: boolean | undefined;
  /** The host files of the image's kernel and ramdisk images, for a direct kernel boot. */
  readonly bootFiles?:
    { readonly kernel: string; readonly ramdisk?: string | undefined } | undefined;
}

/** A build: design, root disk, define, start, read back. */
export interface BuildRequest extends GuestRequest {
  /** The image file the root disk is backed on (a path on the host). */
  readonly imageFile?: string | undefined;
  /** The image's declared disk_format, checked against the file. */
  readonly imageFormat?: string | undefined;
  /** Keep a root disk that is already there (a guest defined again around its own disk). */
  readonly reuseDisk?: boolean;
  /** Power the guest off (hard) once it has been started and read back. */
  readonly leaveStopped?: boolean;
  /**
   * What the config drive tells the guest (with `configDrive`); the agent adds the vPMU it
   * designed and writes the drive before the guest is defined.
   */
  readonly configDriveData?: ConfigDriveData | undefined;
}

/** The server's side of a config drive (design/config-drive.ts's input less the vPMU). */
export interface ConfigDriveData {
  readonly uuid: string;
  readonly name: string;
  readonly hostname: string;
  readonly projectId: string;
  readonly availabilityZone: string;
  readonly launchIndex: number;
  readonly reservationId: string;
  readonly flavorName: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly key:
    { readonly name: string; readonly type: string; readonly publicKey: string } | undefined;
  /** Base64, as the API took it. */
  readonly userData: string | undefined;
  /**
   * The adminPass of the create or rebuild that writes the drive. Never stored: a drive written
   * again later (a guest defined anew) carries none, as in Nova.
   */
  readonly adminPass?: string | undefined;
}

/** A guest as the agent built or redefined it. */
export interface GuestOutcome {
  /** The vPMU decision the design made on this host. */
  readonly pmu: ServerPmu;
  /** The domain XML libvirt holds now. */
  readonly domainXml: string;
}

/** How long a graceful shutdown may take before the guest is destroyed. */
export interface StopOptions {
  readonly stopTimeoutMs: number;
}

/**
 * Power actions. `on`: start; `off`: graceful stop (destroy after the timeout); `reboot-soft`:
 * graceful stop then start; `reboot-hard`: destroy (unless already off) then start.
 */
export type PowerAction = 'on' | 'off' | 'reboot-soft' | 'reboot-hard';

/**
 * Holding a guest without stopping it: `pause` freezes its vCPUs in memory (libvirt's suspend),
 * `unpause` lets them run; `suspend` saves its memory in the instance directory and stops it
 * (Nova's managed save), `resume` starts it again from there (afresh when the save is gone).
 */
export type HoldAction = 'pause' | 'unpause' | 'suspend' | 'resume';

/** `done`, or `no-domain` when the host has no domain for the server (nothing was done). */
export type PowerOutcome = 'done' | 'no-domain';

/**
 * A domain defined anew on the same server id: from a design (resize, read back and checked) or
 * from recorded XML (revert; none keeps the current definition). The guest is stopped first and
 * started again when `start`.
 */
export type RedefineRequest = StopOptions & {
  readonly start: boolean;
} & ({ readonly guest: GuestRequest } | { readonly xml: string | undefined });

/** What a redefine leaves: the domain XML, and the vPMU decision when it was designed anew. */
export interface RedefineOutcome {
  readonly domainXml: string;
  readonly pmu: ServerPmu | undefined;
}

/** One rollback step that could not be done, and why. */
export interface RestoreFailure {
  readonly step: string;
  readonly error: string;
}

/**
 * What a source host hands a destination when a guest moves (cold migrate): where its instance
 * directory (root disk, its image data, config drive) is on the source. On one machine the
 * destination copies the files from there; across machines the same record names what to fetch.
 */
export interface GuestHandover {
  /** The source host's name. */
  readonly host: string;
  /** The guest's instance directory on the source. */
  readonly instanceDir: string;
}

/** A guest moving in: designed afresh on this host's settings around the disk handed over. */
export interface MigrateInRequest extends BuildRequest {
  readonly handover: GuestHandover;
}

/** One compute host, as the servers use case drives it. */
export interface ComputeAgent {
  /** The hypervisor's URI, for messages and logs. */
  readonly uri: string;
  /** The host's guest settings (virt type, arch, CPU mode, instance directory, network). */
  readonly settings: HostSettings;
  /** Builds and starts a guest; a failure undoes its own steps and throws. */
  build(request: BuildRequest): Promise<GuestOutcome>;
  /**
   * Takes the server's domain (if any) off the host and removes its instance directory.
   * `graceful`: a guest shutdown first; otherwise powered off at once. A server with nothing on
   * the host is not an error.
   */
  remove(serverId: string, options: StopOptions & { readonly graceful: boolean }): Promise<void>;
  /**
   * The source side of a cold migration: the guest is stopped (gracefully, destroyed after the
   * timeout) and its domain and files stay as they are (a revert starts it again here, a confirm
   * removes it); returns what the destination needs to take the guest.
   */
  migrateOut(serverId: string, options: StopOptions): Promise<GuestHandover>;
  /**
   * The destination side: takes the instance directory handed over, designs the guest afresh on
   * this host's settings, defines it and starts it (left off with `leaveStopped`). A failure
   * removes what it took and throws; the source is left as it was.
   */
  migrateIn(request: MigrateInRequest): Promise<GuestOutcome>;
  /** A power action on the server's domain; `no-domain` when the host has none. */
  power(serverId: string, action: PowerAction, options: StopOptions): Promise<PowerOutcome>;
  /** A hold action on the server's domain; `no-domain` when the host has none. */
  hold(serverId: string, action: HoldAction): Promise<PowerOutcome>;
  /** The server's root disk as image data (a snapshot), and its disk_format. */
  snapshot(serverId: string): Promise<{ diskFormat: string; data: AsyncIterable<Uint8Array> }>;
  /** The domain's state, or undefined when the host has no domain for the server. */
  state(serverId: string): Promise<DomainState | undefined>;
  /** The domain XML the host holds for the server. */
  domainXml(serverId: string): Promise<string>;
  /** Defines the server's domain again; returns what the host holds afterwards. */
  redefine(serverId: string, request: RedefineRequest): Promise<RedefineOutcome>;
  /**
   * Best-effort rollback to recorded XML: destroy what runs, define `xml`, start when `start`.
   * Every step is tried; the ones that failed are returned, never thrown.
   */
  restore(
    serverId: string,
    xml: string,
    options: { readonly start: boolean },
  ): Promise<RestoreFailure[]>;
  /**
   * The end of the server's console log (the last `lines` lines, all when undefined); '' when the
   * guest has written none (the test driver's guests never run, so never write one).
   */
  consoleOutput(serverId: string, lines: number | undefined): Promise<string>;
  /** Every domain on the host, with its state. */
  list(): Promise<readonly DomainListing[]>;
  /**
   * Removes the instance directories of servers the host no longer has: any whose server id is
   * neither in `keep` nor a domain's UUID on the host, with the image data they hold. For the start
   * of the service, before any build; returns the paths removed.
   */
  sweepDisks(keep: ReadonlySet<string>): Promise<string[]>;
  /**
   * The host's `uptime` output (what Nova's libvirt driver reports as the hypervisor's uptime),
   * or undefined when this host has no way to tell.
   */
  uptime(): Promise<string | undefined>;
}
