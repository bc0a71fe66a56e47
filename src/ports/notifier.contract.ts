/**
 * Behaviour every Notifier shares; each adapter's test file calls `notifierContract()` with a
 * factory that also says how to read back what was delivered.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Notification } from '../domain/index.js';
import type { Notifier } from './notifier.js';

/** A notifier under test and a way to read what reached its transport (message ids, in order). */
export interface NotifierUnderTest {
  readonly notifier: Notifier;
  delivered(): Promise<readonly string[]>;
  cleanup?(): Promise<void>;
}

/** A minimal valid notification with a fresh message id. */
export function aNotification(eventType = 'instance.create.end'): Notification {
  const messageId = randomUUID();
  const message = {
    message_id: messageId,
    publisher_id: 'vpmu-compute:contract',
    event_type: eventType,
    priority: 'INFO',
    payload: {
      'nova_object.name': 'ContractPayload',
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.0',
      'nova_object.data': {},
    },
    timestamp: '2026-11-24 03:25:23.622000',
    _unique_id: randomUUID().replaceAll('-', ''),
  };
  return {
    eventType,
    priority: 'INFO',
    messageId,
    body: JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) }),
  };
}

/** Registers the contract tests for one adapter. */
export function notifierContract(name: string, make: () => Promise<NotifierUnderTest>): void {
  describe(`Notifier contract: ${name}`, () => {
    it('publish() returns synchronously and delivers in order; flush() reports it', async () => {
      const t = await make();
      try {
        const sent = [aNotification(), aNotification('instance.delete.start'), aNotification()];
        for (const n of sent) t.notifier.publish(n);
        assert.equal(await t.notifier.flush(10_000), true);
        assert.deepEqual(
          await t.delivered(),
          sent.map((n) => n.messageId),
        );
        const stats = t.notifier.stats();
        assert.equal(stats.published, 3);
        assert.equal(stats.buffered, 0);
        assert.equal(stats.dropped, 0);
      } finally {
        await t.notifier.close(5_000);
        await t.cleanup?.();
      }
    });

    it('close() is idempotent and publish() after close drops and counts, never throws', async () => {
      const t = await make();
      try {
        await t.notifier.close(5_000);
        await t.notifier.close(5_000);
        t.notifier.publish(aNotification());
        assert.equal(t.notifier.stats().dropped, 1);
        assert.equal(t.notifier.stats().buffered, 0);
      } finally {
        await t.cleanup?.();
      }
    });
  });
}
