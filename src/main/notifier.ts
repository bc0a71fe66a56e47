/**
 * Composition of the notifier for `vpmu serve`: configuration in, a Notifier out. The embedded
 * default writes JSON lines into the state directory; a transport URL (flag or
 * VPMU_TRANSPORT_URL) switches to RabbitMQ. `vpmu serve` calls `notifierSettingsFrom()` and
 * `createNotifier()`, and closes the notifier on shutdown.
 */
import path from 'node:path';
import { FileNotifier, NOTIFICATIONS_FILE } from '../adapters/notifier/file-notifier.js';
import { RabbitNotifier } from '../adapters/notifier/rabbit-notifier.js';
import { orThrow } from '../domain/index.js';
import { parseTransportUrl, redactUrl } from '../notifications/index.js';
import type { Notifier, NotifierLog } from '../ports/notifier.js';

/** Where notifications go. */
export interface NotifierSettings {
  readonly stateDir: string;
  /** `rabbit://…`; undefined for the JSON-lines file. */
  readonly transportUrl: string | undefined;
  /** The topic exchange. @default 'nova', so Nova's existing consumers read vpmu unchanged */
  readonly exchange: string;
  /** RabbitMQ only: notifications kept while the broker is away; undefined for the notifier's default. */
  readonly bufferLimit?: number | undefined;
}

/** Settings from command-line values, falling back to VPMU_TRANSPORT_URL / VPMU_NOTIFICATION_EXCHANGE. */
export function notifierSettingsFrom(
  flags: {
    readonly stateDir: string;
    readonly transportUrl?: string | undefined;
    /** Notifications' own broker (Nova's [oslo_messaging_notifications] transport_url). */
    readonly notificationTransportUrl?: string | undefined;
    readonly exchange?: string | undefined;
    readonly bufferLimit?: number | undefined;
  },
  env: Readonly<Record<string, string | undefined>>,
): NotifierSettings {
  // As oslo.messaging: notifications go where RPC goes unless they have a broker of their own.
  const transportUrl =
    nonEmpty(env.VPMU_NOTIFICATION_TRANSPORT_URL) ??
    nonEmpty(flags.notificationTransportUrl) ??
    flags.transportUrl ??
    env.VPMU_TRANSPORT_URL;
  return {
    stateDir: flags.stateDir,
    transportUrl: nonEmpty(transportUrl),
    exchange: flags.exchange ?? env.VPMU_NOTIFICATION_EXCHANGE ?? 'nova',
    ...(flags.bufferLimit === undefined ? {} : { bufferLimit: flags.bufferLimit }),
  };
}

/**
 * The notifier the settings ask for. A bad transport URL throws ComputeError
 * `notifier.invalid_transport_url` naming the (password-masked) URL and the problem.
 */
export function createNotifier(settings: NotifierSettings, log: NotifierLog): Notifier {
  if (settings.transportUrl === undefined) {
    const file = path.join(settings.stateDir, NOTIFICATIONS_FILE);
    log('info', 'notifier.file', { file });
    return new FileNotifier({ file, log });
  }
  const transport = orThrow(parseTransportUrl(settings.transportUrl));
  log('info', 'notifier.rabbit', {
    url: redactUrl(settings.transportUrl),
    exchange: settings.exchange,
  });
  return new RabbitNotifier({
    transport,
    exchange: settings.exchange,
    log,
    ...(settings.bufferLimit === undefined ? {} : { bufferLimit: settings.bufferLimit }),
  });
}

/** An empty setting means none. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}
