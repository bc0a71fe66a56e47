/**
 * The compute host's uptime as Nova's libvirt driver reports it (LibvirtDriver.get_host_uptime):
 * the output of `env LANG=C uptime` on the host, whatever the libvirt URI, since the guests of
 * every driver run on this machine (the test driver's "guests" included).
 */
import { execFile } from 'node:child_process';
import { ComputeError } from '../../errors/index.js';

/** Runs `uptime` (with LANG=C, as Nova does) and gives its output without the final newline. */
export function readHostUptime(command = 'uptime', timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'env',
      ['LANG=C', command],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(
            new ComputeError(
              'host.probe_failed',
              `Cannot read the host's uptime: \`env LANG=C ${command}\` failed: ${stderr.trim() || error.message}`,
              { cause: error },
            ),
          );
          return;
        }
        resolve(stdout.replace(/\n$/u, ''));
      },
    );
  });
}
