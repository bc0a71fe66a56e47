/**
 * HostFacts → HostCapabilities: can this host give a guest a working vPMU, and which traits does
 * it report? Pure, so every rule is tested on captured fixtures (testdata/host-capabilities/).
 *
 * A working vPMU needs all of (nova-pmu.md §10, DESIGN §2.7):
 * 1. KVM: libvirt offers `<domain type='kvm'>` for the host architecture and /dev/kvm opens. Under
 *    TCG (virt type qemu) x86 guests get no working PMU, whatever the XML says.
 * 2. PMU virtualisation enabled in KVM (/sys/module/kvm/parameters/enable_pmu, Linux ≥ 5.17;
 *    older kernels have no switch and always virtualise it).
 * 3. A host PMU to virtualise: x86 Intel `arch_perfmon` (architectural perfmon, CPUID leaf 0xA);
 *    AMD/Hygon `perfctr_core` (core performance counter extensions); aarch64 an Arm PMUv3 perf
 *    device (armv8_*) — /proc/cpuinfo does not list PMUv3; ppc64 always has one.
 */
import {
  VPMU_TRAIT,
  fail,
  ok,
  type HostCapabilities,
  type HostFacts,
  type Result,
  type VirtTypeSupport,
} from '../domain/index.js';
import type { Issue } from '../errors/index.js';
import {
  parseCapabilitiesXml,
  parseDomainCapabilitiesXml,
  type ParsedCapabilities,
  type ParsedDomainCapabilities,
} from '../xml/index.js';
import { parseCpuinfo, type CpuInfo } from './cpuinfo.js';

/** libvirt host CPU feature → os-traits `HW_CPU_X86_*` suffix, for the features worth scheduling on. */
const X86_CPU_TRAITS: Readonly<Record<string, string>> = {
  abm: 'ABM',
  aes: 'AESNI',
  avx: 'AVX',
  avx2: 'AVX2',
  avx512bw: 'AVX512BW',
  avx512cd: 'AVX512CD',
  avx512dq: 'AVX512DQ',
  avx512f: 'AVX512F',
  avx512vl: 'AVX512VL',
  avx512vnni: 'AVX512VNNI',
  bmi1: 'BMI',
  bmi2: 'BMI2',
  f16c: 'F16C',
  fma: 'FMA3',
  pclmuldq: 'CLMUL',
  pdpe1gb: 'PDPE1GB',
  'sha-ni': 'SHA',
  sse4a: 'SSE4A',
  'sse4.1': 'SSE41',
  'sse4.2': 'SSE42',
  ssse3: 'SSSE3',
  svm: 'SVM',
  vmx: 'VMX',
};

/** Where /proc/cpuinfo spells a flag differently from libvirt. */
const CPUINFO_SPELLINGS: Readonly<Record<string, string>> = {
  avx512vnni: 'avx512_vnni',
  pclmuldq: 'pclmulqdq',
  'sha-ni': 'sha_ni',
  'sse4.1': 'sse4_1',
  'sse4.2': 'sse4_2',
};

/** /proc/cpuinfo flag → the same os-traits suffixes, so traits do not depend on libvirt's model split. */
const X86_CPUINFO_TRAITS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(X86_CPU_TRAITS).map(([feature, trait]) => [
    CPUINFO_SPELLINGS[feature] ?? feature,
    trait,
  ]),
);

