/**
 * Issue 5's end-to-end checks on `vpmu serve --transport-url rabbit://…` and Debian's unchanged
 * oslo.messaging listener (scripts/oslo-listener.py):
 * - servers booted and deleted with the vPMU on, off and unset produce every event in order with
 *   the right event_type, publisher_id and hw_pmu;
 * - cut off from its broker mid-run, the service answers requests as fast as ever, holds
 *   notifications up to its configured bound, counts and logs the rest, and delivers what it held,
 *   in order, once the broker is reachable again.
 *
 * Needs VPMU_TEST_TRANSPORT_URL (`.ci/run` starts RabbitMQ and sets it); skips locally without it
 * and fails in CI.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import { pollUntil, startChild } from '../testing/processes.js';
import {
  holdTestBroker,
  purgeDefaultQueues,
  startOsloListener,
  transportOf,
} from '../testing/rabbit.js';
import { openTcpGate } from '../testing/tcp-gate.js';
import { requireEnv } from '../testing/tools.js';

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);
const BROKER_URL = URL_TEXT ?? '';

interface Received {
  readonly priority: string;
  readonly publisher_id: string;
  readonly event_type: string;
  readonly payload: {
    readonly 'nova_object.data': {
      readonly uuid?: string;
      /** Scheduler events name the instance here. */
      readonly instance_uuid?: string;
      readonly image?: {
        readonly 'nova_object.data': {
          readonly properties: { readonly 'nova_object.data': Record<string, unknown> };
        };
      };
    };
  };
}

/** What one server's create and delete publish, in order. */
const CREATE_EVENTS = [
  'instance.create.start',
  'scheduler.select_destinations.start',
  'scheduler.select_destinations.end',
  'instance.create.end',
];
const DELETE_EVENTS = ['instance.delete.start', 'instance.delete.end'];

interface NotifierStats {
  readonly published: number;
  readonly buffered: number;
  readonly dropped: number;
  readonly reconnects: number;
}

type Call = (method: string, url: string, body?: unknown) => Promise<unknown>;

/** A `vpmu serve` child on a free port, logged in as admin. */
interface Served {
  readonly call: Call;
  readonly logFile: string;
  /** Boots a 64 MiB server from a fresh 4 KiB image with these properties; resolves at ACTIVE. */
  readonly boot: (name: string, imageProperties: Record<string, string>) => Promise<string>;
}

