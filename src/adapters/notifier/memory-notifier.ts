/** An in-memory Notifier for service tests: keeps every delivered notification in order. */
import type { Notification } from '../../domain/index.js';
import type { Notifier, NotifierStats } from '../../ports/notifier.js';

/** Delivers at once into `delivered`; passes the Notifier contract. */
export class MemoryNotifier implements Notifier {
  readonly delivered: Notification[] = [];
  #dropped = 0;
  #closed = false;

  publish(notification: Notification): void {
    if (this.#closed) {
      this.#dropped += 1;
      return;
    }
    this.delivered.push(notification);
  }

  async flush(): Promise<boolean> {
    return true;
  }

  stats(): NotifierStats {
    return { published: this.delivered.length, buffered: 0, dropped: this.#dropped, reconnects: 0 };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
