/**
 * The one place typed errors become gRPC statuses. The typed reason travels in trailing metadata
 * (`conclave-code`), so clients switch on it rather than on message text.
 */
import * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';

export const CODE_METADATA_KEY = 'conclave-code';
export const LEADER_METADATA_KEY = 'conclave-leader';

/** Every ErrorCode's gRPC status. A test checks that no code is missing. */
export const GRPC_STATUS_OF: Readonly<Record<ErrorCode, grpc.status>> = Object.freeze({
  NOT_LEADER: grpc.status.FAILED_PRECONDITION,
  PROPOSAL_BACKPRESSURE: grpc.status.RESOURCE_EXHAUSTED,
  LEADER_TRANSFERRING: grpc.status.UNAVAILABLE,
  BAD_MEMBERSHIP_CHANGE: grpc.status.FAILED_PRECONDITION,
  LIMIT_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  COMPACTED: grpc.status.OUT_OF_RANGE,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  CORRUPTED: grpc.status.DATA_LOSS,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  BAD_PATH: grpc.status.INVALID_ARGUMENT,
  NO_NODE: grpc.status.NOT_FOUND,
  NODE_EXISTS: grpc.status.ALREADY_EXISTS,
  BAD_VERSION: grpc.status.FAILED_PRECONDITION,
  NOT_EMPTY: grpc.status.FAILED_PRECONDITION,
  NO_CHILDREN_FOR_EPHEMERALS: grpc.status.FAILED_PRECONDITION,
  DATA_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  BAD_ARGUMENTS: grpc.status.INVALID_ARGUMENT,
  RUNTIME_INCONSISTENCY: grpc.status.ABORTED,
  SESSION_EXPIRED: grpc.status.FAILED_PRECONDITION,
  STALE_REQUEST: grpc.status.FAILED_PRECONDITION,
  TOO_MANY_REQUESTS: grpc.status.RESOURCE_EXHAUSTED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  QUOTA_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  INTERNAL: grpc.status.INTERNAL,
});

/** A gRPC error for `err`; anything untyped is an internal error (and its text is not leaked). */
export function toServiceError(err: unknown, leaderAddress?: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (isConclaveError(err)) {
    metadata.set(CODE_METADATA_KEY, err.code);
    if (err.code === ErrorCode.NOT_LEADER && leaderAddress) metadata.set(LEADER_METADATA_KEY, leaderAddress);
    return { code: GRPC_STATUS_OF[err.code], details: err.message, metadata };
  }
  metadata.set(CODE_METADATA_KEY, ErrorCode.INTERNAL);
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata };
}

/** The `Error` message of a session stream response for `err` (same rules as `toServiceError`). */
export function toErrorFrame(err: unknown, leaderAddress?: string): { code: string; message: string; leader: string; oldestZxid: number; currentZxid: number } {
  if (!isConclaveError(err)) return { code: ErrorCode.INTERNAL, message: 'internal error', leader: '', oldestZxid: 0, currentZxid: 0 };
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return {
    code: err.code,
    message: err.message,
    leader: err.code === ErrorCode.NOT_LEADER ? (leaderAddress ?? '') : '',
    oldestZxid: n(err.details['oldestZxid']),
    currentZxid: n(err.details['currentZxid']),
  };
}

/** The typed error a client sees in a gRPC error (for the SDK and tests). */
export function fromServiceError(err: grpc.ServiceError): ConclaveError {
  const code = err.metadata?.get(CODE_METADATA_KEY)[0];
  const leader = err.metadata?.get(LEADER_METADATA_KEY)[0];
  const known = typeof code === 'string' && code in GRPC_STATUS_OF ? (code as ErrorCode) : ErrorCode.UNAVAILABLE;
  return new ConclaveError(known, err.details, leader ? { leader: String(leader) } : {});
}
