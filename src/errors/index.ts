export { ERROR_CODES, speaksOfHost, type ErrorCode } from './codes.js';
export { ComputeError, type Issue } from './compute-error.js';
export { renderErrorsMarkdown } from './docs.js';
export {
  HypervisorError,
  type HypervisorErrorCode,
  type HypervisorErrorProps,
} from './hypervisor-error.js';
