import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryNotifier } from '../adapters/notifier/memory-notifier.js';
import { imageUpdateEvent, SAMPLE_IMAGE } from '../notifications/index.js';
import { publishEvent } from './publish-event.js';

it('publishEvent() stamps the event with the injected clock and ids', () => {
  const notifier = new MemoryNotifier();
  const ids = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
  publishEvent(
    {
      notifier,
      host: 'node-7',
      now: () => new Date('2026-11-24T05:00:00.250Z'),
      newUuid: () => ids.shift() ?? 'exhausted',
    },
    imageUpdateEvent(SAMPLE_IMAGE),
  );
  const [sent] = notifier.delivered;
  assert.ok(sent);
  const envelope = JSON.parse(sent.body) as { 'oslo.message': string };
  const inner = JSON.parse(envelope['oslo.message']) as Record<string, unknown>;
  assert.equal(inner.message_id, '11111111-1111-4111-8111-111111111111');
  assert.equal(inner._unique_id, '22222222222242228222222222222222');
  assert.equal(inner.publisher_id, 'vpmu-image:node-7');
  assert.equal(inner.timestamp, '2026-11-24 05:00:00.250000');
  assert.equal(sent.messageId, inner.message_id);
});
