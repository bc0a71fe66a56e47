/**
 * Query strings as Nova reads them: repeated parameters (Nova's multi_params), the last value
 * winning where one is used (webob's MultiDict), Nova's query-schema messages, and the `next`
 * link of a full page (nova/api/openstack/common.py ViewBuilder._get_collection_links).
 */
import type { Context } from 'hono';
import { ComputeError } from '../errors/index.js';
import type { ApiEnv } from './deps.js';

/** Every query parameter with all of its values, in order. */
export type QueryParams = ReadonlyMap<string, readonly string[]>;

/** The request's query parameters, decoded, repeated ones kept. */
export function queryParams(c: Context<ApiEnv>): QueryParams {
  const params = new Map<string, string[]>();
  const search = new URL(c.req.url).searchParams;
  for (const [key, value] of search) {
    const values = params.get(key);
    if (values === undefined) params.set(key, [value]);
    else values.push(value);
  }
  return params;
}

/** The last value of a parameter (what webob's `req.GET[name]` gives), or undefined. */
export function lastValue(params: QueryParams, name: string): string | undefined {
  return params.get(name)?.at(-1);
}

/** Nova's query-schema 400: "Invalid input for query parameters <name>. Value: <v>. <why>". */
export function invalidQuery(name: string, value: string, why: string): ComputeError {
  return new ComputeError(
    'request.invalid',
    `Invalid input for query parameters ${name}. Value: ${value}. ${why}`,
  );
}

/** Nova's refusal of parameters its schema does not list (additionalProperties: false). */
export function rejectUnknownParams(params: QueryParams, allowed: ReadonlySet<string>): void {
  const unknown = [...params.keys()].filter((key) => !allowed.has(key)).sort();
  if (unknown.length === 0) return;
  const names = unknown.map((key) => `'${key}'`).join(', ');
  throw new ComputeError(
    'request.invalid',
    `Additional properties are not allowed (${names} ${unknown.length === 1 ? 'was' : 'were'} unexpected)`,
  );
}

/** Each value must be one of `allowed` (a jsonschema enum); the last one is returned. */
export function enumParam<T extends string>(
  params: QueryParams,
  name: string,
  allowed: readonly T[],
): T | undefined {
  for (const value of params.get(name) ?? []) {
    if (!(allowed as readonly string[]).includes(value)) {
      throw invalidQuery(
        name,
        value,
        `'${value}' is not one of [${allowed.map((a) => `'${a}'`).join(', ')}]`,
      );
    }
  }
  return lastValue(params, name) as T | undefined;
}

/** Nova's `limit`: every value a non-negative whole number (parameter_types.non_negative_integer). */
export function limitParam(params: QueryParams): number | undefined {
  for (const value of params.get('limit') ?? []) {
    if (value === '') throw invalidQuery('limit', value, "'' is too short");
    if (!/^[0-9]*$/u.test(value)) {
      throw invalidQuery('limit', value, `'${value}' does not match '^[0-9]*$'`);
    }
  }
  const value = lastValue(params, 'limit');
  return value === undefined ? undefined : Number(value);
}

/** Python's urllib.parse.quote_plus: only letters, digits and `_.-~` stay as they are. */
export function quotePlus(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/gu, (ch) => `%${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase()}`)
    .replace(/%20/gu, '+');
}

/**
 * Nova's `next` link: the request's parameters sorted by name (the last value of a repeated one),
 * then `marker` set to the last item's id, in its sorted place when the request had one and at
 * the end when it did not (Python's OrderedDict, as Nova builds it).
 */
export function nextHref(base: string, params: QueryParams, marker: string): string {
  const entries: [string, string][] = [];
  for (const [key, values] of params) {
    const value = values.at(-1);
    if (value !== undefined) entries.push([key, value]);
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const at = entries.findIndex(([key]) => key === 'marker');
  if (at >= 0) entries[at] = ['marker', marker];
  else entries.push(['marker', marker]);
  const query = entries.map(([key, value]) => `${quotePlus(key)}=${quotePlus(value)}`).join('&');
  return `${base}?${query}`;
}

/**
 * Whether a page is full, so a `next` link is due: it holds min(limit, max) items, or max items
 * when no limit was given (nova/api/openstack/common.py _get_collection_links).
 */
export function pageIsFull(count: number, limit: number | undefined, max: number): boolean {
  const want = Math.min(limit ?? max, max);
  return want > 0 && count === want;
}
