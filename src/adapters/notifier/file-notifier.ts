/**
 * The embedded default notifier: one JSON line per notification, the exact envelope that would go
 * on the wire, appended to a file in the state directory (`notifications.jsonl`). Writes are
 * batched and serialized in the background, so `publish()` never waits for the disk. The file
 * stays open (one write per batch instead of open, write, close); rotate it by copy-and-truncate.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Notification } from '../../domain/index.js';
import type { Notifier, NotifierLog, NotifierStats } from '../../ports/notifier.js';

/** Options of the JSON-lines notifier. */
export interface FileNotifierOptions {
  /** The file to append to; its directory is created when missing. */
  readonly file: string;
  readonly log: NotifierLog;
  /** Notifications kept while the disk is slow or failing. @default 10000 */
  readonly bufferLimit?: number;
}

/** The file name the notifier uses inside a state directory. */
export const NOTIFICATIONS_FILE = 'notifications.jsonl';

/** Appends notifications to a JSON-lines file; see the file header. */
export class FileNotifier implements Notifier {
  readonly #options: FileNotifierOptions;
  readonly #limit: number;
  #pending: Notification[] = [];
  #writing: Promise<void> | undefined;
  #published = 0;
  #dropped = 0;
  #closed = false;
  #file: FileHandle | undefined;

  constructor(options: FileNotifierOptions) {
    this.#options = options;
    this.#limit = options.bufferLimit ?? 10_000;
  }

  publish(notification: Notification): void {
    if (this.#closed || this.#pending.length >= this.#limit) {
      this.#drop(notification, this.#closed ? 'closed' : 'buffer full');
      return;
    }
    this.#pending.push(notification);
    this.#writing ??= this.#drain();
  }

  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#writing !== undefined && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#writing,
        new Promise((resolve) => {
          timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        }),
      ]);
      clearTimeout(timer);
    }
    return this.#pending.length === 0 && this.#writing === undefined;
  }

  stats(): NotifierStats {
    return {
      published: this.#published,
      buffered: this.#pending.length,
      dropped: this.#dropped,
      reconnects: 0,
    };
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.flush(timeoutMs);
    for (const n of this.#pending.splice(0)) this.#drop(n, 'not written before close');
    await this.#closeFile();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.slice(0, 500);
        try {
          if (this.#file === undefined) {
            // Notifications carry tenants' records: owner-only, like the database.
            await mkdir(path.dirname(this.#options.file), { recursive: true, mode: 0o700 });
            this.#file = await open(this.#options.file, 'a', 0o600);
          }
          await this.#file.write(batch.map((n) => `${n.body}\n`).join(''));
          this.#pending.splice(0, batch.length);
          this.#published += batch.length;
        } catch (error) {
          // NOTE: a failing disk must not fail requests: the batch is dropped, counted and logged,
          // and the file is opened afresh for the next batch.
          await this.#closeFile();
          this.#pending.splice(0, batch.length);
          for (const n of batch) this.#drop(n, `write failed: ${String(error)}`);
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  async #closeFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close().catch(() => undefined);
  }

  #drop(n: Notification, reason: string): void {
    this.#dropped += 1;
    this.#options.log('warn', 'notifier.dropped', {
      event_type: n.eventType,
      message_id: n.messageId,
      reason,
      dropped_total: this.#dropped,
    });
  }
}
