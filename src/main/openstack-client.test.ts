/**
 * End to end with the stock `openstack` client (Debian's python3-openstackclient) against a real
 * `vpmu serve` on a free port, with password auth through clouds.yaml, as an operator would use it.
 * Locally it skips when the client is missing; in CI (CI=true) it must run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RUN_TIMEOUT_MS, type TestChild } from '../testing/processes.js';
import {
  jsonOf as json,
  OPENSTACK,
  openstackIn,
  startServe,
  writeClouds,
} from '../testing/stock-clients.js';
import { requireTool, skipOrThrow } from '../testing/tools.js';

const skip = requireTool(
  OPENSTACK,
  ['--version'],
  'run scripts/install-test-deps.sh, which installs python3-openstackclient',
);

/** osc-placement (python3-osc-placement) adds the `openstack resource provider …` commands. */
const skipPlacement =
  skip !== false
    ? skip
    : existsSync('/usr/lib/python3/dist-packages/osc_placement')
      ? false
      : skipOrThrow(
          'python3-osc-placement is not installed (run scripts/install-test-deps.sh, which installs it)',
        );

// A generous bound on the whole suite: every client run (each is its own bounded process, about
// 1-3 s of Python start-up, several times that on a loaded machine) adds up.
describe('the openstack client against vpmu serve', { skip, timeout: 900_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-osc-'));
  let server: TestChild | undefined;
  let url = '';

  /** Starts `vpmu serve` on the test's state directory; resolves with its URL. */
  async function startVpmu(port = '0'): Promise<string> {
    const started = await startServe(dir, port);
    server = started.server;
    return started.url;
  }

  /** Stops the running `vpmu serve` with SIGTERM (SIGKILL if it lingers) and waits for it. */
  async function stopServe(): Promise<void> {
    await server?.stop();
  }

  before(async () => {
    const config = {
      projects: [{ name: 'demo' }, { name: 'other' }],
      users: [
        { name: 'eve', password: 'eve-secret', project: 'other', roles: ['member'] },
        // A member of the admin project, whose servers it may act on but not reset.
        { name: 'mia', password: 'mia-secret', project: 'admin', roles: ['member'] },
      ],
    };
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    url = await startVpmu();
    writeClouds(dir, url, [
      { name: 'eve', password: 'eve-secret', project: 'other' },
      { name: 'mia', password: 'mia-secret', project: 'admin' },
    ]);
  });

  after(async () => {
    await stopServe();
    rmSync(dir, { recursive: true, force: true });
  });

  const openstack = (cloud: string, ...args: string[]) => openstackIn(dir, cloud, ...args);

  it('creates a flavor with hw:pmu=false, refuses hw:pmu=maybe with a clear message, and shows it unchanged', () => {
    const created = json(
      openstack(
        'admin',
        'flavor',
        'create',
        '--ram',
        '64',
        '--disk',
        '0',
        '--vcpus',
        '1',
        '--property',
        'hw:pmu=false',
        'vran',
        '-f',
        'json',
      ),
    );
    assert.deepEqual(created.properties, { 'hw:pmu': 'false' });
    const refused = openstack('admin', 'flavor', 'set', '--property', 'hw:pmu=maybe', 'vran');
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /Validation failed; 'maybe' is not a valid boolean-like value\. The extra spec 'hw:pmu' of flavor 'vran' accepts true\/false/u,
    );
  });

  it('lists flavors with their properties', () => {
    const listed = JSON.parse(
      openstack('admin', 'flavor', 'list', '--long', '-f', 'json').stdout,
    ) as Record<string, unknown>[];
    assert.deepEqual(
      listed.map((f) => [f.Name, f.Properties]),
      [['vran', { 'hw:pmu': 'false' }]],
    );
  });

  it('creates a private image from a file, sets hw_pmu=true on it, shows it and saves its data', () => {
    const disk = path.join(dir, 'disk.img');
    writeFileSync(disk, 'not really a disk, but bytes all the same\n');
    const created = json(
      openstack(
        'admin',
        'image',
        'create',
        '--private',
        '--disk-format',
        'raw',
        '--file',
        disk,
        'profiling',
        '-f',
        'json',
      ),
    );
    assert.equal(created.visibility, 'private');
    const set = openstack('admin', 'image', 'set', '--property', 'hw_pmu=true', 'profiling');
    assert.equal(set.status, 0, set.stderr);
    const refused = openstack('admin', 'image', 'set', '--property', 'hw_pmu=maybe', 'profiling');
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /'maybe' is not a valid boolean-like value\. The property 'hw_pmu' of image 'profiling'/u,
    );
    const shown = json(openstack('admin', 'image', 'show', 'profiling', '-f', 'json'));
    assert.equal((shown.properties as Record<string, unknown>).hw_pmu, 'true');
    assert.deepEqual([shown.status, shown.size], ['active', 42]);
    const saved = path.join(dir, 'saved.img');
    const save = openstack('admin', 'image', 'save', '--file', saved, 'profiling');
    assert.equal(save.status, 0, save.stderr);
    assert.equal(readFileSync(saved, 'utf8'), readFileSync(disk, 'utf8'));
  });

  it('keeps the private image invisible to a member of another project, and flavors admin-only', () => {
    const listed = openstack('eve', 'image', 'list', '-f', 'json');
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout), []);
    const show = openstack('eve', 'image', 'show', 'profiling');
    assert.equal(show.status, 1);
    assert.match(show.stderr, /profiling/u);
    const set = openstack('eve', 'flavor', 'set', '--property', 'hw:pmu=true', 'vran');
    assert.equal(set.status, 1);
    assert.match(
      set.stderr,
      /Policy doesn't allow os_compute_api:os-flavor-extra-specs:create to be performed\./u,
    );
  });

  let serverId = '';

  it("refuses server create with the vran flavor and the hw_pmu=true image, showing Nova's conflict message", () => {
    const refused = openstack(
      'admin',
      'server',
      'create',
      '--flavor',
      'vran',
      '--image',
      'profiling',
      'clash',
    );
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /Flavor vran has hw:pmu extra spec explicitly set to False, conflicting with image profiling which has hw_pmu explicitly set to True\. \(HTTP 400\)/u,
    );
    assert.deepEqual(JSON.parse(openstack('admin', 'server', 'list', '-f', 'json').stdout), []);
  });

  it('boots a matching pair to ACTIVE with --wait; server show has the vPMU and the <pmu> libvirt read back', () => {
    const disk = path.join(dir, 'plain.img');
    writeFileSync(disk, Buffer.alloc(4096));
    json(
      openstack(
        'admin',
        'image',
        'create',
        '--disk-format',
        'raw',
        '--file',
        disk,
        'plain',
        '-f',
        'json',
      ),
    );
    const created = json(
      openstack(
        'admin',
        'server',
        'create',
        '--flavor',
        'vran',
        '--image',
        'plain',
        '--wait',
        'ran1',
        '-f',
        'json',
      ),
    );
    assert.equal(created.status, 'ACTIVE');
    serverId = String(created.id);
    const shown = json(openstack('admin', 'server', 'show', 'ran1', '-f', 'json'));
    assert.deepEqual(
      Object.keys(shown).filter((k) => k.startsWith('vpmu')),
      [],
      "Nova's server body only",
    );
    // vpmu's own client plugin (clients/osc-vpmu) shows the vPMU decision, by name or id.
    const pmu = json(openstack('admin', 'server', 'vpmu', 'show', 'ran1', '-f', 'json'));
    // The reason depends on the host (KVM or TCG): it must be there, whatever it says.
    assert.match(String(pmu.reason), /\S/u);
    assert.deepEqual(pmu, {
      server: serverId,
      effective: 'off',
      reason: pmu.reason,
      resolved: false,
      source: 'flavor',
      requested_flavor: 'false',
      requested_image: null,
    });
    const xml = String(
      json(openstack('admin', 'server', 'vpmu', 'show', serverId, '--domain-xml', '-f', 'json'))
        .domain_xml,
    );
    assert.match(xml, /<pmu state=["']off["']\/>/u);
    assert.match(xml, new RegExp(`<uuid>${serverId}</uuid>`, 'u'));
  });

  it('keeps servers invisible and untouchable to a member of another project', () => {
    assert.deepEqual(JSON.parse(openstack('eve', 'server', 'list', '-f', 'json').stdout), []);
    const show = openstack('eve', 'server', 'show', serverId);
    assert.equal(show.status, 1);
    assert.match(show.stderr, /No server with a name or ID of/u);
    const pmu = openstack('eve', 'server', 'vpmu', 'show', serverId);
    assert.equal(pmu.status, 1);
    assert.match(pmu.stderr, /No Server found for/u);
    const del = openstack('eve', 'server', 'delete', serverId);
    assert.equal(del.status, 1);
    const stop = openstack('eve', 'server', 'stop', serverId);
    assert.equal(stop.status, 1);
    assert.equal(
      json(openstack('admin', 'server', 'show', serverId, '-f', 'json')).status,
      'ACTIVE',
    );
  });

  it('lists the hypervisor to the admin (traits are checked in-process; the client’s show asks for aggregates)', () => {
    const listed = JSON.parse(
      openstack('admin', 'hypervisor', 'list', '-f', 'json').stdout,
    ) as Record<string, unknown>[];
    assert.deepEqual(
      listed.map((h) => [h.State, h['Hypervisor Type']]),
      [['up', 'TEST']],
    );
  });

  it('lists the compute service, disables it with a reason, forces it down and back (admin)', () => {
    const list = () =>
      JSON.parse(
        openstack(
          'admin',
          '--os-compute-api-version',
          '2.53',
          'compute',
          'service',
          'list',
          '--long',
          '-f',
          'json',
        ).stdout,
      ) as Record<string, unknown>[];
    const [first] = list();
    assert.ok(first !== undefined);
    assert.equal(first.Binary, 'nova-compute');
    assert.equal(first.Zone, 'nova');
    assert.equal(first.State, 'up');
    const host = String(first.Host);
    const set = (...args: string[]) =>
      openstack(
        'admin',
        '--os-compute-api-version',
        '2.53',
        'compute',
        'service',
        'set',
        ...args,
        host,
        'nova-compute',
      );
    assert.equal(set('--disable', '--disable-reason', 'BIOS update').status, 0);
    assert.deepEqual(
      [list()[0]?.Status, list()[0]?.['Disabled Reason']],
      ['disabled', 'BIOS update'],
    );
    assert.equal(set('--down').status, 0);
    assert.equal(list()[0]?.State, 'down');
    assert.equal(set('--enable', '--up').status, 0);
    assert.deepEqual([list()[0]?.Status, list()[0]?.State], ['enabled', 'up']);
    const member = openstack('eve', 'compute', 'service', 'list');
    assert.notEqual(member.status, 0);
    assert.match(member.stderr, /os-services:list/u);
  });

  it('puts the host in a zone with an aggregate, lists the zone and boots a server there (admin)', () => {
    const ok = (run: { status: number | null; stdout: string; stderr: string }) => {
      assert.equal(run.status, 0, run.stderr);
      return run;
    };
    const services = JSON.parse(
      ok(openstack('admin', 'compute', 'service', 'list', '-f', 'json')).stdout,
    ) as Record<string, unknown>[];
    const host = String(services[0]?.Host);
    const made = json(
      openstack('admin', 'aggregate', 'create', '--zone', 'az1', 'agg1', '-f', 'json'),
    );
    assert.equal(made.availability_zone, 'az1');
    const added = json(openstack('admin', 'aggregate', 'add', 'host', 'agg1', host, '-f', 'json'));
    assert.deepEqual(added.hosts, [host]);
    const zones = JSON.parse(
      ok(openstack('eve', 'availability', 'zone', 'list', '--compute', '-f', 'json')).stdout,
    ) as Record<string, unknown>[];
    assert.deepEqual(
      zones.map((z) => [z['Zone Name'], z['Zone Status']]),
      [['az1', 'available']],
    );
    const refused = openstack(
      'admin',
      'server',
      'create',
      '--flavor',
      'vran',
      '--image',
      'plain',
      '--availability-zone',
      'nowhere',
      'zoned0',
    );
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /The requested availability zone is not available/u);
    const server = json(
      openstack(
        'admin',
        'server',
        'create',
        '--flavor',
        'vran',
        '--image',
        'plain',
        '--availability-zone',
        'az1',
        '--wait',
        'zoned1',
        '-f',
        'json',
      ),
    );
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-AZ:availability_zone'], 'az1');
    // Back as before for the tests after this one.
    ok(openstack('admin', 'server', 'delete', '--wait', 'zoned1'));
    ok(openstack('admin', 'aggregate', 'remove', 'host', 'agg1', host));
    ok(openstack('admin', 'aggregate', 'delete', 'agg1'));
  });

  it(
    'answers osc-placement with the host as a resource provider holding the server’s claim',
    {
      skip: skipPlacement,
    },
    () => {
      const rows = (result: ReturnType<typeof openstack>) =>
        json(result) as unknown as Record<string, unknown>[];
      const providers = rows(openstack('admin', 'resource', 'provider', 'list', '-f', 'json'));
      assert.equal(providers.length, 1);
      const uuid = String(providers[0]?.uuid);
      assert.equal(providers[0]?.root_provider_uuid, uuid);
      const traits = rows(
        openstack('admin', 'resource', 'provider', 'trait', 'list', uuid, '-f', 'json'),
      ).map((t) => t.name);
      const inventory = rows(
        openstack('admin', 'resource', 'provider', 'inventory', 'list', uuid, '-f', 'json'),
      );
      const vcpu = inventory.find((i) => i.resource_class === 'VCPU');
      assert.ok(vcpu !== undefined);
      assert.equal(vcpu.used, 1);
      assert.equal(vcpu.min_unit, 1);
      assert.ok(inventory.some((i) => i.resource_class === 'MEMORY_MB'));
      const usage = rows(
        openstack('admin', 'resource', 'provider', 'usage', 'show', uuid, '-f', 'json'),
      );
      assert.deepEqual(
        usage.filter((u) => u.resource_class !== 'DISK_GB'),
        [
          { resource_class: 'VCPU', usage: 1 },
          { resource_class: 'MEMORY_MB', usage: 64 },
        ],
      );
      const shown = json(
        openstack('admin', 'resource', 'provider', 'show', uuid, '--allocations', '-f', 'json'),
      );
      assert.deepEqual(shown.allocations, {
        [serverId]: { resources: { VCPU: 1, MEMORY_MB: 64 } },
      });
      // The stock negotiation (1.29) answers --required; the host has CUSTOM_HW_VPMU only with KVM.
      const vpmu = rows(
        openstack(
          'admin',
          'allocation',
          'candidate',
          'list',
          '--resource',
          'VCPU=1',
          '--required',
          'CUSTOM_HW_VPMU',
          '-f',
          'json',
        ),
      );
      assert.equal(vpmu.length, traits.includes('CUSTOM_HW_VPMU') ? 1 : 0);
      const any = rows(
        openstack('admin', 'allocation', 'candidate', 'list', '--resource', 'VCPU=1', '-f', 'json'),
      );
      const [candidate] = any;
      assert.ok(candidate !== undefined && any.length === 1);
      assert.equal(candidate['resource provider'], uuid);
      assert.match(String(candidate['inventory used/capacity']), /^VCPU=1\/\d+,MEMORY_MB=64\/\d+/u);
      const typo = openstack(
        'admin',
        'allocation',
        'candidate',
        'list',
        '--resource',
        'VCPU=1',
        '--required',
        'CUSTOM_HW_VMPU',
      );
      assert.equal(typo.status, 1);
      assert.match(typo.stderr, /No such trait\(s\): CUSTOM_HW_VMPU\./u);
      const refused = openstack('eve', 'resource', 'provider', 'list');
      assert.equal(refused.status, 1);
      assert.match(
        refused.stderr,
        /Policy does not allow placement:resource_providers:list to be performed\./u,
      );
    },
  );

  it('pauses, unpauses, suspends and resumes the server; server event list and show tell what happened', () => {
    const statusOf = () =>
      json(openstack('admin', 'server', 'show', serverId, '-f', 'json')).status;
    for (const [command, status] of [
      ['pause', 'PAUSED'],
      ['unpause', 'ACTIVE'],
      ['suspend', 'SUSPENDED'],
      ['resume', 'ACTIVE'],
    ] as const) {
      const run = openstack('admin', 'server', command, serverId);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(statusOf(), status, command);
    }
    const again = openstack('admin', 'server', 'unpause', serverId);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /Cannot 'unpause' instance .* while it is in vm_state active/u);
    const events = json(
      openstack('admin', 'server', 'event', 'list', serverId, '-f', 'json'),
    ) as unknown as Record<string, unknown>[];
    assert.deepEqual(
      events.map((e) => e.Action),
      ['resume', 'suspend', 'unpause', 'pause', 'create'],
    );
    const create = events.at(-1) ?? {};
    assert.equal(create['Server ID'], serverId);
    const shown = json(
      openstack(
        'admin',
        'server',
        'event',
        'show',
        serverId,
        String(create['Request ID']),
        '-f',
        'json',
      ),
    );
    assert.equal(shown.action, 'create');
    assert.equal(shown.instance_uuid ?? shown.server_id, serverId);
    assert.match(JSON.stringify(shown.events), /compute__do_build_and_run_instance/u);
    // Another project's member sees none of it.
    const hidden = openstack('eve', 'server', 'event', 'list', serverId);
    assert.equal(hidden.status, 1);
  });

  it('snapshots the server with server image create: an active image carrying the source image properties', () => {
    const made = json(
      openstack(
        'admin',
        'server',
        'image',
        'create',
        '--name',
        'ran1-snap',
        '--wait',
        serverId,
        '-f',
        'json',
      ),
    );
    assert.equal(made.name, 'ran1-snap');
    const shown = json(openstack('admin', 'image', 'show', 'ran1-snap', '-f', 'json'));
    assert.equal(shown.status, 'active');
    const properties = shown.properties as Record<string, unknown>;
    assert.equal(properties.instance_uuid, serverId);
    assert.equal(properties.image_type, 'snapshot');
    const deleted = openstack('admin', 'image', 'delete', 'ran1-snap');
    assert.equal(deleted.status, 0, deleted.stderr);
  });

  it('renames the server and sets and unsets its properties and tags with server set and unset', () => {
    const mv = ['--os-compute-api-version', '2.26'];
    const set = openstack(
      'admin',
      ...mv,
      'server',
      'set',
      '--name',
      'ran1-renamed',
      '--property',
      'role=du',
      '--property',
      'site=edge1',
      '--tag',
      'vran',
      '--tag',
      'perf',
      serverId,
    );
    assert.equal(set.status, 0, set.stderr);
    let shown = json(openstack('admin', ...mv, 'server', 'show', serverId, '-f', 'json'));
    assert.equal(shown.name, 'ran1-renamed');
    assert.deepEqual(shown.properties, { role: 'du', site: 'edge1' });
    assert.deepEqual([...(shown.tags as string[])].sort(), ['perf', 'vran']);
    const unset = openstack(
      'admin',
      ...mv,
      'server',
      'unset',
      '--property',
      'site',
      '--tag',
      'perf',
      serverId,
    );
    assert.equal(unset.status, 0, unset.stderr);
    shown = json(openstack('admin', ...mv, 'server', 'show', serverId, '-f', 'json'));
    assert.deepEqual(shown.properties, { role: 'du' });
    assert.deepEqual(shown.tags, ['vran']);
    // Another project's member can change none of it.
    const other = openstack('eve', 'server', 'set', '--property', 'x=y', serverId);
    assert.equal(other.status, 1);
    const back = openstack('admin', 'server', 'set', '--name', 'ran1', serverId);
    assert.equal(back.status, 0, back.stderr);
  });

  it('pauses, locks (with a reason at 2.73), shelves, unshelves and resets the server as a member and an admin', () => {
    const show = () =>
      json(
        openstack(
          'admin',
          '--os-compute-api-version',
          '2.73',
          'server',
          'show',
          serverId,
          '-f',
          'json',
        ),
      );
    /** The client answers at once (vpmu's actions finish before the 202), so a few reads suffice. */
    const settlesAt = (status: string) => {
      let seen = '';
      for (let i = 0; i < 5 && seen !== status; i++) seen = String(show().status);
      assert.equal(seen, status);
    };
    const ok = (cloud: string, ...args: string[]) => {
      const run = openstack(cloud, ...args);
      assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`);
    };
    // A member of the server's project holds and releases it as the admin did above.
    ok('mia', 'server', 'pause', serverId);
    settlesAt('PAUSED');
    ok('mia', 'server', 'unpause', serverId);
    ok('mia', '--os-compute-api-version', '2.73', 'server', 'lock', '--reason', 'audit', serverId);
    assert.equal(show().locked_reason, 'audit');
    const locked = openstack('mia', 'server', 'shelve', serverId);
    assert.equal(locked.status, 1);
    assert.match(locked.stderr, /Instance .* is locked/u);
    ok('mia', 'server', 'unlock', serverId);
    ok('mia', 'server', 'shelve', serverId);
    settlesAt('SHELVED_OFFLOADED');
    ok('mia', 'server', 'unshelve', serverId);
    settlesAt('ACTIVE');
    const reset = openstack('mia', 'server', 'set', '--state', 'error', serverId);
    assert.equal(reset.status, 1, 'os-resetState is admin-only');
    ok('admin', 'server', 'set', '--state', 'error', serverId);
    settlesAt('ERROR');
    ok('admin', 'server', 'set', '--state', 'active', serverId);
    const events = json(
      openstack('admin', 'server', 'event', 'list', serverId, '-f', 'json'),
    ) as unknown as Record<string, unknown>[];
    assert.deepEqual(events.map((e) => e.Action).slice(0, 4), [
      'unshelve',
      'shelve',
      'unlock',
      'lock',
    ]);
  });

  it('deletes the server: gone from the list and from show, its notifications in order', () => {
    const del = openstack('admin', 'server', 'delete', '--wait', serverId);
    assert.equal(del.status, 0, del.stderr);
    // The embedded notifier wrote the server's versioned notifications, in order.
    const all = readFileSync(path.join(dir, 'state', 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const envelope = JSON.parse(line) as { 'oslo.message': string };
        return JSON.parse(envelope['oslo.message']) as {
          event_type: string;
          payload: { 'nova_object.data': { uuid?: string; properties?: unknown } };
        };
      });
    // `image set --property hw_pmu=true` published image.update with hw_pmu as a JSON boolean.
    assert.ok(
      all.some(
        (m) =>
          m.event_type === 'image.update' &&
          JSON.stringify(m.payload['nova_object.data'].properties).includes('"hw_pmu":true'),
      ),
      JSON.stringify(all.map((m) => m.event_type)),
    );
    const events = all
      .filter((m) => m.payload['nova_object.data'].uuid === serverId)
      .map((m) => m.event_type);
    assert.deepEqual(events, [
      'instance.create.start',
      'instance.create.end',
      'instance.pause.start',
      'instance.pause.end',
      'instance.unpause.start',
      'instance.unpause.end',
      'instance.suspend.start',
      'instance.suspend.end',
      'instance.resume.start',
      'instance.resume.end',
      'instance.snapshot.start',
      'instance.snapshot.end',
      'instance.pause.start',
      'instance.pause.end',
      'instance.unpause.start',
      'instance.unpause.end',
      'instance.shelve.start',
      'instance.shelve.end',
      'instance.shelve_offload.start',
      'instance.shelve_offload.end',
      'instance.unshelve.start',
      'instance.unshelve.end',
      'instance.delete.start',
      'instance.delete.end',
    ]);
    assert.deepEqual(JSON.parse(openstack('admin', 'server', 'list', '-f', 'json').stdout), []);
    const show = openstack('admin', 'server', 'show', serverId);
    assert.equal(show.status, 1);
  });

  it('imports, lists, shows and deletes a key pair; another user sees none of it', () => {
    const pub = path.join(dir, 'id_ed25519.pub');
    const made = spawnSync(
      'ssh-keygen',
      ['-q', '-t', 'ed25519', '-N', '', '-C', 'osc', '-f', pub.slice(0, -4)],
      { timeout: RUN_TIMEOUT_MS },
    );
    if (made.error !== undefined || made.status !== 0) {
      // No ssh-keygen: a fixed, well-formed ed25519 public key.
      const blob = Buffer.concat([
        Buffer.from([0, 0, 0, 11]),
        Buffer.from('ssh-ed25519'),
        Buffer.from([0, 0, 0, 32]),
        Buffer.alloc(32, 9),
      ]);
      writeFileSync(pub, `ssh-ed25519 ${blob.toString('base64')} osc\n`);
    }
    const key = readFileSync(pub, 'utf8').trim();
    const created = json(
      openstack('eve', 'keypair', 'create', '--public-key', pub, 'k1', '-f', 'json'),
    );
    assert.equal(created.name, 'k1');
    assert.match(String(created.fingerprint), /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/u);
    const listed = JSON.parse(openstack('eve', 'keypair', 'list', '-f', 'json').stdout) as {
      Name: string;
      Fingerprint: string;
    }[];
    assert.deepEqual(
      listed.map((k) => [k.Name, k.Fingerprint]),
      [['k1', created.fingerprint]],
    );
    const shown = json(openstack('eve', 'keypair', 'show', 'k1', '-f', 'json'));
    assert.equal(shown.fingerprint, created.fingerprint);
    const publicKey = openstack('eve', 'keypair', 'show', '--public-key', 'k1');
    assert.equal(publicKey.stdout.trim(), key, publicKey.stderr);
    const notAdmins = openstack('admin', 'keypair', 'show', 'k1');
    assert.notEqual(notAdmins.status, 0);
    const del = openstack('eve', 'keypair', 'delete', 'k1');
    assert.equal(del.status, 0, del.stderr);
    assert.equal(openstack('eve', 'keypair', 'list', '-f', 'json').stdout.trim(), '[]');
  });

  it('creates a server with --key-name, --user-data, --property and --config-drive True; console log show reads its log', () => {
    const blob = Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from('ssh-ed25519'),
      Buffer.from([0, 0, 0, 32]),
      Buffer.alloc(32, 5),
    ]);
    const pub = path.join(dir, 'guest_key.pub');
    writeFileSync(pub, `ssh-ed25519 ${blob.toString('base64')} guest\n`);
    json(openstack('admin', 'keypair', 'create', '--public-key', pub, 'guestkey', '-f', 'json'));
    const userData = path.join(dir, 'user-data.sh');
    writeFileSync(userData, '#!/bin/sh\necho hello from user data\n');
    const created = json(
      openstack(
        'admin',
        'server',
        'create',
        ...['--flavor', 'vran', '--image', 'plain', '--key-name', 'guestkey'],
        ...['--user-data', userData, '--property', 'role=perf', '--config-drive', 'True'],
        ...['--wait', 'guest1', '-f', 'json'],
      ),
    );
    assert.equal(created.status, 'ACTIVE');
    const id = String(created.id);
    const shown = json(openstack('admin', 'server', 'show', id, '-f', 'json'));
    assert.equal(shown.key_name, 'guestkey');
    assert.equal(shown.config_drive, 'True');
    assert.deepEqual(shown.properties, { role: 'perf' });
    // The config drive was written beside the root disk.
    assert.ok(existsSync(path.join(dir, 'state', 'instances', id, 'disk.config')));
    // libvirt's test driver runs no guest, so nothing ever writes its console log: empty output.
    for (const lines of [[], ['--lines', '5']]) {
      const log = openstack('admin', 'console', 'log', 'show', ...lines, 'guest1');
      assert.equal(log.status, 0, log.stderr);
      assert.equal(log.stdout.trim(), '');
    }
    const del = openstack('admin', 'server', 'delete', '--wait', id);
    assert.equal(del.status, 0, del.stderr);
    assert.equal(openstack('admin', 'keypair', 'delete', 'guestkey').status, 0);
  });

  it('shows quotas, absolute limits and usage; sets the default quota class, which a create then meets', () => {
    const own = json(openstack('eve', 'quota', 'show', '-f', 'json'));
    assert.deepEqual([own.cores, own.instances, own.ram], [20, 10, 51200]);
    // A project named by the admin: the client finds it through Keystone's /v3/projects.
    const setCores = openstack('admin', 'quota', 'set', '--cores', '30', 'other');
    assert.equal(setCores.status, 0, setCores.stderr);
    assert.equal(json(openstack('admin', 'quota', 'show', 'other', '-f', 'json')).cores, 30);
    assert.equal(json(openstack('eve', 'quota', 'show', '-f', 'json')).cores, 30);
    const created = json(
      openstack(
        'admin',
        'server',
        'create',
        '--flavor',
        'vran',
        '--image',
        'plain',
        '--wait',
        'q1',
        '-f',
        'json',
      ),
    );
    const absolute = () =>
      Object.fromEntries(
        (
          JSON.parse(openstack('admin', 'limits', 'show', '--absolute', '-f', 'json').stdout) as {
            Name: string;
            Value: number;
          }[]
        ).map((row) => [row.Name, row.Value]),
      );
    const before = absolute();
    assert.equal(before.maxTotalInstances, 10);
    const used = Number(before.totalInstancesUsed);
    assert.ok(used >= 1);
    const setClass = (instances: number) =>
      openstack('admin', 'quota', 'set', '--class', '--instances', String(instances), 'default');
    try {
      const set = setClass(used);
      assert.equal(set.status, 0, set.stderr);
      assert.equal(absolute().maxTotalInstances, used);
      const over = openstack(
        'admin',
        'server',
        'create',
        '--flavor',
        'vran',
        '--image',
        'plain',
        'q2',
      );
      assert.notEqual(over.status, 0);
      assert.match(
        over.stderr,
        new RegExp(
          `Quota exceeded for instances: Requested 1, but already used ${used} of ${used} instances \\(HTTP 403\\)`,
          'u',
        ),
      );
    } finally {
      const restore = setClass(10);
      assert.equal(restore.status, 0, restore.stderr);
    }
    // With -f json the client prints each server's usage where a table shows their count.
    const listed = JSON.parse(openstack('admin', 'usage', 'list', '-f', 'json').stdout) as {
      Servers: unknown[];
    }[];
    assert.deepEqual(
      listed.map((row) => row.Servers.length),
      [used],
    );
    const mine = json(openstack('admin', 'usage', 'show', '-f', 'json'));
    assert.equal((mine.Servers as unknown[]).length, used);
    const del = openstack('admin', 'server', 'delete', '--wait', String(created.id));
    assert.equal(del.status, 0, del.stderr);
  });

  it('loses nothing across a restart: flavors, images and server records come back from SQLite', async () => {
    const created = json(
      openstack(
        'admin',
        'server',
        'create',
        '--flavor',
        'vran',
        '--image',
        'plain',
        '--wait',
        'keep',
        '-f',
        'json',
      ),
    );
    await stopServe();
    const port = new URL(url).port;
    url = await startVpmu(port);
    const flavors = JSON.parse(openstack('admin', 'flavor', 'list', '-f', 'json').stdout) as {
      Name: string;
    }[];
    assert.deepEqual(
      flavors.map((f) => f.Name),
      ['vran'],
    );
    const images = JSON.parse(openstack('admin', 'image', 'list', '-f', 'json').stdout) as {
      Name: string;
    }[];
    assert.deepEqual(images.map((i) => i.Name).sort(), ['plain', 'profiling']);
    const shown = json(openstack('admin', 'server', 'show', String(created.id), '-f', 'json'));
    assert.equal(shown.name, 'keep');
    // test:///default keeps domains per process, so the restarted service finds the domain gone
    // and says so (reconcile); on qemu:///system the domain survives and the server stays ACTIVE.
    assert.equal(shown.status, 'ERROR');
    assert.match(JSON.stringify(shown.fault), /is gone from test:\/\/\/default/u);
    const del = openstack('admin', 'server', 'delete', '--wait', String(created.id));
    assert.equal(del.status, 0, del.stderr);
  });
});
