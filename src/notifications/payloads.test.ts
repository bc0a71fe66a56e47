import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PAYLOAD_SCHEMAS } from './payloads.js';
import { fingerprint, toVersionedObject, versionPin, type PayloadSchema } from './schema.js';

/**
 * Pins: "<version>-<fingerprint of fields>" (Nova's object hashes). Edit a pin only together with
 * a version bump and a history line beside the version.
 */
const PINNED: Readonly<Record<string, string>> = {
  InstanceCreatePayload: '1.0-3e3f55881ea9',
  InstanceActionPayload: '1.0-188d7244bf29',
  InstanceActionResizePayload: '1.0-52b23ce41de9',
  InstanceActionSnapshotPayload: '1.0-c5c81678f1a2',
  RequestSpecPayload: '1.0-48761b23c45c',
  FlavorPayload: '1.0-7aaf56ffb781',
  ImageMetaPayload: '1.0-e97d878f2c2d',
  ImageMetaPropsPayload: '1.0-991d4b7e2235',
  PmuPayload: '1.0-c273ae1d3f38',
  ExceptionPayload: '1.0-da73d2e641c1',
};

describe('payload schemas', () => {
  for (const schema of PAYLOAD_SCHEMAS) {
    it(`${schema.name} changes only together with its version`, () => {
      const pin = versionPin(schema);
      assert.equal(
        pin,
        PINNED[schema.name],
        `${schema.name} is now ${pin}, pinned ${PINNED[schema.name] ?? '(nothing)'}: if its fields ` +
          'changed, bump its version, add a history line beside the version saying what changed, ' +
          `bump every payload that nests it, then set PINNED.${schema.name} to the new pin`,
      );
    });

    it(`${schema.name} has a history line for its current version`, () => {
      assert.ok(
        schema.history.at(-1)?.startsWith(`${schema.version}: `),
        `the last history line of ${schema.name} must start with "${schema.version}: "`,
      );
    });
  }

  it('every payload class is pinned, and nothing else', () => {
    assert.deepEqual(PAYLOAD_SCHEMAS.map((s) => s.name).sort(), Object.keys(PINNED).sort());
  });
});

const TOY: PayloadSchema = {
  name: 'ToyPayload',
  version: '1.0',
  history: ['1.0: initial version'],
  description: 'test',
  fields: { a: { type: 'string' }, b: { type: 'integer', optional: true } },
};

describe('fingerprint()', () => {
  it('changes when a field is added, retyped or made optional, not when reordered', () => {
    const base = fingerprint(TOY);
    assert.match(base, /^[0-9a-f]{12}$/u);
    const reordered = { ...TOY, fields: Object.fromEntries(Object.entries(TOY.fields).reverse()) };
    assert.equal(fingerprint(reordered), base);
    assert.notEqual(
      fingerprint({ ...TOY, fields: { ...TOY.fields, c: { type: 'string' } } }),
      base,
    );
    assert.notEqual(fingerprint({ ...TOY, fields: { ...TOY.fields, a: { type: 'uuid' } } }), base);
    assert.notEqual(
      fingerprint({ ...TOY, fields: { ...TOY.fields, a: { type: 'string', optional: true } } }),
      base,
    );
  });

  it('changes when a nested payload bumps its version', () => {
    const outer = (inner: PayloadSchema): PayloadSchema => ({
      ...TOY,
      name: 'Outer',
      fields: { inner: { type: 'object', of: inner } },
    });
    assert.notEqual(fingerprint(outer(TOY)), fingerprint(outer({ ...TOY, version: '1.1' })));
  });
});

describe('toVersionedObject()', () => {
  it('builds the nova_object envelope and leaves unset optional fields out', () => {
    assert.deepEqual(toVersionedObject(TOY, { a: 'x' }), {
      'nova_object.name': 'ToyPayload',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.0',
      'nova_object.data': { a: 'x' },
    });
  });

  it('refuses unknown, missing and null-for-non-nullable fields', () => {
    assert.throws(() => toVersionedObject(TOY, { a: 'x', z: 1 }), /has no field "z"/u);
    assert.throws(() => toVersionedObject(TOY, {}), /ToyPayload\.a is required/u);
    assert.throws(() => toVersionedObject(TOY, { a: null }), /cannot be null/u);
  });
});
