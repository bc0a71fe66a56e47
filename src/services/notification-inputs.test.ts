import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VersionedObject } from '../domain/index.js';
import { imageUpdateEvent } from '../notifications/index.js';
import { resolvePmu } from '../specs/index.js';
import { aFlavor, anImage } from '../testing/fixtures.js';
import { toImageInput, toImagePropsInput, toPmuProvenance } from './notification-inputs.js';

describe('toImagePropsInput()', () => {
  // prettier-ignore
  const CASES = [
    { raw: 'true', want: true }, { raw: ' YES ', want: true }, { raw: 'on', want: true }, { raw: '1', want: true },
    { raw: 'false', want: false }, { raw: 'No', want: false }, { raw: 'off', want: false }, { raw: '0', want: false },
    { raw: true, want: true }, { raw: false, want: false },
    { raw: 'maybe', want: undefined }, { raw: '', want: undefined },
  ];
  for (const c of CASES) {
    it(`hw_pmu=${JSON.stringify(c.raw)} → ${String(c.want)} (the project boolean grammar)`, () => {
      assert.equal(toImagePropsInput({ hw_pmu: c.raw }).hw_pmu, c.want);
    });
  }

  it('types integers and strings, leaves unknown and unset properties out', () => {
    assert.deepEqual(
      toImagePropsInput({
        hw_cpu_cores: '4',
        hw_architecture: 'aarch64',
        custom: 'x',
        hw_cpu_threads: 'two',
      }),
      { hw_architecture: 'aarch64', hw_cpu_cores: 4 },
    );
  });
});

describe('from domain values to an image.update payload', () => {
  it('carries the parsed hw_pmu and the vPMU provenance', () => {
    const image = anImage({ properties: { hw_pmu: 'off' } });
    const event = imageUpdateEvent(toImageInput({ ...image, id: image.id ?? '' }));
    const props = (event.payload['nova_object.data'].properties as unknown as VersionedObject)[
      'nova_object.data'
    ];
    assert.deepEqual(props, { hw_pmu: false });

    const pmu = resolvePmu(aFlavor({ extraSpecs: { 'hw:pmu': 'false' } }), image);
    assert.ok(pmu.ok);
    assert.deepEqual(toPmuProvenance(pmu.value), {
      flavor: 'false',
      image: 'off',
      resolved: false,
      source: 'both',
      effective: null,
      reason: null,
    });
  });
});