/** Computes a host's capabilities and traits from its raw facts. */
export function decideHostCapabilities(facts: HostFacts): Result<HostCapabilities> {
  const caps = parseCapabilitiesXml(facts.capabilitiesXml);
  if (!caps.ok) return caps;
  const issues: Issue[] = [];
  const domcaps = new Map<string, ParsedDomainCapabilities>();
  for (const fact of facts.domainCapabilities) {
    if (fact.xml === undefined) continue;
    const parsed = parseDomainCapabilitiesXml(fact.xml);
    if (parsed.ok) domcaps.set(parsed.value.virtType, parsed.value);
    else issues.push(...parsed.issues);
  }
  const [firstIssue, ...moreIssues] = issues;
  if (firstIssue !== undefined) return fail(firstIssue, ...moreIssues);

  const { host } = caps.value;
  const cpu = facts.cpuinfo === undefined ? undefined : parseCpuinfo(facts.cpuinfo);
  const virtTypes = decideVirtTypes(caps.value, facts);
  const kvmUsable = virtTypes.some((v) => v.virtType === 'kvm' && v.usable);
  const kvmPmuEnabled = parseEnablePmu(facts.kvmEnablePmu);
  const hostPmu = decideHostPmu(host.arch, cpu, facts.perfEventDevices);
  const vpmu = decideVpmu(host.arch, kvmUsable, virtTypes, kvmPmuEnabled, hostPmu);
  const best = domcaps.get(kvmUsable ? 'kvm' : 'qemu');
  const guestArches = [
    ...new Set(caps.value.guests.map((g) => g.arch).filter((a) => a !== '')),
  ].sort();

  const traits = new Set<string>([`HW_ARCH_${traitName(host.arch)}`]);
  for (const arch of guestArches) traits.add(`COMPUTE_ARCH_${traitName(arch)}`);
  if (host.arch === 'x86_64' || host.arch === 'i686') {
    // NOTE: libvirt lists only the features beyond the host's named model, so /proc/cpuinfo
    // fills in the rest (Nova expands the model through libvirt's baseline API instead).
    const suffixes = [
      ...host.cpuFeatures.map((feature) => X86_CPU_TRAITS[feature]),
      ...[...(cpu?.flags ?? [])].map((flag) => X86_CPUINFO_TRAITS[flag]),
    ];
    for (const suffix of suffixes) if (suffix !== undefined) traits.add(`HW_CPU_X86_${suffix}`);
  }
  if (vpmu.available) traits.add(VPMU_TRAIT);

  return ok({
    arch: host.arch,
    cpuVendor: host.cpuVendor ?? vendorName(cpu?.vendorId),
    cpuModel: host.cpuModel,
    guestArches,
    virtTypes,
    cpuModes: best?.cpuModes ?? [],
    cpuModels: best?.usableModels ?? [],
    hostPmu,
    kvmPmuEnabled,
    vpmu,
    traits: [...traits].sort(),
  });
}

function decideVirtTypes(caps: ParsedCapabilities, facts: HostFacts): VirtTypeSupport[] {
  const offered = (virtType: string) =>
    caps.guests.some((g) => g.arch === caps.host.arch && g.virtTypes.includes(virtType));
  const refusal = (virtType: string) =>
    facts.domainCapabilities.find((d) => d.virtType === virtType && d.error !== undefined)?.error;
  const qemuOffered = offered('qemu');
  const kvmOffered = offered('kvm');
  const kvmRefusal = refusal('kvm');
  let kvm: VirtTypeSupport;
  if (!kvmOffered) {
    kvm = {
      virtType: 'kvm',
      usable: false,
      reason: facts.kvmDevice
        ? `libvirt offers no kvm domain type for ${caps.host.arch} guests although /dev/kvm is present`
        : `/dev/kvm is missing, so libvirt offers no kvm domain type for ${caps.host.arch} guests`,
    };
  } else if (!facts.kvmDevice) {
    kvm = { virtType: 'kvm', usable: false, reason: '/dev/kvm is missing or cannot be opened' };
  } else if (kvmRefusal !== undefined) {
    kvm = {
      virtType: 'kvm',
      usable: false,
      reason: `libvirt refuses kvm domain capabilities: ${kvmRefusal}`,
    };
  } else {
    kvm = {
      virtType: 'kvm',
      usable: true,
      reason: '/dev/kvm opens and libvirt offers the kvm domain type',
    };
  }
  const qemu: VirtTypeSupport = qemuOffered
    ? { virtType: 'qemu', usable: true, reason: 'libvirt offers the qemu (TCG) domain type' }
    : {
        virtType: 'qemu',
        usable: false,
        reason: `libvirt offers no qemu domain type for ${caps.host.arch} guests`,
      };
  return [kvm, qemu];
}

function parseEnablePmu(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim().toUpperCase();
  if (value === 'Y' || value === '1') return true;
  if (value === 'N' || value === '0') return false;
  return undefined;
}

