/**
 * The files of a guest beside its disks in the instance directory: the config drive vpmu writes
 * for the guest, and the console log the guest's serial port writes (through libvirt's virtlogd).
 */

/** One file of a config drive (design/config-drive.ts makes them). */
export interface GuestFile {
  readonly path: string;
  readonly content: string;
  readonly encoding: 'utf8' | 'base64';
}

/** The most of a console log read back, as Nova's libvirt driver (MAX_CONSOLE_BYTES). */
export const MAX_CONSOLE_BYTES = 100 * 1024;

export interface GuestFiles {
  /**
   * Writes `files` into an ISO 9660 volume labelled `label` at `path` (replacing any file there).
   * Rejects with `disk.operation_failed` naming the file and the reason.
   */
  writeConfigDrive(path: string, label: string, files: readonly GuestFile[]): Promise<void>;
  /**
   * The end of the console log at `path`: at most MAX_CONSOLE_BYTES, cut to its last `lines`
   * lines when given. A log that does not exist (yet) reads as '' (Nova's libvirt driver too).
   */
  readConsoleLog(path: string, lines: number | undefined): Promise<string>;
}

/** The last `lines` lines of `text` (all when undefined), as Nova's console output API cuts it. */
export function lastLines(text: string, lines: number | undefined): string {
  if (lines === undefined) return text;
  if (lines <= 0 || text === '') return '';
  const all = text.split('\n');
  // A trailing newline ends the last line; it does not start another.
  const trailing = all.at(-1) === '' ? all.pop() : undefined;
  return all.slice(-lines).join('\n') + (trailing === undefined ? '' : '\n');
}
