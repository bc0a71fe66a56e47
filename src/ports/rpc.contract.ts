/** Behaviour every RpcTransport shares: the in-process one and the AMQP one. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { RemoteError, RpcTimeout, type RpcContext, type RpcTransport } from './rpc.js';

/** Transports under test: `client` calls, `server` serves (the same one in process). */
export interface RpcUnderTest {
  readonly client: RpcTransport;
  readonly server: RpcTransport;
  /** Releases both. */
  readonly close: () => Promise<void>;
}

/** A promise with its resolve, for handlers to report to the test. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

class Refused extends Error {
  override readonly name = 'Refused';
  readonly code = 'host.refused';
}

/** Runs the RpcTransport contract against transports made by `make` (fresh ones per test). */
export function rpcContract(name: string, make: () => Promise<RpcUnderTest>): void {
  const topic = () => `t${randomUUID().slice(0, 8)}`;

  async function withRpc(test: (t: RpcUnderTest, topic: string) => Promise<void>): Promise<void> {
    const t = await make();
    try {
      await test(t, topic());
    } finally {
      await t.close();
    }
  }

  describe(`RpcTransport contract: ${name}`, () => {
    it('calls a method with its arguments and context as JSON, and returns its result', () =>
      withRpc(async ({ client, server }, t) => {
        let seen: { context: RpcContext; args: unknown } | undefined;
        const consumer = await server.serve(t, 'host1', {
          echo: (context, args) => {
            seen = { context, args };
            return { got: args, when: new Date(0), nothing: undefined };
          },
        });
        const result = await client.call(
          { topic: t },
          'echo',
          { a: 1, list: [true, null, 'x'], gone: undefined, nested: { b: 'c' } },
          { timeoutMs: 10_000, context: { request_id: 'req-1', roles: ['admin'], is_admin: true } },
        );
        assert.deepEqual(result, {
          got: { a: 1, list: [true, null, 'x'], nested: { b: 'c' } },
          when: '1970-01-01T00:00:00.000Z',
        });
        assert.deepEqual(seen?.context, { request_id: 'req-1', roles: ['admin'], is_admin: true });
        assert.equal(
          (await client.call({ topic: t }, 'echo', {}, { timeoutMs: 10_000 })) !== null,
          true,
        );
        await consumer.stop();
      }));

    it('returns null for a handler that returns nothing', () =>
      withRpc(async ({ client, server }, t) => {
        await server.serve(t, 'host1', { nothing: () => undefined });
        assert.equal(await client.call({ topic: t }, 'nothing', {}, { timeoutMs: 10_000 }), null);
      }));

    it('casts: the handler runs, the caller does not wait for it', () =>
      withRpc(async ({ client, server }, t) => {
        const ran = deferred<unknown>();
        await server.serve(t, 'host1', {
          note: (context, args) => {
            ran.resolve({ context, args });
          },
        });
        await client.cast({ topic: t }, 'note', { n: 7 }, { context: { user_id: 'u1' } });
        assert.deepEqual(await ran.promise, { context: { user_id: 'u1' }, args: { n: 7 } });
      }));

    it('routes to one named server, to any server of the topic, and to all on fanout', () =>
      withRpc(async ({ client, server }, t) => {
        const fanned = [deferred<string>(), deferred<string>()];
        for (const [i, host] of ['a', 'b'].entries()) {
          await server.serve(t, host, {
            who: () => host,
            fan: () => {
              fanned[i]?.resolve(host);
            },
          });
        }
        for (let i = 0; i < 6; i += 1) {
          assert.equal(
            await client.call({ topic: t, server: 'b' }, 'who', {}, { timeoutMs: 10_000 }),
            'b',
          );
          assert.equal(
            await client.call({ topic: t, server: 'a' }, 'who', {}, { timeoutMs: 10_000 }),
            'a',
          );
        }
        const anyOf = new Set<unknown>();
        for (let i = 0; i < 10; i += 1) {
          anyOf.add(await client.call({ topic: t }, 'who', {}, { timeoutMs: 10_000 }));
        }
        assert.deepEqual([...anyOf].sort(), ['a', 'b']);
        await client.cast({ topic: t, fanout: true }, 'fan', {});
        assert.deepEqual(await Promise.all(fanned.map((d) => d.promise)), ['a', 'b']);
        await assert.rejects(client.call({ topic: t, fanout: true }, 'who', {}), /fanout/u);
      }));

    it('times out a call nobody answers in time, and one nobody serves', () =>
      withRpc(async ({ client, server }, t) => {
        const release = deferred<undefined>();
        await server.serve(t, 'host1', { slow: () => release.promise });
        const started = Date.now();
        await assert.rejects(
          client.call({ topic: t }, 'slow', {}, { timeoutMs: 200 }),
          (error: unknown) => error instanceof RpcTimeout && error.method === 'slow',
        );
        assert.ok(Date.now() - started >= 190);
        release.resolve(undefined);
        await assert.rejects(
          client.call({ topic: `${t}-nobody` }, 'slow', {}, { timeoutMs: 200 }),
          RpcTimeout,
        );
        await assert.rejects(
          client.call({ topic: t, server: 'nobody' }, 'slow', {}, { timeoutMs: 200 }),
          RpcTimeout,
        );
      }));

    it('raises a remote failure as a RemoteError with class, module, message and fields', () =>
      withRpc(async ({ client, server }, t) => {
        await server.serve(t, 'host1', {
          refuse: () => {
            throw new Refused('no room on host1');
          },
          bad: () => Promise.reject(new TypeError('x is not a function')),
        });
        const error = await client.call({ topic: t }, 'refuse', {}, { timeoutMs: 10_000 }).then(
          () => assert.fail('no failure'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof RemoteError);
        assert.equal(error.remoteClass, 'Refused');
        assert.equal(error.remoteModule, 'vpmu');
        assert.equal(error.remoteMessage, 'no room on host1');
        assert.deepEqual(error.remoteKwargs, { code: 'host.refused' });
        assert.deepEqual(error.remoteArgs, ['no room on host1']);
        await assert.rejects(client.call({ topic: t }, 'bad', {}, { timeoutMs: 10_000 }), {
          name: 'RemoteError',
          remoteClass: 'TypeError',
          remoteMessage: 'x is not a function',
        });
        await assert.rejects(client.call({ topic: t }, 'missing', {}, { timeoutMs: 10_000 }), {
          name: 'RemoteError',
          remoteClass: 'NoSuchMethod',
          remoteModule: 'oslo_messaging.rpc.dispatcher',
        });
      }));

    it('runs calls concurrently and answers each its own', () =>
      withRpc(async ({ client, server }, t) => {
        const N = 20;
        let arrived = 0;
        const all = deferred<undefined>();
        await server.serve(t, 'host1', {
          square: async (_context, args) => {
            arrived += 1;
            if (arrived === N) all.resolve(undefined);
            await all.promise; // every call is in its handler at once
            return (args.n as number) ** 2;
          },
        });
        const results = await Promise.all(
          Array.from({ length: N }, (_, n) =>
            client.call({ topic: t }, 'square', { n }, { timeoutMs: 20_000 }),
          ),
        );
        assert.deepEqual(
          results,
          Array.from({ length: N }, (_, n) => n * n),
        );
      }));

    it('stops serving: a call being handled is answered, later ones time out', () =>
      withRpc(async ({ client, server }, t) => {
        const entered = deferred<undefined>();
        const release = deferred<undefined>();
        const consumer = await server.serve(t, 'host1', {
          work: async () => {
            entered.resolve(undefined);
            await release.promise;
            return 'finished';
          },
        });
        const pending = client.call({ topic: t }, 'work', {}, { timeoutMs: 20_000 });
        await entered.promise;
        const stopped = consumer.stop();
        release.resolve(undefined);
        await stopped;
        assert.equal(await pending, 'finished');
        await assert.rejects(
          client.call({ topic: t, server: 'host1' }, 'work', {}, { timeoutMs: 300 }),
          RpcTimeout,
        );
      }));
  });
}
