/** Composition root of the `vpmu` command: real files, real stdout, real randomness. */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Qcow2Disks } from '../adapters/disks/qcow2-disks.js';
import { LocalHostProbe } from '../adapters/host/host-probe.js';
import { LibvirtHypervisor } from '../adapters/libvirt/libvirt-hypervisor.js';
import { runCli } from '../cli/main.js';
import { runServe, type ProcessRole } from './serve.js';

const packageJson = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

/** Runs `vpmu` with the process's arguments and returns the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const role = (
      { serve: 'all', api: 'api', conductor: 'conductor', compute: 'compute' } as const
    )[argv[0] as 'serve'] as ProcessRole | undefined;
    if (role !== undefined) {
      return await runServe(
        argv.slice(1),
        {
          out: (text) => process.stdout.write(text),
          err: (text) => process.stderr.write(text),
        },
        role,
      );
    }
    return await runCli(argv, {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      readText: (path) => readFile(path, 'utf8'),
      newUuid: () => randomUUID(),
      version: packageJson.version,
      hypervisor: ({ uri, instanceDir }) => {
        const hypervisor = new LibvirtHypervisor({ uri });
        return {
          hypervisor,
          disks: new Qcow2Disks({ instanceRoot: instanceDir }),
          probe: new LocalHostProbe(hypervisor),
        };
      },
    });
  } catch (error) {
    // A bug, not bad input: say so without a stack trace unless asked for one.
    const detail =
      process.env.VPMU_DEBUG === '1' && error instanceof Error ? error.stack : String(error);
    process.stderr.write(
      `vpmu: internal error: ${detail ?? ''}\nThis is a bug in vpmu; please report it.\n`,
    );
    return 70;
  }
}
