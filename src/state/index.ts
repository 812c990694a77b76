/** The replicated state machine's public surface: the znode tree, locks, txns and their codec, the state machine. */
export { DataTree } from './data-tree.js';
export type { ChildrenOptions, ChildrenResult, CreateOptions, CreateResult, MultiOpResult, MultiResult, OpError, TreeCapture, TreeOp, TreeOpResult, TreeSizeObserver } from './data-tree.js';
export { ANY_IDENTITY, AclTable, PERMISSIONS, ROOT_IDENTITY, isPermission, validateIdentity, type AclEntry, type AclGrant, type Permission } from './acl.js';
export { QuotaTable, type QuotaEntry, type QuotaLimits, type QuotaUsage } from './quotas.js';
export { stateLimits, validateStateLimits, type StateLimits } from './limits.js';
export { RESERVED_ROOT, SEQUENTIAL_DIGITS, baseName, isReservedPath, joinPath, parentPath, sequentialSuffix, utf8Length, validatePath, type ValidatePathOptions } from './path.js';
export { LOCKS_ROOT, LOCK_KINDS, LOCK_MODES, isLockKind, isLockMode, lockNodePath, validateLockName, type LockKind, type LockMode } from './lock-name.js';
export { LockTable } from './locks.js';
export type { LockAcquireOutcome, LockAcquireRequest, LockDescription, LockGrant, LockHolder, LockRelease, LockReleaseReason, LockWaiter } from './lock-types.js';
export { mirrorData } from './lock-mirror.js';
export { MemberTable, decodeMemberAddresses, encodeMemberAddresses, type Member, type MemberAddresses, type MemberChange } from './members.js';
export { SessionTable, type SessionEntry } from './sessions.js';
export { ConclaveStateMachine, encodeOutcome } from './state-machine.js';
export type { ApplyError, ApplyResult, ChangeEvent, TxnOutcome, TxnResult } from './state-machine.js';
export { STATE_MACHINE_NAME, STATE_VERSION, aclsTable, decodeOutcome, locksTable, quotasTable, membersTable, sessionOutcomesTable, sessionsTable, stateSnapshotTables, znodesTable, znodeRow, type StateSnapshotRows } from './state-snapshot.js';
export { ZNODE_KINDS, isZnodeKind, type Stat, type ZnodeKind, type ZnodeRecord } from './stat.js';
export { decodeTxn, encodeTxn } from './txn-codec.js';
export { requestIdOf, type LockTxnBody, type RequestId, type SecurityTxnBody, type Txn, type TxnBody } from './txn.js';
