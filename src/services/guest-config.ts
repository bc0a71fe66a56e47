/**
 * The guest-config use cases behind `vpmu render` and `vpmu explain`, and the library API for
 * tools that embed vpmu: flavor + image + host settings in, domain XML or a vPMU report out.
 */
import { ok, type Result } from '../domain/index.js';
import { designGuest, type DesignInput, type GuestDesign } from '../design/index.js';

export type { DesignInput, GuestDesign } from '../design/index.js';
import type { Source } from '../specs/index.js';
import { renderDomainXml } from '../xml/index.js';

/** A designed guest and its libvirt domain XML. */
export interface RenderedGuest {
  readonly design: GuestDesign;
  readonly xml: string;
}

/** The vPMU decision for a guest, in the shape `vpmu explain --json` prints. */
export interface PmuReport {
  readonly requested: { readonly flavor: string | null; readonly image: string | null };
  readonly resolved: boolean | null;
  readonly source: Source;
  readonly effective: 'on' | 'off';
  readonly reason: string;
}

/** Validates, resolves, designs and renders a guest. */
export function renderGuest(input: DesignInput): Result<RenderedGuest> {
  const design = designGuest(input);
  if (!design.ok) return design;
  return ok({ design: design.value, xml: renderDomainXml(design.value.spec) });
}

/** The effective vPMU for a guest, with what was requested and why. */
export function explainGuest(input: DesignInput): Result<PmuReport> {
  const design = designGuest(input);
  if (!design.ok) return design;
  return ok(toPmuReport(design.value));
}

/** The report for an already designed guest. */
export function toPmuReport(design: GuestDesign): PmuReport {
  const { pmu, explanation } = design;
  return {
    requested: pmu.requested,
    resolved: pmu.resolved,
    source: pmu.source,
    effective: explanation.effective,
    reason: explanation.reason,
  };
}
