/**
 * The commands that talk to a hypervisor: `vpmu host-info` and `vpmu guest up|down`. They return
 * an exit status and print through CliIo; failures are thrown to runCli, which prints them.
 */
import { parseArgs } from 'node:util';
import { ComputeError } from '../errors/index.js';
import {
  describeHost,
  guestDown,
  guestUp,
  type DesignInput,
  type GuestDownResult,
  type GuestUpResult,
  type HostCapabilities,
  type HypervisorSession,
} from '../services/index.js';
import { UsageError } from './usage-error.js';

/** The commands this module runs. */
export const HYPERVISOR_COMMANDS = ['host-info', 'guest'] as const;

/** What this module needs from the CLI around it. */
export interface HypervisorCommandIo {
  out(text: string): void;
  /** Opens the ports for one URI; absent when the program was built without hypervisor support. */
  readonly hypervisor?: (options: { uri: string; instanceDir: string }) => HypervisorSession;
}

/** What runCli lends this module so guest options parse exactly as for render/explain. */
export interface GuestInputReader {
  readonly options: Readonly<
    Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>
  >;
  read(values: Record<string, unknown>): Promise<DesignInput>;
}

export const HYPERVISOR_USAGE = `Usage:
  vpmu host-info [--uri URI] [--json]
      probe this host: virt types, CPU, whether guests can get a working vPMU, traits
  vpmu guest up [GUEST OPTIONS] [--image-file FILE] --uri URI [--json]
      create the root disk, define and start a guest; print its name, uuid and effective vPMU
  vpmu guest down NAME|UUID --uri URI [--instance-dir DIR] [--timeout SECONDS] [--json]
      shut the guest down (destroy after --timeout, default 30), undefine it, remove its disk

  --uri URI           libvirt URI: qemu:///system, qemu:///session, test:///default
                      (host-info default: qemu:///system)
  --image-file FILE   root disk becomes a qcow2 overlay backed by FILE (else a blank qcow2 of
                      the flavor's disk size), created in --instance-dir/<uuid>/disk
`;

const DEFAULT_URI = 'qemu:///system';
const DEFAULT_INSTANCE_DIR = '/var/lib/vpmu/instances';

