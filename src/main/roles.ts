/**
 * The two processes of a deployment over many hosts that serve no HTTP (docs/distributed.md):
 * - `vpmu compute` owns one host: it registers the host, reports heartbeats, reconciles only
 *   that host, serves its compute agent on RPC (topic `compute`, server = the host's name) with
 *   the build slots, and removes guests evacuated off the host once it is back;
 * - `vpmu conductor` runs the builds the API processes dispatch (topic `conductor`): schedule,
 *   claim, and the build on the chosen host's agent; and, in one conductor at a time (a store
 *   lock), the periodic sweeps: builds past the build timeout, claims no server needs, and the
 *   deferred shelve offloads and soft-delete reclaims.
 */
import type { ApiLogger } from '../api/app.js';
import type { ComputeAgent } from '../ports/compute-agent.js';
import type { ImageCache } from '../ports/image-cache.js';
import { evictUnusedImages } from '../services/cached-images.js';
import { serialPerServer } from '../services/serial-agent.js';
import type { RpcTransport } from '../ports/rpc.js';
import type { ComputeHostRecord, Store } from '../ports/store.js';
import {
  CONDUCTOR_TOPIC,
  serveComputeAgent,
  Slots,
  type BuildOrder,
  type Servers,
} from '../services/index.js';
import { heartbeatPeriodically } from './heartbeat.js';
import { deferredIntervalMs, periodically } from './periodically.js';
import type { RunningService, ServeConfig } from './serve.js';

interface RoleParts {
  readonly config: ServeConfig;
  readonly rpc: RpcTransport;
  readonly store: Store;
  readonly servers: Servers;
  readonly log: ApiLogger;
  /** What the process opened, closed in reverse order; `closeAll` closes it. */
  readonly opened: { what: string; close: () => Promise<unknown> }[];
  readonly closeAll: (ms?: number) => Promise<void>;
}

/** `vpmu compute`: see the file header. */
export async function startComputeRole(
  parts: RoleParts & {
    readonly host: ComputeHostRecord;
    readonly agent: ComputeAgent;
    /** The host's own image cache, when it has one (imageApiUrl). */
    readonly imageCache?: ImageCache | undefined;
    readonly clock: { now(): Date };
  },
): Promise<RunningService> {
  const { config, rpc, store, servers, host, agent, imageCache, clock, log, opened, closeAll } =
    parts;
  await servers.registerHost(host);
  const report = await servers.reconcile({ hostsOnly: true });
  log.info({ host: host.name, ...report }, 'compute: reconciled this host');
  const consumer = await serveComputeAgent(
    rpc,
    host.name,
    // A build waits for a slot before it takes its server's lock, so a delete need not wait.
    withBuildSlots(serialPerServer(agent), config.maxConcurrentBuilds),
  );
  opened.push({ what: 'compute rpc', close: () => consumer.stop() });
  const heartbeat = heartbeatPeriodically(
    store,
    host.name,
    config.reportInterval * 1000,
    clock,
    log,
  );
  opened.push({ what: 'heartbeat', close: () => heartbeat.stop() });
  // A host that was down (hung, cut off) and is back removes what was evacuated off it meanwhile.
  const cleanup = periodically(config.reportInterval * 1000, log, 'evacuation cleanup', () =>
    servers.cleanUpEvacuated(host.name),
  );
  opened.push({ what: 'evacuation cleanup', close: () => cleanup.stop() });
  if (imageCache !== undefined) {
    // Nova's image cache manager runs every 2400 s; a shorter maximum age is checked twice as often.
    const every = Math.min(2400, Math.max(1, Math.floor(config.imageCacheMaxAge / 2))) * 1000;
    const eviction = periodically(every, log, 'image cache eviction', async () => {
      const removed = await evictUnusedImages(agent, imageCache, config.imageCacheMaxAge);
      if (removed.length > 0) log.info({ removed }, 'image cache: evicted unused images');
    });
    opened.push({ what: 'image cache eviction', close: () => eviction.stop() });
  }
  log.info({ host: host.name, uri: config.uri }, 'compute: serving');
  return {
    url: `rpc:compute.${host.name}`,
    port: 0,
    generatedAdminPassword: undefined,
    close: () => closeAll(),
  };
}

/** `vpmu conductor`: see the file header. */
export async function startConductorRole(parts: RoleParts): Promise<RunningService> {
  const { config, rpc, store, servers, log, opened, closeAll } = parts;
  const name = config.compute.name;
  const consumer = await rpc.serve(CONDUCTOR_TOPIC, name, {
    build_instances: async (_context, args) => {
      await servers.runBuild(args.order as BuildOrder);
    },
    ping: () => ({ topic: CONDUCTOR_TOPIC, server: name }),
  });
  opened.push({ what: 'conductor rpc', close: () => consumer.stop() });
  // Often enough for the build timeout (twice per timeout), the heal and the deferred work.
  const periods = [
    config.healIntervalMs,
    config.buildTimeoutSeconds * 500,
    deferredIntervalMs(config),
  ];
  const every = Math.min(...periods.filter((ms) => ms > 0), 60_000);
  const sweeps = periodically(every, log, 'conductor sweeps', async () => {
    // One conductor sweeps at a time; the others skip the round.
    await store.withLock(
      'conductor-sweeps',
      async () => {
        await servers.failStaleBuilds(config.buildTimeoutSeconds);
        await servers.healClaims();
        await servers.runDeferred();
      },
      'skip',
    );
  });
  opened.push({ what: 'conductor sweeps', close: () => sweeps.stop() });
  log.info({ conductor: name }, 'conductor: serving');
  return {
    url: `rpc:${CONDUCTOR_TOPIC}.${name}`,
    port: 0,
    generatedAdminPassword: undefined,
    close: () => closeAll(),
  };
}

/** The agent with at most `limit` builds at once on its host (0: no limit); later ones wait. */
function withBuildSlots(agent: ComputeAgent, limit: number): ComputeAgent {
  const slots = new Slots(limit);
  return new Proxy(agent, {
    get: (target, name) => {
      if (name === 'build') {
        return async (...args: Parameters<ComputeAgent['build']>) => {
          const release = await slots.acquire();
          try {
            return await target.build(...args);
          } finally {
            release();
          }
        };
      }
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? (value.bind(target) as unknown) : value;
    },
  });
}
