/**
 * scripts/demo-serve.sh, the README's service quick start: it must bring `vpmu serve` up, run the
 * headline through the API, leave the service running with a clouds.yaml, and stop it on request.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { RUN_TIMEOUT_MS } from '../testing/processes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'vpmu-demo-'));
const state = path.join(dir, 'state');
const env = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  VPMU_DEMO_STATE: state,
  VPMU_DEMO_PORT: '0',
};

after(() => {
  spawnSync('bash', ['scripts/demo-serve.sh', 'stop'], {
    env,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  rmSync(dir, { recursive: true, force: true });
});

it('runs the headline against a background vpmu serve, leaves it running, and stops it', () => {
  const run = spawnSync('bash', ['scripts/demo-serve.sh'], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  assert.match(
    run.stdout,
    /"message":"Flavor vran has hw:pmu extra spec explicitly set to False, conflicting with image profiling which has hw_pmu explicitly set to True\."/u,
  );
  assert.match(run.stdout, /vran-1 +ACTIVE +requested flavor=false image=null -> resolved false/u);
  assert.match(
    run.stdout,
    /profiler-1 +ACTIVE +requested flavor=null image=true -> resolved true/u,
  );
  assert.match(run.stdout, /plain-1 +ACTIVE +requested flavor=null image=null -> resolved null/u);
  assert.match(run.stdout, /<pmu> in libvirt: <pmu state='on'\/>/u);
  const clouds = readFileSync(path.join(state, 'clouds.yaml'), 'utf8');
  assert.match(clouds, /auth_url: http:\/\/127\.0\.0\.1:\d+\/identity\/v3/u);
  // The admin password is the one vpmu generated, not a fixed one, and only its owner reads it.
  const generated = readFileSync(path.join(state, 'admin-password'), 'utf8').trim();
  assert.match(generated, /^[A-Za-z0-9_-]{24}$/u);
  assert.match(clouds, new RegExp(`\n      password: ${generated}\n`, 'u'));
  assert.equal(statSync(path.join(state, 'clouds.yaml')).mode & 0o777, 0o600);
  assert.equal(statSync(state).mode & 0o777, 0o700);
  const pid = Number(readFileSync(path.join(state, 'serve.pid'), 'utf8'));
  assert.doesNotThrow(() => process.kill(pid, 0), 'the service is still running');
  const stop = spawnSync('bash', ['scripts/demo-serve.sh', 'stop'], {
    env,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
  });
  assert.equal(stop.status, 0, stop.stderr);
  assert.match(stop.stdout, /stopped/u);
  assert.equal(existsSync(path.join(state, 'serve.pid')), false);
  assert.throws(() => process.kill(pid, 0));
});
