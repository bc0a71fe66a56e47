/**
 * Tests that need an external tool (virsh, virt-xml-validate, qemu-img, a libvirtd) ask here.
 * Locally a missing tool skips the test with the reason; in CI (CI=true) nothing skips silently:
 * the test fails and says what .ci/run should have installed.
 */
import { spawnSync } from 'node:child_process';

/** `false` when the command runs; otherwise a skip reason (locally) or a thrown error (in CI). */
export function requireTool(
  command: string,
  args: readonly string[],
  installHint: string,
): false | string {
  const probe = spawnSync(command, [...args], { encoding: 'utf8' });
  if (probe.error === undefined) return false;
  const reason = `${command} is not available (${installHint})`;
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${reason}`);
  return reason;
}