/** Runs `host-info` or `guest …`; returns the exit status. */
export async function runHypervisorCommand(
  command: (typeof HYPERVISOR_COMMANDS)[number],
  args: readonly string[],
  io: HypervisorCommandIo,
  guestInput: GuestInputReader,
): Promise<number> {
  if (command === 'host-info') {
    const values = parse(
      args,
      { uri: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      false,
    ).values;
    if (values.help === true) return help(io);
    const session = open(io, stringValue(values.uri) ?? DEFAULT_URI, DEFAULT_INSTANCE_DIR);
    try {
      const caps = await describeHost(session.probe);
      io.out(
        values.json === true
          ? toJson({ uri: session.hypervisor.uri, ...caps })
          : formatHost(session.hypervisor.uri, caps),
      );
    } finally {
      await session.hypervisor.close();
    }
    return 0;
  }
  const [sub, ...rest] = args;
  if (sub === 'up') {
    const parsed = parse(
      rest,
      {
        ...guestInput.options,
        'image-file': { type: 'string' },
        uri: { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    const values = parsed.values;
    if (values.help === true) return help(io);
    const uri = requireUri(values.uri);
    const input = await guestInput.read(values);
    const session = open(io, uri, input.host.instanceDir);
    try {
      const imageFile = stringValue(values['image-file']);
      const up = await guestUp({ ...input, imageFile }, session);
      io.out(values.json === true ? toJson(withoutXml(up)) : formatUp(uri, up));
    } finally {
      await session.hypervisor.close();
    }
    return 0;
  }
  if (sub === 'down') {
    const parsed = parse(
      rest,
      {
        uri: { type: 'string' },
        'instance-dir': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      true,
    );
    if (parsed.values.help === true) return help(io);
    const [guest, ...extra] = parsed.positionals;
    if (guest === undefined || extra.length > 0) {
      throw new UsageError('Cannot run "guest down": name exactly one guest, by name or UUID');
    }
    const uri = requireUri(parsed.values.uri);
    const timeout = stringValue(parsed.values.timeout) ?? '30';
    const seconds = Number(timeout);
    if (!/^\d+(\.\d+)?$/u.test(timeout) || !Number.isFinite(seconds)) {
      throw new UsageError(`Cannot use --timeout "${timeout}": expected a number of seconds`);
    }
    const instanceDir = stringValue(parsed.values['instance-dir']) ?? DEFAULT_INSTANCE_DIR;
    const session = open(io, uri, instanceDir);
    try {
      const down = await guestDown({ guest, instanceDir, stopTimeoutMs: seconds * 1000 }, session);
      io.out(parsed.values.json === true ? toJson(down) : formatDown(down));
    } finally {
      await session.hypervisor.close();
    }
    return 0;
  }
  if (sub === '--help' || sub === '-h') return help(io);
  throw new UsageError(`Cannot run "guest ${sub ?? ''}": expected "guest up" or "guest down"`);
}

function help(io: HypervisorCommandIo): number {
  io.out(HYPERVISOR_USAGE);
  return 0;
}

function parse(
  args: readonly string[],
  options: Readonly<
    Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>
  >,
  allowPositionals: boolean,
): { values: Record<string, unknown>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      allowPositionals,
      strict: true,
    });
    return { values, positionals };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function open(io: HypervisorCommandIo, uri: string, instanceDir: string): HypervisorSession {
  if (io.hypervisor === undefined) {
    throw new ComputeError(
      'hypervisor.unavailable',
      'Cannot reach a hypervisor: this vpmu was built without one',
    );
  }
  return io.hypervisor({ uri, instanceDir });
}

function requireUri(value: unknown): string {
  const uri = stringValue(value);
  if (uri === undefined || uri === '') {
    throw new UsageError(
      'Cannot run a guest command without --uri (for example --uri qemu:///system)',
    );
  }
  return uri;
}

function stringValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** JSON for scripts: unknown values are printed as null rather than left out. */
function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, field: unknown) => (field === undefined ? null : field), 2)}\n`;
}

function withoutXml(up: GuestUpResult): Omit<GuestUpResult, 'xml' | 'liveXml'> {
  const { name, uuid, disk, pmu } = up;
  return { name, uuid, disk, pmu };
}

function formatHost(uri: string, caps: HostCapabilities): string {
  const cpu = [caps.cpuVendor, caps.cpuModel].filter((part) => part !== undefined).join(' ');
  return [
    `Host ${uri}: ${caps.arch}${cpu === '' ? '' : ` (${cpu})`}`,
    ...caps.virtTypes.map(
      (v) => `  ${v.virtType.padEnd(5)} ${v.usable ? 'usable' : 'not usable'}: ${v.reason}`,
    ),
    `  host PMU: ${caps.hostPmu.present ? 'present' : 'absent'}: ${caps.hostPmu.evidence}`,
    `  KVM enable_pmu: ${caps.kvmPmuEnabled === undefined ? 'no switch' : caps.kvmPmuEnabled ? 'Y' : 'N'}`,
    `vPMU for guests: ${caps.vpmu.available ? 'available' : 'not available'}`,
    `  reason: ${caps.vpmu.reason}`,
    `Traits: ${caps.traits.join(' ')}`,
    '',
  ].join('\n');
}

function formatUp(uri: string, up: GuestUpResult): string {
  const resolved = up.pmu.resolved === null ? 'unset' : up.pmu.resolved ? 'on' : 'off';
  return [
    `Guest ${up.name} is running on ${uri}`,
    `  uuid: ${up.uuid}`,
    ...(up.disk === undefined ? [] : [`  disk: ${up.disk}`]),
    `  vPMU: ${up.pmu.effective} (requested ${resolved}, source: ${up.pmu.source})`,
    `  reason: ${up.pmu.reason}`,
    '',
  ].join('\n');
}

function formatDown(down: GuestDownResult): string {
  const how = {
    'already-stopped': 'was already stopped',
    shutdown: 'shut down',
    destroyed: 'did not shut down in time and was destroyed',
  }[down.stop];
  const disks =
    down.removedDirectory === undefined
      ? 'it had no instance directory to remove'
      : `${down.removedDirectory} was removed`;
  return [`Guest ${down.name} (${down.uuid}) ${how}, was undefined, and ${disks}`, ''].join('\n');
}
