/**
 * The client SDK's public types: what callers pass and get back. Numbers are plain JS numbers
 * (zxids, ids and times stay below 2^53).
 */
import type { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ClientTlsOptions } from '../security/tls.js';
import type { Permission } from '../state/acl.js';
import type { TokenSource } from './connection.js';

/** A znode's stat, exactly as the server keeps it (ZooKeeper's fields). */
export type { Stat } from '../state/stat.js';
/** A change delivered to a watch: created/changed events of a watch asked `withData` carry data and stat. */
export type { WatchEvent, WatchEventType } from '../watches/watch-event.js';
import type { Stat } from '../state/stat.js';
import type { WatchEvent, WatchEventType } from '../watches/watch-event.js';

/** TLS to the members: PEM contents of the CA, this client's certificate and key, an expected server name. */
export type { ClientTlsOptions } from '../security/tls.js';

/** Znode data: bytes, or a string stored as UTF-8. */
export type Data = Uint8Array | string;

export type Consistency = 'linearizable' | 'serializable';

export interface ClientOptions {
  /** `host:port` of some members; more are learned from the cluster's member list. */
  readonly endpoints: readonly string[];
  /** Asked-for session timeout; the server grants one within its bounds (`client.sessionTimeoutMs`). Default 10000. */
  readonly sessionTimeoutMs?: number;
  /** `Client.connect` fails with UNAVAILABLE if no session is open within this. Default 10000. */
  readonly connectTimeoutMs?: number;
  /** An operation fails with UNAVAILABLE if it is not answered within this, retries included. Default 10000. */
  readonly requestTimeoutMs?: number;
  /** Connect with TLS (PEM contents, not file names); plaintext when left out. */
  readonly tls?: ClientTlsOptions;
  /**
   * A bearer token for a cluster with auth on, sent as `authorization: Bearer <token>` on the
   * session stream and on every unary call. A function is asked again for every call and every
   * new stream, so a long-lived client can hand out a refreshed token (the session keeps its
   * identity: a refreshed token must name the same one).
   */
  readonly token?: TokenSource;
}

/** A bearer token (`conclave auth token`), or a function that gives the current one. */
export type { TokenSource } from './connection.js';

export interface CallOptions {
  /** Abort: the call rejects with the signal's reason. A write already sent may still be applied. */
  readonly signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Default 'linearizable'. A serializable read may be stale, never older than what this client has seen. */
  readonly consistency?: Consistency;
  /** Set a one-shot watch (ZooKeeper style); the result carries its promise. */
  readonly watch?: boolean;
}

export interface ChildrenOptions extends ReadOptions {
  /** Page after this child name (names are sorted). */
  readonly after?: string;
  /** Page size (the server caps it). */
  readonly limit?: number;
}

export interface CreateFlags {
  /** Deleted when this client's session ends. */
  readonly ephemeral?: boolean;
  /** A 10-digit counter is appended to the name. */
  readonly sequential?: boolean;
  /** Removed by the server once its last child is gone. */
  readonly container?: boolean;
  /** Removed by the server when unchanged and childless for this long. */
  readonly ttlMs?: number;
}

export interface CreateOptions extends CreateFlags, CallOptions {}

export interface SetOptions extends CallOptions {
  /** Expected version; omitted: any. */
  readonly version?: number;
}

export interface DeleteOptions extends CallOptions {
  /** Expected version (of the node itself, not its descendants); omitted: any. */
  readonly version?: number;
  /** Delete the whole subtree, children first. Not atomic: a failure leaves part of it deleted. */
  readonly recursive?: boolean;
}


export interface WatchOptions extends CallOptions {
  /** Every descendant too (created, changed, deleted; no 'children' events). */
  readonly recursive?: boolean;
  /** Deliver every change after this zxid first (COMPACTED if the server's history no longer reaches it). */
  readonly fromZxid?: number;
  /** Only these event types (default all). */
  readonly types?: readonly WatchEventType[];
  /** Carry data and stat on created/changed events. */
  readonly withData?: boolean;
}

export interface CreateResult {
  readonly path: string;
  readonly stat: Stat;
  readonly zxid: number;
}

export interface GetResult {
  readonly data: Uint8Array;
  readonly stat: Stat;
  readonly zxid: number;
  /**
   * With `watch: true`: settles with the next change of the node, or rejects with a ConclaveError
   * if the connection or session is lost first (then re-read: a change may have been missed).
   */
  readonly watch?: Promise<WatchEvent>;
}

export interface ExistsResult {
  readonly stat: Stat | undefined;
  readonly zxid: number;
  readonly watch?: Promise<WatchEvent>;
}

