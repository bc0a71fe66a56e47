/** Builders with boring, valid defaults; tests override only what matters to them. */
import type { Flavor, HostSettings, Image } from '../domain/index.js';

/** A small valid flavor. */
export function aFlavor(overrides: Partial<Flavor> = {}): Flavor {
  return {
    id: 'f1',
    name: 'm1.small',
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 10,
    extraSpecs: {},
    ...overrides,
  };
}

/** A valid image with no properties. */
export function anImage(overrides: Partial<Image> = {}): Image {
  return {
    id: '155d900f-4e14-4e4c-a73d-069cbf4541e6',
    name: 'cirros',
    properties: {},
    ...overrides,
  };
}

/** An x86_64 KVM host with host-model CPUs on the libvirt network "default". */
export function aHost(overrides: Partial<HostSettings> = {}): HostSettings {
  return {
    virtType: 'kvm',
    arch: 'x86_64',
    cpuMode: 'host-model',
    instanceDir: '/var/lib/vpmu/instances',
    network: { type: 'network', name: 'default' },
    ...overrides,
  };
}

/** Fixed identities so golden files stay byte-stable. */
export const IDS = {
  name: 'instance-00000001',
  uuid: '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21',
} as const;
