/**
 * One guest's life on one hypervisor, for `vpmu guest up|down` (and later the compute agent):
 * design → disk → define → verify → start → verify, and back down again. A failure at any step
 * undoes the steps before it, so no half-made guest is left behind.
 */
import { orThrow } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { DomainRef, Hypervisor, StopOutcome } from '../ports/hypervisor.js';
import type { InstanceDisks } from '../ports/instance-disks.js';
import type { GuestFiles } from '../ports/guest-files.js';
import type { ConfigDriveData } from '../ports/compute-agent.js';
import { CONFIG_DRIVE_LABEL, configDriveFiles } from '../design/index.js';
import { renderGuest, toPmuReport, type DesignInput, type PmuReport } from './guest-config.js';
import { verifyReadback } from './readback.js';
import { parseDomainXml } from '../xml/index.js';

export type { DomainRef, Hypervisor, StopOutcome } from '../ports/hypervisor.js';
export type { InstanceDisks } from '../ports/instance-disks.js';

/** The ports a guest's life needs. */
export interface GuestDeps {
  readonly hypervisor: Hypervisor;
  readonly disks: InstanceDisks;
  /** Writes config drives; needed only by guests that have one. */
  readonly guestFiles?: GuestFiles | undefined;
  /** Told what could not be undone after a failure (never when everything was undone). */
  readonly onUndoFailure?: (guest: string, failures: readonly string[]) => void;
}

/** A running guest, as `vpmu guest up` reports it. */
export interface GuestUpResult {
  readonly name: string;
  readonly uuid: string;
  readonly disk: string | undefined;
  readonly pmu: PmuReport;
  /** The XML vpmu rendered. */
  readonly xml: string;
  /** The XML libvirt returned after start, as checked. */
  readonly liveXml: string;
}

/** What `vpmu guest down` did. */
export interface GuestDownResult {
  readonly name: string;
  readonly uuid: string;
  readonly stop: StopOutcome;
  /** The instance directory removed; undefined when the guest had none. */
  readonly removedDirectory: string | undefined;
}

/**
 * Creates the root disk, defines and starts the guest, and checks libvirt's read-back twice. With
 * `reuseDisk`, a root disk already there is kept (and never removed on failure): how a guest whose
 * domain is gone is defined again around its own disk, as Nova's hard reboot does.
 */
