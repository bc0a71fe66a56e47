/**
 * The plain inputs the payload builders take. The servers use case that will fill them does not
 * exist yet, so every field is explicit here: a builder never looks anything up, never parses a
 * raw property and never reads a clock. Times are Date objects; the builders format them.
 */
import type { PowerStateName, VmState } from '../domain/index.js';
import type { ErrorCode } from '../errors/index.js';

/** A flavor as notifications describe it; the domain Flavor plus what the API also stores. */
export interface FlavorInput {
  readonly flavorId: string;
  readonly name: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly diskGiB: number;
  /** Raw strings, exactly as stored (`{"hw:pmu": "false"}`). */
  readonly extraSpecs: Readonly<Record<string, string>>;
  /** @default 0 */
  readonly ephemeralGiB?: number;
  /** @default 0 */
  readonly swapMiB?: number;
  /** @default true */
  readonly isPublic?: boolean;
  /** @default false */
  readonly disabled?: boolean;
  /** @default null */
  readonly description?: string | null;
}

/**
 * Image properties with their types already decided. `hw_pmu` is the value after the boolean
 * grammar (`services/notification-inputs.ts` does that with specs/parseBoolean); a property the
 * image does not set is left out, and is then absent from the payload.
 */
export interface ImagePropsInput {
  readonly hw_architecture?: string;
  readonly hw_cpu_cores?: number;
  readonly hw_cpu_sockets?: number;
  readonly hw_cpu_threads?: number;
  readonly hw_disk_bus?: string;
  readonly hw_machine_type?: string;
  readonly hw_pmu?: boolean;
  readonly hw_video_model?: string;
  readonly hw_vif_model?: string;
  readonly img_hide_hypervisor_id?: boolean;
  readonly os_type?: string;
}

/** An image as notifications describe it (Glance's fields; unknown ones are null). */
export interface ImageInput {
  readonly id: string;
  readonly name: string;
  /** @default 'active' */
  readonly status?: string;
  /** @default 'public' */
  readonly visibility?: string;
  /** @default false */
  readonly protected?: boolean;
  readonly checksum?: string | null;
  readonly owner?: string | null;
  readonly sizeBytes?: number | null;
  readonly virtualSizeBytes?: number | null;
  readonly containerFormat?: string | null;
  readonly diskFormat?: string | null;
  readonly createdAt?: Date | null;
  readonly updatedAt?: Date | null;
  /** @default [] */
  readonly tags?: readonly string[];
  /** @default 0 */
  readonly minRamMiB?: number;
  /** @default 0 */
  readonly minDiskGiB?: number;
  readonly properties: ImagePropsInput;
}

/** Where a guest's vPMU setting came from and what it gets (specs/resolvePmu + explainPmu). */
export interface PmuProvenance {
  /** Raw `hw:pmu` of the flavor, null when unset. */
  readonly flavor: string | null;
  /** Raw `hw_pmu` of the image, null when unset. */
  readonly image: string | null;
  /** true on, false off, null unset (the hypervisor decides). */
  readonly resolved: boolean | null;
  readonly source: 'flavor' | 'image' | 'both' | 'unset';
  /** What the guest actually gets; null while not yet known (before scheduling). */
  readonly effective: 'on' | 'off' | null;
  readonly reason: string | null;
}

/** Who asked for the action, and under which request id. */
export interface ActionContext {
  readonly requestId: string | null;
  readonly userId: string | null;
  readonly projectId: string | null;
}

/** Everything an instance notification says about one guest at one moment. */
export interface InstanceSnapshot {
  readonly uuid: string;
  /** libvirt domain name, e.g. `instance-00000001`. */
  readonly instanceName: string;
  readonly displayName: string;
  readonly displayDescription: string | null;
  readonly projectId: string;
  readonly userId: string;
  /** Compute host, null before scheduling. */
  readonly host: string | null;
  /** The guest's hostname. */
  readonly hostName: string | null;
  /** Hypervisor node name, null before scheduling. */
  readonly node: string | null;
  readonly availabilityZone: string | null;
  /** Nova's vm_state (the one definition is the domain's). */
  readonly state: VmState;
  /** Nova's power_state name. */
  readonly powerState: PowerStateName;
  /** Nova task_state (`spawning`, `deleting`, `rebuilding`, …), null when idle. */
  readonly taskState: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date | null;
  readonly launchedAt: Date | null;
  readonly terminatedAt: Date | null;
  readonly deletedAt: Date | null;
  readonly flavor: FlavorInput;
  readonly image: ImageInput;
  readonly pmu: PmuProvenance;
  /** @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
  /** @default [] */
  readonly tags?: readonly string[];
}

/** An error to report, already reduced to plain facts (see `toFaultInput`). */
export interface FaultInput {
  /** Exception class name, e.g. `ComputeError`, `HypervisorError`. */
  readonly exception: string;
  readonly message: string;
  /** Stable code for errors raised on purpose; null for bugs. */
  readonly code: ErrorCode | null;
  /** Function that failed, e.g. `createServer`. */
  readonly functionName: string;
  /** Module that failed, e.g. `services/create-server`. */
  readonly moduleName: string;
}

/** What the scheduler is asked to place (Nova's RequestSpec, trimmed). */
export interface RequestSpecInput {
  readonly instanceUuid: string;
  readonly projectId: string;
  readonly userId: string;
  readonly availabilityZone: string | null;
  readonly flavor: FlavorInput;
  readonly image: ImageInput;
  readonly numInstances: number;
  readonly pmu: PmuProvenance;
}
