import { SaxesParser } from 'saxes';
import { fail, ok, type Result } from '../domain/index.js';

/** What vpmu reads back from a domain's XML (as `virsh dumpxml` prints it). */
export interface DomainSummary {
  readonly virtType: string;
  readonly name: string;
  readonly uuid: string;
  /** true/false from `<pmu state>`, undefined when there is no `<pmu>` element. */
  readonly pmu: boolean | undefined;
  /** `<source file>` of each file-backed `<disk>`, in document order. */
  readonly diskFiles: readonly string[];
}

/**
 * Parses a libvirt domain document into its name, uuid, vPMU state and disk files. A streaming, strictly
 * well-formed parse (saxes) that keeps only those fields: this runs twice per boot, and building a
 * whole object tree (with a separate validation pass) cost ~10x more.
 */
export function parseDomainXml(xml: string): Result<DomainSummary> {
  const invalid = (detail: string) =>
    fail({ code: 'input.invalid', path: ['domain'], message: `Cannot read domain XML: ${detail}` });
  const open: string[] = [];
  const found: { root?: string; virtType?: string | undefined; pmuState?: string } = {};
  const texts = new Map<string, string>();
  const diskFiles: string[] = [];
  let repeated: string | undefined;
  const parser = new SaxesParser();
  parser.on('opentag', (tag) => {
    open.push(tag.name);
    if (open.length === 1) {
      found.root = tag.name;
      found.virtType = tag.attributes.type;
    } else if (open.length === 2 && (tag.name === 'name' || tag.name === 'uuid')) {
      if (texts.has(tag.name)) repeated ??= tag.name;
      texts.set(tag.name, '');
    } else if (open.length === 3 && open[1] === 'features' && tag.name === 'pmu') {
      if (found.pmuState !== undefined) repeated ??= 'pmu';
      // NOTE: libvirt reads <pmu/> without a state as on (formatdomain: "default on").
      found.pmuState = tag.attributes.state ?? 'on';
    } else if (open.length === 4 && tag.name === 'source' && open[2] === 'disk') {
      const file = tag.attributes.file;
      if (open[1] === 'devices' && file !== undefined) diskFiles.push(file);
    }
  });
  const addText = (text: string) => {
    const element = open[1];
    if (open.length === 2 && element !== undefined && texts.has(element))
      texts.set(element, (texts.get(element) ?? '') + text);
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.on('closetag', () => open.pop());
  try {
    parser.write(xml).close();
  } catch (error) {
    return invalid(error instanceof Error ? error.message : String(error));
  }
  if (found.root !== 'domain') return invalid('the root element is not <domain>');
  if (repeated !== undefined) return invalid(`<${repeated}> appears more than once`);
  const name = texts.get('name')?.trim();
  const uuid = texts.get('uuid')?.trim();
  if (name === undefined || name === '') return invalid('<name> is missing');
  if (uuid === undefined || uuid === '') return invalid('<uuid> is missing');
  const { pmuState } = found;
  if (pmuState !== undefined && pmuState !== 'on' && pmuState !== 'off')
    return invalid(`<pmu state="${pmuState}"> is not on or off`);
  return ok({
    virtType: found.virtType ?? '',
    name,
    uuid,
    pmu: pmuState === undefined ? undefined : pmuState === 'on',
    diskFiles,
  });
}
