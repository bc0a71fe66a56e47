/**
 * Gates for tests that need the libvirt binding or a running libvirtd. Locally a missing piece
 * skips the test with the reason; in CI (CI=true) it fails, so nothing skips silently.
 */
import { requireEnv, skipOrThrow } from './tools.js';

/** `false` when `@unraid/libvirt` loads; otherwise a skip reason (locally) or a throw (in CI). */
export async function requireBinding(): Promise<false | string> {
  const name = '@unraid/libvirt';
  try {
    await import(name);
    return false;
  } catch (error) {
    return skipOrThrow(
      `${name} does not load (${error instanceof Error ? error.message : String(error)}); apt-get install libvirt-dev && npm install`,
    );
  }
}

/**
 * The URI of a real libvirtd with the QEMU driver (VPMU_TEST_QEMU_URI, set by .ci/run after it
 * starts the daemon), or a skip reason.
 */
export function requireQemuUri(): { uri: string; skip: false } | { uri: undefined; skip: string } {
  const { value, skip } = requireEnv(
    'VPMU_TEST_QEMU_URI',
    'start a daemon with scripts/libvirtd.sh start, then VPMU_TEST_QEMU_URI=qemu:///system',
  );
  return value === undefined ? { uri: undefined, skip } : { uri: value, skip: false };
}
