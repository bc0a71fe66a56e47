/**
 * The child-process helper keeps its promise: a child that never prints its line fails the wait in
 * bounded time and is killed, a child that ignores SIGTERM is killed anyway, its grandchildren go
 * with it, and a test that fails an assertion, or hangs until the runner's timeout, leaves nothing
 * running.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { pollUntil, startChild } from './processes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-processes-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie answers signal 0 until its parent reaps it; it runs no more.
  try {
    return !/^\d+ \([^)]*\) Z/u.test(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<void> {
  await pollUntil(
    `process ${String(pid)} gone`,
    () => alive(pid),
    (up) => !up,
  );
}

describe('startChild()', { timeout: 120_000 }, () => {
  it('rejects a wait for a line that never comes, within its bound, and stop() kills the child', async () => {
    const child = startChild('sleep', ['300']);
    try {
      const began = performance.now();
      await assert.rejects(
        child.waitFor(/listening/u, 300),
        /printed no \/listening\/u within 300 ms/u,
      );
      assert.ok(performance.now() - began < 5_000);
      assert.ok(alive(child.pid));
    } finally {
      assert.deepEqual(await child.stop(), { code: null, signal: 'SIGTERM' });
    }
    await gone(child.pid);
  });

  it('rejects a wait when the child exits first, with its output', async () => {
    const child = startChild('sh', ['-c', 'echo starting; echo broken >&2; exit 3']);
    try {
      await assert.rejects(child.waitFor(/listening/u), /exited \(3\)[^]*starting\nbroken/u);
    } finally {
      await child.stop();
    }
  });

  it('fails the wait at once, with the reason, for a command that does not exist', async () => {
    const child = startChild('/nonexistent/vpmu', ['serve']);
    try {
      await assert.rejects(
        child.waitFor(/listening/u),
        /^Error: \/nonexistent\/vpmu exited \(\S+\) before printing[^]*(No such file or directory|ENOENT)/u,
      );
    } finally {
      await child.stop();
    }
  });

  it('resolves with the match once the line arrives', async () => {
    const child = startChild('sh', ['-c', 'sleep 0.2; echo "up on http://x:1"; sleep 300']);
    try {
      const match = await child.waitFor(/up on (\S+)/u);
      assert.equal(match[1], 'http://x:1');
    } finally {
      await child.stop();
    }
  });

  it('kills a child that ignores SIGTERM, and its grandchildren, after the grace period', async () => {
    const child = startChild('bash', [
      '-c',
      `trap '' TERM; sleep 300 & echo "grandchild $!"; wait`,
    ]);
    let grandchild = 0;
    try {
      grandchild = Number((await child.waitFor(/grandchild (\d+)/u))[1]);
      assert.ok(alive(grandchild));
    } finally {
      assert.equal((await child.stop(500)).signal, 'SIGKILL');
    }
    await gone(child.pid);
    await gone(grandchild);
  });

  // The helper's own promise, seen from outside: a test file that fails an assertion before its
  // cleanup, or hangs until the runner's timeout without one, leaves no child behind.
  const helper = path.join(path.dirname(fileURLToPath(import.meta.url)), 'processes.js');
  const FIXTURES = {
    'a failing assertion in a try/finally': `
      it('fails', async () => {
        const child = startChild('sleep', ['300']);
        try {
          report(child.pid);
          assert.equal(1, 2);
        } finally {
          await child.stop();
        }
      });`,
    'a failing assertion with no cleanup at all': `
      it('fails', () => {
        report(startChild('sleep', ['300']).pid);
        assert.equal(1, 2);
      });`,
    'a test that hangs until the runner times the file out': `
      it('hangs', async () => {
        report(startChild('sleep', ['300']).pid);
        await new Promise(() => setInterval(() => undefined, 1000));
      });`,
  };
  for (const [name, body] of Object.entries(FIXTURES)) {
    it(`leaves no child after ${name}`, async () => {
      const pids = path.join(dir, `${name.replace(/\W+/gu, '-')}.pids`);
      const file = path.join(dir, `${name.replace(/\W+/gu, '-')}.test.mjs`);
      writeFileSync(
        file,
        `import assert from 'node:assert/strict';
        import { appendFileSync } from 'node:fs';
        import { it } from 'node:test';
        import { startChild } from ${JSON.stringify(helper)};
        const report = (pid) => appendFileSync(${JSON.stringify(pids)}, pid + '\\n');
        ${body}`,
      );
      // A runner of its own, not a subtest of this one (node --test marks its children so).
      const env = { ...process.env, NODE_TEST_CONTEXT: undefined };
      const runner = startChild(process.execPath, ['--test', '--test-timeout=3000', file], { env });
      try {
        const exit = await runner.exited;
        assert.equal(exit.code, 1, runner.output());
      } finally {
        await runner.stop();
      }
      const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
      assert.equal(started.length, 1);
      for (const pid of started) await gone(pid);
    });
  }
});

describe('pollUntil()', () => {
  it('returns the first value that is done', async () => {
    let n = 0;
    assert.equal(
      await pollUntil(
        'three',
        () => (n += 1),
        (v) => v === 3,
        { intervalMs: 1 },
      ),
      3,
    );
  });

  it('fails after its bound, naming what it waited for and the last value', async () => {
    await assert.rejects(
      pollUntil(
        'the server ACTIVE',
        () => 'BUILD',
        (v) => v === 'ACTIVE',
        {
          timeoutMs: 100,
          intervalMs: 10,
        },
      ),
      /^Error: the server ACTIVE: not reached within 100 ms; last seen: "BUILD"$/u,
    );
  });
});
