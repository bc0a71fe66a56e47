/**
 * What the end-to-end tests with the stock OpenStack clients share: a `vpmu serve` child on a
 * state directory of the test's own, a clouds.yaml naming its users, and bounded client runs in
 * an empty environment (only HOME, PATH and what the client is told), so nothing of the
 * developer's own OpenStack settings leaks in.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RUN_TIMEOUT_MS, startChild, type TestChild } from './processes.js';

export const OPENSTACK = '/usr/bin/openstack';

/** The admin password every such `vpmu serve` starts with. */
export const ADMIN_PASSWORD = 'admin-secret';

/** A client run's outcome. */
export interface ClientRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A user a test signs in as: its clouds.yaml entry (named after the user) and OS_* variables. */
export interface CloudUser {
  readonly name: string;
  readonly password: string;
  readonly project: string;
}

/**
 * Starts `vpmu serve` on `dir`/state with `dir`/config.json (written by the caller) on `port`
 * (0: a free one); resolves with the child and its URL once it listens.
 */
export async function startServe(
  dir: string,
  port = '0',
): Promise<{ server: TestChild; url: string }> {
  const server = startChild(
    process.execPath,
    [
      'bin/vpmu.js',
      'serve',
      '--port',
      port,
      '--state-dir',
      path.join(dir, 'state'),
      '--config',
      path.join(dir, 'config.json'),
    ],
    { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VPMU_ADMIN_PASSWORD: ADMIN_PASSWORD } },
  );
  try {
    const url = (await server.waitFor(/vpmu listening on (http:\/\/\S+)/u))[1] ?? '';
    return { server, url };
  } catch (error) {
    // The caller never gets the child to stop: a start that fails stops it here.
    await server.stop();
    throw error;
  }
}

/** Writes `dir`/clouds.yaml with one cloud per user, the admin included. */
export function writeClouds(dir: string, url: string, users: readonly CloudUser[]): void {
  const everyone = [{ name: 'admin', password: ADMIN_PASSWORD, project: 'admin' }, ...users];
  const entry = (u: CloudUser) =>
    [
      `  ${u.name}:`,
      '    auth_type: password',
      '    auth:',
      `      auth_url: ${url}/identity/v3`,
      `      username: ${u.name}`,
      `      password: ${u.password}`,
      `      project_name: ${u.project}`,
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    region_name: RegionOne',
    ].join('\n');
  writeFileSync(path.join(dir, 'clouds.yaml'), `clouds:\n${everyone.map(entry).join('\n')}\n`);
}

/** Runs `openstack --os-cloud <cloud> ...args` with `dir`/clouds.yaml, bounded. */
export function openstackIn(dir: string, cloud: string, ...args: string[]): ClientRun {
  return runClient(
    OPENSTACK,
    ['--os-cloud', cloud, ...args],
    { OS_CLIENT_CONFIG_FILE: path.join(dir, 'clouds.yaml') },
    dir,
  );
}

/** The OS_* variables of a user, for clients that read no clouds.yaml (glanceclient). */
export function osEnvironment(url: string, user: CloudUser): Record<string, string> {
  return {
    OS_AUTH_URL: `${url}/identity/v3`,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: user.name,
    OS_PASSWORD: user.password,
    OS_PROJECT_NAME: user.project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
  };
}

/** Runs a client with `env` over an empty environment (HOME is `dir`/home), bounded. */
export function runClient(
  tool: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  dir: string,
): ClientRun {
  const home = path.join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const result = spawnSync(tool, args, {
    encoding: 'utf8',
    env: { HOME: home, PATH: '/usr/bin:/bin', ...env },
    timeout: RUN_TIMEOUT_MS,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The JSON a successful run printed (`-f json`); a failed run fails the test with its stderr. */
export function jsonOf(result: ClientRun): Record<string, unknown> {
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}
