import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { designGuest } from '../design/index.js';
import { assertGolden, GOLDEN_ROOT } from '../testing/golden.js';
import { IDS } from '../testing/fixtures.js';
import { RUN_TIMEOUT_MS } from '../testing/processes.js';
import { requireTool } from '../testing/tools.js';
import { GOLDEN_CASES } from '../testing/golden-cases.js';
import { parseDomainXml } from './parse-domain.js';
import { renderDomainXml } from './render-domain.js';

function render(c: (typeof GOLDEN_CASES)[number]): string {
  const design = designGuest({ ...c, ...IDS, owner: { projectId: 'p-demo', userId: 'u-demo' } });
  assert.ok(design.ok, design.ok ? '' : design.issues.map((issue) => issue.message).join('\n'));
  return renderDomainXml(design.value.spec);
}

/** Where the design puts the root disk: `<instanceDir>/<uuid>/disk`; lxc guests have none. */
function rootDiskOf(c: (typeof GOLDEN_CASES)[number]): string[] {
  if (c.host.virtType === 'lxc') return [];
  const dir = path.posix.join(c.host.instanceDir, IDS.uuid);
  return [`${dir}/disk`, ...(c.configDrive === true ? [`${dir}/disk.config`] : [])];
}

describe('renderDomainXml()', () => {
  for (const c of GOLDEN_CASES) {
    it(`matches golden file ${c.file}`, async () => {
      await assertGolden(`domain-xml/${c.file}`, render(c));
    });

    it(`${c.file} carries the decided <pmu> and reads back`, () => {
      const summary = parseDomainXml(render(c));
      assert.ok(summary.ok);
      assert.deepEqual(summary.value, {
        virtType: c.host.virtType,
        ...IDS,
        pmu: c.pmu,
        diskFiles: rootDiskOf(c),
      });
    });
  }

  it('places pmu last among the features, in Nova’s order', () => {
    const xml = render(
      GOLDEN_CASES.find((c) => c.file === 'kvm-hidden-pmu-off.xml') ?? assert.fail(),
    );
    const features = /<features>([\s\S]*)<\/features>/u.exec(xml)?.[1] ?? '';
    const order = [...features.matchAll(/^ {4}<([a-z]+)/gmu)].map(([, name]) => name);
    assert.deepEqual(order, ['acpi', 'apic', 'vmcoreinfo', 'kvm', 'pmu']);
  });
});

const validateSkip = requireTool(
  'virt-xml-validate',
  ['--version'],
  'apt-get install libvirt-clients libxml2-utils',
);
const virshSkip = requireTool('virsh', ['--version'], 'apt-get install libvirt-clients');

describe('golden domain XML against libvirt', () => {
  for (const c of GOLDEN_CASES) {
    const file = path.join(GOLDEN_ROOT, 'domain-xml', c.file);

    it(`${c.file} validates against libvirt's domain.rng`, { skip: validateSkip }, () => {
      const run = spawnSync('virt-xml-validate', [file, 'domain'], {
        encoding: 'utf8',
        timeout: RUN_TIMEOUT_MS,
      });
      assert.equal(run.status, 0, `${c.file}: ${run.stdout}${run.stderr}`);
    });

    it(`${c.file} is defined on test:///default with its <pmu> intact`, { skip: virshSkip }, () => {
      // test:///default keeps state per process, so define and dump in one virsh run.
      const run = spawnSync(
        'virsh',
        ['-q', '-c', 'test:///default', `define ${file}; dumpxml ${IDS.uuid}`],
        { encoding: 'utf8', timeout: RUN_TIMEOUT_MS },
      );
      assert.equal(run.status, 0, run.stderr);
      const dumped = run.stdout.slice(run.stdout.indexOf('<domain'));
      const summary = parseDomainXml(dumped);
      assert.ok(summary.ok, summary.ok ? '' : summary.issues[0].message);
      assert.deepEqual(summary.value, {
        virtType: c.host.virtType,
        ...IDS,
        pmu: c.pmu,
        diskFiles: rootDiskOf(c),
      });
    });
  }
});
