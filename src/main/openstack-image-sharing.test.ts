/**
 * Glance sharing, tags and actions end to end with the stock clients (Debian's
 * python3-openstackclient and python3-glanceclient) against a real `vpmu serve` on a free port:
 * `image add project`, `image set --accept` as the member, `image set --tag` / `image unset --tag`,
 * `image set --deactivate/--activate`, and `glance --os-image-api-version 2 image-list`, which
 * needs `/v2/schemas/image`. Locally it skips when a client is missing; in CI (CI=true) it must run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestChild } from '../testing/processes.js';
import {
  OPENSTACK,
  osEnvironment,
  runClient,
  startServe,
  type ClientRun as Run,
} from '../testing/stock-clients.js';
import { requireTool } from '../testing/tools.js';

const GLANCE = '/usr/bin/glance';
const skip =
  requireTool(
    OPENSTACK,
    ['--version'],
    'run scripts/install-test-deps.sh, which installs python3-openstackclient',
  ) ||
  requireTool(
    GLANCE,
    ['--version'],
    'run scripts/install-test-deps.sh, which installs python3-glanceclient',
  );

describe(
  'image sharing with the stock clients against vpmu serve',
  { skip, timeout: 300_000 },
  () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-osc-share-'));
    let server: TestChild | undefined;
    let url = '';
    let imageId = '';
    let eveProject = '';

    before(async () => {
      const config = {
        projects: [{ name: 'demo' }, { name: 'other' }],
        users: [
          { name: 'dan', password: 'dan-secret', project: 'demo', roles: ['member'] },
          { name: 'eve', password: 'eve-secret', project: 'other', roles: ['member'] },
        ],
      };
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      ({ server, url } = await startServe(dir));
    });

    after(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A user's OS_* environment: glanceclient reads no clouds.yaml. */
    const run = (tool: string, user: 'dan' | 'eve', ...args: string[]): Run =>
      runClient(
        tool,
        args,
        osEnvironment(url, {
          name: user,
          password: `${user}-secret`,
          project: user === 'dan' ? 'demo' : 'other',
        }),
        dir,
      );

    const openstack = (user: 'dan' | 'eve', ...args: string[]) => run(OPENSTACK, user, ...args);

    function ok(result: Run): string {
      assert.equal(result.status, 0, result.stderr);
      return result.stdout;
    }

    const show = (user: 'dan' | 'eve') =>
      JSON.parse(ok(openstack(user, 'image', 'show', imageId, '-f', 'json'))) as {
        status: string;
        tags: string[];
      };

    it('shares an image with `image add project`, and the member accepts it with `image set --accept`', () => {
      const disk = path.join(dir, 'disk.img');
      writeFileSync(disk, 'shared bytes\n');
      const created = JSON.parse(
        ok(
          openstack(
            'dan',
            'image',
            'create',
            '--shared',
            '--disk-format',
            'raw',
            '--file',
            disk,
            'shared',
            '-f',
            'json',
          ),
        ),
      ) as { id: string };
      imageId = created.id;
      eveProject = ok(openstack('eve', 'token', 'issue', '-f', 'value', '-c', 'project_id')).trim();
      const added = JSON.parse(
        ok(openstack('dan', 'image', 'add', 'project', 'shared', eveProject, '-f', 'json')),
      ) as { member_id: string; status: string };
      assert.deepEqual([added.member_id, added.status], [eveProject, 'pending']);
      const listed = () =>
        (JSON.parse(ok(openstack('eve', 'image', 'list', '-f', 'json'))) as { ID: string }[]).map(
          (i) => i.ID,
        );
      assert.deepEqual(listed(), [], 'a pending share is not listed');
      ok(openstack('eve', 'image', 'set', '--accept', imageId));
      assert.deepEqual(listed(), [imageId]);
      const members = JSON.parse(
        ok(openstack('dan', 'image', 'member', 'list', 'shared', '-f', 'json')),
      ) as { 'Member ID': string; Status: string }[];
      assert.deepEqual(
        members.map((m) => [m['Member ID'], m.Status]),
        [[eveProject, 'accepted']],
      );
    });

    it('lists images with `glance --os-image-api-version 2 image-list`, for the owner and the member', () => {
      for (const user of ['dan', 'eve'] as const) {
        const out = ok(run(GLANCE, user, '--os-image-api-version', '2', 'image-list'));
        assert.match(out, new RegExp(`\\| ${imageId} \\| shared \\|`, 'u'), user);
      }
    });

    it('adds tags with `image set --tag` and removes one with `image unset --tag`', () => {
      ok(openstack('dan', 'image', 'set', '--tag', 'gold', '--tag', 'perf', 'shared'));
      assert.deepEqual(show('dan').tags.sort(), ['gold', 'perf']);
      ok(openstack('dan', 'image', 'unset', '--tag', 'gold', 'shared'));
      assert.deepEqual(show('dan').tags, ['perf']);
    });

    it('deactivates and reactivates with `image set --deactivate/--activate`; a deactivated image cannot be saved', () => {
      ok(openstack('dan', 'image', 'set', '--deactivate', 'shared'));
      assert.equal(show('dan').status, 'deactivated');
      const save = openstack('dan', 'image', 'save', '--file', path.join(dir, 'saved'), 'shared');
      assert.notEqual(save.status, 0);
      // Only the owner project (or an admin) reactivates: vpmu answers the member 403
      // (openstacksdk 0.101 does not check that answer and exits 0; the image stays deactivated).
      openstack('eve', 'image', 'set', '--activate', imageId);
      assert.equal(show('dan').status, 'deactivated');
      ok(openstack('dan', 'image', 'set', '--activate', 'shared'));
      assert.equal(show('eve').status, 'active');
      ok(openstack('dan', 'image', 'save', '--file', path.join(dir, 'saved'), 'shared'));
    });
  },
);
