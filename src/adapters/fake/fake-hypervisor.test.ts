import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hypervisorContract } from '../../ports/hypervisor.contract.js';
import { tinyDomainXml } from '../../testing/domains.js';
import { FakeHypervisor } from './fake-hypervisor.js';

hypervisorContract('fake', async () => ({
  hypervisor: new FakeHypervisor(),
  domainXml: (d) => tinyDomainXml('test', d),
  domainCapabilities: undefined,
  stopTimeoutMs: 1_000,
}));

hypervisorContract('fake, guests ignore shutdown', async () => ({
  hypervisor: new FakeHypervisor({
    ignoresShutdown: true,
    domainCapabilitiesXml: '<domainCapabilities>\n  <domain>qemu</domain>\n</domainCapabilities>\n',
  }),
  domainXml: (d) => tinyDomainXml('qemu', d),
  domainCapabilities: { virtType: 'qemu', arch: 'x86_64' },
  stopTimeoutMs: 200,
}));

describe('FakeHypervisor', () => {
  it('destroys a guest that ignores shutdown only after the timeout', async () => {
    const hv = new FakeHypervisor({ ignoresShutdown: true });
    const ref = await hv.define(tinyDomainXml('qemu', { name: 'g' }));
    await hv.start(ref);
    const began = Date.now();
    assert.equal(await hv.stop(ref, { timeoutMs: 150 }), 'destroyed');
    assert.ok(Date.now() - began >= 140);
  });

  it('gives a domain defined without a UUID a new one, and keeps it on redefine', async () => {
    const hv = new FakeHypervisor();
    const ref = await hv.define(tinyDomainXml('test', { name: 'g' }));
    assert.match(ref.uuid, /^[0-9a-f-]{36}$/u);
    assert.match(await hv.domainXml(ref.name), new RegExp(`<uuid>${ref.uuid}</uuid>`, 'u'));
    assert.deepEqual(await hv.define(tinyDomainXml('test', { name: 'g', uuid: ref.uuid })), ref);
  });
});
