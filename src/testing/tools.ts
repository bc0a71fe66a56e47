/**
 * Tests that need an external tool (virsh, virt-xml-validate, qemu-img, a libvirtd) ask here.
 * Locally a missing tool skips the test with the reason; in CI (CI=true) nothing skips silently:
 * the test fails and says what .ci/run should have installed.
 */
import { spawnSync } from 'node:child_process';
import { RUN_TIMEOUT_MS } from './processes.js';

/** `false` when the command runs; otherwise a skip reason (locally) or a thrown error (in CI). */
export function requireTool(
  command: string,
  args: readonly string[],
  installHint: string,
): false | string {
  const probe = spawnSync(command, [...args], { encoding: 'utf8', timeout: RUN_TIMEOUT_MS });
  if (probe.error === undefined) return false;
  return skipOrThrow(`${command} is not available (${installHint})`);
}

/** `requireTool` for qemu-img (Debian: qemu-utils), which disk and image tests run. */
export function requireQemuImg(): false | string {
  return requireTool('qemu-img', ['--version'], 'apt-get install qemu-utils');
}

/**
 * The value of environment variable `name` (set by .ci/run once it has started what the test
 * needs), or a skip reason (locally) or a thrown error (in CI). `hint` says how to set it.
 */
export function requireEnv(
  name: string,
  hint: string,
): { value: string; skip: false } | { value: undefined; skip: string } {
  const value = process.env[name];
  if (value !== undefined && value !== '') return { value, skip: false };
  return { value: undefined, skip: skipOrThrow(`${name} is not set (${hint})`) };
}

/** Returns `reason` to skip with locally; in CI (CI=true) throws, because nothing may skip there. */
export function skipOrThrow(reason: string): string {
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${reason}`);
  return reason;
}
