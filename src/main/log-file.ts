/**
 * The service log file (logs/vpmu.log) as a pino destination that survives a failing disk. Lines
 * are queued and appended in the background; when a write fails (ENOSPC, EROFS, EIO) the lines
 * of that write are dropped and counted, the failure is reported on stderr once per outage (not
 * per line), and the service keeps running. The next line tries the disk again; when it accepts
 * writes, a line in the file says how many were lost.
 */
import { open } from 'node:fs/promises';

/** The part of a file handle the log file uses; injectable so tests can fail the disk. */
export interface AppendTarget {
  write(text: string): Promise<unknown>;
  close(): Promise<void>;
}

/** Options of a LogFile. */
export interface LogFileOptions {
  readonly file: string;
  /** Where the one-line outage reports go (stderr in `vpmu serve`). */
  readonly report: (line: string) => void;
  /** Opens the file for appending; by default mode 0600 (the log holds tenants' requests). */
  readonly openAppend?: (file: string) => Promise<AppendTarget>;
  /** Text (in UTF-16 units, about bytes for JSON logs) queued while the disk is slow; lines beyond
   * are dropped and counted. @default 8 Mi */
  readonly queueLimitBytes?: number;
}

/** Counters of a LogFile. */
export interface LogFileStats {
  readonly written: number;
  readonly dropped: number;
}

const openForAppend = async (file: string): Promise<AppendTarget> => open(file, 'a', 0o600);

/** A pino destination (it has `write(line)`) appending to one file; see the file header. */
export class LogFile {
  readonly #options: LogFileOptions;
  readonly #limit: number;
  #queue: string[] = [];
  #queuedBytes = 0;
  #draining: Promise<void> | undefined;
  #target: AppendTarget | undefined;
  #written = 0;
  #dropped = 0;
  /** Lines lost since the last successful write; non-zero means an outage is under way. */
  #lostInOutage = 0;
  /** Set by close(): later lines are dropped, and the file is never opened again. */
  #closed = false;

  constructor(options: LogFileOptions) {
    this.#options = options;
    this.#limit = options.queueLimitBytes ?? 8 * 1024 * 1024;
  }

  write(line: string): boolean {
    if (this.#closed) {
      this.#dropped++;
      return true;
    }
    if (this.#queuedBytes + line.length > this.#limit) {
      this.#lose(1, 'the queue of unwritten lines is full');
      return true;
    }
    this.#queue.push(line);
    this.#queuedBytes += line.length;
    this.#draining ??= this.#drain();
    return true;
  }

  stats(): LogFileStats {
    return { written: this.#written, dropped: this.#dropped };
  }

  /** Writes what is queued (bounded by timeoutMs) and closes the file. */
  async close(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#draining,
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.#closed = true;
    const target = this.#target;
    this.#target = undefined;
    await target?.close().catch(() => undefined);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue.splice(0, 1000);
        const text = batch.join('');
        this.#queuedBytes -= text.length;
        try {
          this.#target ??= await (this.#options.openAppend ?? openForAppend)(this.#options.file);
          await this.#target.write(text);
          this.#written += batch.length;
          if (this.#lostInOutage > 0) this.#recovered();
        } catch (error) {
          const target = this.#target;
          this.#target = undefined;
          await target?.close().catch(() => undefined);
          // A write cut off by close() after its timeout is not an outage of the disk.
          if (this.#isClosed()) this.#dropped += batch.length;
          else this.#lose(batch.length, describe(error));
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Read through a call: a close() during an await is invisible to the type checker's narrowing. */
  #isClosed(): boolean {
    return this.#closed;
  }

  /** Ends an outage: one line in the file and on stderr says how many lines were lost. */
  #recovered(): void {
    const lost = this.#lostInOutage;
    this.#lostInOutage = 0;
    this.#options.report(
      `vpmu: the log file ${this.#options.file} accepts writes again; ${lost} lines were lost\n`,
    );
    const line = {
      level: 40,
      time: Date.now(),
      service: 'vpmu',
      lost,
      msg: 'log lines lost while the log file could not be written',
    };
    const text = `${JSON.stringify(line)}\n`;
    this.#queue.unshift(text);
    this.#queuedBytes += text.length;
  }

  #lose(lines: number, reason: string): void {
    if (this.#lostInOutage === 0) {
      this.#options.report(
        `vpmu: cannot write the log file ${this.#options.file} (${reason}); dropping and counting log lines until writes succeed again\n`,
      );
    }
    this.#lostInOutage += lines;
    this.#dropped += lines;
  }
}

function describe(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
