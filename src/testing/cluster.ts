/**
 * A deployment over many hosts on this one machine, for the multi-host tests: a fresh PostgreSQL
 * database, a RabbitMQ vhost of its own (scripts/rabbitmq.sh vhost: queues are named by topic, so
 * only a vhost keeps another deployment's conductors off its casts), and `vpmu api`,
 * `vpmu conductor` and `vpmu compute` children (each compute with its own libvirt URI and state
 * directory; one image directory the API processes share, which the computes share too, or, with
 * `imageCache`, never see: each fetches images into its own cache from an API process). Every child is bounded and stopped by `stop()`, which the caller must reach.
 */
import { execFile } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ADMIN_PASSWORD } from './stock-clients.js';
import { RUN_TIMEOUT_MS, startChild, type TestChild } from './processes.js';

const run = promisify(execFile);

export interface ComputeSpec {
  readonly name: string;
  readonly uri: string;
  /** Config-file settings of this host (vcpus, memoryMiB, virtType, ...). */
  readonly settings?: Readonly<Record<string, unknown>>;
}

export interface ClusterSpec {
  readonly dir: string;
  /** A PostgreSQL URL whose server the test may create a database on. */
  readonly databaseUrl: string;
  /** Where the broker is; the cluster runs on a vhost of its own there. */
  readonly transportUrl: string;
  readonly apis: number;
  readonly conductors: number;
  readonly computes: readonly ComputeSpec[];
  /** Config-file settings every process gets (reportInterval, buildTimeout, ...). */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Config-file settings of the API processes only (projects, users). */
  readonly apiSettings?: Readonly<Record<string, unknown>>;
  /** More environment for every process (VPMU_LOG_LEVEL, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** Node options for every process (`--cpu-prof`, ...), before the script. */
  readonly nodeArgs?: readonly string[];
  /**
   * Each compute keeps its own image cache, filled from an API process (`imageApiUrl`; compute i
   * from API process i mod apis), and is given an image directory that does not exist, so a build
   * that read the shared one would fail.
   */
  readonly imageCache?: boolean;
  /** Run every process as this user (`setpriv`), which then owns the cluster's directories. */
  readonly runAs?: { readonly uid: number; readonly gid: number };
}

export interface Cluster {
  /** The database URL the processes share. */
  readonly databaseUrl: string;
  /** The RPC exchange (oslo's control_exchange) of this cluster. */
  readonly exchange: string;
  /** The transport URL of the cluster's own vhost. */
  readonly transportUrl: string;
  readonly apiUrls: readonly string[];
  readonly apis: readonly TestChild[];
  readonly conductors: readonly TestChild[];
  readonly computes: ReadonlyMap<string, TestChild>;
  /** The end of every process's output, for a failed test's report. */
  tails(): string;
  /** Starts a compute of the spec again (after it was killed). */
  restartCompute(name: string): Promise<TestChild>;
  stop(): Promise<void>;
}

