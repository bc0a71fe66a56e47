import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../errors/index.js';
import { assertGeneratedDoc } from '../testing/generated-doc.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { renderSpecsMarkdown } from './docs.js';
import { SPECS } from './registry.js';
import { validateFlavorExtraSpecs, validateImageProperties } from './validate.js';

// prettier-ignore
const FLAVOR_CASES: readonly { name: string; specs: Record<string, string>; want: readonly ErrorCode[] }[] = [
  { name: 'no extra specs',                           specs: {},                                   want: [] },
  { name: 'every known key with a good value',        specs: { 'hw:pmu': 'false', 'hw:hide_hypervisor_id': 'yes', hide_hypervisor_id: 'true', 'hw:cpu_sockets': '2', 'hw:cpu_cores': '1', 'hw:cpu_threads': '1' }, want: [] },
  { name: 'keys in namespaces vpmu does not validate', specs: { 'trait:CUSTOM_HW_VPMU': 'required', 'resources:VCPU': '2', 'aggregate_instance_extra_specs:ssd': 'true', 'quota:cpu_shares': '10', custom: 'x' }, want: [] },
  { name: 'a boolean that is not boolean-like',       specs: { 'hw:pmu': 'maybe' },                want: ['spec.invalid_value'] },
  { name: 'an empty boolean',                         specs: { 'hw:hide_hypervisor_id': '' },      want: ['spec.invalid_value'] },
  { name: 'the legacy un-namespaced key, malformed',  specs: { hide_hypervisor_id: 'si' },         want: ['spec.invalid_value'] },
  { name: 'a topology count of zero',                 specs: { 'hw:cpu_sockets': '0' },            want: ['spec.invalid_value'] },
  { name: 'a topology count that is not a number',    specs: { 'hw:cpu_cores': 'two' },            want: ['spec.invalid_value'] },
  { name: 'a topology count with a fraction',         specs: { 'hw:cpu_threads': '1.5' },          want: ['spec.invalid_value'] },
  { name: 'an unknown hw: key',                       specs: { 'hw:pmuu': 'true' },                want: ['spec.unknown_key'] },
  { name: 'a differently cased hw: key',              specs: { 'hw:PMU': 'true' },                 want: ['spec.unknown_key'] },
  { name: 'a key with a trailing space',              specs: { 'hw:pmu ': 'true' },                want: ['spec.unknown_key'] },
  { name: 'an unknown hw_rng: key',                   specs: { 'hw_rng:rate': '100' },             want: ['spec.unknown_key'] },
  { name: 'an image-only setting on a flavor',        specs: { 'hw:disk_bus': 'virtio' },          want: ['spec.unknown_key'] },
  { name: 'every problem at once, sorted by key',     specs: { 'hw:pmu': 'ture', 'hw:cpu_sockets': '-1', 'hw:foo': '1' }, want: ['spec.invalid_value', 'spec.unknown_key', 'spec.invalid_value'] },
];

describe('validateFlavorExtraSpecs()', () => {
  for (const c of FLAVOR_CASES) {
    it(c.name, () => {
      const issues = validateFlavorExtraSpecs(aFlavor({ extraSpecs: c.specs }));
      assert.deepEqual(
        issues.map((issue) => issue.code),
        c.want,
      );
    });
  }

  it('uses Nova’s sentence for an unknown key, then suggests the likely key', () => {
    const [issue] = validateFlavorExtraSpecs(
      aFlavor({ name: 'vran', extraSpecs: { 'hw:pmuu': 'true' } }),
    );
    assert.ok(issue);
    assert.deepEqual(issue.path, ['flavor', 'extra_specs', 'hw:pmuu']);
    assert.match(
      issue.message,
      /^Validation failed; extra spec 'hw:pmuu' does not appear to be a valid extra spec\. Flavor 'vran'/u,
    );
    assert.match(issue.message, /Did you mean 'hw:pmu'\?$/u);
  });

  it('lists the keys of the unknown key’s own namespace, or says it has none vpmu knows', () => {
    const [hw] = validateFlavorExtraSpecs(aFlavor({ extraSpecs: { 'hw:pmuu': 'true' } }));
    assert.match(hw?.message ?? '', /may set these keys in that namespace: hw:pmu, hw:/u);
    const [rng] = validateFlavorExtraSpecs(aFlavor({ extraSpecs: { 'hw_rng:rate': '100' } }));
    assert.match(
      rng?.message ?? '',
      /may set no keys in that namespace that vpmu knows; it knows hw:pmu, /u,
    );
  });

  it('names the allowed range for an integer', () => {
    const [issue] = validateFlavorExtraSpecs(aFlavor({ extraSpecs: { 'hw:cpu_sockets': '0' } }));
    assert.match(issue?.message ?? '', /accepts a whole number from 1 to 1024\.$/u);
  });
});

// prettier-ignore
const IMAGE_CASES: readonly { name: string; props: Record<string, string | number | boolean>; want: readonly ErrorCode[] }[] = [
  { name: 'no properties',                        props: {},                                                   want: [] },
  { name: 'good values for every known property', props: { hw_pmu: 'true', img_hide_hypervisor_id: false, hw_cpu_sockets: 1, hw_machine_type: 'pc-q35-7.2', hw_disk_bus: 'scsi', hw_vif_model: 'e1000', hw_video_model: 'none', hw_architecture: 'aarch64', os_type: 'windows' }, want: [] },
  { name: 'unknown properties are left alone',    props: { hw_qemu_guest_agent: 'yes', hw_scsi_model: 'virtio-scsi', owner_specified_x: 'y' }, want: [] },
  { name: 'a malformed hw_pmu',                   props: { hw_pmu: 'enabled' },                                want: ['spec.invalid_value'] },
  { name: 'an unknown disk bus',                  props: { hw_disk_bus: 'nvme' },                              want: ['spec.invalid_value'] },
  { name: 'a machine type with spaces',           props: { hw_machine_type: 'q35 ; rm' },                      want: ['spec.invalid_value'] },
  { name: 'an os_type outside the set',           props: { os_type: 'beos' },                                  want: ['spec.invalid_value'] },
  { name: 'an architecture vpmu cannot render',   props: { hw_architecture: 's390x' },                         want: ['spec.invalid_value'] },
];

describe('validateImageProperties()', () => {
  for (const c of IMAGE_CASES) {
    it(c.name, () => {
      const issues = validateImageProperties(anImage({ properties: c.props }));
      assert.deepEqual(
        issues.map((issue) => issue.code),
        c.want,
      );
    });
  }

  it('lists the allowed values of an enum and names the image', () => {
    const [issue] = validateImageProperties(
      anImage({ name: 'win', properties: { hw_disk_bus: 'nvme' } }),
    );
    assert.match(
      issue?.message ?? '',
      /property 'hw_disk_bus' of image 'win' accepts one of: virtio, scsi, sata, ide, usb\.$/u,
    );
  });
});

describe('SPECS registry', () => {
  it('has no key claimed twice', () => {
    const keys = SPECS.flatMap((spec) => [
      ...spec.flavorKeys,
      ...(spec.imageKey ? [spec.imageKey] : []),
    ]);
    assert.equal(new Set(keys).size, keys.length);
  });

  it('docs/extra-specs.md is generated from the registry', async () => {
    await assertGeneratedDoc('docs/extra-specs.md', renderSpecsMarkdown());
  });
});
