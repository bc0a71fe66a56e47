import { ComputeError, type Issue } from '../errors/index.js';

/** The outcome of pure code: a value, or every issue found (never an empty list). */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly [Issue, ...Issue[]] };

/** A successful result. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** A failed result carrying at least one issue. */
export function fail<T = never>(...issues: readonly [Issue, ...Issue[]]): Result<T> {
  return { ok: false, issues };
}

/** A failed result holding every issue in the list, or undefined when the list is empty. */
export function failIfAny(
  issues: readonly Issue[],
): Extract<Result<never>, { ok: false }> | undefined {
  const [first, ...rest] = issues;
  return first === undefined ? undefined : { ok: false, issues: [first, ...rest] };
}

/**
 * The single point where a Result's issues become a thrown ComputeError. The error carries the
 * first issue's code; its message lists every issue, one per line.
 */
export function orThrow<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  const [first] = result.issues;
  const message = result.issues.map((issue) => issue.message).join('\n');
  throw new ComputeError(first.code, message, { issues: result.issues });
}
