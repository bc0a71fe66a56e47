import {
  fail,
  ok,
  type Architecture,
  type CpuMode,
  type Flavor,
  type Image,
  type Result,
  type VirtType,
} from '../domain/index.js';
import { HW_PMU } from './registry.js';
import { resolveConflicting, type Source } from './resolve.js';

/** What the flavor and image asked for, and the tri-state they resolve to. */
export interface PmuResolution {
  /** Raw values as stored (`null` when unset). */
  readonly requested: { readonly flavor: string | null; readonly image: string | null };
  /** true: on, false: off, null: unset, so the hypervisor decides. */
  readonly resolved: boolean | null;
  readonly source: Source;
}

/** The vPMU a guest actually gets, and why, in a sentence a tenant can read. */
export interface PmuExplanation {
  readonly effective: 'on' | 'off';
  readonly reason: string;
}

/** What decides the effective vPMU besides the request. */
export interface PmuGuest {
  readonly arch: Architecture;
  readonly virtType: VirtType;
  readonly cpuMode: CpuMode;
  readonly cpuModel?: string | undefined;
}

/**
 * Resolves `hw:pmu` (flavor) and `hw_pmu` (image) into a tri-state. Unlike Nova, a value outside
 * the boolean grammar is an issue, never a silent false; a conflict keeps Nova's message.
 */
export function resolvePmu(flavor: Flavor, image: Image): Result<PmuResolution> {
  const resolved = resolveConflicting(HW_PMU, flavor, image);
  if (!resolved.ok) return resolved;
  const { sides, value, source } = resolved.value;
  return ok({
    requested: { flavor: sides.flavor?.raw ?? null, image: sides.image?.raw ?? null },
    resolved: typeof value === 'boolean' ? value : null,
    source,
  });
}

/** True for virt types whose libvirt domains carry a `<pmu>` feature. */
export function emitsPmu(virtType: VirtType): boolean {
  return virtType === 'kvm' || virtType === 'qemu';
}

/**
 * Refuses a resolved vPMU the guest cannot have, before anything is created: libvirt rejects
 * `<pmu state="off"/>` on ppc64 ("PMU is always enabled for architecture"), failing the start.
 */
export function checkPmuForGuest(
  pmu: PmuResolution,
  guest: Pick<PmuGuest, 'arch' | 'virtType'>,
): Result<PmuResolution> {
  if (pmu.resolved === false && isPpc64(guest.arch) && emitsPmu(guest.virtType)) {
    return fail({
      code: 'spec.unsupported_for_guest',
      path: requestPath(pmu),
      message:
        `Cannot honour ${describeRequest(pmu)} for a ${guest.arch} guest: ${guest.arch} guests ` +
        'always have a PMU, and libvirt refuses to start them with it off',
    });
  }
  return ok(pmu);
}

/**
 * The effective vPMU state of a guest (DESIGN §2.6): unset is not "on". On x86 QEMU enables the
 * PMU by default only for host-passthrough and maximum CPUs; x86 under TCG has none at all.
 */
export function explainPmu(pmu: PmuResolution, guest: PmuGuest): PmuExplanation {
  const asked = pmu.resolved === null ? undefined : describeRequest(pmu);
  if (!emitsPmu(guest.virtType)) {
    return {
      effective: 'off',
      reason:
        `${guest.virtType} guests have no virtual PMU` +
        (asked === undefined ? '' : `; ${asked} is checked but has no effect`) +
        '.',
    };
  }
  if (isPpc64(guest.arch)) {
    return { effective: 'on', reason: `${guest.arch} guests always have a PMU.` };
  }
  if (isX86(guest.arch) && guest.virtType === 'qemu') {
    return {
      effective: 'off',
      reason:
        'x86 guests under TCG (virt type qemu) get no working vPMU, because QEMU emulates the ' +
        'x86 PMU only with KVM' +
        (pmu.resolved === true
          ? `; ${asked ?? ''} is written to the XML but cannot take effect`
          : '') +
        '.',
    };
  }
  if (pmu.resolved !== null) {
    return {
      effective: pmu.resolved ? 'on' : 'off',
      reason: `Requested by ${asked ?? ''}; libvirt passes pmu=${pmu.resolved ? 'on' : 'off'} to QEMU.`,
    };
  }
  if (guest.arch === 'aarch64') {
    return {
      effective: 'on',
      reason: 'Not requested; QEMU gives aarch64 guests a PMU by default when the host has one.',
    };
  }
  if (guest.cpuMode === 'host-passthrough' || guest.cpuMode === 'maximum') {
    return {
      effective: 'on',
      reason: `Not requested; QEMU turns the vPMU on by default for ${guest.cpuMode} CPUs.`,
    };
  }
  const cpu =
    guest.cpuMode === 'custom' ? `the named CPU model ${guest.cpuModel ?? ''}` : 'host-model CPUs';
  return {
    effective: 'off',
    reason: `Not requested; QEMU leaves the vPMU off by default for ${cpu} on x86.`,
  };
}

/** "hw:pmu=false from the flavor", "hw_pmu=yes from the image", or both joined by "and". */
function describeRequest(pmu: PmuResolution): string {
  const parts: string[] = [];
  if (pmu.requested.flavor !== null) parts.push(`hw:pmu=${pmu.requested.flavor} from the flavor`);
  if (pmu.requested.image !== null) parts.push(`hw_pmu=${pmu.requested.image} from the image`);
  return parts.join(' and ');
}

function requestPath(pmu: PmuResolution): readonly string[] {
  return pmu.requested.flavor !== null
    ? ['flavor', 'extra_specs', 'hw:pmu']
    : ['image', 'properties', 'hw_pmu'];
}

function isPpc64(arch: Architecture): boolean {
  return arch === 'ppc64' || arch === 'ppc64le';
}

function isX86(arch: Architecture): boolean {
  return arch === 'x86_64' || arch === 'i686';
}
