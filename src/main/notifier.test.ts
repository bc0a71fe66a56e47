import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FileNotifier } from '../adapters/notifier/file-notifier.js';
import { RabbitNotifier } from '../adapters/notifier/rabbit-notifier.js';
import { ComputeError } from '../errors/index.js';
import { aNotification } from '../ports/notifier.contract.js';
import { createNotifier, notifierSettingsFrom } from './notifier.js';

const quiet = (): undefined => undefined;

describe('notifierSettingsFrom()', () => {
  it('prefers the flag, then VPMU_TRANSPORT_URL; the exchange defaults to nova', () => {
    const env = { VPMU_TRANSPORT_URL: 'rabbit://a:b@env/' };
    assert.equal(notifierSettingsFrom({ stateDir: '/s' }, env).transportUrl, 'rabbit://a:b@env/');
    assert.equal(
      notifierSettingsFrom({ stateDir: '/s', transportUrl: 'rabbit://flag/' }, env).transportUrl,
      'rabbit://flag/',
    );
    assert.deepEqual(notifierSettingsFrom({ stateDir: '/s' }, {}), {
      stateDir: '/s',
      transportUrl: undefined,
      exchange: 'nova',
    });
    assert.equal(
      notifierSettingsFrom({ stateDir: '/s' }, { VPMU_NOTIFICATION_EXCHANGE: 'vpmu' }).exchange,
      'vpmu',
    );
  });
});

describe('createNotifier()', () => {
  it('uses the JSON-lines file without a transport URL', async () => {
    const n = createNotifier(
      { stateDir: '/nonexistent', transportUrl: undefined, exchange: 'nova' },
      quiet,
    );
    assert.ok(n instanceof FileNotifier);
    await n.close(100);
  });

  it('hands the buffer bound to the RabbitMQ notifier', async () => {
    const n = createNotifier(
      {
        stateDir: '/s',
        transportUrl: 'rabbit://guest:guest@127.0.0.1:1/',
        exchange: 'nova',
        bufferLimit: 1,
      },
      quiet,
    );
    n.publish(aNotification());
    n.publish(aNotification());
    assert.deepEqual([n.stats().buffered, n.stats().dropped], [1, 1]);
    await n.close(200);
  });

  it('uses RabbitMQ with a rabbit:// URL', async () => {
    const n = createNotifier(
      { stateDir: '/s', transportUrl: 'rabbit://guest:guest@127.0.0.1:1/', exchange: 'nova' },
      quiet,
    );
    assert.ok(n instanceof RabbitNotifier);
    await n.close(200);
  });

  it('refuses a bad URL with a coded error that masks the password', () => {
    assert.throws(
      () =>
        createNotifier(
          { stateDir: '/s', transportUrl: 'amqp://u:hunter2@h/', exchange: 'nova' },
          quiet,
        ),
      (error: unknown) =>
        error instanceof ComputeError &&
        error.code === 'notifier.invalid_transport_url' &&
        !error.message.includes('hunter2') &&
        error.message.includes('use rabbit://'),
    );
  });
});
