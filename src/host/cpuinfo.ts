/** Reads the first processor block of /proc/cpuinfo: vendor and flags (x86 `flags`, Arm `Features`). */

/** What vpmu needs from /proc/cpuinfo. */
export interface CpuInfo {
  /** `GenuineIntel`, `AuthenticAMD`, `HygonGenuine`; for Arm the implementer code, e.g. `0x41`. */
  readonly vendorId: string | undefined;
  readonly flags: ReadonlySet<string>;
}

/** Parses /proc/cpuinfo text; unknown layouts give an empty result rather than an error. */
export function parseCpuinfo(text: string): CpuInfo {
  let vendorId: string | undefined;
  let flags = new Set<string>();
  let flagsSeen = false;
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at < 0) continue;
    const key = line.slice(0, at).trim().toLowerCase();
    const value = line.slice(at + 1).trim();
    if (vendorId === undefined && (key === 'vendor_id' || key === 'cpu implementer'))
      vendorId = value;
    if (!flagsSeen && (key === 'flags' || key === 'features')) {
      flags = new Set(value.split(/\s+/u).filter((flag) => flag !== ''));
      flagsSeen = true;
    }
  }
  return { vendorId, flags };
}
