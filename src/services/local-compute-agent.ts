/**
 * The compute agent in this process: the coarse per-server operations of ports/compute-agent over
 * one hypervisor connection, its instance disks and its host settings.
 */
import { orThrow, type HostSettings } from '../domain/index.js';
import { HypervisorError } from '../errors/index.js';
import type {
  BuildRequest,
  ComputeAgent,
  GuestHandover,
  GuestOutcome,
  GuestRequest,
  HoldAction,
  MigrateInRequest,
  PowerAction,
  PowerOutcome,
  RedefineOutcome,
  RedefineRequest,
  RestoreFailure,
  StopOptions,
} from '../ports/compute-agent.js';
import type { DomainListing, DomainState, Hypervisor } from '../ports/hypervisor.js';
import type { InstanceDisks } from '../ports/instance-disks.js';
import type { GuestFiles } from '../ports/guest-files.js';
import type { ImageCache } from '../ports/image-cache.js';
import { cachedFiles } from './cached-images.js';
import { renderGuest, toPmuReport, type PmuReport } from './guest-config.js';
import { guestUp } from './guest-lifecycle.js';
import { verifyReadback } from './readback.js';

/** Where the local agent reports what it could not undo. */
export interface AgentLog {
  error(fields: Record<string, unknown>, message: string): void;
}

/** The ports and settings of one local compute host. */
export interface LocalComputeAgentDeps {
  /** The host's name, in logs. */
  readonly host: string;
  readonly hypervisor: Hypervisor;
  readonly disks: InstanceDisks;
  /** Config drives and console logs; without it, guests get no config drive and no console log. */
  readonly guestFiles?: GuestFiles | undefined;
  readonly settings: HostSettings;
  readonly log?: AgentLog | undefined;
  /** Reads the host's `uptime` output; absent, the agent cannot tell (Nova's 501). */
  readonly uptime?: (() => Promise<string>) | undefined;
  /**
   * The host's own image cache (`vpmu compute` with imageApiUrl): builds take their image,
   * kernel and ramdisk files from it, by image id, instead of the paths the request names.
   */
  readonly images?: ImageCache | undefined;
}

/** A ComputeAgent over a hypervisor, its disks and its settings, in this process. */
export class LocalComputeAgent implements ComputeAgent {
  readonly #deps: LocalComputeAgentDeps;

  constructor(deps: LocalComputeAgentDeps) {
    this.#deps = deps;
  }

  get uri(): string {
    return this.#deps.hypervisor.uri;
  }

  get settings(): HostSettings {
    return this.#deps.settings;
  }

  async uptime(): Promise<string | undefined> {
    return this.#deps.uptime?.();
  }

