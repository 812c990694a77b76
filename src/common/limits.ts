/**
 * Every bound Conclave enforces, in one place, units last in the names (TigerBeetle style).
 * Each limit has a typed error when exceeded; `validateRaftLimits` checks a configuration at startup.
 */
import { ConclaveError, ErrorCode } from './errors.js';

export interface RaftLimits {
  /** Most bytes of entries carried by one append message. */
  appendMessageBytesMax: number;
  /** Most append messages in flight to one follower in replicate state. */
  inflightMessagesMax: number;
  /** Most bytes of proposed-but-uncommitted entries on the leader; more are dropped with PROPOSAL_BACKPRESSURE. */
  uncommittedEntriesBytesMax: number;
  /** Most bytes of one snapshot chunk in an install-snapshot message. */
  snapshotChunkBytesMax: number;
  /** Most bytes of one proposed entry. */
  entryBytesMax: number;
  /** Most linearizable reads waiting for a confirmation round at once. */
  pendingReadsMax: number;
}

export const defaultRaftLimits: Readonly<RaftLimits> = Object.freeze({
  appendMessageBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  uncommittedEntriesBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytesMax: 512 * 1024,
  entryBytesMax: 1536 * 1024,
  pendingReadsMax: 100_000,
});

export function validateRaftLimits(limits: RaftLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `limit ${name} must be a positive integer, got ${String(value)}`, { name, value });
    }
  }
  if (limits.entryBytesMax > limits.uncommittedEntriesBytesMax) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'entryBytesMax must not exceed uncommittedEntriesBytesMax', { ...limits });
  }
}
