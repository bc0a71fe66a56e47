/**
 * Test helpers around a real RabbitMQ broker and Debian's unchanged oslo.messaging listener
 * (scripts/oslo-listener.py, run with /usr/bin/python3).
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { parseTransportUrl, type TransportUrl } from '../notifications/index.js';
import { startChild, WAIT_MS } from './processes.js';

/** A `rabbit://` URL parsed, or the test fails here. */
export function transportOf(url: string): TransportUrl {
  const parsed = parseTransportUrl(url);
  if (!parsed.ok) throw new Error(parsed.issues[0].message);
  return parsed.value;
}

/** The `amqp://` URL amqplib takes for a `rabbit://` URL (its first broker). */
export function amqpUrlOf(url: string): string {
  const t = transportOf(url);
  const b = t.brokers[0];
  const user = `${encodeURIComponent(b.username)}:${encodeURIComponent(b.password)}`;
  return `amqp://${user}@${b.host}:${b.port}/${encodeURIComponent(t.virtualHost)}`;
}

/** Empties oslo's default queues, so a listener sees only this test's notifications. */
export async function purgeDefaultQueues(url: string): Promise<void> {
  const conn = await amqp.connect(amqpUrlOf(url));
  try {
    const ch = await conn.createChannel();
    for (const q of ['versioned_notifications.info', 'versioned_notifications.error']) {
      await ch.assertQueue(q, { durable: false, autoDelete: false, exclusive: false });
      await ch.purgeQueue(q);
    }
    await ch.close();
  } finally {
    await conn.close();
  }
}

export interface Listened<T> {
  readonly code: number | null;
  readonly received: T[];
  readonly stderr: string;
}

export interface OsloListener<T> {
  /** Settles when the listener exits: 0 after `count` notifications, 3 on its timeout. */
  readonly done: Promise<Listened<T>>;
  readonly kill: () => void;
}

/**
 * Starts the oslo listener on topic `versioned_notifications` of `exchange` and resolves once it
 * consumes; each notification it prints is one JSON line of type T.
 */
export async function startOsloListener<T>(
  url: string,
  exchange: string,
  count: number,
): Promise<OsloListener<T>> {
  const child = startChild('/usr/bin/python3', [
    'scripts/oslo-listener.py',
    '--url',
    url,
    '--exchange',
    exchange,
    '--count',
    String(count),
  ]);
  try {
    await child.waitFor(/^READY$/mu, 30_000);
  } catch (error) {
    await child.stop();
    throw error;
  }
  // The listener exits on its own after `count` notifications or its --timeout (60 s); the
  // helper's bound on top of that keeps a wedged listener from holding the test.
  const done = Promise.race([
    child.exited,
    new Promise<void>((resolve) => setTimeout(resolve, 2 * WAIT_MS).unref()),
  ]).then(async () => {
    const { code } = await child.stop();
    const received = child
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
    return { code, received, stderr: child.stderr() };
  });
  return {
    done,
    kill: () => {
      void child.stop();
    },
  };
}

const BROKER_LOCK = path.join(tmpdir(), 'vpmu-test-broker.lock');

/**
 * Holds the test broker for one suite at a time across test files (node --test runs files in
 * parallel, and one suite stops and restarts the broker). Resolves with the release; a lock left
 * by a process that is gone is taken over.
 */
export async function holdTestBroker(timeoutMs = 300_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The lock appears with its pid already inside: a directory renamed into place.
    const mine = mkdtempSync(`${BROKER_LOCK}-`);
    writeFileSync(path.join(mine, 'pid'), String(process.pid));
    try {
      renameSync(mine, BROKER_LOCK);
      return () => {
        rmSync(BROKER_LOCK, { recursive: true, force: true });
      };
    } catch (error) {
      rmSync(mine, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
    if (!holderAlive()) {
      rmSync(BROKER_LOCK, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`the test broker is still held (${BROKER_LOCK})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function holderAlive(): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(path.join(BROKER_LOCK, 'pid'), 'utf8'), 10);
  } catch {
    return true; // released meanwhile: try again
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
