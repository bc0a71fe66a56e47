/**
 * The `vpmu` command line. Commands compute data; this edge prints it and turns failures into exit
 * codes: 0 success, 1 invalid input or a conflict, 2 misuse of the command line.
 */
import { parseArgs } from 'node:util';
import {
  ARCHITECTURES,
  CPU_MODES,
  parseFlavorDocument,
  parseImageDocument,
  VIRT_TYPES,
  type Flavor,
  type HostSettings,
  type Image,
  type NetworkAttachment,
  orThrow,
} from '../domain/index.js';
import { ComputeError, type Issue } from '../errors/index.js';
import { explainGuest, renderGuest, type DesignInput, type PmuReport } from '../services/index.js';
import {
  HYPERVISOR_COMMANDS,
  HYPERVISOR_USAGE,
  runHypervisorCommand,
  type HypervisorCommandIo,
} from './hypervisor-commands.js';
import { UsageError } from './usage-error.js';

/** What the CLI needs from the outside world; src/main/ provides the real one. */
export interface CliIo extends HypervisorCommandIo {
  out(text: string): void;
  err(text: string): void;
  readText(path: string): Promise<string>;
  newUuid(): string;
  readonly version: string;
}

const GUEST_OPTIONS = {
  flavor: { type: 'string' },
  image: { type: 'string' },
  'flavor-property': { type: 'string', multiple: true },
  'image-property': { type: 'string', multiple: true },
  'virt-type': { type: 'string' },
  arch: { type: 'string' },
  'cpu-mode': { type: 'string' },
  'cpu-model': { type: 'string' },
  name: { type: 'string' },
  uuid: { type: 'string' },
  'instance-dir': { type: 'string' },
  network: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EXPLAIN_OPTIONS = { ...GUEST_OPTIONS, json: { type: 'boolean' } } as const;

export const USAGE = `Usage:
  vpmu render  [GUEST OPTIONS]          print the libvirt domain XML for a guest
  vpmu explain [GUEST OPTIONS] [--json] say which vPMU the guest gets, and why
  vpmu host-info | guest up | guest down  see "vpmu guest --help"
  vpmu serve   [--host ADDR] [--port N] [--state-dir DIR] [--config FILE]
                                        run the identity, compute and image APIs (vpmu serve --help)
  vpmu api | conductor | compute        the processes of a deployment over many hosts
                                        (vpmu api --help, docs/distributed.md)
  vpmu --version | --help

Guest options:
  --flavor FILE                 Nova flavor JSON, or \`openstack flavor show -f json\` output
  --image FILE                  Glance v2 image JSON, or \`openstack image show -f json\` output
  --flavor-property KEY=VALUE   set a flavor extra spec (repeatable), e.g. hw:pmu=false
  --image-property KEY=VALUE    set an image property (repeatable), e.g. hw_pmu=true
  --virt-type kvm|qemu|lxc      libvirt virt type (default kvm)
  --arch ARCH                   host architecture: ${ARCHITECTURES.join(', ')} (default x86_64)
  --cpu-mode MODE               ${CPU_MODES.join(', ')} (default host-model)
  --cpu-model NAME              CPU model, with --cpu-mode custom
  --name NAME                   domain name (default instance-<first 8 hex digits of the uuid>)
  --uuid UUID                   domain uuid (default: a new random one)
  --instance-dir DIR            where instance disks live (default /var/lib/vpmu/instances)
  --network NAME|user|none      libvirt network to plug the NIC into (default "default")

Exit status: 0 success, 1 invalid input or a conflict, 2 misuse.
`;

/** Runs the CLI and returns its exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    io.out(`${io.version}\n`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command !== undefined) {
      io.out(USAGE);
      return 0;
    }
    io.err(USAGE);
    return 2;
  }
  const hypervisorCommand = HYPERVISOR_COMMANDS.find((known) => known === command);
  if (command !== 'render' && command !== 'explain' && hypervisorCommand === undefined) {
    io.err(
      `Error: Cannot run "${command}": unknown command; known: render, explain, ${HYPERVISOR_COMMANDS.join(', ')}, serve, api, conductor, compute [cli.usage]\n\n${USAGE}${HYPERVISOR_USAGE}`,
    );
    return 2;
  }
  const json =
    (command === 'explain' || hypervisorCommand !== undefined) && rest.includes('--json');
  try {
    if (command !== 'render' && command !== 'explain') {
      if (hypervisorCommand === undefined) throw new TypeError('unreachable: unknown command');
      return await runHypervisorCommand(hypervisorCommand, rest, io, {
        options: GUEST_OPTIONS,
        read: (values) => readGuestInput(values, io),
      });
    }
    const values = parseOptions(command, rest);
    if (values.help === true) {
      io.out(USAGE);
      return 0;
    }
    const input = await readGuestInput(values, io);
    if (command === 'render') {
      const rendered = orThrow(renderGuest(input));
      io.out(rendered.xml);
    } else {
      const report = orThrow(explainGuest(input));
      io.out(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`Error: ${error.message} [cli.usage]\nRun "vpmu ${command} --help" for usage.\n`);
      return 2;
    }
    if (error instanceof ComputeError) {
      const issues: readonly Issue[] =
        error.issues.length > 0
          ? error.issues
          : [{ code: error.code, path: [], message: error.message }];
      io.err(issues.map((issue) => `Error: ${issue.message} [${issue.code}]\n`).join(''));
      if (json) {
        io.out(
          `${JSON.stringify({ error: { code: error.code, message: error.message, issues } }, null, 2)}\n`,
        );
      }
      return 1;
    }
    throw error;
  }
}

interface GuestValues {
  readonly flavor?: string;
  readonly image?: string;
  readonly 'flavor-property'?: string[];
  readonly 'image-property'?: string[];
  readonly 'virt-type'?: string;
  readonly arch?: string;
  readonly 'cpu-mode'?: string;
  readonly 'cpu-model'?: string;
  readonly name?: string;
  readonly uuid?: string;
  readonly 'instance-dir'?: string;
  readonly network?: string;
  readonly help?: boolean;
  readonly json?: boolean;
}

function parseOptions(command: 'render' | 'explain', args: readonly string[]): GuestValues {
  try {
    return parseArgs({
      args: [...args],
      options: command === 'explain' ? EXPLAIN_OPTIONS : GUEST_OPTIONS,
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

async function readGuestInput(values: GuestValues, io: CliIo): Promise<DesignInput> {
  const virtType = oneOf('--virt-type', values['virt-type'] ?? 'kvm', VIRT_TYPES);
  const arch = oneOf('--arch', values.arch ?? 'x86_64', ARCHITECTURES);
  const cpuMode = oneOf('--cpu-mode', values['cpu-mode'] ?? 'host-model', CPU_MODES);
  const flavorProps = keyValues('--flavor-property', values['flavor-property']);
  const imageProps = keyValues('--image-property', values['image-property']);

  const baseFlavor: Flavor =
    values.flavor === undefined
      ? { name: 'default', vcpus: 1, memoryMiB: 512, diskGiB: 1, extraSpecs: {} }
      : orThrow(parseFlavorDocument(await readJson(values.flavor, 'flavor', io), values.flavor));
  const baseImage: Image =
    values.image === undefined
      ? { name: 'default', properties: {} }
      : orThrow(parseImageDocument(await readJson(values.image, 'image', io), values.image));
  const flavor = { ...baseFlavor, extraSpecs: { ...baseFlavor.extraSpecs, ...flavorProps } };
  const image = { ...baseImage, properties: { ...baseImage.properties, ...imageProps } };

  const host: HostSettings = {
    virtType,
    arch,
    cpuMode,
    ...(values['cpu-model'] === undefined ? {} : { cpuModel: values['cpu-model'] }),
    instanceDir: values['instance-dir'] ?? '/var/lib/vpmu/instances',
    network: toNetwork(values.network ?? 'default'),
  };
  const uuid = values.uuid ?? io.newUuid();
  return { flavor, image, host, uuid, name: values.name ?? `instance-${uuid.slice(0, 8)}` };
}

async function readJson(path: string, kind: string, io: CliIo): Promise<unknown> {
  let text: string;
  try {
    text = await io.readText(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ComputeError('input.invalid', `Cannot read ${kind} file ${path}: ${reason}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ComputeError('input.invalid', `Cannot parse ${kind} file ${path} as JSON: ${reason}`);
  }
}

function keyValues(option: string, pairs: readonly string[] | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`Cannot read ${option} "${pair}": expected KEY=VALUE`);
    result[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return result;
}

function oneOf<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`Cannot use ${option} "${value}": expected one of ${allowed.join(', ')}`);
}

function toNetwork(value: string): NetworkAttachment {
  if (value === 'none') return { type: 'none' };
  if (value === 'user') return { type: 'user' };
  return { type: 'network', name: value };
}

function formatReport(report: PmuReport): string {
  const show = (value: string | null) => (value === null ? 'unset' : `"${value}"`);
  const resolved = report.resolved === null ? 'unset' : report.resolved ? 'on' : 'off';
  return [
    `vPMU: ${report.effective}`,
    `  requested: flavor hw:pmu ${show(report.requested.flavor)}, image hw_pmu ${show(report.requested.image)}`,
    `  resolved:  ${resolved} (source: ${report.source})`,
    `  reason:    ${report.reason}`,
    '',
  ].join('\n');
}
