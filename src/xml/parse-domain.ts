import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { fail, ok, type Result } from '../domain/index.js';

/** What vpmu reads back from a domain's XML (as `virsh dumpxml` prints it). */
export interface DomainSummary {
  readonly virtType: string;
  readonly name: string;
  readonly uuid: string;
  /** true/false from `<pmu state>`, undefined when there is no `<pmu>` element. */
  readonly pmu: boolean | undefined;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/** Parses a libvirt domain document into its name, uuid and vPMU state. */
export function parseDomainXml(xml: string): Result<DomainSummary> {
  const invalid = (detail: string) =>
    fail({ code: 'input.invalid', path: ['domain'], message: `Cannot read domain XML: ${detail}` });
  try {
    SyntaxValidator.validate(xml);
  } catch (error) {
    return invalid(error instanceof Error ? error.message : String(error));
  }
  const doc = parser.parse(xml) as { domain?: unknown };
  const domain = asRecord(doc.domain);
  if (domain === undefined) return invalid('the root element is not <domain>');
  const name = text(domain.name);
  const uuid = text(domain.uuid);
  if (name === undefined) return invalid('<name> is missing');
  if (uuid === undefined) return invalid('<uuid> is missing');
  const pmuElement = asRecord(domain.features)?.pmu;
  let pmu: boolean | undefined;
  if (pmuElement !== undefined) {
    // NOTE: libvirt reads <pmu/> without a state as on (formatdomain: "default on").
    const state = text(asRecord(pmuElement)?.['@state']) ?? 'on';
    if (state !== 'on' && state !== 'off')
      return invalid(`<pmu state="${state}"> is not on or off`);
    pmu = state === 'on';
  }
  return ok({ virtType: text(domain['@type']) ?? '', name, uuid, pmu });
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  if (value === '') return {};
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
