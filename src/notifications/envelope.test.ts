import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routingKey, type OsloMessage } from '../domain/index.js';
import { toNotification, toOsloTimestamp } from './envelope.js';
import { imageUpdateEvent } from './events.js';
import { SAMPLE_ENVELOPE, SAMPLE_IMAGE } from './samples.js';

describe('toOsloTimestamp()', () => {
  // prettier-ignore
  const CASES = [
    { at: '2026-11-24T03:25:23.622Z', want: '2026-11-24 03:25:23.622000' },
    { at: '2026-11-24T03:25:23.007Z', want: '2026-11-24 03:25:23.007000' },
    { at: '2026-01-02T00:00:05.000Z', want: '2026-01-02 00:00:05' }, // Python drops a zero fraction
  ];
  for (const c of CASES) {
    it(`formats ${c.at} as Python str(datetime.utcnow())`, () => {
      assert.equal(toOsloTimestamp(new Date(c.at)), c.want);
    });
  }
});

describe('toNotification()', () => {
  const n = toNotification(imageUpdateEvent(SAMPLE_IMAGE), SAMPLE_ENVELOPE);
  const envelope = JSON.parse(n.body) as Record<string, unknown>;

  it('wraps the message as oslo 2.0 with oslo.message as JSON text', () => {
    assert.deepEqual(Object.keys(envelope), ['oslo.version', 'oslo.message']);
    assert.equal(envelope['oslo.version'], '2.0');
    assert.equal(typeof envelope['oslo.message'], 'string');
  });

  it('carries the inner keys in oslo order, upper-case priority and a 32-hex _unique_id', () => {
    const inner = JSON.parse(envelope['oslo.message'] as string) as OsloMessage;
    assert.deepEqual(Object.keys(inner), [
      'message_id',
      'publisher_id',
      'event_type',
      'priority',
      'payload',
      'timestamp',
      '_unique_id',
    ]);
    assert.equal(inner.publisher_id, 'vpmu-image:host1');
    assert.equal(inner.priority, 'INFO');
    assert.equal(inner.message_id, SAMPLE_ENVELOPE.messageId);
    assert.match(inner._unique_id, /^[0-9a-f]{32}$/u);
    assert.equal(n.messageId, inner.message_id);
    assert.equal(n.eventType, 'image.update');
  });

  it('routes on versioned_notifications.<priority in lower case>', () => {
    assert.equal(routingKey('versioned_notifications', 'INFO'), 'versioned_notifications.info');
    assert.equal(routingKey('versioned_notifications', 'ERROR'), 'versioned_notifications.error');
  });
});
