import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeHypervisor } from '../adapters/fake/fake-hypervisor.js';
import type { HostFacts } from '../domain/index.js';
import { HypervisorError } from '../errors/index.js';
import type { HypervisorSession } from '../services/index.js';
import { loadHostFixture } from '../testing/host-fixtures.js';
import { MemoryDisks } from '../testing/memory-disks.js';
import { runCli, type CliIo } from './main.js';

const UUID = '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21';

interface Captured {
  readonly io: CliIo;
  readonly out: () => string;
  readonly err: () => string;
  readonly opened: { uri: string; instanceDir: string }[];
}

function capture(
  session: (Omit<HypervisorSession, 'probe'> & { facts?: HostFacts }) | undefined,
): Captured {
  let out = '';
  let err = '';
  const opened: { uri: string; instanceDir: string }[] = [];
  const io: CliIo = {
    out: (text) => (out += text),
    err: (text) => (err += text),
    readText: () => Promise.reject(new Error('no files in this test')),
    newUuid: () => UUID,
    version: '0.0.0-test',
    ...(session === undefined
      ? {}
      : {
          hypervisor: (options: { uri: string; instanceDir: string }) => {
            opened.push(options);
            const facts = session.facts ?? loadHostFixture('this-machine-tcg');
            return { ...session, probe: { facts: () => Promise.resolve(facts) } };
          },
        }),
  };
  return { io, out: () => out, err: () => err, opened };
}

const GUEST = [
  '--virt-type',
  'qemu',
  '--cpu-mode',
  'custom',
  '--cpu-model',
  'qemu64',
  '--network',
  'none',
  '--instance-dir',
  '/srv/i',
];

describe('vpmu host-info', () => {
  it('says this TCG machine gives guests no vPMU, and why', async () => {
    const c = capture({ hypervisor: new FakeHypervisor(), disks: new MemoryDisks() });
    assert.equal(await runCli(['host-info'], c.io), 0);
    assert.deepEqual(
      c.opened.map((o) => o.uri),
      ['qemu:///system'],
    );
    assert.match(c.out(), /^vPMU for guests: not available$/mu);
    assert.match(c.out(), /x86 guests under TCG \(virt type qemu\) have no working vPMU\./u);
    assert.doesNotMatch(c.out(), /CUSTOM_HW_VPMU/u);
  });

  it('prints JSON with --json, and reports CUSTOM_HW_VPMU on a KVM host', async () => {
    const c = capture({
      hypervisor: new FakeHypervisor(),
      disks: new MemoryDisks(),
      facts: loadHostFixture('intel-kvm'),
    });
    assert.equal(await runCli(['host-info', '--uri', 'qemu:///system', '--json'], c.io), 0);
    const report = JSON.parse(c.out()) as {
      uri: string;
      vpmu: { available: boolean };
      traits: string[];
    };
    assert.equal(report.uri, 'fake:///default');
    const tcg = capture({
      hypervisor: new FakeHypervisor(),
      disks: new MemoryDisks(),
      facts: loadHostFixture('aarch64-kvm'),
    });
    assert.equal(await runCli(['host-info', '--json'], tcg.io), 0);
    assert.equal((JSON.parse(tcg.out()) as { cpuModel: unknown }).cpuModel, null);
    assert.equal(report.vpmu.available, true);
    assert.ok(report.traits.includes('CUSTOM_HW_VPMU'));
  });

  it('turns an unreachable daemon into one line and exit 1', async () => {
    const hv = new FakeHypervisor();
    const c = capture({
      hypervisor: hv,
      disks: new MemoryDisks(),
    });
    const io: CliIo = {
      ...c.io,
      hypervisor: () => ({
        hypervisor: hv,
        disks: new MemoryDisks(),
        probe: {
          facts: () =>
            Promise.reject(
              new HypervisorError('hypervisor.unavailable', {
                operation: 'connect to qemu:///system',
                detail:
                  "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
              }),
            ),
        },
      }),
    };
    assert.equal(await runCli(['host-info'], io), 1);
    assert.equal(
      c.err(),
      "Error: Cannot connect to qemu:///system: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory [hypervisor.unavailable]\n",
    );
  });
});

