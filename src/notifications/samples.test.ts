import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { JsonValue, VersionedObject } from '../domain/index.js';
import { assertGeneratedDoc } from '../testing/generated-doc.js';
import { renderNotificationsMarkdown } from './docs.js';
import { ACTION_PHASES, EVENTS } from './events.js';
import { buildSamples } from './samples.js';
import type { PayloadSchema } from './schema.js';

const SAMPLES_DIR = 'testdata/notification-samples';

/** Walks a versioned object and checks it against its schema, nested objects included. */
function checkAgainst(schema: PayloadSchema, obj: VersionedObject, where: string): void {
  assert.equal(obj['nova_object.name'], schema.name, where);
  assert.equal(obj['nova_object.version'], schema.version, where);
  assert.equal(obj['nova_object.namespace'], 'nova', where);
  const data = obj['nova_object.data'];
  for (const key of Object.keys(data)) assert.ok(key in schema.fields, `${where}: extra ${key}`);
  for (const [name, field] of Object.entries(schema.fields)) {
    const value: JsonValue | undefined = data[name];
    if (value === undefined) {
      assert.ok(field.optional, `${where}: ${name} missing`);
      continue;
    }
    if (value === null) {
      assert.ok(field.nullable, `${where}: ${name} is null`);
      continue;
    }
    if (field.type === 'object') {
      checkAgainst(field.of, value as unknown as VersionedObject, `${where}.${name}`);
    }
  }
}

describe('notification samples', () => {
  const samples = buildSamples();

  it('cover every event exactly once, every instance action and phase included', () => {
    const types = samples.map((s) => s.message.event_type);
    assert.equal(new Set(types).size, types.length);
    assert.deepEqual(
      types,
      EVENTS.map((e) => e.eventType),
    );
    for (const [action, phases] of Object.entries(ACTION_PHASES)) {
      for (const phase of phases) assert.ok(types.includes(`instance.${action}.${phase}`));
    }
    for (const t of [
      'scheduler.select_destinations.start',
      'scheduler.select_destinations.end',
      'image.update',
    ]) {
      assert.ok(types.includes(t), t);
    }
  });

  for (const { spec, message } of samples) {
    it(`${spec.eventType} matches its schema and testdata/notification-samples/${spec.eventType}.json`, async () => {
      checkAgainst(spec.payload, message.payload, spec.eventType);
      assert.equal(message.priority, spec.priority);
      assert.equal(message.publisher_id, `${spec.service}:host1`);
      await mkdir(SAMPLES_DIR, { recursive: true });
      await assertGeneratedDoc(
        `${SAMPLES_DIR}/${spec.eventType}.json`,
        `${JSON.stringify(message, null, 2)}\n`,
      );
    });
  }

  it('error events carry an ExceptionPayload fault with our code, other events none', () => {
    for (const { spec, message } of samples) {
      const data = message.payload['nova_object.data'];
      if (!spec.eventType.startsWith('instance.')) continue;
      if (spec.priority === 'ERROR') {
        const fault = data.fault as unknown as VersionedObject;
        assert.equal(fault['nova_object.name'], 'ExceptionPayload', spec.eventType);
        assert.equal(fault['nova_object.data'].code, 'spec.unsupported_for_guest');
        assert.ok(!('traceback' in fault['nova_object.data']));
      } else {
        assert.equal(data.fault, null, spec.eventType);
      }
    }
  });

  it('docs/notifications.md is generated from the catalogue, schemas and samples', async () => {
    await assertGeneratedDoc('docs/notifications.md', renderNotificationsMarkdown());
  });

  it('docs/notifications.md lists every event, every payload version and history', () => {
    const doc = renderNotificationsMarkdown();
    for (const e of EVENTS) assert.ok(doc.includes(`### ${e.eventType}\n`), e.eventType);
    for (const e of EVENTS) {
      assert.ok(doc.includes(`Version **${e.payload.version}**`), e.payload.name);
      for (const line of e.payload.history) assert.ok(doc.includes(`- ${line}`), line);
    }
  });
});
