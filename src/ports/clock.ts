/** Time and identifiers are ports, so tests and API samples are deterministic (no Date.now() in core). */

/** Tells the time. */
export interface Clock {
  now(): Date;
}

/** Makes identifiers and secrets. */
export interface Ids {
  /** A new random UUID (v4). */
  newUuid(): string;
  /** A new unguessable token text (at least 32 bytes of randomness). */
  newSecret(): string;
}
