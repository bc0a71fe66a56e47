import { ERROR_CODES, type ErrorCode } from './codes.js';

/** One problem found in the input, with where it was found. */
export interface Issue {
  readonly code: ErrorCode;
  /** Where in the input, e.g. `['flavor', 'extra_specs', 'hw:pmu']`. */
  readonly path: readonly string[];
  readonly message: string;
}

/**
 * Base class of every error we throw on purpose. Anything else reaching an edge (API, CLI,
 * notifier) is a bug and is reported as such.
 */
export class ComputeError extends Error {
  override readonly name: string = 'ComputeError';
  readonly code: ErrorCode;
  readonly issues: readonly Issue[];

  constructor(
    code: ErrorCode,
    message: string,
    options: { issues?: readonly Issue[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
  }

  /** The HTTP status registered for this error's code. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}
