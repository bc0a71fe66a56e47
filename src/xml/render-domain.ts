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
import { attr, XmlWriter } from './writer.js';

/** Namespace of our `<metadata>` element; the prefix is `vpmu`. */
export const METADATA_NAMESPACE = 'urn:x-vpmu:instance:1';
const METADATA_XMLNS = attr('xmlns:vpmu', METADATA_NAMESPACE);

/**
 * Renders a GuestSpec as libvirt domain XML text. Fixed attributes are written as the literal
 * text they print as; values from the spec go through attr(), which escapes them.
 */
export function renderDomainXml(spec: GuestSpec): string {
  const w = new XmlWriter();
  w.start('domain', attr('type', spec.virtType));
  w.leaf('name', '', spec.name);
  w.leaf('uuid', '', spec.uuid);
  w.start('metadata');
  writeMetadata(w, spec.metadata);
  w.end();
  w.leaf('memory', ' unit="MiB"', String(spec.memoryMiB));
  w.leaf('vcpu', '', String(spec.vcpus));
  writeOs(w, spec.os);
  writeFeatures(w, spec.features);
  if (spec.cpu) writeCpu(w, spec.cpu);
  if (spec.clock) writeClock(w, spec.clock);
  w.leaf('on_poweroff', '', 'destroy');
  w.leaf('on_reboot', '', 'restart');
  w.leaf('on_crash', '', 'destroy');
  writeDevices(w, spec.devices);
  w.end();
  return w.done();
}

function writeMetadata(w: XmlWriter, metadata: GuestMetadata): void {
  const { flavor, image, owner } = metadata;
  w.start('vpmu:instance', METADATA_XMLNS);
  w.start('vpmu:flavor', attr('id', flavor.id) + attr('name', flavor.name));
  for (const [key, value] of flavor.extraSpecs) w.leaf('vpmu:extra_spec', attr('key', key), value);
  w.end();
  w.leaf('vpmu:image', attr('id', image.id) + attr('name', image.name));
  if (owner) w.leaf('vpmu:owner', attr('project', owner.projectId) + attr('user', owner.userId));
  w.end();
}

function writeOs(w: XmlWriter, os: GuestOs): void {
  w.start('os');
  if (os.kind === 'exe') {
    w.leaf('type', attr('arch', os.arch), 'exe');
    w.leaf('init', '', os.init);
  } else {
    w.leaf('type', attr('arch', os.arch) + attr('machine', os.machine), 'hvm');
    if (os.kernelBoot) {
      w.leaf('kernel', '', os.kernelBoot.kernel);
      if (os.kernelBoot.initrd !== undefined) w.leaf('initrd', '', os.kernelBoot.initrd);
      w.leaf('cmdline', '', os.kernelBoot.cmdline);
    }
    w.leaf('boot', attr('dev', os.bootDevice));
  }
  w.end();
}

function writeFeatures(w: XmlWriter, features: GuestFeatures): void {
  const { hyperv } = features;
  const any =
    features.acpi ||
    features.apic ||
    hyperv !== undefined ||
    features.vmcoreinfo ||
    features.kvmHidden ||
    features.pmu !== undefined;
  if (!any) return;
  w.start('features');
  if (features.acpi) w.leaf('acpi');
  if (features.apic) w.leaf('apic');
  if (hyperv) {
    w.start('hyperv', ' mode="custom"');
    if (hyperv.relaxed) w.leaf('relaxed', ' state="on"');
    if (hyperv.vapic) w.leaf('vapic', ' state="on"');
    if (hyperv.spinlockRetries !== undefined)
      w.leaf('spinlocks', ' state="on"' + attr('retries', hyperv.spinlockRetries));
    w.end();
  }
  if (features.vmcoreinfo) w.leaf('vmcoreinfo', ' state="on"');
  if (features.kvmHidden) {
    w.start('kvm');
    w.leaf('hidden', ' state="on"');
    w.end();
  }
  if (features.pmu !== undefined) w.leaf('pmu', features.pmu ? ' state="on"' : ' state="off"');
  w.end();
}

