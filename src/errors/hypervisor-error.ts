import type { ErrorCode } from './codes.js';
import { ComputeError } from './compute-error.js';

/** The hypervisor error codes a HypervisorError may carry. */
export type HypervisorErrorCode = Extract<ErrorCode, `hypervisor.${string}`>;

/** What a HypervisorError says about the failed call. */
export interface HypervisorErrorProps {
  /** The operation that failed, e.g. `define`, `start`, `connect`. */
  readonly operation: string;
  /** The domain it was for (name or UUID), when there was one. */
  readonly domain?: string | undefined;
  /** The hypervisor's own message (libvirt's error text), kept verbatim. */
  readonly detail: string;
  readonly cause?: unknown;
}

/**
 * A failed hypervisor call. Callers read `operation`, `domain` and `detail` to decide what to do
 * (retry, report); the message names all three for humans.
 */
export class HypervisorError extends ComputeError {
  override readonly name = 'HypervisorError';
  readonly operation: string;
  readonly domain: string | undefined;
  readonly detail: string;

  constructor(code: HypervisorErrorCode, props: HypervisorErrorProps) {
    const target = props.domain === undefined ? '' : ` domain '${props.domain}'`;
    super(code, `Cannot ${props.operation}${target}: ${props.detail}`, { cause: props.cause });
    this.operation = props.operation;
    this.domain = props.domain;
    this.detail = props.detail;
  }
}
