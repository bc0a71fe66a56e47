/**
 * oslo.messaging's message shapes, shared by the RPC adapters (facts: shared/reference/
 * distributed.md §3, checked against Debian's oslo.messaging 14): the `oslo.version` 2.0
 * envelope, `_context_*` keys, and failures serialised as oslo's serialize_remote_exception does.
 */
import { RemoteError, VPMU_MODULE, type RpcArgs, type RpcContext } from '../../ports/rpc.js';

export const OSLO_VERSION = '2.0';
const CONTEXT_PREFIX = '_context_';

/** A JSON round trip: what a remote peer would get (undefined becomes null). */
export function plain(value: unknown): unknown {
  const text = JSON.stringify(value) as string | undefined;
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/** The context as `_context_<key>` entries. */
export function packContext(context: RpcContext | undefined): Record<string, unknown> {
  const packed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context ?? {})) {
    if (value !== undefined) packed[`${CONTEXT_PREFIX}${key}`] = value;
  }
  return packed;
}

/** Takes the `_context_<key>` entries out of a message, as the context. */
export function unpackContext(message: Readonly<Record<string, unknown>>): RpcContext {
  const context: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(message)) {
    if (key.startsWith(CONTEXT_PREFIX)) context[key.slice(CONTEXT_PREFIX.length)] = value;
  }
  return context;
}

/** The oslo 2.0 envelope around a message: the inner message is JSON text, not an object. */
export function envelope(message: Readonly<Record<string, unknown>>): Buffer {
  return Buffer.from(
    JSON.stringify({ 'oslo.version': OSLO_VERSION, 'oslo.message': JSON.stringify(message) }),
    'utf8',
  );
}

/**
 * The message inside an envelope. As oslo's deserialize_msg, a body without `oslo.version` is
 * taken as the message itself; another version is refused.
 */
export function unwrap(body: Buffer): Record<string, unknown> {
  const outer = JSON.parse(body.toString('utf8')) as unknown;
  if (!isRecord(outer)) throw new Error('the message is not a JSON object');
  if (!('oslo.version' in outer)) return outer;
  if (outer['oslo.version'] !== OSLO_VERSION) {
    throw new Error(`unsupported oslo.version ${JSON.stringify(outer['oslo.version'])}`);
  }
  const inner = outer['oslo.message'];
  if (typeof inner !== 'string') throw new Error('oslo.message is not a string');
  const message = JSON.parse(inner) as unknown;
  if (!isRecord(message)) throw new Error('oslo.message is not a JSON object');
  return message;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A thrown value as oslo's failure JSON text: `{class, module, message, tb, args, kwargs}`. A
 * RemoteError passes on the remote class and module; our errors name module `vpmu` and carry their
 * own JSON-able fields (a ComputeError's `code`, …) as kwargs.
 */
export function serializeFailure(error: unknown): string {
  if (error instanceof RemoteError) {
    return JSON.stringify({
      class: error.remoteClass,
      module: error.remoteModule,
      message: error.remoteMessage,
      tb: error.traceback,
      args: error.remoteArgs,
      kwargs: error.remoteKwargs,
    });
  }
  if (!(error instanceof Error)) {
    return JSON.stringify({
      class: 'Error',
      module: VPMU_MODULE,
      message: String(error),
      tb: [],
      args: [String(error)],
      kwargs: {},
    });
  }
  const kwargs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'name' || key === 'cause') continue;
    try {
      const copy = plain(value);
      if (copy !== null || value === null) kwargs[key] = copy;
    } catch {
      // Not JSON-able (a cycle, a BigInt): left out.
    }
  }
  return JSON.stringify({
    class: error.name,
    module: VPMU_MODULE,
    message: error.message,
    tb: (error.stack ?? `${error.name}: ${error.message}`).split('\n').map((line) => `${line}\n`),
    args: [error.message],
    kwargs,
  });
}

/** oslo's failure (JSON text, or an already parsed object) as a RemoteError. */
export function deserializeFailure(failure: unknown): RemoteError {
  let data: unknown = failure;
  if (typeof failure === 'string') {
    try {
      data = JSON.parse(failure) as unknown;
    } catch {
      data = { class: 'RemoteError', module: '', message: failure };
    }
  }
  const f = isRecord(data) ? data : {};
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  return new RemoteError({
    remoteClass: text(f.class, 'Exception'),
    remoteModule: text(f.module, ''),
    remoteMessage: text(f.message, ''),
    traceback: Array.isArray(f.tb) ? f.tb.map(String) : [],
    remoteArgs: Array.isArray(f.args) ? f.args : [],
    remoteKwargs: isRecord(f.kwargs) ? f.kwargs : {},
  });
}

/** Arguments as a handler gets them: a plain object (oslo sends `args` as a dict). */
export function argsOf(value: unknown): RpcArgs {
  return isRecord(value) ? value : {};
}

/** The failure for a method the server does not have, as oslo's dispatcher names it. */
export function noSuchMethod(method: string): RemoteError {
  return new RemoteError({
    remoteClass: 'NoSuchMethod',
    remoteModule: 'oslo_messaging.rpc.dispatcher',
    remoteMessage: `Endpoint does not support RPC method ${method}`,
    remoteArgs: [method],
  });
}
