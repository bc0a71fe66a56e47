import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { aNotification, notifierContract } from '../../ports/notifier.contract.js';
import type { NotifierLog } from '../../ports/notifier.js';
import { FileNotifier, NOTIFICATIONS_FILE } from './file-notifier.js';
import { MemoryNotifier } from './memory-notifier.js';

const quiet: NotifierLog = () => undefined;

async function readIds(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const envelope = JSON.parse(line) as { 'oslo.message': string };
      return (JSON.parse(envelope['oslo.message']) as { message_id: string }).message_id;
    });
}

notifierContract('FileNotifier', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'vpmu-notify-'));
  const file = path.join(dir, 'state', NOTIFICATIONS_FILE);
  return {
    notifier: new FileNotifier({ file, log: quiet }),
    delivered: () => readIds(file),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

notifierContract('MemoryNotifier', async () => {
  const notifier = new MemoryNotifier();
  return { notifier, delivered: async () => notifier.delivered.map((n) => n.messageId) };
});

describe('FileNotifier', () => {
  it('writes the exact wire envelope, one per line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vpmu-notify-'));
    try {
      const file = path.join(dir, NOTIFICATIONS_FILE);
      const n = aNotification();
      const notifier = new FileNotifier({ file, log: quiet });
      notifier.publish(n);
      await notifier.close(5_000);
      assert.equal(await readFile(file, 'utf8'), `${n.body}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("creates the file 0600 and its missing directory 0700: notifications carry tenants' records", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vpmu-notify-'));
    try {
      const file = path.join(dir, 'state', NOTIFICATIONS_FILE);
      const notifier = new FileNotifier({ file, log: quiet });
      notifier.publish(aNotification());
      await notifier.close(5_000);
      assert.deepEqual(
        [(await stat(file)).mode & 0o777, (await stat(path.dirname(file))).mode & 0o777],
        [0o600, 0o700],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts and logs what it cannot write, without throwing to the caller', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vpmu-notify-'));
    try {
      // A regular file where the directory should be: every write fails.
      await writeFile(path.join(dir, 'blocker'), '');
      const lines: string[] = [];
      const notifier = new FileNotifier({
        file: path.join(dir, 'blocker', NOTIFICATIONS_FILE),
        log: (level, event, fields) => lines.push(`${level} ${event} ${String(fields.reason)}`),
      });
      notifier.publish(aNotification());
      notifier.publish(aNotification());
      assert.equal(await notifier.flush(5_000), true);
      assert.deepEqual(notifier.stats(), { published: 0, buffered: 0, dropped: 2, reconnects: 0 });
      assert.equal(lines.length, 2);
      assert.match(lines[0] ?? '', /^warn notifier\.dropped write failed: /u);
      await notifier.close(1_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drops beyond its buffer bound, counted', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vpmu-notify-'));
    try {
      const file = path.join(dir, NOTIFICATIONS_FILE);
      const notifier = new FileNotifier({ file, log: quiet, bufferLimit: 2 });
      for (let i = 0; i < 5; i += 1) notifier.publish(aNotification());
      await notifier.close(5_000);
      assert.deepEqual(notifier.stats(), { published: 2, buffered: 0, dropped: 3, reconnects: 0 });
      assert.equal((await readIds(file)).length, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
