import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDomainXml } from './parse-domain.js';

const domain = (features: string) =>
  `<domain type='kvm'><name>g1</name><uuid>0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21</uuid>${features}</domain>`;

describe('parseDomainXml()', () => {
  // prettier-ignore
  const CASES: readonly { name: string; xml: string; pmu: boolean | undefined }[] = [
    { name: 'pmu on, single quotes as virsh prints', xml: domain("<features><acpi/><pmu state='on'/></features>"), pmu: true },
    { name: 'pmu off',                               xml: domain('<features><pmu state="off"/></features>'),        pmu: false },
    { name: '<pmu/> without state means on',         xml: domain('<features><pmu/></features>'),                    pmu: true },
    { name: 'no pmu element',                        xml: domain('<features><acpi/></features>'),                   pmu: undefined },
    { name: 'no features at all',                    xml: domain(''),                                              pmu: undefined },
    { name: 'an empty features element',             xml: domain('<features/>'),                                   pmu: undefined },
    { name: 'a pmu element outside <features>',      xml: domain('<devices><pmu state="on"/></devices>'),          pmu: undefined },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const got = parseDomainXml(c.xml);
      assert.ok(got.ok, got.ok ? '' : got.issues[0].message);
      assert.deepEqual(got.value, {
        virtType: 'kvm',
        name: 'g1',
        uuid: '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21',
        pmu: c.pmu,
        diskFiles: [],
      });
    });
  }

  it('lists the file of each file-backed disk, and only of disks', () => {
    const devices = [
      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>",
      "<source file='/srv/i/0f3a/disk'/><target dev='vda' bus='virtio'/></disk>",
      "<disk type='file' device='cdrom'><source file='/srv/i/0f3a/config.iso'/></disk>",
      "<disk type='network' device='disk'><source protocol='rbd' name='pool/vol'/></disk>",
      "<interface type='network'><source network='default'/></interface>",
    ].join('');
    const got = parseDomainXml(domain(`<devices>${devices}</devices>`));
    assert.ok(got.ok);
    assert.deepEqual(got.value.diskFiles, ['/srv/i/0f3a/disk', '/srv/i/0f3a/config.iso']);
  });

  // prettier-ignore
  const BAD: readonly { name: string; xml: string; message: RegExp }[] = [
    { name: 'malformed XML',          xml: '<domain><name>x</domain>',                        message: /^Cannot read domain XML: 1:24: unexpected close tag/u },
    { name: 'a truncated document',   xml: domain('<features>').slice(0, 60),                 message: /^Cannot read domain XML: .*unclosed tag/u },
    { name: 'two roots',              xml: `${domain('')}<domain/>`,                         message: /only one root/u },
    { name: 'two names',              xml: domain('<name>g2</name>'),                         message: /<name> appears more than once/u },
    { name: 'two pmu elements',       xml: domain('<features><pmu state="on"/><pmu state="off"/></features>'), message: /<pmu> appears more than once/u },
    { name: 'not a domain',           xml: '<network><name>x</name></network>',               message: /root element is not <domain>/u },
    { name: 'no uuid',                xml: '<domain><name>x</name></domain>',                  message: /<uuid> is missing/u },
    { name: 'a pmu state libvirt refuses', xml: domain('<features><pmu state="maybe"/></features>'), message: /<pmu state="maybe"> is not on or off/u },
  ];
  for (const c of BAD) {
    it(`refuses ${c.name}`, () => {
      const got = parseDomainXml(c.xml);
      assert.ok(!got.ok);
      assert.equal(got.issues[0].code, 'input.invalid');
      assert.match(got.issues[0].message, c.message);
    });
  }
});
