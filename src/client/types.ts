/**
 * The client SDK's public types: what callers pass and get back. Numbers are plain JS numbers
 * (zxids, ids and times stay below 2^53).
 */
import type { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ClientTlsOptions } from '../security/tls.js';

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
}

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
