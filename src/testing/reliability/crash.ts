/**
 * kill -9 of `vpmu serve` at a seeded random moment of each operation, then a restart on the same
 * state directory: every server must settle, usage must match what the servers hold, no stray
 * file may remain, and once every server is deleted nothing may stay claimed.
 */
import { craftBytes, craftQcow2 } from '../crafted-images.js';
import { rmSync } from 'node:fs';
import { type Cloud, COMPUTE_MV, FLAVOR_LARGE, FLAVOR_SMALL, scenarioCloud } from './cloud.js';
import { field, waitFor } from './harness.js';
import type { ScenarioContext } from './scenario.js';

interface Operation {
  readonly name: string;
  readonly needsServer: boolean;
  /** Starts the operation; resolves when its requests are answered (or the service died). */
  readonly start: (cloud: Cloud, ids: { server: string; image: string }) => Promise<unknown>;
}

const dying = { mayDie: true, timeoutMs: 20_000 } as const;

function action(cloud: Cloud, server: string, body: unknown): Promise<unknown> {
  return cloud.as('member', 'POST', `/compute/v2.1/servers/${server}/action`, { ...dying, body });
}

const OPERATIONS: readonly Operation[] = [
  {
    name: 'create',
    needsServer: false,
    start: async (cloud, { image }) => {
      const made = await cloud.as('member', 'POST', '/compute/v2.1/servers', {
        ...dying,
        headers: COMPUTE_MV,
        body: {
          server: {
            name: 'crash-create',
            flavorRef: FLAVOR_SMALL,
            imageRef: image,
            networks: 'none',
          },
        },
      });
      const id = field(made.json, 'server', 'id');
      if (typeof id !== 'string') return;
      // The build goes on after the 202: the operation ends when the server leaves BUILD.
      await waitFor('the new server to leave BUILD (or the service to die)', async () => {
        if (!cloud.service.alive) return true;
        const shown = await cloud.as('member', 'GET', `/compute/v2.1/servers/${id}`, dying);
        return field(shown.json, 'server', 'status') === 'BUILD' ? undefined : true;
      });
    },
  },
  {
    name: 'resize + confirm',
    needsServer: true,
    start: async (cloud, { server }) => {
      await action(cloud, server, { resize: { flavorRef: FLAVOR_LARGE } });
      return action(cloud, server, { confirmResize: null });
    },
  },
  {
    name: 'resize + revert',
    needsServer: true,
    start: async (cloud, { server }) => {
      await action(cloud, server, { resize: { flavorRef: FLAVOR_LARGE } });
      return action(cloud, server, { revertResize: null });
    },
  },
  {
    name: 'rebuild',
    needsServer: true,
    start: (cloud, ids) => action(cloud, ids.server, { rebuild: { imageRef: ids.image } }),
  },
  {
    name: 'delete',
    needsServer: true,
    start: (cloud, { server }) =>
      cloud.as('member', 'DELETE', `/compute/v2.1/servers/${server}`, dying),
  },
  {
    name: 'image upload',
    needsServer: false,
    start: async (cloud) => {
      const made = await cloud.as('member', 'POST', '/image/v2/images', {
        ...dying,
        body: { name: 'crash-upload', disk_format: 'raw', container_format: 'bare' },
      });
      const id = field(made.json, 'id');
      if (typeof id !== 'string') return made;
      return cloud.as('member', 'PUT', `/image/v2/images/${id}/file`, {
        ...dying,
        raw: Buffer.alloc(24 * 1024 * 1024, 7),
        contentType: 'application/octet-stream',
      });
    },
  },
];

export async function crash(ctx: ScenarioContext): Promise<void> {
  const cloud = scenarioCloud(ctx, 'crash', 'kill -9');
  const { service, stateDir } = cloud;
  const qcow2 = craftBytes(ctx.workDir, (dir) => craftQcow2(dir, 16 * 1024 * 1024));
  const rounds = 4 * ctx.size;
  const durations = new Map<string, number>();
  let kills = 0;
  try {
    await service.start();
    await cloud.loginAll();
    await cloud.ensureFlavors();
    const image = await cloud.uploadImage('member', 'crash-base', qcow2);
    for (let round = 0; round < rounds && Date.now() < ctx.deadline; round++) {
      for (const op of OPERATIONS) {
        if (Date.now() > ctx.deadline) break;
        const newServer = async (): Promise<string> =>
          op.needsServer ? (await cloud.boot('member', 'crash-victim', image)).id : '';
        // The kill moment is uniform over how long the operation takes here, measured once.
        let took = durations.get(op.name);
        if (took === undefined) {
          const server = await newServer();
          const t0 = Date.now();
          await op.start(cloud, { server, image });
          took = Date.now() - t0;
          durations.set(op.name, took);
          ctx.log(`${op.name} takes ${took} ms unkilled`);
        }
        const server = await newServer();
        const delay = ctx.rng.int(took + 1);
        const started = op.start(cloud, { server, image });
        await new Promise((resolve) => setTimeout(resolve, delay));
        await service.kill9();
        await started;
        kills++;
        const moment = `after kill -9 ${delay} ms into ${op.name}`;
        await service.start();
        await cloud.loginAll();
        const servers = await cloud.waitStable();
        for (const s of servers) {
          cloud.check(
            s['OS-EXT-STS:task_state'] === null,
            `${moment}: server ${String(s.id)} stuck in task ${String(s['OS-EXT-STS:task_state'])}`,
          );
        }
        await cloud.checkFaults(moment);
        await cloud.checkLeaks(moment);
        await cloud.deleteAllServers();
        await cloud.checkEmpty(`${moment}, every server deleted`);
      }
    }
    ctx.log(`kill -9: ${kills} kills and restarts`);
    cloud.check(
      kills >= OPERATIONS.length,
      'kill -9: not every operation was killed once',
      `${kills}`,
    );
  } finally {
    await service.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
