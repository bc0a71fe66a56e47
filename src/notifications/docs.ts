/** Renders docs/notifications.md from the event catalogue, the schemas and the samples. */
import { toOsloEnvelope } from './envelope.js';
import { PAYLOAD_SCHEMAS } from './payloads.js';
import { buildSamples } from './samples.js';
import { versionPin, type FieldSpec } from './schema.js';

function fieldText(field: FieldSpec): string {
  const type =
    field.type === 'object'
      ? `[${field.of.name}](#${field.of.name.toLowerCase()}) ${field.of.version}`
      : field.type;
  if (field.optional) return `${type}, left out when unset`;
  if (field.nullable) return `${type} or null`;
  return type;
}

/** The Markdown text of docs/notifications.md. */
export function renderNotificationsMarkdown(): string {
  const samples = buildSamples();
  const events = samples.map(
    ({ spec }) =>
      `| [\`${spec.eventType}\`](#${spec.eventType.replaceAll('.', '')}) | ${spec.priority} | \`${spec.service}:<host>\` | [${spec.payload.name}](#${spec.payload.name.toLowerCase()}) | ${spec.when} |`,
  );
  const payloads = PAYLOAD_SCHEMAS.flatMap((schema) => [
    `### ${schema.name}`,
    '',
    `Version **${schema.version}** (pin \`${versionPin(schema)}\`). ${schema.description}`,
    '',
    'Version history:',
    '',
    ...schema.history.map((line) => `- ${line}`),
    '',
    '| Field | Type |',
    '|---|---|',
    ...Object.entries(schema.fields).map(([name, f]) => `| \`${name}\` | ${fieldText(f)} |`),
    '',
  ]);
  const first = samples[0];
  const envelopeExample =
    first === undefined ? [] : ['```json', JSON.stringify(toOsloEnvelope(first.message)), '```'];
  const sampleSections = samples.flatMap(({ spec, message }) => [
    `### ${spec.eventType}`,
    '',
    `${spec.when} Priority ${spec.priority}, payload ${spec.payload.name} ${spec.payload.version}. ` +
      `File: [testdata/notification-samples/${spec.eventType}.json](../testdata/notification-samples/${spec.eventType}.json).`,
    '',
    '```json',
    JSON.stringify(message, null, 2),
    '```',
    '',
  ]);
  return [
    '# Versioned notifications',
    '',
    '<!-- Generated from src/notifications/ by `npm run test:update-golden`; do not edit. -->',
    '',
    'vpmu sends Nova-shaped versioned notifications, so billing, audit and telemetry systems that',
    'read Nova’s see which guests run with the vPMU on or off. The flavor payload carries the',
    'extra specs (`hw:pmu` as stored, a string); the image payload carries `hw_pmu` as a JSON',
    'boolean, present only when the image sets it; `pmu` says what was requested, how it resolved',
    'and what the guest actually gets.',
    '',
    '## Where they go',
    '',
    '- **Embedded default:** one JSON line per notification, the exact envelope that would go on the',
    '  wire, appended to `notifications.jsonl` in the state directory. Read them with',
    '  `jq -c \'."oslo.message" | fromjson\' notifications.jsonl`.',
    '- **RabbitMQ:** `vpmu serve --transport-url rabbit://USER:PASS@HOST:PORT/VHOST` (or',
    '  `VPMU_TRANSPORT_URL`), oslo.messaging’s URL form; several brokers may be listed',
    '  (`rabbit://u:p@h1:5672,u:p@h2:5672/`) and are tried in turn. Messages go to a topic',
    '  exchange (its name is configuration; Nova uses `nova`), declared `durable: false`, with',
    '  routing key `versioned_notifications.<priority in lower case>` (`.info`, `.error`). As',
    '  oslo.messaging does, vpmu declares the default queue `versioned_notifications.<priority>`',
    '  and binds it, after every (re)connect, so nothing is lost while no listener runs.',
    '',
    'An unchanged oslo.messaging notification listener on topic `versioned_notifications` and that',
    'exchange reads them; CI proves it with Debian’s `python3-oslo.messaging`',
    '(`scripts/oslo-listener.py`).',
    '',
    '**Publishing never blocks or fails a request.** If the broker is down, notifications wait in',
    'a bounded buffer (`notificationBufferLimit`, 10,000 by default; see operations.md) while the',
    'notifier reconnects with backoff; when the buffer is full, further notifications are dropped,',
    'each one counted and logged (`notifier.dropped` with its event type and message id). The',
    'counters `published`, `buffered`, `dropped` and `reconnects` are served to admins at',
    '`GET /compute/v2.1/vpmu/notifier` (see api.md). Delivery is at least once: after a lost',
    'confirm a message is sent again with the same `_unique_id`, which oslo listeners use to drop',
    'repeats. CI cuts a running `vpmu serve` off its broker mid-run and checks that requests stay',
    'fast, the buffer drains in order once the broker is back, and the overflow is counted.',
    '',
    '## The envelope',
    '',
    'The body is oslo.messaging’s `messagingv2` envelope: `oslo.version` is `"2.0"` and',
    '`oslo.message` is the inner message as JSON **text**. The inner message has `message_id`,',
    '`publisher_id` (`<service>:<host>`), `event_type`, `priority` (upper case), `payload`,',
    '`timestamp` (Python’s `str(datetime.utcnow())` form, UTC without a zone) and `_unique_id`.',
    'Properties: `content_type: application/json`, `content_encoding: utf-8`, `delivery_mode: 2`.',
    'The first sample below, as sent:',
    '',
    ...envelopeExample,
    '',
    '## Events',
    '',
    '| Event | Priority | Publisher | Payload | When |',
    '|---|---|---|---|---|',
    ...events,
    '',
    'Image events: Glance’s own `image.update` is unversioned; vpmu’s carries the versioned',
    '`ImageMetaPayload`, so a consumer reads `hw_pmu` in the same shape as inside instance and',
    'scheduler events. As in Nova, the image payload also travels inside `RequestSpecPayload`',
    '(`scheduler.select_destinations.*`); vpmu attaches it to instance events too.',
    '',
    '## Payloads',
    '',
    'Names and field names follow Nova’s (`nova/notifications/objects/`), `nova_object.namespace`',
    'is `nova`. Versions are vpmu’s own, starting at 1.0: vpmu carries a subset of Nova’s fields',
    'plus its own (`pmu`, `code`), so claiming Nova’s version numbers would promise fields it does',
    'not send. A field change without a version bump fails the pin test',
    '(`src/notifications/payloads.test.ts`). Datetimes are ISO 8601 UTC to the second',
    '(`2026-11-24T03:21:07Z`). `ExceptionPayload` never carries a traceback.',
    '',
    ...payloads,
    '## Samples',
    '',
    'Generated by the tests with a fixed clock and fixed ids; each is the decoded `oslo.message`.',
    '',
    ...sampleSections,
  ].join('\n');
}