function writeCpu(w: XmlWriter, cpu: GuestCpu): void {
  const { sockets, cores, threads } = cpu.topology;
  w.start(
    'cpu',
    attr('mode', cpu.mode) + attr('match', cpu.mode === 'custom' ? 'exact' : undefined),
  );
  if (cpu.model !== undefined) w.leaf('model', ' fallback="forbid"', cpu.model);
  w.leaf(
    'topology',
    attr('sockets', sockets) + ' dies="1"' + attr('cores', cores) + attr('threads', threads),
  );
  w.end();
}

function writeClock(w: XmlWriter, clock: GuestClock): void {
  w.start('clock', attr('offset', clock.offset));
  for (const timer of clock.timers) {
    const present = timer.present === undefined ? undefined : timer.present ? 'yes' : 'no';
    w.leaf(
      'timer',
      attr('name', timer.name) + attr('tickpolicy', timer.tickPolicy) + attr('present', present),
    );
  }
  w.end();
}

function writeDevices(w: XmlWriter, devices: GuestDevices): void {
  const { rootDisk, rootFilesystem, configDrive } = devices;
  w.start('devices');
  if (rootDisk?.bus === 'scsi' || configDrive?.bus === 'scsi') {
    w.leaf('controller', ' type="scsi" index="0" model="virtio-scsi"');
  }
  if (rootDisk) {
    w.start('disk', ' type="file" device="disk"');
    w.leaf('driver', ' name="qemu"' + attr('type', rootDisk.format));
    w.leaf('source', attr('file', rootDisk.path));
    w.leaf('target', attr('dev', rootDisk.targetDev) + attr('bus', rootDisk.bus));
    w.end();
  }
  if (configDrive) {
    w.start('disk', ' type="file" device="cdrom"');
    w.leaf('driver', ' name="qemu" type="raw"');
    w.leaf('source', attr('file', configDrive.path));
    w.leaf('target', attr('dev', configDrive.targetDev) + attr('bus', configDrive.bus));
    w.leaf('readonly');
    w.end();
  }
  if (rootFilesystem) {
    w.start('filesystem', ' type="mount"');
    w.leaf('source', attr('dir', rootFilesystem.sourceDir));
    w.leaf('target', ' dir="/"');
    w.end();
  }
  writeInterface(w, devices.interface.attachment, devices.interface.model);
  if (devices.serialConsole && rootDisk) {
    w.start('serial', ' type="pty"');
    if (devices.consoleLog !== undefined) {
      w.leaf('log', attr('file', devices.consoleLog) + ' append="off"');
    }
    w.leaf('target', ' port="0"');
    w.end();
  }
  if (devices.serialConsole) {
    w.start('console', ' type="pty"');
    w.leaf('target', attr('type', rootDisk ? 'serial' : 'lxc') + ' port="0"');
    w.end();
  }
  if (devices.video !== undefined) {
    w.start('video');
    w.leaf('model', attr('type', devices.video));
    w.end();
  }
  if (devices.memballoon) {
    w.start('memballoon', attr('model', devices.memballoon));
    w.leaf('stats', ' period="10"');
    w.end();
  }
  if (devices.rng) {
    w.start('rng', attr('model', devices.rng));
    w.leaf('backend', ' model="random"', '/dev/urandom');
    w.end();
  }
  w.end();
}

function writeInterface(
  w: XmlWriter,
  attachment: NetworkAttachment,
  model: string | undefined,
): void {
  if (attachment.type === 'none') return;
  w.start('interface', attr('type', attachment.type));
  if (attachment.type === 'network') w.leaf('source', attr('network', attachment.name));
  if (model !== undefined) w.leaf('model', attr('type', model));
  w.end();
}
