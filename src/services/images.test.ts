import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import { makeTestApi } from '../testing/api.js';
import { validateToken } from './identity.js';
import { createImage, uploadImageData } from './images.js';

describe('uploadImageData()', () => {
  it('refuses a second upload while one is in progress, then the first completes alone', async () => {
    const api = await makeTestApi();
    const ctx = await validateToken(api.deps, await api.token('member'));
    const image = await createImage(api.deps, ctx, {
      name: 'x',
      diskFormat: 'raw',
      containerFormat: 'bare',
      properties: {},
    });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reading: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      reading = resolve;
    });
    async function* slow(): AsyncIterable<Uint8Array> {
      reading(); // the upload is under way once it reads its data
      yield new TextEncoder().encode('first ');
      await gate;
      yield new TextEncoder().encode('upload');
    }
    const first = uploadImageData(api.deps, ctx, image.id, slow());
    await started;
    await assert.rejects(
      uploadImageData(
        api.deps,
        ctx,
        image.id,
        (async function* () {
          yield new TextEncoder().encode('second');
        })(),
      ),
      (err) =>
        err instanceof ComputeError &&
        err.code === 'image.conflict' &&
        err.message.includes('in progress'),
    );
    release();
    const done = await first;
    assert.deepEqual([done.status, done.size], ['active', 12]);
    assert.equal((await api.store.getImage(image.id))?.size, 12);
  });
});
