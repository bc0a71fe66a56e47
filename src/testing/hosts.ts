/** Synthetic compute hosts for scheduler tests and benchmarks. */
import type { HostState, ResourceClass } from '../scheduler/index.js';

/** A host with the given capacity; nothing used, no traits, Nova's default ratios. */
export function aHostState(
  name: string,
  overrides: {
    vcpus?: number;
    memoryMiB?: number;
    diskGiB?: number;
    used?: Partial<Record<ResourceClass, number>>;
    traits?: readonly string[];
    enabled?: boolean;
    reservedMemoryMiB?: number;
  } = {},
): HostState {
  return {
    name,
    enabled: overrides.enabled ?? true,
    inventory: {
      VCPU: { total: overrides.vcpus ?? 16, reserved: 0, allocationRatio: 4.0 },
      MEMORY_MB: {
        total: overrides.memoryMiB ?? 65536,
        reserved: overrides.reservedMemoryMiB ?? 0,
        allocationRatio: 1.0,
      },
      DISK_GB: { total: overrides.diskGiB ?? 1000, reserved: 0, allocationRatio: 1.0 },
    },
    used: { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0, ...overrides.used },
    traits: new Set(overrides.traits ?? ['HW_ARCH_X86_64']),
  };
}

/**
 * `count` hosts of mixed size, load and traits, deterministic for a given count: about a third
 * report CUSTOM_HW_VPMU, one in fifty is disabled.
 */
export function syntheticHosts(count: number): HostState[] {
  const hosts: HostState[] = [];
  for (let i = 0; i < count; i++) {
    const size = [16, 32, 64, 128][i % 4] ?? 16;
    const load = (i * 7919) % 100; // a fixed, well-spread percentage
    const traits = ['HW_ARCH_X86_64', 'COMPUTE_STATUS_ENABLED'];
    if (i % 3 === 0) traits.push('CUSTOM_HW_VPMU');
    if (i % 5 === 0) traits.push('HW_CPU_X86_AVX2');
    hosts.push(
      aHostState(`compute-${String(i).padStart(6, '0')}`, {
        vcpus: size,
        memoryMiB: size * 4096,
        diskGiB: size * 50,
        used: {
          VCPU: Math.floor((size * 4 * load) / 100),
          MEMORY_MB: Math.floor((size * 4096 * load) / 100),
          DISK_GB: Math.floor((size * 50 * load) / 100),
        },
        traits,
        enabled: i % 50 !== 49,
      }),
    );
  }
  return hosts;
}
