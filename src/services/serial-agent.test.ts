import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ComputeAgent } from '../ports/compute-agent.js';
import { serialPerServer } from './serial-agent.js';

/** An agent whose power() and build() wait until the test lets each call go, and log order. */
function gatedAgent() {
  const log: string[] = [];
  const gates: (() => void)[] = [];
  const gated = (what: string) =>
    new Promise<void>((resolve) => {
      log.push(`start ${what}`);
      gates.push(() => {
        log.push(`end ${what}`);
        resolve();
      });
    });
  const agent = {
    uri: 'test:///h1',
    power: (id: string, action: string) => gated(`${action} ${id}`),
    build: (request: { serverId: string }) => gated(`build ${request.serverId}`),
    state: (id: string) => {
      log.push(`state ${id}`);
      return Promise.resolve(undefined);
    },
  } as unknown as ComputeAgent;
  const release = () => gates.shift()?.();
  return { agent, log, release };
}

/** Lets the queued promise callbacks run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('serialPerServer', () => {
  it("runs one server's guest changes one at a time, in order; other servers and reads at once", async () => {
    const { agent, log, release } = gatedAgent();
    const serial = serialPerServer(agent);
    const stop = serial.power('s1', 'off', { stopTimeoutMs: 1 });
    const reboot = serial.power('s1', 'reboot-hard', { stopTimeoutMs: 1 });
    const other = serial.build({ serverId: 's2' } as Parameters<ComputeAgent['build']>[0]);
    await serial.state('s1');
    await turn();
    // The read ran at once; the changes start on the next turn, s2's beside s1's.
    assert.deepEqual(log, ['state s1', 'start off s1', 'start build s2']);
    release();
    await stop;
    await turn();
    assert.deepEqual(log.slice(3), ['end off s1', 'start reboot-hard s1']);
    release();
    release();
    await Promise.all([reboot, other]);
    assert.equal(serial.uri, 'test:///h1', 'the rest of the agent as it is');
  });

  it('goes on with the next change when one fails', async () => {
    const calls: string[] = [];
    const agent = {
      remove: (id: string) => {
        calls.push(id);
        return calls.length === 1 ? Promise.reject(new Error('boom')) : Promise.resolve();
      },
    } as unknown as ComputeAgent;
    const serial = serialPerServer(agent);
    const options = { stopTimeoutMs: 1, graceful: false };
    const results = await Promise.allSettled([
      serial.remove('s1', options),
      serial.remove('s1', options),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'fulfilled'],
    );
  });
});
