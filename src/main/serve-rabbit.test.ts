/**
 * Issue 5's end-to-end check: `vpmu serve --transport-url rabbit://…` boots and deletes servers
 * with the vPMU on, off and unset, and Debian's oslo.messaging listener (scripts/oslo-listener.py)
 * receives every event in order with the right event_type, publisher_id and hw_pmu.
 *
 * Needs VPMU_TEST_TRANSPORT_URL (`.ci/run` starts RabbitMQ and sets it); skips locally without it
 * and fails in CI.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { passwordAuth } from '../testing/api.js';
import { requireEnv } from '../testing/tools.js';

const { value: URL_TEXT, skip: SKIP } = requireEnv(
  'VPMU_TEST_TRANSPORT_URL',
  '.ci/run starts RabbitMQ and sets it',
);

interface Received {
  readonly priority: string;
  readonly publisher_id: string;
  readonly event_type: string;
  readonly payload: {
    readonly 'nova_object.data': {
      readonly uuid?: string;
      readonly image?: {
        readonly 'nova_object.data': {
          readonly properties: { readonly 'nova_object.data': Record<string, unknown> };
        };
      };
    };
  };
}

describe(
  'vpmu serve with the RabbitMQ notifier and an oslo.messaging listener',
  { skip: SKIP, timeout: 180_000 },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-rabbit-'));
    const children: ChildProcess[] = [];
    after(() => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    });

    it('delivers create and delete events for vPMU on, off and unset, in order, with hw_pmu', async () => {
      const exchange = `vpmu-serve-${randomUUID()}`;
      const perServer = [
        'instance.create.start',
        'scheduler.select_destinations.start',
        'scheduler.select_destinations.end',
        'instance.create.end',
        'instance.delete.start',
        'instance.delete.end',
      ];
      const cases = [
        { name: 'on', props: { hw_pmu: 'true' }, hwPmu: true },
        { name: 'off', props: { hw_pmu: 'false' }, hwPmu: false },
        { name: 'unset', props: {}, hwPmu: 'absent' },
      ] as const;
      const listener = spawn(
        '/usr/bin/python3',
        [
          'scripts/oslo-listener.py',
          '--url',
          URL_TEXT ?? '',
          '--exchange',
          exchange,
          '--count',
          String(perServer.length * cases.length),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(listener);
      const received: Received[] = [];
      createInterface({ input: listener.stdout }).on('line', (line) => {
        received.push(JSON.parse(line) as Received);
      });
      let listenerErr = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`oslo listener not ready: ${listenerErr}`));
        }, 30_000);
        listener.stderr.on('data', (chunk: Buffer) => {
          listenerErr += chunk.toString();
          if (listenerErr.includes('READY')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const listened = new Promise<number | null>((resolve) => listener.once('exit', resolve));

      writeFileSync(
        path.join(dir, 'config.json'),
        JSON.stringify({ notificationExchange: exchange, computeHostName: 'rabbit-host' }),
      );
      const serve = spawn(
        process.execPath,
        [
          'bin/vpmu.js',
          'serve',
          '--port',
          '0',
          '--state-dir',
          path.join(dir, 'state'),
          '--config',
          path.join(dir, 'config.json'),
          '--transport-url',
          URL_TEXT ?? '',
        ],
        {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VPMU_ADMIN_PASSWORD: 'admin-secret' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(serve);
      const base = await new Promise<string>((resolve, reject) => {
        let out = '';
        serve.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /vpmu listening on (http:\/\/\S+)/u.exec(out);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        serve.once('exit', (code) => {
          reject(new Error(`vpmu serve exited with ${String(code)}: ${out}`));
        });
      });
      const auth = await fetch(`${base}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(passwordAuth('admin', 'admin-secret', 'admin')),
      });
      const token = auth.headers.get('X-Subject-Token') ?? '';
      const call = async (method: string, url: string, body?: unknown): Promise<unknown> => {
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
      const ids: string[] = [];
      for (const c of cases) {
        const image = (await call('POST', '/image/v2/images', {
          name: `img-${c.name}`,
          disk_format: 'raw',
          container_format: 'bare',
          ...c.props,
        })) as { id: string };
        const put = await fetch(`${base}/image/v2/images/${image.id}/file`, {
          method: 'PUT',
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/octet-stream' },
          body: new Uint8Array(4096),
        });
        assert.equal(put.status, 204);
        const created = (await call('POST', '/compute/v2.1/servers', {
          server: { name: `vm-${c.name}`, flavorRef: 'tiny', imageRef: image.id },
        })) as { server: { id: string } };
        const id = created.server.id;
        ids.push(id);
        for (let i = 0; i < 100; i += 1) {
          const shown = (await call('GET', `/compute/v2.1/servers/${id}`)) as {
            server: { status: string };
          };
          if (shown.server.status !== 'BUILD') {
            assert.equal(shown.server.status, 'ACTIVE');
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await call('DELETE', `/compute/v2.1/servers/${id}`);
      }
      assert.equal(await listened, 0, listenerErr);
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
      serve.kill('SIGTERM');
    });
  },
);
