/** Loads a captured host from testdata/host-capabilities/<host>/ as the HostFacts a probe returns. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DomainCapabilitiesFact, HostFacts } from '../domain/index.js';

/** Root of the captured hosts (tests run from the repository root). */
export const HOST_FIXTURES = path.resolve('testdata/host-capabilities');

interface FactsFile {
  readonly kvmDevice: boolean;
  readonly kvmEnablePmu?: string;
  readonly perfEventDevices?: string[];
  readonly domainCapabilitiesErrors?: Readonly<Record<string, string>>;
}

/** Every captured host's directory name. */
export function hostFixtureNames(): string[] {
  return readdirSync(HOST_FIXTURES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

/** The facts of one captured host. */
export function loadHostFixture(name: string): HostFacts {
  const dir = path.join(HOST_FIXTURES, name);
  const facts = JSON.parse(readFileSync(path.join(dir, 'facts.json'), 'utf8')) as FactsFile;
  const domainCapabilities: DomainCapabilitiesFact[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = /^domcapabilities-(\w+)\.xml$/u.exec(file);
    if (match?.[1] !== undefined) {
      domainCapabilities.push({
        virtType: match[1],
        xml: readFileSync(path.join(dir, file), 'utf8'),
      });
    }
  }
  for (const [virtType, error] of Object.entries(facts.domainCapabilitiesErrors ?? {})) {
    domainCapabilities.push({ virtType, error });
  }
  return {
    capabilitiesXml: readFileSync(path.join(dir, 'capabilities.xml'), 'utf8'),
    domainCapabilities,
    cpuinfo: readFileSync(path.join(dir, 'cpuinfo'), 'utf8'),
    kvmDevice: facts.kvmDevice,
    kvmEnablePmu: facts.kvmEnablePmu,
    perfEventDevices: facts.perfEventDevices,
  };
}
