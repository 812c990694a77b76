/**
 * The one table of Conclave's typed error codes. Every failure a caller can act on has a code here;
 * `src/api/` maps each code to a gRPC status exactly once. Never throw strings.
 */
export const ErrorCode = {
  /** A proposal was dropped: this replica is not the leader, or no leader is known. */
  NOT_LEADER: 'NOT_LEADER',
  /** A proposal was dropped because the uncommitted log already holds too many bytes. */
  PROPOSAL_BACKPRESSURE: 'PROPOSAL_BACKPRESSURE',
  /** A proposal was dropped because a leadership transfer is in progress. */
  LEADER_TRANSFERRING: 'LEADER_TRANSFERRING',
  /** A membership change was refused (one already pending, unknown member, would leave no voters). */
  BAD_MEMBERSHIP_CHANGE: 'BAD_MEMBERSHIP_CHANGE',
  /** A value exceeded a limit in `limits.ts`. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** The requested log range has been compacted into a snapshot. */
  COMPACTED: 'COMPACTED',
  /** The requested log range is not available yet. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** Durable data failed its checksum or is inconsistent; the replica refuses to start rather than guess. */
  CORRUPTED: 'CORRUPTED',
  /** The caller's input was malformed. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** A znode path is malformed: not absolute, empty or `.`/`..` segment, trailing `/`, control character, lone surrogate, or too long. */
  BAD_PATH: 'BAD_PATH',
  /** The znode (or the parent of the znode being created) does not exist (ZooKeeper NONODE). */
  NO_NODE: 'NO_NODE',
  /** A znode already exists at the path being created (ZooKeeper NODEEXISTS). */
  NODE_EXISTS: 'NODE_EXISTS',
  /** The znode's version differs from the version the request expected (ZooKeeper BADVERSION). */
  BAD_VERSION: 'BAD_VERSION',
  /** A znode that still has children cannot be deleted (ZooKeeper NOTEMPTY). */
  NOT_EMPTY: 'NOT_EMPTY',
  /** Ephemeral znodes cannot have children (ZooKeeper NOCHILDRENFOREPHEMERALS). */
  NO_CHILDREN_FOR_EPHEMERALS: 'NO_CHILDREN_FOR_EPHEMERALS',
  /** A znode's data exceeds `znodeDataBytesMax`. */
  DATA_TOO_LARGE: 'DATA_TOO_LARGE',
  /** A znode request's arguments do not fit together (ZooKeeper BADARGUMENTS): bad TTL, sequential container, deleting the root, too many multi ops, ... */
  BAD_ARGUMENTS: 'BAD_ARGUMENTS',
  /** An op of a multi was not applied (or was rolled back) because another op of the same multi failed (ZooKeeper RUNTIMEINCONSISTENCY). */
  RUNTIME_INCONSISTENCY: 'RUNTIME_INCONSISTENCY',
  /** The request's session is unknown: never opened, closed or expired. */
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  /** A retried request older than the newest one its session has applied; its result is no longer remembered. */
  STALE_REQUEST: 'STALE_REQUEST',
  /** Too many requests in flight on one session stream: retry once some answers have arrived. */
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  /** The caller presented no credentials, or ones that are invalid or expired (auth is on). */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** The caller's identity lacks the permission the request needs on its path (see `conclave acl`). Nothing changed. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The request would take a subtree past its quota of nodes or bytes (see `conclave quota`). Nothing changed. */
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  /** The session sent more operations or bytes per second than its rate limit allows: retry after `retryAfterMs`. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A server bug: the request failed in a way no other code describes (details stay in the server's log). */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class ConclaveError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    // A message passed along from another ConclaveError (a remote one, an apply result) keeps its one prefix.
    super(message.startsWith(`${code}: `) ? message : `${code}: ${message}`);
    this.name = 'ConclaveError';
    this.code = code;
    this.details = details;
  }
}

export function isConclaveError(err: unknown, code?: ErrorCode): err is ConclaveError {
  return err instanceof ConclaveError && (code === undefined || err.code === code);
}
