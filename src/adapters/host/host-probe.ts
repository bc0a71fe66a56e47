/**
 * Reads this host's facts: libvirt capabilities through the Hypervisor port, and the kernel's view
 * (/proc/cpuinfo, /dev/kvm, KVM's enable_pmu, perf event devices) from the file system. It only
 * reads; src/host/ decides what the facts mean.
 */
import { constants } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { DomainCapabilitiesFact, HostFacts } from '../../domain/index.js';
import { HypervisorError } from '../../errors/index.js';
import type { HostProbe } from '../../ports/host-probe.js';
import type { Hypervisor } from '../../ports/hypervisor.js';

/** Where the kernel facts live; tests point these at a fixture tree. */
export interface HostProbePaths {
  /** @default '/' */
  readonly root?: string;
}

/** A HostProbe over a Hypervisor and the local file system. */
export class LocalHostProbe implements HostProbe {
  private readonly hypervisor: Hypervisor;
  private readonly root: string;

  constructor(hypervisor: Hypervisor, paths: HostProbePaths = {}) {
    this.hypervisor = hypervisor;
    this.root = paths.root ?? '/';
  }

  async facts(): Promise<HostFacts> {
    const [capabilitiesXml, info] = await Promise.all([
      this.hypervisor.capabilitiesXml(),
      this.hypervisor.hostInfo(),
    ]);
    const domainCapabilities: DomainCapabilitiesFact[] = [];
    for (const virtType of ['kvm', 'qemu']) {
      try {
        const xml = await this.hypervisor.domainCapabilitiesXml({ virtType, arch: info.arch });
        domainCapabilities.push({ virtType, xml });
      } catch (error) {
        if (!(error instanceof HypervisorError) || error.code === 'hypervisor.unavailable')
          throw error;
        domainCapabilities.push({ virtType, error: error.detail });
      }
    }
    const [cpuinfo, kvmDevice, kvmEnablePmu, perfEventDevices] = await Promise.all([
      readFile(this.at('proc/cpuinfo'), 'utf8').catch(() => undefined),
      access(this.at('dev/kvm'), constants.R_OK | constants.W_OK).then(
        () => true,
        () => false,
      ),
      readFile(this.at('sys/module/kvm/parameters/enable_pmu'), 'utf8').then(
        (text) => text.trim(),
        () => undefined,
      ),
      readdir(this.at('sys/bus/event_source/devices')).then(
        (names) => names.sort(),
        () => undefined,
      ),
    ]);
    return {
      capabilitiesXml,
      domainCapabilities,
      cpuinfo,
      kvmDevice,
      kvmEnablePmu,
      perfEventDevices,
    };
  }

  private at(relative: string): string {
    return path.join(this.root, relative);
  }
}
