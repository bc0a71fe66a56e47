/**
 * Sends one notification event through the Notifier port, stamping it with the injected clock and
 * ids. The servers and images use cases call this; it never throws and never waits.
 */
import { toNotification, type Event } from '../notifications/index.js';
import type { Notifier } from '../ports/notifier.js';

/** What publishing needs: the port, this host's name, a clock and an id generator. */
export interface PublishDeps {
  readonly notifier: Notifier;
  /** Host name for `publisher_id` (`vpmu-compute:<host>`). */
  readonly host: string;
  readonly now: () => Date;
  /** uuid4 with dashes. */
  readonly newUuid: () => string;
}

/** Wraps `event` in the oslo envelope and hands it to the notifier. */
export function publishEvent(deps: PublishDeps, event: Event): void {
  deps.notifier.publish(
    toNotification(event, {
      host: deps.host,
      now: deps.now(),
      messageId: deps.newUuid(),
      uniqueId: deps.newUuid(),
    }),
  );
}