export interface ChildrenResult {
  readonly names: string[];
  readonly stat: Stat;
  /** More names follow: ask again with `after` = the last name. */
  readonly more: boolean;
  readonly zxid: number;
  readonly watch?: Promise<WatchEvent>;
}

export interface SetResult {
  readonly stat: Stat;
  readonly zxid: number;
}

export interface DeleteResult {
  readonly zxid: number;
}

export interface SyncResult {
  readonly zxid: number;
}

/** One operation of a `multi`. */
export type Op =
  | { readonly create: { readonly path: string; readonly data?: Data } & CreateFlags }
  | { readonly set: { readonly path: string; readonly data: Data; readonly version?: number } }
  | { readonly delete: { readonly path: string; readonly version?: number } }
  | { readonly check: { readonly path: string; readonly version: number } };

export interface OpResult {
  /** Set when this op failed (or was not applied because another failed: RUNTIME_INCONSISTENCY). */
  readonly error?: ErrorCode;
  /** The created path (of a create). */
  readonly path?: string;
  /** The node's stat after a create or set. */
  readonly stat?: Stat;
}

export interface MultiResult {
  /** All applied (true) or none (false). */
  readonly ok: boolean;
  /** The op that failed, else -1. */
  readonly failedIndex: number;
  readonly results: OpResult[];
  /** The zxid of the applied multi; 0 when it failed. */
  readonly zxid: number;
}

export interface MemberInfo {
  readonly id: number;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly learner: boolean;
}

export interface MemberList {
  readonly members: MemberInfo[];
  /** The leader's id as the answering member knows it (0: none known). */
  readonly leader: number;
}

export interface ClusterStatus {
  readonly id: number;
  readonly role: string;
  readonly term: number;
  readonly leader: number;
  readonly commit: number;
  readonly applied: number;
  readonly zxid: number;
  readonly voters: number[];
  readonly learners: number[];
  readonly digest: number;
}

/**
 * connecting → connected ⇄ suspended → lost; closed after `close()`. A `lost` session is gone
 * for good (its ephemerals are deleted): make a new client to start over.
 */
export type SessionState = 'connecting' | 'connected' | 'suspended' | 'lost' | 'closed';

export interface SessionInfo {
  readonly sessionId: number;
  /** The timeout the server granted. */
  readonly timeoutMs: number;
  /** The member the client talks to. */
  readonly address: string;
}

export interface SuspendedInfo {
  /**
   * `performance.now()` time until which the session is certainly alive on the server: the send
   * time of the last successful keep-alive plus the granted timeout. Act as a lock holder or group
   * leader only before it; after it, assume someone else may have taken over.
   */
  readonly safeUntil: number;
}

export interface ClientEvents {
  connected: [SessionInfo];
  suspended: [SuspendedInfo];
  reconnected: [SessionInfo];
  lost: [ConclaveError];
}

/** A permission an ACL grants on a subtree; `lock` on `/conclave/locks/<name>` covers that lock. */
export type { Permission } from '../state/acl.js';

/** One grant of an ACL: an identity (`*`: every authenticated caller) and what it may do. */
export interface AclGrant {
  readonly identity: string;
  readonly permissions: readonly Permission[];
}

/** The ACL set exactly on a path (`exists` false: none; ACLs of its ancestors still apply). */
export interface AclInfo {
  readonly path: string;
  readonly exists: boolean;
  readonly grants: AclGrant[];
  readonly zxid: number;
}

export interface AclList {
  /** Every ACL on a path the caller may administer. */
  readonly acls: AclInfo[];
  readonly zxid: number;
}

/** Limits of a subtree quota (the subtree's root node included); at least one. */
export interface QuotaLimits {
  readonly maxNodes?: number;
  readonly maxBytes?: number;
}

/** A quota with the subtree's usage now (`exists` false: no quota on this path). */
export interface QuotaInfo extends QuotaLimits {
  readonly path: string;
  readonly exists: boolean;
  /** Znodes in the subtree, its root included. */
  readonly nodes: number;
  /** Their data bytes. */
  readonly bytes: number;
  readonly zxid: number;
}

export interface QuotaList {
  /** Every quota on a path the caller may read. */
  readonly quotas: QuotaInfo[];
  readonly zxid: number;
}

/** Who the server takes this client for. */
export interface WhoAmIResult {
  readonly authEnabled: boolean;
  /** Empty with auth off (every caller is trusted). */
  readonly identity: string;
  readonly via: 'token' | 'certificate' | 'none';
  /** The caller's permissions at the path asked about (none asked: empty). */
  readonly permissions: Permission[];
}

export interface MintedToken {
  readonly token: string;
  /** Milliseconds since the epoch. */
  readonly expiresAtMs: number;
}