export async function guestUp(
  input: DesignInput & {
    readonly imageFile?: string | undefined;
    /** The image's declared disk_format, checked against the file before a disk is built on it. */
    readonly imageFormat?: string | undefined;
    readonly reuseDisk?: boolean;
    /** What the config drive tells the guest, when it has one (the vPMU is added here). */
    readonly configDriveData?: ConfigDriveData | undefined;
  },
  deps: GuestDeps,
): Promise<GuestUpResult> {
  const { design, xml } = orThrow(renderGuest(input));
  const { spec } = design;
  const rootDisk = spec.devices.rootDisk;
  // A root disk kept as it is needs no image file: it holds its own copy of the image's data, and
  // the image may have been deleted since.
  const keepDisk =
    input.reuseDisk === true && rootDisk !== undefined && (await deps.disks.exists(rootDisk.path));
  if (!keepDisk && input.imageFile !== undefined && !(await deps.disks.exists(input.imageFile))) {
    throw new ComputeError(
      'input.invalid',
      `Cannot use image file ${input.imageFile} for guest '${spec.name}': the file does not exist`,
      {
        issues: [
          {
            code: 'input.invalid',
            path: ['image_file'],
            message: `Image file ${input.imageFile} does not exist`,
          },
        ],
      },
    );
  }
  // Defining an existing UUID would silently replace that domain; an existing name with another
  // UUID is refused by define itself (libvirt and the fake alike), so one lookup is enough.
  if (await deps.hypervisor.exists(spec.uuid)) {
    throw new ComputeError(
      'input.invalid',
      `Cannot create guest '${spec.name}' (${spec.uuid}) on ${deps.hypervisor.uri}: a domain with that UUID is already defined`,
    );
  }
  const instancePath = rootDisk === undefined ? undefined : parentOf(rootDisk.path);
  const undo: (() => Promise<unknown>)[] = [];
  try {
    if (rootDisk !== undefined && instancePath !== undefined && !keepDisk) {
      undo.push(() => deps.disks.remove(instancePath));
      await deps.disks.create({
        path: rootDisk.path,
        sizeGiB: input.flavor.diskGiB,
        backingFile: input.imageFile,
        backingFormat: input.imageFormat,
      });
    }
    const drive = spec.devices.configDrive;
    if (drive !== undefined) {
      if (deps.guestFiles === undefined) {
        throw new ComputeError(
          'input.invalid',
          `Cannot give guest '${spec.name}' a config drive on ${deps.hypervisor.uri}: this host writes none`,
        );
      }
      const data = input.configDriveData;
      if (data === undefined) {
        throw new ComputeError(
          'input.invalid',
          `Cannot give guest '${spec.name}' a config drive: nothing was given to put on it`,
        );
      }
      const files = configDriveFiles({ ...data, vpmu: toPmuReport(design) });
      await deps.guestFiles.writeConfigDrive(drive.path, CONFIG_DRIVE_LABEL, files);
    }
    const ref = await deps.hypervisor.define(xml);
    undo.push(() => deps.hypervisor.undefine(ref));
    verifyReadback(spec, await deps.hypervisor.domainXml(ref), 'define');
    await deps.hypervisor.start(ref);
    undo.push(() => deps.hypervisor.destroy(ref));
    const liveXml = await deps.hypervisor.domainXml(ref);
    verifyReadback(spec, liveXml, 'start');
    return {
      name: ref.name,
      uuid: ref.uuid,
      disk: rootDisk?.path,
      pmu: toPmuReport(design),
      xml,
      liveXml,
    };
  } catch (error) {
    const undoFailures: string[] = [];
    for (const step of undo.reverse()) {
      await step().catch((undoError: unknown) => {
        undoFailures.push(String(undoError));
      });
    }
    if (undoFailures.length > 0) deps.onUndoFailure?.(spec.name, undoFailures);
    throw error;
  }
}

/**
 * Stops a guest (gracefully, then destroy after `stopTimeoutMs`), undefines it and removes its
 * instance directory `<instanceDir>/<uuid>`. A guest whose own XML puts its disks in an instance
 * directory elsewhere (`<other>/<uuid>/…`) is refused before anything is touched, naming the
 * directory to use, so its disks are never left behind.
 */
export async function guestDown(
  request: { readonly guest: string; readonly instanceDir: string; readonly stopTimeoutMs: number },
  deps: GuestDeps,
): Promise<GuestDownResult> {
  const ref: DomainRef = await deps.hypervisor.lookup(request.guest);
  const instanceDir = request.instanceDir.replace(/\/+$/u, '');
  const { diskFiles } = orThrow(parseDomainXml(await deps.hypervisor.domainXml(ref)));
  const elsewhere = diskFiles
    .map(parentOf)
    .find((dir) => dir.endsWith(`/${ref.uuid}`) && parentOf(dir) !== instanceDir);
  if (elsewhere !== undefined) {
    throw new ComputeError(
      'input.invalid',
      `Cannot take guest '${ref.name}' (${ref.uuid}) down: its disks are in ${elsewhere}, not under the instance directory ${instanceDir}; use ${parentOf(elsewhere)}`,
    );
  }
  const stop = await deps.hypervisor.stop(ref, { timeoutMs: request.stopTimeoutMs });
  await deps.hypervisor.undefine(ref);
  const directory = `${instanceDir}/${ref.uuid}`;
  const removed = await deps.disks.remove(directory);
  return {
    name: ref.name,
    uuid: ref.uuid,
    stop,
    removedDirectory: removed ? directory : undefined,
  };
}

function parentOf(file: string): string {
  return file.replace(/\/[^/]*$/u, '');
}
