/** Helpers shared by the identity, compute and image routes. */
import type { Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import type { RequestContext } from '../services/index.js';
import type { ApiEnv } from './deps.js';

/** Key of the object that stands for a JSON float literal when `floatLiterals` is asked for. */
export const FLOAT_LITERAL = '\u0000float';

/**
 * The request's body parsed as a JSON object, or `request.invalid` naming what is wrong. With
 * `floatLiterals`, every number written with a fraction or an exponent (`1.0`, `2e3`) arrives as
 * `{[FLOAT_LITERAL]: "<literal>"}`, so callers can tell `1.0` from `1` as Python does.
 */
export async function readJsonObject(
  c: Context<ApiEnv>,
  what: string,
  options: { floatLiterals?: boolean } = {},
): Promise<Record<string, unknown>> {
  const raw = await c.req.text();
  const text = options.floatLiterals === true ? markFloatLiterals(raw) : raw;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // NOTE: Nova wording (nova/api/openstack/wsgi.py MalformedRequestBody) plus what we expected.
    throw new ComputeError('request.invalid', `Malformed request body: expected a JSON ${what}`);
  }
  requireWellFormedText(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ComputeError(
      'request.invalid',
      `Malformed request body: expected a JSON ${what}, not ${JSON.stringify(value)}`,
    );
  }
  return value as Record<string, unknown>;
}

// With the u flag a surrogate pair is one code point, so only a lone surrogate matches.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Refuses a parsed body holding a string (or key) with a lone UTF-16 surrogate (`"\ud800"` is
 * valid JSON but not Unicode): stored, it would become invalid UTF-8. `request.invalid` names the
 * field by its path in the body.
 */
export function requireWellFormedText(value: unknown, path = ''): void {
  const bad = (field: string, text: string) =>
    new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute ${field === '' ? '(the body)' : field}. Value: ${JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)}. The text holds a lone UTF-16 surrogate, which is not valid Unicode`,
    );
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw bad(path, value);
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => {
      requireWellFormedText(item, `${path}[${index}]`);
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const field = path === '' ? key : `${path}.${key}`;
      if (LONE_SURROGATE.test(key)) throw bad(field, key);
      requireWellFormedText(item, field);
    }
  }
}

/** Rewrites float literals outside strings as marker objects (see readJsonObject). */
function markFloatLiterals(text: string): string {
  let out = '';
  for (let i = 0; i < text.length;) {
    const ch = text.charAt(i);
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text.charAt(j) !== '"') j += text.charAt(j) === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const number =
      ch === '-' || (ch >= '0' && ch <= '9') ? NUMBER.exec(text.slice(i, i + 400)) : null;
    if (number !== null) {
      const literal = number[0];
      out += /[.eE]/u.test(literal) ? JSON.stringify({ [FLOAT_LITERAL]: literal }) : literal;
      i += literal.length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/u;

/** How Python's str() prints a float: `1.0`, `1.5`, `1e+20`, `1.5e-07`. */
export function pythonFloat(literal: string): string {
  const n = Number(literal);
  if (!Number.isFinite(n)) return literal;
  const magnitude = Math.abs(n);
  if (magnitude !== 0 && (magnitude >= 1e16 || magnitude < 1e-4)) {
    return n.toExponential().replace(/e([+-])(\d)$/u, 'e$10$2');
  }
  return Number.isInteger(n) ? `${n}.0` : String(n);
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

/**
 * The configured public endpoint (`http://host:port`), for links, `Location` and the catalog. Not
 * the client's Host header: a client must not be able to make the catalog point elsewhere.
 */
export function origin(c: Context<ApiEnv>): string {
  return c.get('publicEndpoint');
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

// NOTE: Nova's jsonschema message shape: "Invalid input for field/attribute <f>. Value: <v>. <why>".
/** A 400 in Nova's words for one field, naming the value. */
export function invalidField(field: string, value: unknown, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for field/attribute ${field}. Value: ${typeof value === 'string' ? value : JSON.stringify(value ?? null)}. ${why}`,
  );
}

/** Nova's 400 for a key its schema does not allow (`additionalProperties: false`). */
export function unexpectedKey(
  field: string,
  body: Record<string, unknown>,
  key: string,
  hint = '',
): ComputeError {
  return invalidField(
    field,
    body,
    `Additional properties are not allowed ('${key}' was unexpected)${hint}`,
  );
}

/** Throws unexpectedKey for the first key of `body` that `allowed` does not hold. */
export function refuseUnknownKeys(
  field: string,
  body: Record<string, unknown>,
  allowed: readonly string[],
): void {
  const key = Object.keys(body).find((k) => !allowed.includes(k));
  if (key !== undefined) throw unexpectedKey(field, body, key);
}

/** Nova's datetime form in API bodies: ISO 8601 without a zone, to the microsecond. */
export function novaTime(iso: string): string {
  const [whole, fraction = ''] = iso.replace(/Z$/u, '').split('.');
  return `${whole ?? ''}.${fraction.padEnd(6, '0').slice(0, 6)}`;
}
