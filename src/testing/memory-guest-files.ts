/** GuestFiles in memory, for tests: config drives kept as their files, console logs set by hand. */
import { lastLines, type GuestFile, type GuestFiles } from '../ports/guest-files.js';

export class MemoryGuestFiles implements GuestFiles {
  /** Every config drive written, by path. */
  readonly drives = new Map<string, { label: string; files: readonly GuestFile[] }>();
  /** Console logs by path (a test plays the guest that writes them). */
  readonly consoleLogs = new Map<string, string>();

  async writeConfigDrive(path: string, label: string, files: readonly GuestFile[]): Promise<void> {
    this.drives.set(path, { label, files: [...files] });
    return Promise.resolve();
  }

  async readConsoleLog(path: string, lines: number | undefined): Promise<string> {
    return Promise.resolve(lastLines(this.consoleLogs.get(path) ?? '', lines));
  }

  /** A file of the drive at `drive`, decoded; undefined when absent. */
  file(drive: string, file: string): string | undefined {
    const found = this.drives.get(drive)?.files.find((f) => f.path === file);
    return found === undefined ? undefined : Buffer.from(found.content, found.encoding).toString();
  }
}
