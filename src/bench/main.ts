/**
 * `npm run bench -- [xml|boot|schedule|schedule-claim|claims|rpc|idle|boot-split|many-hosts|all]
 * [--json]`: the performance targets of issues 6 and 15, measured in one run on this machine. `all`
 * also writes docs/benchmarks.md. VPMU_BENCH_DATABASE_URL adds PostgreSQL to schedule-claim and
 * claims, VPMU_BENCH_TRANSPORT_URL adds RabbitMQ to rpc; boot-split and many-hosts need both.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { benchBoot } from './boot.js';
import { benchBootSplit } from './boot-split.js';
import { benchClaims } from './claims.js';
import { benchIdle } from './idle.js';
import { benchManyHosts } from './many-hosts.js';
import { formatPart, markdownPart, type PartReport } from './report.js';
import { benchRpc } from './rpc.js';
import { benchSchedule } from './schedule.js';
import { benchScheduleClaim } from './schedule-claim.js';
import { benchXml } from './xml.js';

const PARTS: Readonly<Record<string, () => Promise<PartReport>>> = {
  xml: benchXml,
  schedule: benchSchedule,
  'schedule-claim': () => benchScheduleClaim(),
  claims: () => benchClaims(),
  rpc: () => benchRpc(),
  boot: benchBoot,
  idle: benchIdle,
  'boot-split': benchBootSplit,
  'many-hosts': benchManyHosts,
};

// Stopped from outside, exit normally so each running service's state directory is removed
// (its process gets SIGTERM from the kernel when this one is gone; see service.ts).
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => process.exit(code));
}

async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { json: { type: 'boolean' } },
    allowPositionals: true,
  });
  const requested = positionals[0] ?? 'all';
  const names = requested === 'all' ? Object.keys(PARTS) : [requested];
  const reports: PartReport[] = [];
  for (const name of names) {
    const part = PARTS[name];
    if (part === undefined) {
      process.stderr.write(
        `Error: Cannot run benchmark "${name}": known: ${Object.keys(PARTS).join(', ')}, all\n`,
      );
      return 2;
    }
    const report = await part();
    reports.push(report);
    process.stdout.write(
      values.json === true ? `${JSON.stringify(report)}\n` : `${formatPart(report)}\n\n`,
    );
  }
  if (requested === 'all') {
    writeFileSync('docs/benchmarks.md', markdown(reports, argv));
    process.stderr.write('Wrote docs/benchmarks.md\n');
  }
  return 0;
}

/** The overrides in force (hypervisor, sizes), written as they would be typed before the command. */
function overrides(): string {
  return ['VPMU_BENCH_URI', 'VPMU_BENCH_SERVERS', 'VPMU_BENCH_RECORDS']
    .flatMap((name) =>
      process.env[name] === undefined ? [] : [`${name}=${process.env[name] ?? ''} `],
    )
    .concat(
      // Where a database or broker was given, not its address (it may hold a password).
      ['VPMU_BENCH_DATABASE_URL', 'VPMU_BENCH_TRANSPORT_URL'].flatMap((name) =>
        process.env[name] === undefined ? [] : [`${name}=… `],
      ),
    )
    .join('');
}

function markdown(reports: readonly PartReport[], argv: readonly string[]): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const version = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
    } catch {
      return 'not installed';
    }
  };
  return [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench -- all`; commit only this file, never other bench output. -->',
    '',
    `Command: \`${overrides()}npm run bench -- ${argv.join(' ') || 'all'}\`, run ${new Date().toISOString().slice(0, 10)}.`,
    '',
    `Machine: ${os.cpus().length} × ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}.`,
    `Versions: Node ${process.version}; ${version('virsh', ['--version']) === 'not installed' ? 'libvirt not installed' : `libvirt ${version('virsh', ['--version'])}`}; python3-nova ${version('dpkg-query', ['-W', '-f=${Version}', 'python3-nova'])}.`,
    '',
    'These machines are shared and noisy: figures are medians of repeated runs, and targets are',
    'ratios against a reference measured in the same run where one exists.',
    '',
    ...reports.map(markdownPart),
  ].join('\n');
}

process.exitCode = await main(process.argv.slice(2));