describe('vpmu guest', () => {
  it('up defines and starts a guest and prints name, uuid and effective vPMU; down removes it', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    const c = capture({ hypervisor: hv, disks });
    assert.equal(
      await runCli(
        ['guest', 'up', ...GUEST, '--flavor-property', 'hw:pmu=on', '--uri', 'qemu:///system'],
        c.io,
      ),
      0,
      c.err(),
    );
    assert.match(c.out(), /^Guest instance-0f3a1c9e is running on qemu:\/\/\/system$/mu);
    assert.match(c.out(), new RegExp(`^  uuid: ${UUID}$`, 'mu'));
    assert.match(c.out(), /^ {2}vPMU: off \(requested on, source: flavor\)$/mu);
    assert.deepEqual(c.opened, [{ uri: 'qemu:///system', instanceDir: '/srv/i' }]);
    assert.deepEqual(
      hv.domains.map((d) => d.state),
      ['running'],
    );
    assert.ok(hv.calls.includes('close'));

    const d = capture({ hypervisor: hv, disks });
    assert.equal(
      await runCli(
        [
          'guest',
          'down',
          'instance-0f3a1c9e',
          '--uri',
          'qemu:///system',
          '--instance-dir',
          '/srv/i',
          '--json',
        ],
        d.io,
      ),
      0,
      d.err(),
    );
    assert.deepEqual(JSON.parse(d.out()), {
      name: 'instance-0f3a1c9e',
      uuid: UUID,
      stop: 'shutdown',
      removedDirectory: `/srv/i/${UUID}`,
    });
    assert.deepEqual(hv.domains, []);
  });

  it('down without the --instance-dir the guest was made with is refused, touching nothing', async () => {
    const hv = new FakeHypervisor();
    const disks = new MemoryDisks();
    const up = capture({ hypervisor: hv, disks });
    assert.equal(await runCli(['guest', 'up', ...GUEST, '--uri', 'qemu:///system'], up.io), 0);
    const d = capture({ hypervisor: hv, disks });
    const down = ['guest', 'down', 'instance-0f3a1c9e', '--uri', 'qemu:///system'];
    assert.equal(await runCli(down, d.io), 1);
    assert.equal(
      d.err(),
      `Error: Cannot take guest 'instance-0f3a1c9e' (${UUID}) down: its disks are in /srv/i/${UUID}, not under the instance directory /var/lib/vpmu/instances; use /srv/i [input.invalid]\n`,
    );
    assert.deepEqual([hv.domains.length, disks.removed, disks.files.size], [1, [], 1]);

    const again = capture({ hypervisor: hv, disks });
    assert.equal(await runCli([...down, '--instance-dir', '/srv/i'], again.io), 0, again.err());
    assert.equal(
      again.out(),
      `Guest instance-0f3a1c9e (${UUID}) shut down, was undefined, and /srv/i/${UUID} was removed\n`,
    );
    assert.deepEqual([hv.domains.length, disks.files.size], [0, 0]);
  });

  it('up --json prints the pmu report', async () => {
    const c = capture({ hypervisor: new FakeHypervisor(), disks: new MemoryDisks() });
    assert.equal(
      await runCli(
        [
          'guest',
          'up',
          ...GUEST,
          '--image-property',
          'hw_pmu=false',
          '--uri',
          'test:///default',
          '--json',
        ],
        c.io,
      ),
      0,
    );
    const up = JSON.parse(c.out()) as { name: string; pmu: { resolved: boolean; source: string } };
    assert.deepEqual(
      [up.name, up.pmu.resolved, up.pmu.source],
      ['instance-0f3a1c9e', false, 'image'],
    );
  });

  // prettier-ignore
  const MISUSE: readonly [string[], RegExp][] = [
    [['guest', 'up', ...GUEST], /without --uri/u],
    [['guest', 'down', '--uri', 'qemu:///system'], /name exactly one guest/u],
    [['guest', 'down', 'a', 'b', '--uri', 'qemu:///system'], /name exactly one guest/u],
    [['guest', 'down', 'a', '--uri', 'qemu:///system', '--timeout', 'soon'], /--timeout "soon": expected a number of seconds/u],
    [['guest', 'sideways'], /expected "guest up" or "guest down"/u],
    [['guest', 'up', '--bogus'], /Unknown option '--bogus'/u],
  ];
  for (const [argv, message] of MISUSE) {
    it(`${argv.join(' ')} is misuse (exit 2)`, async () => {
      const c = capture({ hypervisor: new FakeHypervisor(), disks: new MemoryDisks() });
      assert.equal(await runCli(argv, c.io), 2);
      assert.match(c.err(), message);
      assert.match(c.err(), /\[cli\.usage\]/u);
    });
  }

  it('down of an unknown guest is exit 1 naming it', async () => {
    const c = capture({ hypervisor: new FakeHypervisor(), disks: new MemoryDisks() });
    assert.equal(await runCli(['guest', 'down', 'ghost', '--uri', 'qemu:///system'], c.io), 1);
    assert.match(c.err(), /^Error: Cannot look up domain 'ghost': .* \[hypervisor\.not_found\]$/mu);
  });

  it('render and explain still work without any hypervisor wiring', async () => {
    const c = capture(undefined);
    assert.equal(await runCli(['explain', ...GUEST, '--flavor-property', 'hw:pmu=off'], c.io), 0);
    assert.match(c.out(), /^vPMU: off$/mu);
    const h = capture(undefined);
    assert.equal(await runCli(['host-info'], h.io), 1);
    assert.match(h.err(), /built without one \[hypervisor\.unavailable\]/u);
  });
});
