import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VersionedObject } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import { toFlavorPayload, toImageMetaPayload, toPayloadTime } from './build.js';
import { instanceEvent, toFaultInput } from './events.js';
import type { ImagePropsInput } from './inputs.js';
import { SAMPLE_CONTEXT, SAMPLE_FLAVOR, SAMPLE_IMAGE, SAMPLE_INSTANCE } from './samples.js';

function dataOf(obj: unknown): Record<string, unknown> {
  return (obj as VersionedObject)['nova_object.data'];
}

function propsOf(properties: ImagePropsInput): Record<string, unknown> {
  return dataOf(dataOf(toImageMetaPayload({ ...SAMPLE_IMAGE, properties })).properties);
}

describe('ImageMetaPropsPayload', () => {
  // prettier-ignore
  const CASES: readonly { name: string; props: ImagePropsInput; want: Record<string, unknown> }[] = [
    { name: 'hw_pmu true stays a JSON boolean', props: { hw_pmu: true }, want: { hw_pmu: true } },
    { name: 'hw_pmu false stays a JSON boolean', props: { hw_pmu: false }, want: { hw_pmu: false } },
    { name: 'unset hw_pmu is absent, not null or false', props: { hw_architecture: 'x86_64' }, want: { hw_architecture: 'x86_64' } },
    { name: 'no properties give an empty object', props: {}, want: {} },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      assert.deepEqual(propsOf(c.props), c.want);
    });
  }
});

describe('FlavorPayload', () => {
  it('carries extra specs as stored strings, sorted', () => {
    const data = dataOf(
      toFlavorPayload({ ...SAMPLE_FLAVOR, extraSpecs: { 'z:z': '1', 'hw:pmu': 'false' } }),
    );
    assert.deepEqual(Object.entries(data.extra_specs as object), [
      ['hw:pmu', 'false'],
      ['z:z', '1'],
    ]);
    assert.equal(data.memory_mb, 2048);
    assert.equal(data.root_gb, 10);
  });
});

describe('instanceEvent()', () => {
  it('attaches flavor, image and vPMU provenance to the instance payload', () => {
    const e = instanceEvent('delete', 'start', SAMPLE_INSTANCE, SAMPLE_CONTEXT);
    const data = dataOf(e.payload);
    assert.equal(e.eventType, 'instance.delete.start');
    assert.equal(e.priority, 'INFO');
    assert.equal(e.payload['nova_object.name'], 'InstanceActionPayload');
    assert.equal(dataOf(dataOf(data.image).properties).hw_pmu, true);
    assert.deepEqual(dataOf(data.flavor).extra_specs, { 'hw:pmu': 'true' });
    assert.equal(dataOf(data.pmu).effective, 'on');
    assert.equal(data.created_at, '2026-11-24T03:20:00Z');
  });

  it('refuses phases an action does not have, and faults outside .error', () => {
    assert.throws(
      () => instanceEvent('delete', 'error', SAMPLE_INSTANCE, SAMPLE_CONTEXT),
      TypeError,
    );
    assert.throws(
      () => instanceEvent('create', 'error', SAMPLE_INSTANCE, SAMPLE_CONTEXT),
      TypeError,
    );
    assert.throws(
      () => instanceEvent('resize', 'start', SAMPLE_INSTANCE, SAMPLE_CONTEXT),
      /new flavor/u,
    );
  });
});

describe('toFaultInput()', () => {
  const where = { functionName: 'createServer', moduleName: 'services/create-server' };
  it('keeps the code of errors raised on purpose', () => {
    const f = toFaultInput(new ComputeError('spec.invalid_value', 'Cannot read hw:pmu'), where);
    assert.deepEqual(f, {
      exception: 'ComputeError',
      message: 'Cannot read hw:pmu',
      code: 'spec.invalid_value',
      ...where,
    });
  });
  it('reports bugs without a code and never with a stack', () => {
    const f = toFaultInput(new TypeError('x is undefined'), where);
    assert.equal(f.code, null);
    assert.equal(f.exception, 'TypeError');
    assert.ok(!JSON.stringify(f).includes('    at '));
    assert.equal(toFaultInput('boom', where).message, 'boom');
  });
});

it('toPayloadTime() gives ISO seconds with Z', () => {
  assert.equal(toPayloadTime(new Date('2026-11-24T03:25:23.622Z')), '2026-11-24T03:25:23Z');
});
