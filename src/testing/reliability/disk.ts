/**
 * A full and a read-only state file system (a small tmpfs): reads keep working, writes are refused
 * with 413 or 503 and never hang, the service never exits, writes work again once space is freed,
 * and a start on a read-only state directory fails with a clear message and exit status 1.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_PASSWORD, Cloud, writeConfig } from './cloud.js';
import { spawnSync } from 'node:child_process';
import { field, onExit, run, Service, TIMED_OUT, type Reply } from './harness.js';
import { skipOrThrow } from '../tools.js';
import type { ScenarioContext } from './scenario.js';

const REFUSED = new Set([413, 503]);
const MiB = 1024 * 1024;

export async function disk(ctx: ScenarioContext): Promise<void> {
  if (process.getuid?.() !== 0) {
    ctx.log(`disk: skipped: ${skipOrThrow('mounting a tmpfs needs root (CI runs as root)')}`);
    return;
  }
  const mount = mkdtempSync(path.join(ctx.workDir, 'tmpfs-'));
  run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0755', 'tmpfs', mount]);
  const forget = onExit(() => {
    spawnSync('umount', ['-l', mount], { timeout: 10_000 });
  });
  try {
    await onSmallDisk(ctx, mount);
  } finally {
    try {
      run('umount', [mount]);
    } catch {
      run('umount', ['-l', mount]);
    }
    forget();
    rmSync(mount, { recursive: true, force: true });
  }
}

async function onSmallDisk(ctx: ScenarioContext, mount: string): Promise<void> {
  const stateDir = path.join(mount, 'state');
  const service = new Service(
    {
      stateDir,
      configFile: writeConfig(ctx.workDir),
      adminPassword: ADMIN_PASSWORD,
      logLevel: 'info', // every request writes a log line, as in production
    },
    ctx.figures,
    'full disk',
  );
  const cloud = new Cloud(service, ctx.figures);
  try {
    await service.start();
    await cloud.loginAll();
    // Ballast outside the state directory: removing it frees space whatever the service does.
    writeFileSync(path.join(mount, 'ballast'), Buffer.alloc(MiB));

    // Uploads of shrinking sizes until each size is refused, then a file takes the last bytes:
    // the service's next log line or database page finds no room at all.
    const images: string[] = [];
    for (const size of [MiB, 64 * 1024, 4096]) {
      let refusal: Reply | undefined;
      for (let i = 0; i < 20 && refusal === undefined && service.alive; i++) {
        const reply = await upload(cloud, `fill-${size}-${i}`, size);
        if (reply.id !== undefined && reply.status === 204) images.push(reply.id);
        else refusal = reply.last;
      }
      if (!service.alive) break;
      cloud.check(
        refusal !== undefined,
        `full disk: 20 uploads of ${size} bytes were all accepted`,
      );
      if (refusal !== undefined) {
        cloud.check(
          REFUSED.has(refusal.status),
          `full disk: a refused ${size}-byte upload is not a 413 or 503`,
          `${refusal.status} ${refusal.text.slice(0, 200)}`,
        );
      }
    }
    fillToTheBrim(path.join(mount, 'brim'));
    await checkStillServing(cloud, 'full disk');

    rmSync(path.join(mount, 'ballast'), { force: true });
    rmSync(path.join(mount, 'brim'), { force: true });
    // Every filler image goes, so a service keeping a free-space reserve has room again too.
    for (const id of images) {
      if (!service.alive) break;
      const deleted = await cloud.as('member', 'DELETE', `/image/v2/images/${id}`, {
        allow503: true,
      });
      const ok = cloud.check(
        deleted.status === 204,
        'full disk: deleting an image to free space failed',
        `${deleted.status}`,
      );
      if (!ok) break; // one failure says it; the rest would repeat it
    }
    if (service.alive) {
      const again = await upload(cloud, 'after-freeing', 64 * 1024);
      cloud.check(
        again.status === 204,
        'full disk: an upload after freeing space failed',
        `${again.status}`,
      );
    }

    // A file system cannot be remounted read-only under a process writing to it (EBUSY), so the
    // read-only case is a start on it.
    await service.stop();
    run('mount', ['-o', 'remount,ro', mount]);

    const readOnly = new Service(service.options, ctx.figures, 'read-only start');
    const started = await readOnly.startRaw();
    if (started.url !== undefined) await readOnly.stop(); // a failed check, never left running
    // vpmu refuses a read-only state directory (logins and every change need writes).
    cloud.check(
      started.url === undefined && started.code === 1,
      'read-only start: it did not exit with status 1',
      started.url ?? String(started.code),
    );
    cloud.check(
      !/\n\s+at \S/u.test(readOnly.output),
      'read-only start: a stack trace instead of a message',
      readOnly.output.slice(0, 400),
    );
    cloud.check(
      /read-only|read only|EROFS|cannot write|not writable/iu.test(readOnly.output),
      'read-only start: the message does not say the state directory is read-only',
      readOnly.output.slice(0, 400),
    );
  } finally {
    await service.stop();
  }
}

/** Writes `file` until the file system has no byte left (bounded by the tmpfs's size). */
function fillToTheBrim(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const chunk of [4096, 1]) {
      for (let written = 0; written < 8 * MiB; written += chunk) {
        try {
          writeSync(fd, Buffer.alloc(chunk));
        } catch {
          break; // ENOSPC: this chunk size no longer fits
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Creates an image and uploads `bytes` of data; 503 is an allowed answer on a full disk. */
async function upload(
  cloud: Cloud,
  name: string,
  bytes: number,
): Promise<{ status: number; id?: string; last: Reply }> {
  const made = await cloud.as('member', 'POST', '/image/v2/images', {
    body: { name, disk_format: 'raw', container_format: 'bare' },
    allow503: true,
  });
  const id = field(made.json, 'id');
  if (made.status !== 201 || typeof id !== 'string') return { status: made.status, last: made };
  const put = await cloud.as('member', 'PUT', `/image/v2/images/${id}/file`, {
    raw: Buffer.alloc(bytes, 1),
    contentType: 'application/octet-stream',
    allow503: true,
  });
  return { status: put.status, id, last: put };
}

/** Reads answer; a write is refused with 413 or 503 (not 500, not a hang); the service lives. */
async function checkStillServing(cloud: Cloud, moment: string): Promise<void> {
  const validated = await cloud.as('member', 'GET', '/identity/v3/auth/tokens', {
    headers: { 'x-subject-token': cloud.token('member') },
  });
  cloud.check(
    validated.status === 200,
    `${moment}: token validation failed`,
    `${validated.status}`,
  );
  const servers = await cloud.as('member', 'GET', '/compute/v2.1/servers');
  cloud.check(servers.status === 200, `${moment}: listing servers failed`, `${servers.status}`);
  const images = await cloud.as('member', 'GET', '/image/v2/images');
  cloud.check(images.status === 200, `${moment}: listing images failed`, `${images.status}`);
  const write = await upload(cloud, `${moment}-write`, MiB);
  cloud.check(
    REFUSED.has(write.status),
    `${moment}: a write is not refused with 413/503`,
    `${write.status <= TIMED_OUT ? 'no answer' : write.status} ${write.last.text.slice(0, 200)}`,
  );
  cloud.check(cloud.service.alive, `${moment}: the service is gone`);
}
