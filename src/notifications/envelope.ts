/**
 * The oslo.messaging `messagingv2` envelope, exactly as an unchanged oslo listener accepts it:
 * `{"oslo.version": "2.0", "oslo.message": "<JSON text>"}` with upper-case priority in the body
 * and Python's `str(datetime.utcnow())` timestamp. The clock reading and ids come from the
 * caller, so golden samples are byte-stable.
 */
import type { Notification, OsloEnvelope, OsloMessage } from '../domain/index.js';
import type { Event } from './events.js';

/** What the envelope needs from outside: the host, a clock reading and fresh ids. */
export interface EnvelopeContext {
  /** Host name for `publisher_id` (`<service>:<host>`). */
  readonly host: string;
  readonly now: Date;
  /** uuid4 with dashes, for `message_id`. */
  readonly messageId: string;
  /** uuid4 (dashes are removed) for `_unique_id`. */
  readonly uniqueId: string;
}

/**
 * Python's `str(datetime.utcnow())`: `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, no zone. Python leaves
 * the fraction out when the microseconds are 0; a JavaScript Date has milliseconds, so the last
 * three digits are always 0.
 * @example toOsloTimestamp(new Date('2026-11-24T03:25:23.622Z')) // '2026-11-24 03:25:23.622000'
 */
export function toOsloTimestamp(date: Date): string {
  const iso = date.toISOString();
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  const millis = date.getUTCMilliseconds();
  return millis === 0 ? base : `${base}.${String(millis).padStart(3, '0')}000`;
}

/** The inner message, keys in oslo.messaging's order. */
export function toOsloMessage(event: Event, context: EnvelopeContext): OsloMessage {
  return {
    message_id: context.messageId,
    publisher_id: `${event.service}:${context.host}`,
    event_type: event.eventType,
    priority: event.priority,
    payload: event.payload,
    timestamp: toOsloTimestamp(context.now),
    _unique_id: context.uniqueId.replaceAll('-', ''),
  };
}

/** The outer envelope; `oslo.message` is JSON text (an embedded object is rejected). */
export function toOsloEnvelope(message: OsloMessage): OsloEnvelope {
  return { 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) };
}

/** The notification the Notifier port sends: routing facts and the serialized envelope. */
export function toNotification(event: Event, context: EnvelopeContext): Notification {
  const message = toOsloMessage(event, context);
  return {
    eventType: message.event_type,
    priority: message.priority,
    messageId: message.message_id,
    body: JSON.stringify(toOsloEnvelope(message)),
  };
}
