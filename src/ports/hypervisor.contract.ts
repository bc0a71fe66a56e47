/**
 * Behaviour every Hypervisor adapter shares. Each adapter's test file calls `hypervisorContract()`
 * with a factory; the suite defines its own uniquely named domains (prefix `vpmu-test-`) and removes
 * them afterwards, so it can run against a real, shared libvirtd.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ComputeError, HypervisorError } from '../errors/index.js';
import type { Hypervisor } from './hypervisor.js';

/** A minimal domain, in the XML dialect of the hypervisor under test. */
export interface ContractDomain {
  readonly name: string;
  readonly uuid?: string;
  /** undefined: no `<pmu>` element. */
  readonly pmu?: boolean;
}

/** What the suite needs from an adapter's test file. */
export interface ContractSubject {
  readonly hypervisor: Hypervisor;
  /** Renders a tiny domain the hypervisor can define and start. */
  readonly domainXml: (domain: ContractDomain) => string;
  /** Domain capabilities to ask for, or undefined when the driver has none (test:///default). */
  readonly domainCapabilities: { readonly virtType: string; readonly arch: string } | undefined;
  /** How long a graceful stop may wait before it destroys; a guest with no OS never obliges. */
  readonly stopTimeoutMs: number;
}

const PMU_STATE = /<pmu\s+state=["'](on|off)["']\s*\/>/u;

/** Runs the shared Hypervisor suite against one adapter. */
export function hypervisorContract(label: string, make: () => Promise<ContractSubject>): void {
  describe(`Hypervisor contract: ${label}`, () => {
    const opened: Hypervisor[] = [];
    const created: { hv: Hypervisor; name: string }[] = [];

    async function subject(): Promise<ContractSubject> {
      const s = await make();
      opened.push(s.hypervisor);
      return s;
    }
    function newName(): string {
      return `vpmu-test-${randomUUID().slice(0, 8)}`;
    }
    async function defineNew(
      s: ContractSubject,
      domain: Partial<ContractDomain> = {},
    ): Promise<{ name: string; uuid: string }> {
      const name = domain.name ?? newName();
      const uuid = domain.uuid ?? randomUUID();
      created.push({ hv: s.hypervisor, name });
      const ref = await s.hypervisor.define(s.domainXml({ ...domain, name, uuid }));
      return { name: ref.name, uuid: ref.uuid };
    }

    after(async () => {
      for (const { hv, name } of created) {
        const found = await hv.find(name).catch(() => undefined);
        if (found === undefined) continue;
        if ((await hv.state(found)) !== 'shutoff') await hv.destroy(found).catch(() => undefined);
        await hv.undefine(found).catch(() => undefined);
      }
      for (const hv of opened) await hv.close();
    });

    it('pause() and unpause() hold and release a running guest; save() stops it to a file, restore() starts it again', async () => {
      const s = await subject();
      const { name } = await defineNew(s);
      const hv = s.hypervisor;
      await hv.start(name);
      await hv.pause(name);
      assert.equal(await hv.state(name), 'paused');
      await hv.unpause(name);
      assert.equal(await hv.state(name), 'running');
      await assert.rejects(hv.unpause(name), HypervisorError, 'a running guest is not paused');
      const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-save-'));
      try {
        const file = path.join(dir, 'guest.save');
        await hv.save(name, file);
        assert.equal(await hv.state(name), 'shutoff');
        await hv.restore(file);
        assert.equal(await hv.state(name), 'running');
        await hv.destroy(name);
        await assert.rejects(hv.restore(file), HypervisorError, 'restore() removed the file');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('define() returns the name and UUID from the XML and lists the domain shut off', async () => {
      const s = await subject();
      const uuid = randomUUID();
      const name = newName();
      const ref = await defineNew(s, { name, uuid });
      assert.deepEqual(ref, { name, uuid });
      const listed = (await s.hypervisor.list()).find((d) => d.uuid === uuid);
      assert.deepEqual(listed, { name, uuid, state: 'shutoff' });
      assert.equal(await s.hypervisor.state(name), 'shutoff');
    });

    it('define() again with the same UUID updates the domain and keeps the UUID', async () => {
      const s = await subject();
      const first = await defineNew(s, { pmu: false });
      assert.match(await s.hypervisor.domainXml(first.uuid), /<pmu\s+state=["']off["']/u);
      const again = await s.hypervisor.define(s.domainXml({ ...first, pmu: true }));
      assert.deepEqual(again, first);
      assert.equal(PMU_STATE.exec(await s.hypervisor.domainXml(first.name))?.[1], 'on');
      const same = (await s.hypervisor.list()).filter((d) => d.name === first.name);
      assert.equal(same.length, 1);
    });

    it('define() keeps the tri-state vPMU: no <pmu> element stays absent', async () => {
      const s = await subject();
      const ref = await defineNew(s, {});
      assert.doesNotMatch(await s.hypervisor.domainXml(ref), /<pmu/u);
    });

    it('define() of a taken name with another UUID fails with operation_failed naming the domain', async () => {
      const s = await subject();
      const first = await defineNew(s);
      const error = await rejection(
        s.hypervisor.define(s.domainXml({ name: first.name, uuid: randomUUID() })),
      );
      assert.equal(error.code, 'hypervisor.operation_failed');
      assert.equal(error.operation, 'define');
      assert.match(error.message, new RegExp(first.name, 'u'));
    });

    it('define() of malformed XML fails with operation_failed, not a crash', async () => {
      const s = await subject();
      const error = await rejection(s.hypervisor.define('<domain type="bogus"><name>x</nam'));
      assert.equal(error.code, 'hypervisor.operation_failed');
      assert.match(error.message, /^Cannot define/u);
    });

    it('start() runs the domain; start() again fails; destroy() stops it', async () => {
      const s = await subject();
      const ref = await defineNew(s, { pmu: true });
      await s.hypervisor.start(ref.name);
      assert.equal(await s.hypervisor.state(ref.uuid), 'running');
      const again = await rejection(s.hypervisor.start(ref));
      assert.equal(again.code, 'hypervisor.operation_failed');
      assert.equal(again.operation, 'start');
      assert.equal(again.domain, ref.name);
      await s.hypervisor.destroy(ref);
      assert.equal(await s.hypervisor.state(ref), 'shutoff');
    });

    it('stop() ends with the domain shut off within the timeout, and leaves a stopped one alone', async () => {
      const s = await subject();
      const ref = await defineNew(s);
      await s.hypervisor.start(ref);
      const began = Date.now();
      const outcome = await s.hypervisor.stop(ref, { timeoutMs: s.stopTimeoutMs, pollMs: 50 });
      assert.ok(outcome === 'shutdown' || outcome === 'destroyed', outcome);
      assert.ok(Date.now() - began < s.stopTimeoutMs + 10_000, 'stop() must be bounded');
      assert.equal(await s.hypervisor.state(ref), 'shutoff');
      assert.equal(await s.hypervisor.stop(ref, { timeoutMs: 100 }), 'already-stopped');
    });

    it('undefine() removes the definition; lookups then say not found', async () => {
      const s = await subject();
      const ref = await defineNew(s);
      assert.deepEqual(await s.hypervisor.lookup(ref.uuid), ref);
      assert.deepEqual(await s.hypervisor.lookup(ref.name), ref);
      assert.equal(await s.hypervisor.exists(ref.uuid), true);
      assert.equal(await s.hypervisor.exists(ref.name), true);
      await s.hypervisor.undefine(ref);
      assert.equal(await s.hypervisor.find(ref.name), undefined);
      assert.equal(await s.hypervisor.find(ref.uuid), undefined);
      assert.equal(await s.hypervisor.exists(ref.uuid), false);
      assert.equal(await s.hypervisor.exists(ref.name), false);
      assert.equal(
        (await s.hypervisor.list()).some((d) => d.uuid === ref.uuid),
        false,
      );
    });

    it('every per-domain call on an unknown domain fails with not_found naming it', async () => {
      const s = await subject();
      const ghost = `vpmu-test-ghost-${randomUUID().slice(0, 8)}`;
      const calls: [string, () => Promise<unknown>][] = [
        ['start', () => s.hypervisor.start(ghost)],
        ['destroy', () => s.hypervisor.destroy(ghost)],
        ['undefine', () => s.hypervisor.undefine(ghost)],
        ['state', () => s.hypervisor.state(ghost)],
        ['domainXml', () => s.hypervisor.domainXml(ghost)],
        ['lookup', () => s.hypervisor.lookup(ghost)],
        ['stop', () => s.hypervisor.stop(ghost, { timeoutMs: 100 })],
        ['lookup by uuid', () => s.hypervisor.lookup(randomUUID())],
      ];
      for (const [label, call] of calls) {
        const error = await rejection(call());
        assert.equal(error.code, 'hypervisor.not_found', label);
        assert.equal(error.status, 404, label);
        if (label !== 'lookup by uuid') assert.match(error.message, new RegExp(ghost, 'u'), label);
      }
    });

    it('reports host capabilities and host info', async () => {
      const s = await subject();
      assert.match(await s.hypervisor.capabilitiesXml(), /<capabilities>[\s\S]*<host>/u);
      const info = await s.hypervisor.hostInfo();
      assert.ok(info.cpus > 0 && info.memoryKiB > 0, JSON.stringify(info));
      assert.notEqual(info.arch, '');
      const { type, version } = await s.hypervisor.hypervisorVersion();
      assert.match(type, /^\w+$/u);
      assert.ok(Number.isInteger(version) && version > 0, String(version));
    });

    it('reports domain capabilities, or fails cleanly where the driver has none', async () => {
      const s = await subject();
      if (s.domainCapabilities === undefined) {
        const error = await rejection(s.hypervisor.domainCapabilitiesXml({ virtType: 'kvm' }));
        assert.equal(error.code, 'hypervisor.operation_failed');
        return;
      }
      const xml = await s.hypervisor.domainCapabilitiesXml(s.domainCapabilities);
      assert.match(xml, /<domainCapabilities>/u);
      assert.match(xml, new RegExp(`<domain>${s.domainCapabilities.virtType}</domain>`, 'u'));
    });

    it('close() twice is harmless, and the next call reconnects', async () => {
      const s = await subject();
      await s.hypervisor.connect();
      await s.hypervisor.close();
      await s.hypervisor.close();
      assert.ok(Array.isArray(await s.hypervisor.list()));
    });
  });
}

/** Awaits a rejection and checks it is a HypervisorError (a ComputeError with a registered code). */
export async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HypervisorError, `expected a HypervisorError, got ${String(error)}`);
    assert.ok(error instanceof ComputeError);
    return error;
  }
  assert.fail('expected the call to reject');
}
