/**
 * Read-back: after define and after start, the domain libvirt holds must be the guest vpmu
 * designed — same name, same UUID, same vPMU tri-state. A mismatch names both values.
 */
import type { GuestSpec } from '../domain/index.js';
import { HypervisorError } from '../errors/index.js';
import { parseDomainXml, type DomainSummary } from '../xml/index.js';

/** One field that differs between the designed guest and the domain libvirt returned. */
export interface ReadbackMismatch {
  readonly field: 'name' | 'uuid' | 'pmu';
  readonly designed: string;
  readonly actual: string;
}

/** Compares a designed guest with what libvirt read back; an empty list means they agree. */
export function compareReadback(spec: GuestSpec, actual: DomainSummary): ReadbackMismatch[] {
  const mismatches: ReadbackMismatch[] = [];
  if (actual.name !== spec.name)
    mismatches.push({ field: 'name', designed: spec.name, actual: actual.name });
  if (actual.uuid.toLowerCase() !== spec.uuid.toLowerCase()) {
    mismatches.push({ field: 'uuid', designed: spec.uuid, actual: actual.uuid });
  }
  if (actual.pmu !== spec.features.pmu) {
    mismatches.push({
      field: 'pmu',
      designed: describePmu(spec.features.pmu),
      actual: describePmu(actual.pmu),
    });
  }
  return mismatches;
}

/**
 * Parses read-back XML and throws `hypervisor.readback_mismatch` when it differs from the spec.
 * `stage` says when it was read ("define", "start").
 */
export function verifyReadback(spec: GuestSpec, xml: string, stage: string): void {
  const parsed = parseDomainXml(xml);
  const operation = `verify domain XML after ${stage}`;
  if (!parsed.ok) {
    throw new HypervisorError('hypervisor.readback_mismatch', {
      operation,
      domain: spec.name,
      detail: parsed.issues.map((issue) => issue.message).join('; '),
    });
  }
  const mismatches = compareReadback(spec, parsed.value);
  if (mismatches.length === 0) return;
  throw new HypervisorError('hypervisor.readback_mismatch', {
    operation,
    domain: spec.name,
    detail: mismatches
      .map((m) => `${m.field} is ${m.actual} in libvirt but ${m.designed} in the designed guest`)
      .join('; '),
  });
}

function describePmu(pmu: boolean | undefined): string {
  return pmu === undefined
    ? 'unset (no <pmu> element)'
    : pmu
      ? '<pmu state="on">'
      : '<pmu state="off">';
}
