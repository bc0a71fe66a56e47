/** Runs the built `vpmu` binary, as a user would. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { assertGolden } from '../testing/golden.js';
import { RUN_TIMEOUT_MS } from '../testing/processes.js';

const UUID = '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21';

function vpmu(...args: string[]) {
  const run = spawnSync(process.execPath, ['bin/vpmu.js', ...args], {
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('vpmu render', () => {
  it('prints the domain XML for the shipped vRAN example', async () => {
    const run = vpmu(
      'render',
      '--flavor',
      'examples/flavor-vran.json',
      '--image',
      'examples/image-cirros.json',
      '--uuid',
      UUID,
      '--name',
      'vran-1',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
    await assertGolden('cli/render-vran.xml', run.stdout);
  });

  it('names the domain after the uuid when no name is given', () => {
    const run = vpmu('render', '--uuid', UUID);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /<name>instance-0f3a1c9e<\/name>/u);
  });

  it('applies --flavor-property and --image-property on top of the files', () => {
    const run = vpmu(
      'render',
      '--image',
      'examples/image-perf.json',
      '--image-property',
      'hw_pmu=false',
      '--uuid',
      UUID,
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /<pmu state="off"\/>/u);
  });
});

describe('vpmu explain', () => {
  it('prints the effective state and its reason', () => {
    const run = vpmu(
      'explain',
      '--flavor',
      'examples/flavor-general.json',
      '--image',
      'examples/image-perf.json',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.equal(
      run.stdout,
      [
        'vPMU: on',
        '  requested: flavor hw:pmu unset, image hw_pmu "true"',
        '  resolved:  on (source: image)',
        '  reason:    Requested by hw_pmu=true from the image; libvirt passes pmu=on to QEMU.',
        '',
      ].join('\n'),
    );
  });

  it('prints the documented JSON shape with --json', () => {
    const run = vpmu(
      'explain',
      '--json',
      '--flavor',
      'examples/flavor-vran.json',
      '--virt-type',
      'qemu',
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), {
      requested: { flavor: 'false', image: null },
      resolved: false,
      source: 'flavor',
      effective: 'off',
      reason:
        'x86 guests under TCG (virt type qemu) get no working vPMU, because QEMU emulates the x86 PMU only with KVM.',
    });
  });

  it('explains unset with host-passthrough as on', () => {
    const run = vpmu('explain', '--json', '--cpu-mode', 'host-passthrough');
    assert.equal(run.status, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { effective: string }).effective, 'on');
  });
});

describe('vpmu failures', () => {
  it('refuses a conflict with Nova’s message and exit status 1', () => {
    const run = vpmu(
      'explain',
      '--flavor',
      'examples/flavor-vran.json',
      '--image',
      'examples/image-perf.json',
    );
    assert.equal(run.status, 1);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      'Error: Flavor vran.small has hw:pmu extra spec explicitly set to False, conflicting with image perf-tools which has hw_pmu explicitly set to True. [spec.flavor_image_conflict]\n',
    );
  });

  it('puts the error on stdout as JSON too with --json', () => {
    const run = vpmu(
      'explain',
      '--json',
      '--flavor',
      'examples/flavor-vran.json',
      '--image',
      'examples/image-perf.json',
    );
    assert.equal(run.status, 1);
    const body = JSON.parse(run.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'spec.flavor_image_conflict');
    assert.match(body.error.message, /^Flavor vran\.small has hw:pmu/u);
    assert.match(run.stderr, /\[spec\.flavor_image_conflict\]/u);
  });

  it('refuses a malformed value, naming key, value and flavor', () => {
    const run = vpmu(
      'render',
      '--flavor',
      'examples/flavor-general.json',
      '--flavor-property',
      'hw:pmu=maybe',
    );
    assert.equal(run.status, 1);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^Error: Validation failed; 'maybe' is not a valid boolean-like value\. The extra spec 'hw:pmu' of flavor 'm1\.medium' accepts/u,
    );
  });

  it('reports every problem in one run', () => {
    const run = vpmu(
      'render',
      '--flavor-property',
      'hw:pmu=ture',
      '--image-property',
      'hw_disk_bus=nvme',
      '--uuid',
      'nope',
    );
    assert.equal(run.status, 1);
    assert.equal(run.stderr.trim().split('\n').length, 3, run.stderr);
  });

  it('refuses an unreadable or malformed file with exit status 1', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-cli-'));
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"name": ');
    const missing = vpmu('render', '--flavor', path.join(dir, 'absent.json'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^Error: Cannot read flavor file .*absent\.json: ENOENT/u);
    const malformed = vpmu('render', '--image', broken);
    assert.equal(malformed.status, 1);
    assert.match(malformed.stderr, /^Error: Cannot parse image file .*broken\.json as JSON/u);
  });

  // prettier-ignore
  const MISUSE: readonly (readonly string[])[] = [
    [],
    ['frobnicate'],
    ['render', '--virt-type', 'xen'],
    ['render', '--cpu-mode', 'host'],
    ['render', '--bogus'],
    ['render', '--flavor-property', 'hw:pmu'],
    ['render', 'extra-positional'],
    ['render', '--json'],
    ['explain', '--flavor'],
  ];
  for (const args of MISUSE) {
    it(`exits 2 on misuse: vpmu ${args.join(' ')}`, () => {
      const run = vpmu(...args);
      assert.equal(run.status, 2, run.stderr);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /Usage:|\[cli\.usage\]/u);
    });
  }

  it('prints usage with --help and its version with --version', () => {
    assert.match(vpmu('--help').stdout, /^Usage:/u);
    assert.match(vpmu('explain', '--help').stdout, /^Usage:/u);
    assert.match(vpmu('--version').stdout, /^\d+\.\d+\.\d+\n$/u);
  });
});
