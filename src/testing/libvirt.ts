/**
 * Gates for tests that need the libvirt binding or a running libvirtd. Locally a missing piece
 * skips the test with the reason; in CI (CI=true) it fails, so nothing skips silently.
 */

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
  const uri = process.env.VPMU_TEST_QEMU_URI;
  if (uri !== undefined && uri !== '') return { uri, skip: false };
  return {
    uri: undefined,
    skip: skipOrThrow(
      'VPMU_TEST_QEMU_URI is not set (start a daemon with scripts/libvirtd.sh start, then VPMU_TEST_QEMU_URI=qemu:///system)',
    ),
  };
}

function skipOrThrow(reason: string): string {
  if (process.env.CI === 'true') throw new Error(`CI must not skip: ${reason}`);
  return reason;
}
