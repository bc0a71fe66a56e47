/**
 * GuestSpec → libvirt domain XML (https://libvirt.org/formatdomain.html). No decisions here: every
 * choice was made when the GuestSpec was designed. Elements follow libvirt's own order; features
 * follow Nova's (acpi, apic, hyperv, vmcoreinfo, kvm, pmu) so byte-exact goldens stay stable.
 */
import type {
  GuestClock,
  GuestCpu,
  GuestDevices,
  GuestFeatures,
  GuestMetadata,
  GuestOs,
  GuestSpec,
  NetworkAttachment,
} from '../domain/index.js';
import { stringify } from './stringify.js';
import { el, type XmlElement } from './tree.js';

/** Namespace of our `<metadata>` element; the prefix is `vpmu`. */
export const METADATA_NAMESPACE = 'urn:x-vpmu:instance:1';

/** Renders a GuestSpec as an XML tree. */
export function renderDomain(spec: GuestSpec): XmlElement {
  return el(
    'domain',
    { type: spec.virtType },
    el('name', {}, spec.name),
    el('uuid', {}, spec.uuid),
    el('metadata', {}, renderMetadata(spec.metadata)),
    el('memory', { unit: 'MiB' }, String(spec.memoryMiB)),
    el('vcpu', {}, String(spec.vcpus)),
    renderOs(spec.os),
    renderFeatures(spec.features),
    spec.cpu && renderCpu(spec.cpu),
    spec.clock && renderClock(spec.clock),
    el('on_poweroff', {}, 'destroy'),
    el('on_reboot', {}, 'restart'),
    el('on_crash', {}, 'destroy'),
    renderDevices(spec.devices),
  );
}

/** Renders a GuestSpec as libvirt domain XML text. */
export function renderDomainXml(spec: GuestSpec): string {
  return stringify(renderDomain(spec));
}

function renderMetadata(metadata: GuestMetadata): XmlElement {
  const { flavor, image, owner } = metadata;
  return el(
    'vpmu:instance',
    { 'xmlns:vpmu': METADATA_NAMESPACE },
    el(
      'vpmu:flavor',
      { id: flavor.id, name: flavor.name },
      ...flavor.extraSpecs.map(([key, value]) => el('vpmu:extra_spec', { key }, value)),
    ),
    el('vpmu:image', { id: image.id, name: image.name }),
    owner && el('vpmu:owner', { project: owner.projectId, user: owner.userId }),
  );
}

function renderOs(os: GuestOs): XmlElement {
  if (os.kind === 'exe') {
    return el('os', {}, el('type', { arch: os.arch }, 'exe'), el('init', {}, os.init));
  }
  return el(
    'os',
    {},
    el('type', { arch: os.arch, machine: os.machine }, 'hvm'),
    el('boot', { dev: os.bootDevice }),
  );
}

function renderFeatures(features: GuestFeatures): XmlElement | undefined {
  const { hyperv } = features;
  const children = [
    features.acpi && el('acpi'),
    features.apic && el('apic'),
    hyperv &&
      el(
        'hyperv',
        { mode: 'custom' },
        hyperv.relaxed && el('relaxed', { state: 'on' }),
        hyperv.vapic && el('vapic', { state: 'on' }),
        hyperv.spinlockRetries !== undefined &&
          el('spinlocks', { state: 'on', retries: hyperv.spinlockRetries }),
      ),
    features.vmcoreinfo && el('vmcoreinfo', { state: 'on' }),
    features.kvmHidden && el('kvm', {}, el('hidden', { state: 'on' })),
    features.pmu !== undefined && el('pmu', { state: features.pmu ? 'on' : 'off' }),
  ];
  return children.some(Boolean) ? el('features', {}, ...children) : undefined;
}

function renderCpu(cpu: GuestCpu): XmlElement {
  const { sockets, cores, threads } = cpu.topology;
  return el(
    'cpu',
    { mode: cpu.mode, match: cpu.mode === 'custom' ? 'exact' : undefined },
    cpu.model !== undefined && el('model', { fallback: 'forbid' }, cpu.model),
    el('topology', { sockets, dies: 1, cores, threads }),
  );
}

function renderClock(clock: GuestClock): XmlElement {
  return el(
    'clock',
    { offset: clock.offset },
    ...clock.timers.map((timer) =>
      el('timer', {
        name: timer.name,
        tickpolicy: timer.tickPolicy,
        present: timer.present === undefined ? undefined : timer.present ? 'yes' : 'no',
      }),
    ),
  );
}

function renderDevices(devices: GuestDevices): XmlElement {
  const { rootDisk, rootFilesystem } = devices;
  return el(
    'devices',
    {},
    rootDisk?.bus === 'scsi' && el('controller', { type: 'scsi', index: 0, model: 'virtio-scsi' }),
    rootDisk &&
      el(
        'disk',
        { type: 'file', device: 'disk' },
        el('driver', { name: 'qemu', type: rootDisk.format }),
        el('source', { file: rootDisk.path }),
        el('target', { dev: rootDisk.targetDev, bus: rootDisk.bus }),
      ),
    rootFilesystem &&
      el(
        'filesystem',
        { type: 'mount' },
        el('source', { dir: rootFilesystem.sourceDir }),
        el('target', { dir: '/' }),
      ),
    renderInterface(devices.interface.attachment, devices.interface.model),
    devices.serialConsole && rootDisk && el('serial', { type: 'pty' }, el('target', { port: 0 })),
    devices.serialConsole &&
      el('console', { type: 'pty' }, el('target', { type: rootDisk ? 'serial' : 'lxc', port: 0 })),
    devices.video !== undefined && el('video', {}, el('model', { type: devices.video })),
    devices.memballoon &&
      el('memballoon', { model: devices.memballoon }, el('stats', { period: 10 })),
    devices.rng &&
      el('rng', { model: devices.rng }, el('backend', { model: 'random' }, '/dev/urandom')),
  );
}

function renderInterface(
  attachment: NetworkAttachment,
  model: string | undefined,
): XmlElement | undefined {
  if (attachment.type === 'none') return undefined;
  return el(
    'interface',
    { type: attachment.type },
    attachment.type === 'network' && el('source', { network: attachment.name }),
    model !== undefined && el('model', { type: model }),
  );
}
