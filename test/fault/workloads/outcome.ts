/**
 * How an SDK call that threw is recorded. A write is `fail` only when the server's answer proves
 * it changed nothing: the txn was refused by validation or applied as a failed op (bad version, no
 * node, ...). Everything else — a deadline (UNAVAILABLE), a lost session (SESSION_EXPIRED: it may
 * have been applied just before), STALE_REQUEST (a resent write that was almost surely applied),
 * a closed client, a bug — leaves the outcome unknown: `info`, never `fail`.
 */
import { ErrorCode, isConclaveError } from '../../../src/common/errors.js';

export type FailureOutcome = 'fail' | 'info';

/** Answers that come from the state machine or input validation: the write definitely did nothing. */
const DEFINITE: ReadonlySet<string> = new Set([
  ErrorCode.BAD_VERSION,
  ErrorCode.NO_NODE,
  ErrorCode.NODE_EXISTS,
  ErrorCode.NOT_EMPTY,
  ErrorCode.NO_CHILDREN_FOR_EPHEMERALS,
  ErrorCode.BAD_ARGUMENTS,
  ErrorCode.BAD_PATH,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.DATA_TOO_LARGE,
  ErrorCode.RUNTIME_INCONSISTENCY,
]);

export function writeFailure(err: unknown): FailureOutcome {
  return isConclaveError(err) && DEFINITE.has(err.code) ? 'fail' : 'info';
}

/** A read has no effect either way; a deadline is still reported as unknown, the rest as failed. */
export function readFailure(err: unknown): FailureOutcome {
  return isConclaveError(err, ErrorCode.UNAVAILABLE) ? 'info' : 'fail';
}

export function errorCode(err: unknown): string {
  return isConclaveError(err) ? err.code : err instanceof Error ? err.name : 'unknown';
}
