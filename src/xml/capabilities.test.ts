import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadHostFixture } from '../testing/host-fixtures.js';
import { parseCapabilitiesXml, parseDomainCapabilitiesXml } from './capabilities.js';

describe('parseCapabilitiesXml()', () => {
  it('reads the host CPU and which virt types each guest arch offers (this machine: TCG only)', () => {
    const result = parseCapabilitiesXml(loadHostFixture('this-machine-tcg').capabilitiesXml);
    assert.ok(result.ok);
    const { host, guests } = result.value;
    assert.deepEqual([host.arch, host.cpuModel, host.cpuVendor], ['x86_64', 'kvm64', 'AMD']);
    assert.ok(host.cpuFeatures.includes('avx2'));
    assert.deepEqual(
      guests.map((g) => [g.arch, g.virtTypes]),
      [
        ['i686', ['qemu']],
        ['x86_64', ['qemu']],
      ],
    );
    assert.ok(guests[1]?.machines.includes('pc-i440fx-7.2'));
  });

  it('reads both kvm and qemu on a KVM host, and a host without a named model', () => {
    const intel = parseCapabilitiesXml(loadHostFixture('intel-kvm').capabilitiesXml);
    assert.ok(intel.ok);
    assert.deepEqual(intel.value.guests.find((g) => g.arch === 'x86_64')?.virtTypes, [
      'qemu',
      'kvm',
    ]);
    const arm = parseCapabilitiesXml(loadHostFixture('aarch64-kvm').capabilitiesXml);
    assert.ok(arm.ok);
    assert.equal(arm.value.host.cpuModel, undefined);
    assert.deepEqual(arm.value.guests[0]?.machines, ['virt-7.2', 'virt']);
  });

  it('names the problem in malformed or foreign XML', () => {
    for (const [xml, detail] of [
      ['<capabilities><host>', /Cannot read libvirt capabilities XML: /u],
      ['<domain/>', /the root element is not <capabilities>/u],
      ['<capabilities><host><cpu/></host></capabilities>', /<host><cpu><arch> is missing/u],
    ] as const) {
      const result = parseCapabilitiesXml(xml);
      assert.ok(!result.ok, xml);
      assert.match(result.issues[0].message, detail);
    }
  });
});

describe('parseDomainCapabilitiesXml()', () => {
  it('reads supported CPU modes, usable models and the host-model expansion', () => {
    const fact = loadHostFixture('this-machine-tcg').domainCapabilities.find(
      (d) => d.virtType === 'qemu',
    );
    const result = parseDomainCapabilitiesXml(fact?.xml ?? '');
    assert.ok(result.ok);
    assert.equal(result.value.virtType, 'qemu');
    assert.deepEqual(result.value.cpuModes, ['maximum', 'host-model', 'custom']);
    assert.equal(result.value.hostModel, 'EPYC');
    assert.ok(result.value.usableModels.includes('Nehalem'));
  });

  it('leaves out models libvirt marks unusable', () => {
    const fact = loadHostFixture('intel-kvm').domainCapabilities[0];
    const result = parseDomainCapabilitiesXml(fact?.xml ?? '');
    assert.ok(result.ok);
    assert.ok(result.value.usableModels.includes('Skylake-Client-IBRS'));
    assert.ok(!result.value.usableModels.includes('EPYC'));
    assert.equal(result.value.hostModel, 'Skylake-Client-IBRS');
  });
});