function decideHostPmu(
  arch: string,
  cpu: CpuInfo | undefined,
  perfDevices: readonly string[] | undefined,
): HostCapabilities['hostPmu'] {
  if (arch === 'x86_64' || arch === 'i686') {
    if (cpu === undefined) return { present: false, evidence: '/proc/cpuinfo could not be read' };
    const vendor = cpu.vendorId ?? 'an unknown vendor';
    const amdLike = vendor === 'AuthenticAMD' || vendor === 'HygonGenuine';
    const flag = amdLike ? 'perfctr_core' : 'arch_perfmon';
    const pdcm = cpu.flags.has('pdcm') ? ' and pdcm' : '';
    if (cpu.flags.has(flag)) {
      return {
        present: true,
        evidence: `/proc/cpuinfo (${vendor}) has the ${flag}${pdcm} flag${pdcm === '' ? '' : 's'}`,
      };
    }
    if (cpu.flags.has('arch_perfmon')) {
      return { present: true, evidence: `/proc/cpuinfo (${vendor}) has the arch_perfmon flag` };
    }
    const virtual = cpu.flags.has('hypervisor')
      ? ' (the hypervisor flag says this host is itself a VM, and its hypervisor does not pass a PMU through)'
      : '';
    return { present: false, evidence: `/proc/cpuinfo (${vendor}) has no ${flag} flag${virtual}` };
  }
  if (arch === 'aarch64') {
    if (perfDevices === undefined)
      return { present: false, evidence: '/sys/bus/event_source/devices could not be read' };
    const pmu = perfDevices.find((d) => d.startsWith('armv8_'));
    return pmu === undefined
      ? {
          present: false,
          evidence: 'no Arm PMUv3 perf device (armv8_*) under /sys/bus/event_source/devices',
        }
      : { present: true, evidence: `the Arm PMUv3 perf device ${pmu} is present` };
  }
  if (arch === 'ppc64' || arch === 'ppc64le') {
    return { present: true, evidence: `${arch} processors always have a PMU` };
  }
  return { present: false, evidence: `vpmu does not know how to find a PMU on ${arch}` };
}

function decideVpmu(
  arch: string,
  kvmUsable: boolean,
  virtTypes: readonly VirtTypeSupport[],
  kvmPmuEnabled: boolean | undefined,
  hostPmu: HostCapabilities['hostPmu'],
): HostCapabilities['vpmu'] {
  if (!kvmUsable) {
    const why = virtTypes.find((v) => v.virtType === 'kvm')?.reason ?? 'KVM is not usable';
    const tcg =
      arch === 'x86_64' || arch === 'i686'
        ? 'x86 guests under TCG (virt type qemu) have no working vPMU'
        : 'guests would run under TCG, where QEMU offers no vPMU backed by a host PMU';
    return { available: false, reason: `KVM is not usable (${why}); ${tcg}.` };
  }
  if (kvmPmuEnabled === false) {
    return {
      available: false,
      reason: 'KVM has PMU virtualisation turned off (/sys/module/kvm/parameters/enable_pmu is N).',
    };
  }
  if (!hostPmu.present) {
    return { available: false, reason: `The host has no PMU to virtualise: ${hostPmu.evidence}.` };
  }
  const switchState =
    kvmPmuEnabled === undefined
      ? 'this kernel has no enable_pmu switch (always on)'
      : 'enable_pmu is Y';
  return { available: true, reason: `KVM is usable, ${switchState}, and ${hostPmu.evidence}.` };
}

function traitName(arch: string): string {
  return arch.toUpperCase().replace(/[^A-Z0-9]/gu, '_');
}

/** /proc/cpuinfo vendor ids → the names libvirt uses. */
const VENDOR_NAMES: Readonly<Record<string, string>> = {
  GenuineIntel: 'Intel',
  AuthenticAMD: 'AMD',
  HygonGenuine: 'Hygon',
  '0x41': 'ARM',
};

function vendorName(vendorId: string | undefined): string | undefined {
  return vendorId === undefined ? undefined : (VENDOR_NAMES[vendorId] ?? vendorId);
}
