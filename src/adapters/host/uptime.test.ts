import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeError } from '../../errors/index.js';
import { readHostUptime } from './uptime.js';

describe('readHostUptime', () => {
  it("gives this machine's `uptime` line, as Nova's libvirt driver does", async () => {
    const line = await readHostUptime();
    assert.match(line, /\bup\b.*load average/u);
    assert.doesNotMatch(line, /\n$/u);
  });

  it('fails with host.probe_failed naming the command when it cannot run', async () => {
    await assert.rejects(
      readHostUptime('vpmu-no-such-uptime-command'),
      (err: unknown) =>
        err instanceof ComputeError &&
        err.code === 'host.probe_failed' &&
        err.message.includes('env LANG=C vpmu-no-such-uptime-command'),
    );
  });
});
