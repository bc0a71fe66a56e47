/**
 * Plain types of a versioned notification as it travels: the Nova-shaped payload object, the
 * inner oslo message and the ready-to-send notification that the Notifier port accepts. They live
 * in domain/ because both notifications/ (which builds them) and ports/ (which sends them) need
 * them, and neither may import the other.
 */

/** oslo.messaging priorities, upper case as they appear in the message body. */
export const NOTIFICATION_PRIORITIES = [
  'INFO',
  'ERROR',
  'WARN',
  'AUDIT',
  'DEBUG',
  'CRITICAL',
  'SAMPLE',
] as const;
export type NotificationPriority = (typeof NOTIFICATION_PRIORITIES)[number];

/** A JSON value, as a payload field may carry it. */
export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** A Nova versioned object as serialized on the wire (`nova_object.*`). */
export interface VersionedObject {
  readonly 'nova_object.name': string;
  readonly 'nova_object.namespace': 'nova';
  readonly 'nova_object.version': string;
  readonly 'nova_object.data': Readonly<Record<string, JsonValue>>;
}

/** The inner oslo message (`oslo.message`), keys in oslo.messaging's order. */
export interface OsloMessage {
  /** uuid4 with dashes. */
  readonly message_id: string;
  /** `<service>:<host>`, e.g. `vpmu-compute:host1`. */
  readonly publisher_id: string;
  readonly event_type: string;
  readonly priority: NotificationPriority;
  readonly payload: VersionedObject;
  /** Python `str(datetime.utcnow())`: `2026-11-24 03:25:23.622817`. */
  readonly timestamp: string;
  /** uuid4 hex (32 characters); listeners drop repeats of the same id. */
  readonly _unique_id: string;
}

/** The outer oslo envelope (`messagingv2`). `oslo.message` is JSON text, never an object. */
export interface OsloEnvelope {
  readonly 'oslo.version': '2.0';
  readonly 'oslo.message': string;
}

/**
 * What the Notifier port sends: the routing facts plus the serialized envelope. Adapters send
 * `body` as it is, so every adapter delivers byte-identical messages.
 */
export interface Notification {
  readonly eventType: string;
  readonly priority: NotificationPriority;
  readonly messageId: string;
  /** The envelope as UTF-8 JSON text: `{"oslo.version":"2.0","oslo.message":"…"}`. */
  readonly body: string;
}

/** The topic every versioned notification goes to, as in Nova. */
export const VERSIONED_NOTIFICATIONS_TOPIC = 'versioned_notifications';

/**
 * The AMQP routing key for a priority: `<topic>.<priority in lower case>`.
 * NOTE: case matters; `versioned_notifications.INFO` matches no listener's binding.
 * @example routingKey('versioned_notifications', 'INFO') // 'versioned_notifications.info'
 */
export function routingKey(topic: string, priority: NotificationPriority): string {
  return `${topic}.${priority.toLowerCase()}`;
}