  /** Disk, define, start, read back (guestUp() undoes on failure); then off when asked. */
  async build(request: BuildRequest): Promise<GuestOutcome> {
    const images = this.#deps.images;
    if (images === undefined) return this.#build(request);
    // A root disk kept as it is needs no image data (guestUp() decides the same way).
    const keepDisk =
      request.reuseDisk === true &&
      (await this.#deps.disks.exists(`${this.#serverDir(request.serverId)}/disk`));
    const files = await cachedFiles(images, request, !keepDisk);
    try {
      return await this.#build({
        ...request,
        imageFile: files.imageFile,
        bootFiles: files.bootFiles,
      });
    } finally {
      files.release();
    }
  }

  async #build(request: BuildRequest): Promise<GuestOutcome> {
    const { hypervisor, disks } = this.#deps;
    const up = await guestUp(
      {
        ...designInput(request, this.#deps.settings),
        imageFile: request.imageFile,
        imageFormat: request.imageFormat,
        reuseDisk: request.reuseDisk === true,
        configDriveData: request.configDriveData,
      },
      {
        hypervisor,
        disks,
        guestFiles: this.#deps.guestFiles,
        onUndoFailure: (guest, failures) => {
          this.#undoFailed(request.serverId, `undo the steps of ${guest}`, failures.join('; '));
        },
      },
    );
    if (request.leaveStopped === true) await hypervisor.destroy(request.serverId);
    return { pmu: pmuOf(up.pmu), domainXml: up.liveXml };
  }

  async migrateOut(serverId: string, options: StopOptions): Promise<GuestHandover> {
    const state = await this.state(serverId);
    if (state === undefined) {
      throw new HypervisorError('hypervisor.not_found', {
        operation: 'hand over',
        domain: serverId,
        detail: `host ${this.#deps.host} has no domain for this server`,
      });
    }
    if (state !== 'shutoff') {
      await this.#deps.hypervisor.stop(serverId, { timeoutMs: options.stopTimeoutMs });
    }
    return { host: this.#deps.host, instanceDir: this.#serverDir(serverId) };
  }

  /** Takes the files handed over, then the build steps around them (guestUp() keeps the disk). */
  async migrateIn(request: MigrateInRequest): Promise<GuestOutcome> {
    const dir = this.#serverDir(request.serverId);
    await this.#deps.disks.receive(request.handover.instanceDir, dir);
    try {
      return await this.build({ ...request, reuseDisk: true });
    } catch (error) {
      await this.#deps.disks.remove(dir).catch((undo: unknown) => {
        this.#undoFailed(request.serverId, 'remove the files taken in', undo);
      });
      throw error;
    }
  }

  async remove(serverId: string, options: StopOptions & { graceful: boolean }): Promise<void> {
    const { hypervisor, disks } = this.#deps;
    // The state doubles as the existence check: one libvirt call where a lookup took two.
    const state = await this.state(serverId);
    if (state !== undefined) {
      if (options.graceful) {
        await hypervisor.stop(serverId, { timeoutMs: options.stopTimeoutMs });
      } else if (state !== 'shutoff') {
        await hypervisor.destroy(serverId);
      }
      await hypervisor.undefine(serverId);
    }
    await disks.remove(this.#serverDir(serverId));
  }

  async power(serverId: string, action: PowerAction, options: StopOptions): Promise<PowerOutcome> {
    const { hypervisor } = this.#deps;
    const state = await this.state(serverId);
    if (state === undefined) return 'no-domain';
    switch (action) {
      case 'on':
        await this.#adoptDisk(serverId);
        await hypervisor.start(serverId);
        break;
      case 'off':
        await hypervisor.stop(serverId, { timeoutMs: options.stopTimeoutMs });
        break;
      case 'reboot-soft':
        await hypervisor.stop(serverId, { timeoutMs: options.stopTimeoutMs });
        await this.#adoptDisk(serverId);
        await hypervisor.start(serverId);
        break;
      case 'reboot-hard':
        if (state !== 'shutoff') await hypervisor.destroy(serverId);
        await this.#adoptDisk(serverId);
        await hypervisor.start(serverId);
        break;
    }
    return 'done';
  }

  async hold(serverId: string, action: HoldAction): Promise<PowerOutcome> {
    const { hypervisor } = this.#deps;
    const state = await this.state(serverId);
    if (state === undefined) return 'no-domain';
    const saved = `${this.#serverDir(serverId)}/memory.save`;
    switch (action) {
      case 'pause':
        await hypervisor.pause(serverId);
        break;
      case 'unpause':
        await hypervisor.unpause(serverId);
        break;
      case 'suspend':
        await hypervisor.save(serverId, saved);
        break;
      case 'resume':
        try {
          await hypervisor.restore(saved);
        } catch (error) {
          // As libvirt starts a guest whose managed save is gone: afresh.
          if ((await this.state(serverId)) !== 'shutoff') throw error;
          await hypervisor.start(serverId);
        }
        break;
    }
    return 'done';
  }

  async snapshot(
    serverId: string,
  ): Promise<{ diskFormat: string; data: AsyncIterable<Uint8Array> }> {
    return this.#deps.disks.export(`${this.#serverDir(serverId)}/disk`);
  }

  #serverDir(serverId: string): string {
    return `${this.#deps.settings.instanceDir.replace(/\/+$/u, '')}/${serverId}`;
  }

  async state(serverId: string): Promise<DomainState | undefined> {
    return this.#deps.hypervisor.state(serverId).catch((error: unknown) => {
      if (error instanceof HypervisorError && error.code === 'hypervisor.not_found') {
        return undefined;
      }
      throw error;
    });
  }

  async domainXml(serverId: string): Promise<string> {
    return this.#deps.hypervisor.domainXml(serverId);
  }

  async redefine(serverId: string, request: RedefineRequest): Promise<RedefineOutcome> {
    const images = this.#deps.images;
    if (images === undefined || !('guest' in request) || request.guest.bootFiles === undefined) {
      return this.#redefine(serverId, request);
    }
    // A kernel boot designed anew names the cache's kernel and ramdisk.
    const files = await cachedFiles(images, request.guest, false);
    try {
      return await this.#redefine(serverId, {
        ...request,
        guest: { ...request.guest, bootFiles: files.bootFiles },
      });
    } finally {
      files.release();
    }
  }

  async #redefine(serverId: string, request: RedefineRequest): Promise<RedefineOutcome> {
    const { hypervisor, settings } = this.#deps;
    if ('guest' in request) {
      const design = orThrow(renderGuest(designInput(request.guest, settings)));
      await hypervisor.stop(serverId, { timeoutMs: request.stopTimeoutMs });
      await hypervisor.define(design.xml);
      verifyReadback(design.design.spec, await hypervisor.domainXml(serverId), 'define');
      if (request.start) await hypervisor.start(serverId);
      const pmu = pmuOf(toPmuReport(design.design));
      return { pmu, domainXml: await hypervisor.domainXml(serverId) };
    }
    await hypervisor.stop(serverId, { timeoutMs: request.stopTimeoutMs });
    if (request.xml !== undefined) await hypervisor.define(request.xml);
    if (request.start) await hypervisor.start(serverId);
    return { pmu: undefined, domainXml: await hypervisor.domainXml(serverId) };
  }

  async restore(
    serverId: string,
    xml: string,
    options: { readonly start: boolean },
  ): Promise<RestoreFailure[]> {
    const { hypervisor } = this.#deps;
    const failures: RestoreFailure[] = [];
    const undo = (step: string) => (error: unknown) => {
      failures.push({ step, error: String(error) });
    };
    const state = await this.state(serverId).catch(undo('read its state'));
    if (state !== undefined && state !== 'shutoff') {
      await hypervisor.destroy(serverId).catch(undo('destroy the resized guest'));
    }
    await hypervisor.define(xml).catch(undo('define the old guest again'));
    if (options.start) {
      await hypervisor.start(serverId).catch(undo('start the old guest again'));
    }
    return failures;
  }

  async consoleOutput(serverId: string, lines: number | undefined): Promise<string> {
    const { guestFiles, settings } = this.#deps;
    if (guestFiles === undefined || settings.virtType === 'lxc') return '';
    const log = `${settings.instanceDir.replace(/\/+$/u, '')}/${serverId}/console.log`;
    return guestFiles.readConsoleLog(log, lines);
  }

  async list(): Promise<readonly DomainListing[]> {
    return this.#deps.hypervisor.list();
  }

  async sweepDisks(keep: ReadonlySet<string>): Promise<string[]> {
    const domains = await this.#deps.hypervisor.list();
    const kept = new Set([...keep, ...domains.map((domain) => domain.uuid.toLowerCase())]);
    const removed = await this.#deps.disks.sweep(kept);
    // Disks made before disks kept their image data take it now (the stopped ones entirely).
    for (const serverId of kept) {
      await this.#adoptDisk(serverId).catch((error: unknown) => {
        this.#deps.log?.error(
          { server: serverId, host: this.#deps.host, err: String(error) },
          'cannot make a root disk from an older vpmu hold its image data; it may not start again',
        );
      });
    }
    return removed;
  }

  /**
   * Before a guest starts: a root disk from before disks kept their image data takes that data,
   * so an image deleted later loses nothing (docs/hypervisor.md, "Root disks and image data").
   */
  async #adoptDisk(serverId: string): Promise<void> {
    await this.#deps.disks.adopt(
      `${this.#deps.settings.instanceDir.replace(/\/+$/u, '')}/${serverId}/disk`,
    );
  }

  /** A rollback or undo step that failed: the state it leaves behind is logged, never hidden. */
  #undoFailed(serverId: string, step: string, error: unknown): void {
    this.#deps.log?.error(
      { server: serverId, host: this.#deps.host, step, err: String(error) },
      'cannot undo a step; the guest may need an administrator',
    );
  }
}

function designInput(request: GuestRequest, settings: HostSettings) {
  return {
    flavor: request.flavor,
    image: request.image,
    host: settings,
    name: request.name,
    uuid: request.serverId,
    owner: request.owner,
    configDrive: request.configDrive,
    bootFiles: request.bootFiles,
  };
}

function pmuOf(report: PmuReport): GuestOutcome['pmu'] {
  return {
    requested: report.requested,
    resolved: report.resolved,
    source: report.source,
    effective: report.effective,
    reason: report.reason,
  };
}