describe(
  'vpmu serve with the RabbitMQ notifier and an oslo.messaging listener',
  { skip: SKIP, timeout: 180_000 },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-rabbit-'));
    const cleanups: (() => unknown)[] = [];
    before(async () => {
      cleanups.push(await holdTestBroker());
    });
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    async function serve(name: string, transportUrl: string, config: object): Promise<Served> {
      const stateDir = path.join(dir, name);
      const configFile = path.join(dir, `${name}.json`);
      writeFileSync(configFile, JSON.stringify(config));
      const child = startChild(
        process.execPath,
        [
          'bin/vpmu.js',
          'serve',
          '--port',
          '0',
          '--state-dir',
          stateDir,
          '--config',
          configFile,
          '--transport-url',
          transportUrl,
        ],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VPMU_ADMIN_PASSWORD: 'admin-secret' } },
      );
      cleanups.push(() => child.stop());
      const base = (await child.waitFor(/vpmu listening on (http:\/\/\S+)/u))[1] ?? '';
      const auth = await fetch(`${base}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(passwordAuth('admin', 'admin-secret', 'admin')),
      });
      const token = auth.headers.get('X-Subject-Token') ?? '';
      const call: Call = async (method, url, body) => {
        const res = await fetch(`${base}${url}`, {
          method,
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        assert.ok(res.status < 300, `${method} ${url}: ${String(res.status)} ${text}`);
        return text === '' ? null : (JSON.parse(text) as unknown);
      };
      await call('POST', '/compute/v2.1/flavors', {
        flavor: { name: 'tiny', id: 'tiny', vcpus: 1, ram: 64, disk: 0 },
      });
      const boot = async (server: string, properties: Record<string, string>): Promise<string> => {
        const image = (await call('POST', '/image/v2/images', {
          name: `img-${server}`,
          disk_format: 'raw',
          container_format: 'bare',
          ...properties,
        })) as { id: string };
        const put = await fetch(`${base}/image/v2/images/${image.id}/file`, {
          method: 'PUT',
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/octet-stream' },
          body: new Uint8Array(4096),
        });
        assert.equal(put.status, 204);
        const created = (await call('POST', '/compute/v2.1/servers', {
          server: { name: server, flavorRef: 'tiny', imageRef: image.id },
        })) as { server: { id: string } };
        const id = created.server.id;
        const shown = await pollUntil(
          `server ${server} out of BUILD`,
          async () =>
            (
              (await call('GET', `/compute/v2.1/servers/${id}`)) as {
                server: { status: string };
              }
            ).server.status,
          (status) => status !== 'BUILD',
        );
        assert.equal(shown, 'ACTIVE');
        return id;
      };
      return { call, logFile: path.join(stateDir, 'logs', 'vpmu.log'), boot };
    }

    it('delivers create and delete events for vPMU on, off and unset, in order, with hw_pmu', async () => {
      const exchange = `vpmu-serve-${randomUUID()}`;
      const cases = [
        { name: 'on', props: { hw_pmu: 'true' }, hwPmu: true },
        { name: 'off', props: { hw_pmu: 'false' }, hwPmu: false },
        { name: 'unset', props: {}, hwPmu: 'absent' },
      ] as const;
      const perServer = [...CREATE_EVENTS, ...DELETE_EVENTS];
      await purgeDefaultQueues(BROKER_URL);
      const listener = await startOsloListener<Received>(
        BROKER_URL,
        exchange,
        perServer.length * cases.length,
      );
      cleanups.push(listener.kill);
      const { boot, call } = await serve('plain', BROKER_URL, {
        notificationExchange: exchange,
        computeHostName: 'rabbit-host',
      });
      const ids: string[] = [];
      for (const c of cases) {
        const id = await boot(`vm-${c.name}`, c.props);
        ids.push(id);
        await call('DELETE', `/compute/v2.1/servers/${id}`);
      }
      const { code, received, stderr } = await listener.done;
      assert.equal(code, 0, stderr);
      assert.deepEqual(
        received.map((r) => r.event_type),
        cases.flatMap(() => perServer),
      );
      for (const r of received) {
        assert.equal(
          r.publisher_id,
          r.event_type.startsWith('scheduler.')
            ? 'vpmu-scheduler:rabbit-host'
            : 'vpmu-compute:rabbit-host',
          r.event_type,
        );
        assert.equal(r.priority, 'info');
      }
      cases.forEach((c, i) => {
        const mine = received.slice(i * perServer.length, (i + 1) * perServer.length);
        for (const r of mine.filter((m) => m.event_type.startsWith('instance.'))) {
          const data = r.payload['nova_object.data'];
          assert.equal(data.uuid, ids[i]);
          const props = data.image?.['nova_object.data'].properties['nova_object.data'] ?? {};
          assert.equal(
            'hw_pmu' in props ? props.hw_pmu : 'absent',
            c.hwPmu,
            `${c.name} ${r.event_type}`,
          );
        }
      });
    });

    it('stays fast while its broker is unreachable, counts what overflows, then delivers what it held, in order', async () => {
      const exchange = `vpmu-outage-${randomUUID()}`;
      const broker = transportOf(BROKER_URL).brokers[0];
      const gate = await openTcpGate({ host: broker.host, port: broker.port });
      cleanups.push(() => gate.close());
      const viaGate = BROKER_URL.replace(`:${String(broker.port)}/`, `:${String(gate.port)}/`);
      assert.notEqual(viaGate, BROKER_URL, 'the service talks to the broker through the gate');
      const bufferLimit = 8;
      const { boot, call, logFile } = await serve('outage', viaGate, {
        notificationExchange: exchange,
        computeHostName: 'outage-host',
        notificationBufferLimit: bufferLimit,
      });
      const notifier = async (): Promise<NotifierStats> =>
        ((await call('GET', '/compute/v2.1/vpmu/notifier')) as { notifier: NotifierStats })
          .notifier;
      const settled = (published: number): Promise<NotifierStats> =>
        pollUntil(
          `${String(published)} notifications published, none buffered`,
          notifier,
          (stats) => stats.published === published && stats.buffered === 0,
          { intervalMs: 100 },
        );
      await purgeDefaultQueues(BROKER_URL);
      const before = await boot('before', { hw_pmu: 'true' });
      assert.deepEqual(await settled(CREATE_EVENTS.length), {
        published: CREATE_EVENTS.length,
        buffered: 0,
        dropped: 0,
        reconnects: 0,
      });
      // The listener reads the broker directly; only the service is cut off.
      const listener = await startOsloListener<Received>(
        BROKER_URL,
        exchange,
        CREATE_EVENTS.length + bufferLimit + DELETE_EVENTS.length,
      );
      cleanups.push(listener.kill);

      gate.cut();
      // Nothing reaches the broker now, and a new connection hangs until the notifier's own
      // connect bound (5 s): a request that waited on the broker would take that long.
      const slowest = { ms: 0, what: '' };
      const timed = async <T>(what: string, action: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        const result = await action();
        const ms = performance.now() - started;
        if (ms > slowest.ms) Object.assign(slowest, { ms, what });
        return result;
      };
      const during = await timed('boot during-1', () => boot('during-1', { hw_pmu: 'false' }));
      await timed('delete during-1', () => call('DELETE', `/compute/v2.1/servers/${during}`));
      const overflow = await timed('boot during-2', () => boot('during-2', {}));
      assert.ok(
        slowest.ms < 1_000,
        `${slowest.what} took ${slowest.ms.toFixed(0)} ms while the broker was unreachable`,
      );
      // 10 events for a bound of 8: the last two (during-2's scheduler end and create end) overflow.
      const outage = await notifier();
      assert.deepEqual(
        [outage.published, outage.buffered, outage.dropped],
        [CREATE_EVENTS.length, bufferLimit, 2],
      );
      // The log file is written in the background: wait (bounded) for both lines to land.
      const dropLines = await pollUntil(
        'two notifier.dropped lines in the log',
        () =>
          readFileSync(logFile, 'utf8')
            .split('\n')
            .filter((line) => line.includes('"msg":"notifier.dropped"')),
        (lines) => lines.length >= 2,
      );
      assert.equal(dropLines.length, 2, 'each dropped notification is logged');

      gate.restore();
      const restored = await settled(CREATE_EVENTS.length + bufferLimit);
      assert.equal(restored.dropped, 2);
      assert.ok(restored.reconnects >= 1, `reconnected: ${JSON.stringify(restored)}`);
      await call('DELETE', `/compute/v2.1/servers/${before}`);

      const { code, received, stderr } = await listener.done;
      assert.equal(code, 0, stderr);
      const expected = [
        ...CREATE_EVENTS.map((e) => [e, before]),
        ...[...CREATE_EVENTS, ...DELETE_EVENTS].map((e) => [e, during]),
        ...CREATE_EVENTS.slice(0, 2).map((e) => [e, overflow]),
        ...DELETE_EVENTS.map((e) => [e, before]),
      ];
      assert.deepEqual(
        received.map((r) => {
          const data = r.payload['nova_object.data'];
          return [r.event_type, data.uuid ?? data.instance_uuid];
        }),
        expected,
      );
    });
  },
);
