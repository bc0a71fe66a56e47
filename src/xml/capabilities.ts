/**
 * Parses libvirt's host capabilities (`virsh capabilities`, https://libvirt.org/formatcaps.html)
 * and domain capabilities (`virsh domcapabilities`, https://libvirt.org/formatdomaincaps.html)
 * into the few facts vpmu decides on. Pure: text in, data or issues out.
 */
import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { fail, ok, type Result } from '../domain/index.js';

/** The parts of `<capabilities>` vpmu uses. */
export interface ParsedCapabilities {
  readonly host: {
    readonly arch: string;
    readonly cpuModel: string | undefined;
    readonly cpuVendor: string | undefined;
    /** `<feature name>` children of the host `<cpu>` (beyond what the model implies). */
    readonly cpuFeatures: readonly string[];
  };
  readonly guests: readonly ParsedGuest[];
}

/** One `<guest>`: an OS type and architecture, and the virt types (`<domain type>`) offering it. */
export interface ParsedGuest {
  readonly osType: string;
  readonly arch: string;
  readonly virtTypes: readonly string[];
  readonly machines: readonly string[];
}

/** The parts of `<domainCapabilities>` vpmu uses. */
export interface ParsedDomainCapabilities {
  readonly virtType: string;
  readonly arch: string;
  readonly machine: string | undefined;
  /** CPU modes libvirt marks `supported='yes'`. */
  readonly cpuModes: readonly string[];
  /** Named models of the custom mode not marked unusable (`usable` yes or unknown), in libvirt's order. */
  readonly usableModels: readonly string[];
  /** The model host-model expands to, when supported. */
  readonly hostModel: string | undefined;
}

const ARRAYS = new Set([
  'capabilities.host.cpu.feature',
  'capabilities.guest',
  'capabilities.guest.arch.domain',
  'capabilities.guest.arch.machine',
  'domainCapabilities.cpu.mode',
  'domainCapabilities.cpu.mode.model',
]);

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  isArray: (_name, jpath) => ARRAYS.has(String(jpath)),
});

type Node = Record<string, unknown>;

/** Parses `virsh capabilities` output. */
export function parseCapabilitiesXml(xml: string): Result<ParsedCapabilities> {
  const doc = parseDocument(xml, 'capabilities');
  if (!doc.ok) return doc;
  const root = doc.value;
  const cpu = node(node(root.host)?.cpu);
  const arch = text(cpu?.arch);
  if (arch === undefined) return invalid('capabilities', '<host><cpu><arch> is missing');
  const guests = list(root.guest).map((g): ParsedGuest => {
    const archNode = node(g.arch);
    return {
      osType: text(g.os_type) ?? '',
      arch: text(archNode?.['@name']) ?? '',
      virtTypes: list(archNode?.domain).flatMap((d) => text(d['@type']) ?? []),
      machines: list(archNode?.machine).flatMap((m) => text(m) ?? text(m['#text']) ?? []),
    };
  });
  return ok({
    host: {
      arch,
      cpuModel: text(cpu?.model) ?? text(node(cpu?.model)?.['#text']),
      cpuVendor: text(cpu?.vendor),
      cpuFeatures: list(cpu?.feature).flatMap((f) => text(f['@name']) ?? []),
    },
    guests,
  });
}

/** Parses `virsh domcapabilities` output. */
export function parseDomainCapabilitiesXml(xml: string): Result<ParsedDomainCapabilities> {
  const doc = parseDocument(xml, 'domainCapabilities');
  if (!doc.ok) return doc;
  const root = doc.value;
  const virtType = text(root.domain);
  if (virtType === undefined) return invalid('domainCapabilities', '<domain> is missing');
  const modes = list(node(root.cpu)?.mode);
  const supported = modes.filter((m) => m['@supported'] === 'yes');
  const custom = supported.find((m) => m['@name'] === 'custom');
  const hostModel = supported.find((m) => m['@name'] === 'host-model');
  return ok({
    virtType,
    arch: text(root.arch) ?? '',
    machine: text(root.machine),
    cpuModes: supported.flatMap((m) => text(m['@name']) ?? []),
    usableModels: list(custom?.model).flatMap((m) =>
      m['@usable'] === 'no' ? [] : (text(m['#text']) ?? []),
    ),
    hostModel: text(hostModel?.model) ?? text(list(hostModel?.model)[0]?.['#text']),
  });
}

function parseDocument(xml: string, rootName: string): Result<Node> {
  try {
    SyntaxValidator.validate(xml);
  } catch (error) {
    return invalid(rootName, error instanceof Error ? error.message : String(error));
  }
  const doc = parser.parse(xml) as Node;
  const root = doc[rootName];
  if (root === '') return ok({});
  const found = node(root);
  return found === undefined
    ? invalid(rootName, `the root element is not <${rootName}>`)
    : ok(found);
}

function invalid<T>(rootName: string, detail: string): Result<T> {
  return fail({
    code: 'host.probe_failed',
    path: [rootName],
    message: `Cannot read libvirt ${rootName} XML: ${detail}`,
  });
}

function node(value: unknown): Node | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Node)
    : undefined;
}

function list(value: unknown): Node[] {
  const items: unknown[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items.map((item) => (typeof item === 'string' ? { '#text': item } : (node(item) ?? {})));
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The user and group libvirt runs QEMU as (its DAC security model's base label). */
export interface QemuDacLabel {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The DAC base label of `virsh capabilities` (`<secmodel><model>dac</model><baselabel
 * type='kvm'>+64055:+994</baselabel>`) for a virt type, else the first one; undefined when the
 * host has no DAC model (test:///default, or security_driver = "none").
 */
export function parseQemuDacLabel(xml: string, virtType: string): QemuDacLabel | undefined {
  const doc = parseDocument(xml, 'capabilities');
  if (!doc.ok) return undefined;
  const dac = list(node(doc.value.host)?.secmodel).find((m) => text(m.model) === 'dac');
  const labels = list(dac?.baselabel);
  const chosen = labels.find((l) => text(l['@type']) === virtType) ?? labels[0];
  const match = /^\+?(\d+):\+?(\d+)$/u.exec(text(chosen?.['#text']) ?? '');
  return match === null ? undefined : { uid: Number(match[1]), gid: Number(match[2]) };
}
