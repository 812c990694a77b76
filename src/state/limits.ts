/**
 * The bounds of the znode tree, units last in the names. The shell may pass its own `StateLimits`
 * (for example a larger `znodeDataBytesMax`); every replica must use the same values, since they
 * decide whether a txn succeeds.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';

export interface StateLimits {
  /** Most UTF-8 bytes of a znode path (after the sequential suffix is added). */
  pathBytesMax: number;
  /** Most bytes of one znode's data; more is DATA_TOO_LARGE. */
  znodeDataBytesMax: number;
  /** Most ops in one multi; more is BAD_ARGUMENTS. */
  multiOpsMax: number;
  /** Most child names returned by one `children` call. */
  childrenPageMax: number;
  /** Largest sequential suffix (10 decimal digits); a parent whose counter passes it refuses sequential children. */
  sequentialMax: number;
  /** Most bytes (= characters, names are ASCII) of a lock name; longer is BAD_ARGUMENTS. */
  lockNameBytesMax: number;
  /** Most locks with holders, waiters or a pending lock-delay at once; a new one beyond is LIMIT_EXCEEDED. */
  locksMax: number;
  /** Most waiters queued on one lock; another blocking acquire is LIMIT_EXCEEDED. */
  lockWaitersMax: number;
  /** Most permits of a semaphore; more is LIMIT_EXCEEDED. */
  lockPermitsMax: number;
  /** Longest lock-delay; more is LIMIT_EXCEEDED. */
  lockDelayMsMax: number;
  /** Most bytes of the value a holder proclaims (leader election); more is LIMIT_EXCEEDED. */
  lockValueBytesMax: number;
  /** Most paths with an ACL set; another is LIMIT_EXCEEDED. */
  aclsMax: number;
  /** Most grants in one ACL; more is LIMIT_EXCEEDED. */
  aclGrantsMax: number;
  /** Most bytes (= characters, identities are ASCII) of an identity name; longer is BAD_ARGUMENTS. */
  identityBytesMax: number;
  /** Most paths with a quota set; another is LIMIT_EXCEEDED. */
  quotasMax: number;
}

export const stateLimits: Readonly<StateLimits> = Object.freeze({
  pathBytesMax: 4096,
  znodeDataBytesMax: 1024 * 1024,
  multiOpsMax: 128,
  childrenPageMax: 10_000,
  sequentialMax: 9_999_999_999,
  lockNameBytesMax: 256,
  locksMax: 100_000,
  lockWaitersMax: 1000,
  lockPermitsMax: 1000,
  lockDelayMsMax: 60_000,
  lockValueBytesMax: 4096,
  aclsMax: 10_000,
  aclGrantsMax: 64,
  identityBytesMax: 256,
  quotasMax: 10_000,
});

/** Throws INVALID_ARGUMENT unless every limit is a positive safe integer and the suffix fits 10 digits. */
export function validateStateLimits(limits: StateLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `limit ${name} must be a positive integer, got ${String(value)}`, { name, value });
    }
  }
  // Every lock is mirrored at /conclave/locks/<name>: the longest name must make a valid path.
  if ('/conclave/locks/'.length + limits.lockNameBytesMax > limits.pathBytesMax) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'lockNameBytesMax + 16 must not exceed pathBytesMax', { lockNameBytesMax: limits.lockNameBytesMax, pathBytesMax: limits.pathBytesMax });
  }
  if (limits.sequentialMax > 9_999_999_999) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'sequentialMax must fit in 10 decimal digits', { sequentialMax: limits.sequentialMax });
  }
}
