/** Helpers shared by the identity, compute and image routes. */
import type { Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import type { RequestContext } from '../services/index.js';
import type { ApiEnv } from './deps.js';

/** The request's body parsed as a JSON object, or `request.invalid` naming what is wrong. */
export async function readJsonObject(
  c: Context<ApiEnv>,
  what: string,
): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // NOTE: Nova wording (nova/api/openstack/wsgi.py MalformedRequestBody) plus what we expected.
    throw new ComputeError('request.invalid', `Malformed request body: expected a JSON ${what}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ComputeError(
      'request.invalid',
      `Malformed request body: expected a JSON ${what}, not ${JSON.stringify(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

/** The object under `key`, or `request.invalid`. */
export function member(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = body[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute ${key}. Value: ${JSON.stringify(value ?? null)}. '${key}' is a required object`,
    );
  }
  return value as Record<string, unknown>;
}

/** `http://host:port` as the client reached us (the Host header), for links and the catalog. */
export function origin(c: Context<ApiEnv>): string {
  return new URL(c.req.url).origin;
}

/** The authenticated caller; set by the token middleware. */
export function caller(c: Context<ApiEnv>): RequestContext {
  const ctx = c.get('caller');
  if (ctx === undefined)
    throw new TypeError('caller() used on a route without the token middleware');
  return ctx;
}

/** Turns an async iterable of bytes into a web stream for a Response body. */
export function toWebStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}

/** Reads a web stream (a request body) as an async iterable of bytes. */
export async function* fromWebStream(
  stream: ReadableStream<Uint8Array> | null,
): AsyncIterable<Uint8Array> {
  if (stream === null) return;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
