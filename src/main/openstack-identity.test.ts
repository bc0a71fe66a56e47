/**
 * Identity administration end to end with the stock `openstack` client against a real
 * `vpmu serve`: projects, users, roles and their assignments, flavor access by project name, and
 * an application credential a client then authenticates with. Locally it skips when the client is
 * missing; in CI (CI=true) it must run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestChild } from '../testing/processes.js';
import {
  jsonOf as json,
  OPENSTACK,
  openstackIn,
  startServe,
  writeClouds,
} from '../testing/stock-clients.js';
import { requireTool } from '../testing/tools.js';

const skip = requireTool(
  OPENSTACK,
  ['--version'],
  'run scripts/install-test-deps.sh, which installs python3-openstackclient',
);

describe('identity administration with the openstack client', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-osc-identity-'));
  let server: TestChild | undefined;
  let url = '';
  const openstack = (cloud: string, ...args: string[]) => openstackIn(dir, cloud, ...args);

  before(async () => {
    writeFileSync(path.join(dir, 'config.json'), '{}');
    ({ server, url } = await startServe(dir));
    writeClouds(dir, url, []);
  });

  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('administers projects, users and roles, sets flavor access by project name, and authenticates with an application credential', () => {
    const project = json(
      openstack('admin', 'project', 'create', '--description', 'Blue team', 'blue', '-f', 'json'),
    );
    assert.equal(project.name, 'blue');
    const projects = JSON.parse(openstack('admin', 'project', 'list', '-f', 'json').stdout) as {
      Name: string;
    }[];
    assert.ok(projects.some((p) => p.Name === 'blue'));
    assert.equal(
      openstack('admin', 'project', 'set', '--description', 'Navy team', '--disable', 'blue')
        .status,
      0,
    );
    const shown = json(openstack('admin', 'project', 'show', 'blue', '-f', 'json'));
    assert.deepEqual([shown.description, shown.enabled], ['Navy team', false]);
    assert.equal(openstack('admin', 'project', 'set', '--enable', 'blue').status, 0);

    const user = json(
      openstack(
        'admin',
        'user',
        'create',
        '--password',
        'bob-secret',
        '--project',
        'blue',
        '--email',
        'bob@example.org',
        'bob',
        '-f',
        'json',
      ),
    );
    assert.deepEqual(
      [user.name, user.default_project_id, user.email],
      ['bob', project.id, 'bob@example.org'],
    );
    assert.equal(user.password, undefined);
    const users = JSON.parse(openstack('admin', 'user', 'list', '-f', 'json').stdout) as {
      Name: string;
    }[];
    assert.ok(users.some((u) => u.Name === 'bob'));
    assert.equal(openstack('admin', 'user', 'set', '--email', 'bob@example.com', 'bob').status, 0);
    assert.equal(
      json(openstack('admin', 'user', 'show', 'bob', '-f', 'json')).email,
      'bob@example.com',
    );

    assert.equal(
      openstack('admin', 'role', 'add', '--user', 'bob', '--project', 'blue', 'member').status,
      0,
    );
    const assignments = JSON.parse(
      openstack(
        'admin',
        'role',
        'assignment',
        'list',
        '--user',
        'bob',
        '--project',
        'blue',
        '--names',
        '-f',
        'json',
      ).stdout,
    ) as { Role: string; User: string; Project: string }[];
    assert.deepEqual(
      assignments.map((a) => [a.Role, a.User, a.Project]),
      [['member', 'bob@Default', 'blue@Default']],
    );

    json(
      openstack(
        'admin',
        'flavor',
        'create',
        '--private',
        '--ram',
        '64',
        '--disk',
        '0',
        '--vcpus',
        '1',
        'blue-only',
        '-f',
        'json',
      ),
    );
    const access = openstack('admin', 'flavor', 'set', '--project', 'blue', 'blue-only');
    assert.equal(access.status, 0, access.stderr);

    // Bob makes an application credential and a client authenticates with it alone.
    writeClouds(dir, url, [{ name: 'bob', password: 'bob-secret', project: 'blue' }]);
    const credential = json(
      openstack('bob', 'application', 'credential', 'create', 'ci', '-f', 'json'),
    );
    assert.equal(typeof credential.secret, 'string');
    writeFileSync(
      path.join(dir, 'clouds.yaml'),
      `${readFileSync(path.join(dir, 'clouds.yaml'), 'utf8')}${[
        '  bob-ci:',
        '    auth_type: v3applicationcredential',
        '    auth:',
        `      auth_url: ${url}/identity/v3`,
        `      application_credential_id: ${String(credential.id)}`,
        `      application_credential_secret: ${String(credential.secret)}`,
        '    region_name: RegionOne',
        '',
      ].join('\n')}`,
    );
    const flavors = openstack('bob-ci', 'flavor', 'list', '--all', '-f', 'json');
    assert.equal(flavors.status, 0, flavors.stderr);
    assert.ok(
      (JSON.parse(flavors.stdout) as { Name: string }[]).some((f) => f.Name === 'blue-only'),
    );

    // Without the role, the credential no longer works; then the user and project go.
    assert.equal(
      openstack('admin', 'role', 'remove', '--user', 'bob', '--project', 'blue', 'member').status,
      0,
    );
    assert.equal(openstack('bob-ci', 'flavor', 'list').status, 1);
    assert.equal(openstack('admin', 'user', 'delete', 'bob').status, 0);
    assert.equal(openstack('admin', 'project', 'delete', 'blue').status, 0);
    assert.equal(openstack('admin', 'project', 'show', 'blue').status, 1);
  });
});
