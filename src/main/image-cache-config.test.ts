/** The settings of a compute's image cache: imageApiUrl (VPMU_IMAGE_API_URL) and imageCacheMaxAge. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import { loadServeConfig } from './serve.js';

const noFile = (): string => {
  throw new Error('no config file expected');
};

describe('loadServeConfig(): the image cache of vpmu compute', () => {
  it('is off by default, entries kept 86400 s unused', () => {
    const config = loadServeConfig([], {}, noFile, 'compute');
    assert.deepEqual([config.imageApiUrl, config.imageCacheMaxAge], [undefined, 86400]);
  });

  it('takes the image API root from the environment over the config file, without a trailing slash', () => {
    const file = JSON.stringify({ imageApiUrl: 'http://file:8774/', imageCacheMaxAge: 600 });
    const env = { VPMU_ADMIN_PASSWORD: 'pw' };
    const fromFile = loadServeConfig(['--config', 'c.json'], env, () => file, 'compute');
    assert.deepEqual([fromFile.imageApiUrl, fromFile.imageCacheMaxAge], ['http://file:8774', 600]);
    const fromEnv = loadServeConfig(
      ['--config', 'c.json'],
      { ...env, VPMU_IMAGE_API_URL: 'https://lb.example.com/vpmu/' },
      () => file,
      'compute',
    );
    assert.equal(fromEnv.imageApiUrl, 'https://lb.example.com/vpmu');
  });

  const bad: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
    [
      'a compute without the admin password',
      { imageApiUrl: 'http://api:8774' },
      {},
      /Cannot use imageApiUrl without VPMU_ADMIN_PASSWORD/u,
    ],
    [
      'not a URL',
      { imageApiUrl: 'api:8774' },
      { VPMU_ADMIN_PASSWORD: 'pw' },
      /Cannot use imageApiUrl "api:8774": expected the http or https root/u,
    ],
    [
      'credentials in the URL',
      { imageApiUrl: 'http://admin:pw@api:8774' },
      { VPMU_ADMIN_PASSWORD: 'pw' },
      /Cannot use imageApiUrl "http:\/\/admin:\*\*\*@api:8774": expected/u,
    ],
    [
      'a maximum age of 0',
      { imageCacheMaxAge: 0 },
      {},
      /"imageCacheMaxAge" must be a whole number of at least 1, not 0/u,
    ],
  ];
  for (const [name, settings, env, message] of bad) {
    it(`refuses ${name}, naming the setting and the value`, () => {
      assert.throws(
        () =>
          loadServeConfig(['--config', 'c.json'], env, () => JSON.stringify(settings), 'compute'),
        (err: unknown) => err instanceof ComputeError && message.test(err.message),
      );
    });
  }
});
