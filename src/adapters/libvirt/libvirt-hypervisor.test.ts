import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hypervisorContract, rejection } from '../../ports/hypervisor.contract.js';
import { tinyDomainXml } from '../../testing/domains.js';
import { requireBinding } from '../../testing/libvirt.js';
import { bindingConnectionFactory, type NativeConnection, type NativeDomain } from './binding.js';
import { LibvirtHypervisor, parseRunningHypervisor } from './libvirt-hypervisor.js';

const noBinding = await requireBinding();

if (noBinding === false) {
  // libvirt's own test driver: in-process state, shared by every connection of this process.
  hypervisorContract('libvirt test:///default', async () => ({
    hypervisor: new LibvirtHypervisor({ uri: 'test:///default' }),
    domainXml: (d) => tinyDomainXml('test', d),
    domainCapabilities: undefined,
    stopTimeoutMs: 5_000,
  }));
} else {
  it('Hypervisor contract: libvirt test:///default', { skip: noBinding }, () => undefined);
}

describe('LibvirtHypervisor domain handles', { skip: noBinding }, () => {
  it('sees a domain another client removed or redefined under the same UUID', async () => {
    // Two adapters on test:///default share one in-process driver, like two clients of libvirtd.
    const ours = new LibvirtHypervisor({ uri: 'test:///default' });
    const theirs = new LibvirtHypervisor({ uri: 'test:///default' });
    const uuid = 'c0ffee00-0000-4000-8000-00000000abcd';
    try {
      const ref = await ours.define(tinyDomainXml('test', { name: 'handles-a', uuid }));
      assert.match(await ours.domainXml(ref), /<name>handles-a<\/name>/u);
      await theirs.undefine(uuid);
      await theirs.define(tinyDomainXml('test', { name: 'handles-b', uuid }));
      assert.deepEqual(await ours.lookup(uuid), { name: 'handles-b', uuid });
      assert.match(await ours.domainXml(uuid), /<name>handles-b<\/name>/u);
      await theirs.undefine(uuid);
      assert.equal((await rejection(ours.domainXml(ref))).code, 'hypervisor.not_found');
      assert.equal(await ours.find(uuid), undefined);
    } finally {
      await theirs.undefine(uuid).catch(() => undefined);
      await Promise.all([ours.close(), theirs.close()]);
    }
  });
});

describe('LibvirtHypervisor.define()', { skip: noBinding }, () => {
  it('reports the name and UUID libvirt defined when the XML does not state them plainly', async () => {
    const hv = new LibvirtHypervisor({ uri: 'test:///default' });
    const plain = tinyDomainXml('test', {
      name: 'define-plain',
      uuid: 'C0FFEE00-0000-4000-8000-0000000000AA',
    });
    const escaped = tinyDomainXml('test', {
      name: 'define&amp;escaped',
      uuid: 'c0ffee00-0000-4000-8000-0000000000ab',
    });
    const noUuid = tinyDomainXml('test', { name: 'define-no-uuid' });
    try {
      assert.deepEqual(await hv.define(plain), {
        name: 'define-plain',
        uuid: 'c0ffee00-0000-4000-8000-0000000000aa',
      });
      assert.deepEqual(await hv.define(escaped), {
        name: 'define&escaped',
        uuid: 'c0ffee00-0000-4000-8000-0000000000ab',
      });
      const generated = await hv.define(noUuid);
      assert.equal(generated.name, 'define-no-uuid');
      assert.deepEqual(await hv.lookup(generated.uuid), generated);
    } finally {
      for (const name of ['define-plain', 'define&escaped', 'define-no-uuid'])
        await hv.undefine(name).catch(() => undefined);
      await hv.close();
    }
  });
});

/** A scripted native connection: each method does what the test says. */
function scripted(overrides: Partial<NativeConnection>): NativeConnection {
  const unexpected = (name: string) => () => Promise.reject(new Error(`unexpected call ${name}`));
  const domain: NativeDomain = {};
  return {
    connectOpen: () => Promise.resolve(),
    connectClose: () => Promise.resolve(),
    connectListAllDomains: () => Promise.resolve([domain]),
    domainDefineXML: unexpected('domainDefineXML'),
    domainLookupByName: () => Promise.resolve(domain),
    domainLookupByUUIDString: () => Promise.resolve(domain),
    domainCreate: unexpected('domainCreate'),
    domainShutdown: unexpected('domainShutdown'),
    domainDestroy: unexpected('domainDestroy'),
    domainUndefine: unexpected('domainUndefine'),
    domainSuspend: unexpected('domainSuspend'),
    domainResume: unexpected('domainResume'),
    domainSave: unexpected('domainSave'),
    domainRestore: unexpected('domainRestore'),
    domainGetInfo: () => Promise.resolve({ state: 5 }),
    domainGetName: () => Promise.resolve('g1'),
    domainGetUUIDString: () => Promise.resolve('0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21'),
    domainGetXMLDesc: () => Promise.resolve('<domain/>'),
    nodeGetInfo: unexpected('nodeGetInfo'),
    ...overrides,
  };
}