/** Starts the cluster: computes first, then conductors, then the API processes all at once. */
export async function startCluster(spec: ClusterSpec): Promise<Cluster> {
  const tag = `multi_${String(process.pid)}_${String(Date.now() % 100_000)}`;
  const databaseUrl = await createDatabase(spec.databaseUrl, tag);
  const transportUrl = await createVhost(tag);
  const imageDir = path.join(spec.dir, 'images');
  mkdirSync(imageDir, { recursive: true });
  const children: TestChild[] = [];
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    VPMU_ADMIN_PASSWORD: ADMIN_PASSWORD,
    VPMU_DATABASE_URL: databaseUrl,
    VPMU_TRANSPORT_URL: transportUrl,
    ...spec.env,
  };
  const owned = (dir: string) => {
    if (spec.runAs !== undefined) chownSync(dir, spec.runAs.uid, spec.runAs.gid);
  };
  owned(spec.dir);
  owned(imageDir);
  const start = (name: string, args: string[], settings: Record<string, unknown>): TestChild => {
    const dir = path.join(spec.dir, name);
    mkdirSync(dir, { recursive: true });
    owned(dir);
    writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ controlExchange: tag, imageDir, ...spec.settings, ...settings }),
    );
    const command = [
      process.execPath,
      ...(spec.nodeArgs ?? []),
      'bin/vpmu.js',
      ...args,
      '--state-dir',
      path.join(dir, 'state'),
      '--config',
      path.join(dir, 'config.json'),
    ];
    const as = spec.runAs;
    const child =
      as === undefined
        ? startChild(command[0] ?? '', command.slice(1), {
            env: { ...env, HOME: dir, PGAPPNAME: name },
          })
        : startChild(
            'setpriv',
            [
              ...['--reuid', String(as.uid), '--regid', String(as.gid), '--init-groups'],
              // A change of user clears the parent-death signal startChild set: set it again.
              ...['setpriv', '--pdeathsig', 'KILL', ...command],
            ],
            { env: { ...env, HOME: dir, PGAPPNAME: name } },
          );
    children.push(child);
    return child;
  };
  const startCompute = async (compute: ComputeSpec): Promise<TestChild> => {
    const index = spec.computes.indexOf(compute);
    const port = apiPorts[index % Math.max(1, apiPorts.length)];
    const cache =
      port === undefined
        ? {}
        : {
            imageApiUrl: `http://127.0.0.1:${String(port)}`,
            imageDir: path.join(spec.dir, 'no-shared-images-here'),
          };
    const child = start(
      `compute-${compute.name}`,
      ['compute', '--host', compute.name, '--uri', compute.uri],
      { ...cache, ...compute.settings },
    );
    await child.waitFor(/vpmu compute serving/u);
    return child;
  };
  // The computes are told where the API processes will listen before those start.
  const apiPorts = spec.imageCache === true ? await freePorts(spec.apis) : [];
  const computes = new Map<string, TestChild>();
  try {
    for (const compute of spec.computes) computes.set(compute.name, await startCompute(compute));
    const conductors = Array.from({ length: spec.conductors }, (_, i) =>
      start(
        `conductor-${String(i + 1)}`,
        ['conductor', '--host', `conductor-${String(i + 1)}`],
        {},
      ),
    );
    await Promise.all(conductors.map((c) => c.waitFor(/vpmu conductor serving/u)));
    // The API processes start together on a database no API process has used yet.
    const apis = Array.from({ length: spec.apis }, (_, i) =>
      start(`api-${String(i + 1)}`, ['api', '--port', String(apiPorts[i] ?? 0)], {
        ...spec.apiSettings,
      }),
    );
    const apiUrls = await Promise.all(
      apis.map(
        async (api) => (await api.waitFor(/vpmu api listening on (http:\/\/\S+)/u))[1] ?? '',
      ),
    );
    return {
      databaseUrl,
      exchange: tag,
      transportUrl,
      apiUrls,
      apis,
      conductors,
      computes,
      tails: () =>
        children
          .map(
            (c, i) =>
              `--- process ${String(i + 1)} (pid ${String(c.pid)}):\n${c.output().slice(-3000)}`,
          )
          .concat(logTails(spec.dir))
          .join('\n'),
      restartCompute: async (name) => {
        const compute = spec.computes.find((c) => c.name === name);
        if (compute === undefined) throw new Error(`no compute ${name} in the cluster`);
        const child = await startCompute(compute);
        computes.set(name, child);
        return child;
      },
      stop: async () => {
        await Promise.all(children.map((c) => c.stop()));
        await dropDatabase(spec.databaseUrl, tag);
        await deleteVhost(tag);
      },
    };
  } catch (error) {
    await Promise.all(children.map((c) => c.stop()));
    await dropDatabase(spec.databaseUrl, tag).catch(() => undefined);
    await deleteVhost(tag).catch(() => undefined);
    throw error;
  }
}

/** `n` TCP ports free now on 127.0.0.1 (asked of the kernel, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => {
            resolve(server);
          });
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** The last lines of every process's log file under `dir` (info level: what it did). */
function logTails(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const logs = path.join(dir, entry.name, 'state', 'logs');
      if (!existsSync(logs)) return [];
      return readdirSync(logs)
        .filter((name) => name.endsWith('.log'))
        .map((name) => {
          const lines = readFileSync(path.join(logs, name), 'utf8').trimEnd().split('\n');
          return `--- ${entry.name}/${name}:\n${lines.slice(-40).join('\n')}`;
        });
    });
}

async function createVhost(name: string): Promise<string> {
  const { stdout } = await run('bash', ['scripts/rabbitmq.sh', 'vhost', name], {
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  return stdout.trim();
}

async function deleteVhost(name: string): Promise<void> {
  await run('bash', ['scripts/rabbitmq.sh', 'delete-vhost', name], {
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
}

async function createDatabase(url: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const created = new URL(url);
  created.pathname = `/${name}`;
  return created.toString();
}

async function dropDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}
