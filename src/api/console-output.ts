/**
 * os-getConsoleOutput (nova/api/openstack/compute/console_output.py): the end of the server's
 * console log, `length` lines of it (all with -1 or none), as `{"output": "..."}`.
 */
import type { Context } from 'hono';
import type { RequestContext } from '../services/index.js';
import { invalidField, member, refuseUnknownKeys } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';

/** Nova's `length`: an integer or a string of digits, at least -1 (unlimited); null for all. */
export function parseConsoleLength(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = typeof value === 'string' && /^-?[0-9]+$/u.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < -1) {
    throw invalidField(
      'length',
      value,
      'The length must be a whole number of lines of at least 0, or -1 for every line',
    );
  }
  return n === -1 ? undefined : n;
}

/** POST /servers/{id}/action {"os-getConsoleOutput": {"length": N}}. */
export async function consoleOutputAction(
  c: Context<ApiEnv>,
  deps: ApiDeps,
  ctx: RequestContext,
  id: string,
  body: Record<string, unknown>,
): Promise<Response> {
  const request = member(body, 'os-getConsoleOutput');
  refuseUnknownKeys('os-getConsoleOutput', request, ['length']);
  const lines = parseConsoleLength(request.length);
  const output = await deps.servers.consoleOutput(ctx, id, lines);
  return c.json({ output }, 200);
}