describe('LibvirtHypervisor failure handling', () => {
  it('names what to install when the binding cannot load, on every call', async () => {
    const hv = new LibvirtHypervisor({
      uri: 'qemu:///system',
      connectionFactory: bindingConnectionFactory('@vpmu-test/no-such-binding'),
    });
    for (const call of [() => hv.list(), () => hv.define('<domain/>'), () => hv.start('g1')]) {
      const error = await rejection(call());
      assert.equal(error.code, 'hypervisor.unavailable');
      assert.match(
        error.message,
        /^Cannot connect to qemu:\/\/\/system: the optional Node module @vpmu-test\/no-such-binding is not installed or did not build; install the libvirt headers and reinstall: apt-get install libvirt-dev && npm install \(/u,
      );
    }
  });

  it('maps libvirt messages to not_found and operation_failed, naming the operation and domain', async () => {
    const hv = new LibvirtHypervisor({
      uri: 'test:///x',
      connectionFactory: async () =>
        scripted({
          domainLookupByName: () =>
            Promise.reject(new Error("Domain not found: no domain with matching name 'ghost'")),
          domainCreate: () =>
            Promise.reject(
              new Error('Requested operation is not valid: domain is already running'),
            ),
        }),
    });
    const missing = await rejection(hv.state('ghost'));
    assert.equal(missing.code, 'hypervisor.not_found');
    assert.equal(
      missing.message,
      "Cannot read the state of domain 'ghost': Domain not found: no domain with matching name 'ghost'",
    );
    const refused = await rejection(
      hv.start({ name: 'g1', uuid: '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21' }),
    );
    assert.equal(refused.code, 'hypervisor.operation_failed');
    assert.equal(
      refused.message,
      "Cannot start domain 'g1': Requested operation is not valid: domain is already running",
    );
  });

  it('reconnects after a lost connection and retries a read once', async () => {
    let opened = 0;
    const hv = new LibvirtHypervisor({
      uri: 'test:///x',
      backoffMs: 1,
      connectionFactory: async () => {
        opened++;
        const generation = opened;
        return scripted({
          domainGetInfo: () =>
            generation === 1
              ? Promise.reject(new Error('Cannot write data: Broken pipe'))
              : Promise.resolve({ state: 1 }),
        });
      },
    });
    assert.equal(await hv.state('g1'), 'running');
    assert.equal(opened, 2);
  });

  it('does not retry a change on a lost connection, and says its outcome is unknown', async () => {
    let creates = 0;
    const hv = new LibvirtHypervisor({
      uri: 'test:///x',
      connectionFactory: async () =>
        scripted({
          domainCreate: () => {
            creates++;
            return Promise.reject(new Error('internal error: client socket is closed'));
          },
        }),
    });
    const error = await rejection(hv.start('g1'));
    assert.equal(error.code, 'hypervisor.unavailable');
    assert.equal(error.status, 503);
    assert.match(
      error.message,
      /client socket is closed; the connection was lost during the call/u,
    );
    assert.equal(creates, 1);
  });

  it('gives up connecting after the configured attempts, with backoff between them', async () => {
    const attempts: number[] = [];
    const hv = new LibvirtHypervisor({
      uri: 'qemu:///system',
      connectAttempts: 3,
      backoffMs: 20,
      connectionFactory: async () =>
        scripted({
          connectOpen: () => {
            attempts.push(Date.now());
            return Promise.reject(
              new Error(
                "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
              ),
            );
          },
        }),
    });
    const error = await rejection(hv.list());
    assert.equal(error.code, 'hypervisor.unavailable');
    assert.match(
      error.message,
      /^Cannot connect to qemu:\/\/\/system: Failed to connect socket .* \(after 3 attempts; is libvirtd running\?\)$/u,
    );
    assert.equal(attempts.length, 3);
    const [a = 0, b = 0, c = 0] = attempts;
    assert.ok(b - a >= 15 && c - b >= 35, `backoff doubles: ${b - a} ms, ${c - b} ms`);
  });

  it('bounds a call that never answers', async () => {
    const hv = new LibvirtHypervisor({
      uri: 'test:///x',
      callTimeoutMs: 50,
      connectionFactory: async () =>
        scripted({ domainCreate: () => new Promise<never>(() => undefined) }),
    });
    const began = Date.now();
    const error = await rejection(hv.start('g1'));
    assert.equal(error.code, 'hypervisor.unavailable');
    assert.match(error.message, /did not answer start within 50 ms/u);
    assert.ok(Date.now() - began < 1_000);
  });

  it("reports virsh failures for capabilities as operation_failed with virsh's message", async () => {
    const hv = new LibvirtHypervisor({
      uri: 'test:///default',
      runVirsh: () =>
        Promise.reject(
          new Error(
            'this function is not supported by the connection driver: virConnectGetDomainCapabilities',
          ),
        ),
    });
    const error = await rejection(hv.domainCapabilitiesXml({ virtType: 'kvm' }));
    assert.equal(error.code, 'hypervisor.operation_failed');
    assert.match(
      error.message,
      /^Cannot read the kvm domain capabilities of test:\/\/\/default: this function is not supported/u,
    );
  });
});

describe('parseRunningHypervisor()', () => {
  // prettier-ignore
  const CASES = [
    { name: 'QEMU on Debian 12', text: 'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.0\n', want: { type: 'QEMU', version: 7_002_000 } },
    { name: 'the test driver', text: 'Using API: TEST 9.0.0\nRunning hypervisor: TEST 0.0.2\n', want: { type: 'TEST', version: 2 } },
    { name: 'no hypervisor line', text: 'Compiled against library: libvirt 9.0.0\n', want: undefined },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      assert.deepEqual(parseRunningHypervisor(c.text), c.want);
    });
  }
});
