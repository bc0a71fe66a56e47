/** Behaviour every ComputeAgent shares: the local one today, a remote one over RPC later. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildRequest, ComputeAgent } from './compute-agent.js';

/** An agent under test, and how to ask it for a guest. */
export interface AgentUnderTest {
  readonly agent: ComputeAgent;
  /** A build request for a small guest with this server id (no image file needed). */
  readonly request: (serverId: string) => BuildRequest;
  /** A flavor-changed request for the same guest, for redefine (another vCPU count). */
  readonly resized: (serverId: string) => BuildRequest;
  /** Whether the instance directory of `serverId` still holds anything. */
  readonly hasDisk: (serverId: string) => Promise<boolean>;
  /** Destroys and undefines the server's domain behind the agent's back, leaving its disk. */
  readonly dropDomain: (serverId: string) => Promise<void>;
  /** Another host's agent a guest can move to (cold migration), and whether it holds its disk. */
  readonly destination: {
    readonly agent: ComputeAgent;
    readonly hasDisk: (serverId: string) => Promise<boolean>;
  };
}

const OPTS = { stopTimeoutMs: 1_000 } as const;
const ID = '7d5f3c1a-4b2e-4c8d-9a6f-0e1b2c3d4e5f';
const OTHER = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** Runs the ComputeAgent contract against agents made by `make` (a fresh one per test). */
export function computeAgentContract(name: string, make: () => Promise<AgentUnderTest>): void {
  describe(`ComputeAgent contract: ${name}`, () => {
    it('builds a running guest with its disk, and reports its vPMU and live XML', async () => {
      const { agent, request, hasDisk } = await make();
      const built = await agent.build(request(ID));
      assert.equal(await agent.state(ID), 'running');
      assert.equal(await hasDisk(ID), true);
      assert.ok(built.pmu.effective === 'on' || built.pmu.effective === 'off');
      assert.match(built.domainXml, new RegExp(ID, 'u'));
      assert.equal(await agent.domainXml(ID), built.domainXml);
    });

    it('leaves a built guest off when asked', async () => {
      const { agent, request } = await make();
      await agent.build({ ...request(ID), leaveStopped: true });
      assert.equal(await agent.state(ID), 'shutoff');
    });

    it('powers off and on, reboots, and says when there is no domain', async () => {
      const { agent, request } = await make();
      await agent.build(request(ID));
      assert.equal(await agent.power(ID, 'off', OPTS), 'done');
      assert.equal(await agent.state(ID), 'shutoff');
      assert.equal(await agent.power(ID, 'on', OPTS), 'done');
      assert.equal(await agent.state(ID), 'running');
      assert.equal(await agent.power(ID, 'reboot-soft', OPTS), 'done');
      assert.equal(await agent.state(ID), 'running');
      await agent.power(ID, 'off', OPTS);
      assert.equal(await agent.power(ID, 'reboot-hard', OPTS), 'done');
      assert.equal(await agent.state(ID), 'running');
      assert.equal(await agent.power(OTHER, 'on', OPTS), 'no-domain');
      assert.equal(await agent.state(OTHER), undefined);
    });

    it('sweepDisks() removes the directories of servers neither kept nor defined', async () => {
      const { agent, request, hasDisk, dropDomain } = await make();
      await agent.build(request(ID));
      await agent.build({ ...request(OTHER), name: `instance-${OTHER}`, leaveStopped: true });
      assert.deepEqual(await agent.sweepDisks(new Set()), []);
      await dropDomain(OTHER);
      await dropDomain(ID);
      const removed = await agent.sweepDisks(new Set([ID]));
      assert.deepEqual(
        removed.map((dir) => dir.endsWith(`/${OTHER}`)),
        [true],
      );
      assert.deepEqual([await hasDisk(ID), await hasDisk(OTHER)], [true, false]);
      assert.deepEqual(await agent.sweepDisks(new Set([ID])), []);
    });

    it('pauses and unpauses, suspends and resumes, and says when there is no domain', async () => {
      const { agent, request } = await make();
      await agent.build(request(ID));
      assert.equal(await agent.hold(ID, 'pause'), 'done');
      assert.equal(await agent.state(ID), 'paused');
      assert.equal(await agent.hold(ID, 'unpause'), 'done');
      assert.equal(await agent.state(ID), 'running');
      assert.equal(await agent.hold(ID, 'suspend'), 'done');
      assert.equal(await agent.state(ID), 'shutoff');
      assert.equal(await agent.hold(ID, 'resume'), 'done');
      assert.equal(await agent.state(ID), 'running');
      // A suspended guest can be removed, saved memory and all.
      await agent.hold(ID, 'suspend');
      await agent.remove(ID, { ...OPTS, graceful: false });
      assert.equal(await agent.state(ID), undefined);
      assert.equal(await agent.hold(OTHER, 'pause'), 'no-domain');
    });

    it('removes a guest and its disk; removing what is gone is no error', async () => {
      for (const graceful of [false, true]) {
        const { agent, request, hasDisk } = await make();
        await agent.build(request(ID));
        await agent.remove(ID, { ...OPTS, graceful });
        assert.equal(await agent.state(ID), undefined);
        assert.equal(await hasDisk(ID), false);
        await agent.remove(ID, { ...OPTS, graceful });
        await agent.remove(OTHER, { ...OPTS, graceful });
      }
    });

    it('redefines from a new design and back from recorded XML', async () => {
      const { agent, request, resized } = await make();
      const built = await agent.build(request(ID));
      const grown = await agent.redefine(ID, { ...OPTS, start: true, guest: resized(ID) });
      assert.notEqual(grown.domainXml, built.domainXml);
      assert.ok(grown.pmu !== undefined);
      assert.equal(await agent.state(ID), 'running');
      const back = await agent.redefine(ID, { ...OPTS, start: false, xml: built.domainXml });
      assert.equal(back.pmu, undefined);
      assert.equal(await agent.state(ID), 'shutoff');
      assert.equal(back.domainXml, await agent.domainXml(ID));
    });

    it('restores recorded XML best-effort, and reports the steps that failed', async () => {
      const { agent, request, resized } = await make();
      const built = await agent.build(request(ID));
      await agent.redefine(ID, { ...OPTS, start: true, guest: resized(ID) });
      assert.deepEqual(await agent.restore(ID, built.domainXml, { start: true }), []);
      assert.equal(await agent.state(ID), 'running');
      const failures = await agent.restore(OTHER, 'not xml', { start: true });
      assert.deepEqual(
        failures.map((f) => f.step),
        ['define the old guest again', 'start the old guest again'],
      );
    });

    it('hands a guest over to another host, which designs it afresh and starts it', async () => {
      const { agent, request, hasDisk, destination } = await make();
      await agent.build(request(ID));
      const handover = await agent.migrateOut(ID, OPTS);
      assert.equal(await agent.state(ID), 'shutoff', 'the source guest is stopped, not removed');
      const moved = await destination.agent.migrateIn({ ...request(ID), handover });
      assert.equal(await destination.agent.state(ID), 'running');
      assert.equal(await destination.hasDisk(ID), true);
      assert.ok(moved.pmu.effective === 'on' || moved.pmu.effective === 'off');
      assert.equal(await destination.agent.domainXml(ID), moved.domainXml);
      // The source keeps its guest until the move is confirmed (a revert starts it again).
      assert.equal(await hasDisk(ID), true);
      assert.equal(await agent.power(ID, 'on', OPTS), 'done');
      await agent.remove(ID, { ...OPTS, graceful: false });
      assert.equal(await destination.agent.state(ID), 'running');
    });

    it('moves a stopped guest in stopped, and refuses what is not there', async () => {
      const { agent, request, destination } = await make();
      await agent.build({ ...request(ID), leaveStopped: true });
      const handover = await agent.migrateOut(ID, OPTS);
      await destination.agent.migrateIn({ ...request(ID), handover, leaveStopped: true });
      assert.equal(await destination.agent.state(ID), 'shutoff');
      await assert.rejects(agent.migrateOut(OTHER, OPTS));
      await assert.rejects(
        destination.agent.migrateIn({
          ...request(OTHER),
          name: `instance-${OTHER}`,
          handover: { ...handover, instanceDir: handover.instanceDir.replace(ID, OTHER) },
        }),
      );
      assert.equal(await destination.agent.state(OTHER), undefined);
      assert.equal(await destination.hasDisk(OTHER), false);
    });

    it('lists its domains with their states', async () => {
      const { agent, request } = await make();
      assert.deepEqual(await agent.list(), []);
      await agent.build(request(ID));
      await agent.build({ ...request(OTHER), name: `instance-${OTHER}`, leaveStopped: true });
      const listed = (await agent.list()).map((d) => [d.uuid, d.state]).sort();
      assert.deepEqual(
        listed,
        [
          [OTHER, 'shutoff'],
          [ID, 'running'],
        ].sort(),
      );
    });
  });
}
