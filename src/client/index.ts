/** The client SDK's public surface. */
export { Client } from './client.js';
export type { WatchStream } from './watch-stream.js';
export { Cache, type CacheChange, type CacheEntry, type CacheEvents } from './recipes/cache.js';
export { GroupMember, type GroupMemberEvents } from './recipes/group-member.js';
export { Lock } from './recipes/lock.js';
export { FenceGuard } from './recipes/fence-guard.js';
export { Barrier, DoubleBarrier } from './recipes/barrier.js';
export { Election, type Leader } from './recipes/election.js';
export type { AcquireOptions, AcquireResult, LockHolderInfo, LockInfo, LockKind, LockMode } from './lock-calls.js';
export type {
  AclGrant,
  AclInfo,
  AclList,
  CallOptions,
  ChildrenOptions,
  ChildrenResult,
  ClientEvents,
  ClientOptions,
  ClientTlsOptions,
  ClusterStatus,
  Consistency,
  CreateFlags,
  CreateOptions,
  CreateResult,
  Data,
  DeleteOptions,
  DeleteResult,
  ExistsResult,
  GetResult,
  MemberInfo,
  MemberList,
  MintedToken,
  MultiResult,
  Op,
  OpResult,
  Permission,
  QuotaInfo,
  QuotaLimits,
  QuotaList,
  ReadOptions,
  SessionInfo,
  SessionState,
  SetOptions,
  SetResult,
  Stat,
  SuspendedInfo,
  SyncResult,
  TokenSource,
  WatchEvent,
  WatchEventType,
  WatchOptions,
  WhoAmIResult,
} from './types.js';
