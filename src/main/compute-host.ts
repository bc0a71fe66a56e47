/**
 * The local compute host for `vpmu serve`: probe it through the hypervisor, choose the virt type
 * and CPU mode from what it can do (kvm where it works, else qemu/TCG with the qemu64 model QEMU
 * accepts everywhere), unless configuration says otherwise, and describe its inventory and traits.
 */
import { statfsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import {
  ARCHITECTURES,
  type Architecture,
  type CpuMode,
  type HostSettings,
  type VirtType,
} from '../domain/index.js';
import type { HostCapabilities } from '../domain/index.js';
import type { ComputeHostRecord } from '../ports/store.js';
import type { Hypervisor } from '../ports/hypervisor.js';
import { describeHost } from '../services/index.js';
import type { HostProbe } from '../ports/host-probe.js';
import { DEFAULT_ALLOCATION_RATIOS } from '../scheduler/index.js';

/**
 * Memory kept for the host itself when `memoryMiB` is not configured (Nova's
 * reserved_host_memory_mb default); os-hypervisors counts it as used, as Nova does.
 */
export const DEFAULT_RESERVED_HOST_MEMORY_MIB = 512;

/** What configuration may decide about the local host. */
export interface ComputeHostConfig {
  readonly name: string;
  readonly instanceDir: string;
  readonly virtType: VirtType | undefined;
  readonly cpuMode: CpuMode | undefined;
  readonly cpuModel: string | undefined;
  /** Override the probed vCPU count (for example to cap a test host). */
  readonly vcpus: number | undefined;
  readonly memoryMiB: number | undefined;
  readonly diskGiB: number | undefined;
  readonly cpuAllocationRatio: number | undefined;
  readonly ramAllocationRatio: number | undefined;
  readonly diskAllocationRatio: number | undefined;
  /** The address to report (Nova's my_ip); undefined for this machine's first external IPv4. */
  readonly hostIp: string | undefined;
}

/** The host's settings for designing guests and its record for the scheduler. */
export interface LocalHost {
  readonly settings: HostSettings;
  readonly record: ComputeHostRecord;
  readonly capabilities: HostCapabilities | undefined;
  readonly probeError: string | undefined;
}

/** Probes the host and decides; a failed probe falls back to qemu/TCG with no traits. */
export async function describeLocalHost(
  hypervisor: Hypervisor,
  probe: HostProbe,
  config: ComputeHostConfig,
  now: Date,
): Promise<LocalHost> {
  let capabilities: HostCapabilities | undefined;
  let probeError: string | undefined;
  try {
    capabilities = await describeHost(probe);
  } catch (error) {
    probeError = error instanceof Error ? error.message : String(error);
  }
  const info = await hypervisor.hostInfo();
  let version = { type: 'QEMU', version: 0 };
  try {
    version = await hypervisor.hypervisorVersion();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    probeError = probeError === undefined ? reason : `${probeError}; ${reason}`;
  }
  const kvm = capabilities?.virtTypes.some((v) => v.virtType === 'kvm' && v.usable) ?? false;
  const virtType: VirtType = config.virtType ?? (kvm ? 'kvm' : 'qemu');
  const cpuMode: CpuMode = config.cpuMode ?? (virtType === 'kvm' ? 'host-model' : 'custom');
  const cpuModel = config.cpuModel ?? (cpuMode === 'custom' ? 'qemu64' : undefined);
  const arch = (ARCHITECTURES as readonly string[]).includes(info.arch)
    ? (info.arch as Architecture)
    : 'x86_64';
  const settings: HostSettings = {
    virtType,
    arch,
    cpuMode,
    ...(cpuModel === undefined ? {} : { cpuModel }),
    instanceDir: config.instanceDir,
    network: { type: 'none' },
  };
  let diskGiB = config.diskGiB;
  if (diskGiB === undefined) {
    try {
      const fs = statfsSync(config.instanceDir);
      diskGiB = Math.floor((fs.blocks * fs.bsize) / 1024 ** 3);
    } catch {
      diskGiB = 0;
    }
  }
  const record: ComputeHostRecord = {
    name: config.name,
    hypervisorUri: hypervisor.uri,
    hypervisorType: version.type,
    hypervisorVersion: version.version,
    hostIp: config.hostIp ?? firstExternalIpv4() ?? '127.0.0.1',
    cpuInfo: JSON.stringify({
      arch: info.arch,
      model: capabilities?.cpuModel ?? null,
      vendor: capabilities?.cpuVendor ?? null,
      topology: {
        cells: info.numaNodes,
        sockets: info.sockets,
        cores: info.cores,
        threads: info.threads,
      },
    }),
    enabled: true,
    settings,
    inventory: {
      VCPU: {
        total: config.vcpus ?? info.cpus,
        reserved: 0,
        allocationRatio: config.cpuAllocationRatio ?? DEFAULT_ALLOCATION_RATIOS.VCPU,
      },
      MEMORY_MB: {
        total: config.memoryMiB ?? Math.floor(info.memoryKiB / 1024),
        reserved: config.memoryMiB === undefined ? DEFAULT_RESERVED_HOST_MEMORY_MIB : 0,
        allocationRatio: config.ramAllocationRatio ?? DEFAULT_ALLOCATION_RATIOS.MEMORY_MB,
      },
      DISK_GB: {
        total: diskGiB,
        reserved: 0,
        allocationRatio: config.diskAllocationRatio ?? DEFAULT_ALLOCATION_RATIOS.DISK_GB,
      },
    },
    traits: [...(capabilities?.traits ?? [])].sort(),
    updatedAt: now.toISOString(),
  };
  return { settings, record, capabilities, probeError };
}

/** What Nova's my_ip defaults to: this machine's first IPv4 address that is not loopback. */
function firstExternalIpv4(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a?.family === 'IPv4' && !a.internal)?.address;
}
