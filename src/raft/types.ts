/**
 * The vocabulary of the Raft core: entries, hard state, membership, snapshots and messages.
 * Everything here is plain data so that it can be persisted, sent, compared and described.
 */

/** A member id. Positive; 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

export const EntryType = {
  Normal: 0,
  ConfChange: 1,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** What must be durable before a node answers a vote or an append: term, vote, commit. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const emptyHardState: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** The membership: voters elect and commit; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export const emptyConfState: ConfState = Object.freeze({ voters: [], learners: [] });

export const ConfChangeType = {
  /** Add a voter. Used at bootstrap and to promote a caught-up learner. */
  AddVoter: 0,
  AddLearner: 1,
  Remove: 2,
} as const;
export type ConfChangeType = (typeof ConfChangeType)[keyof typeof ConfChangeType];

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to Raft: the application's description of the member (its addresses), carried in the entry. */
  readonly context?: Uint8Array;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export const MessageType = {
  /** Local: start an election (pre-vote first when enabled). */
  Hup: 0,
  /** Local: leader sends heartbeats. */
  Beat: 1,
  /** Local or forwarded: propose entries. */
  Propose: 2,
  Append: 3,
  AppendResponse: 4,
  Vote: 5,
  VoteResponse: 6,
  PreVote: 7,
  PreVoteResponse: 8,
  Heartbeat: 9,
  HeartbeatResponse: 10,
  /** One chunk of an install-snapshot transfer. */
  Snapshot: 11,
  /** Acknowledges snapshot chunks received so far (offset), or asks to restart (reject). */
  SnapshotResponse: 12,
  /** Local or forwarded: request a read index. */
  ReadIndex: 13,
  ReadIndexResponse: 14,
  /** Local or forwarded: ask the leader to hand leadership to `from` (or to `transferee`). */
  TransferLeader: 15,
  /** Leader to transferee: campaign now, skipping pre-vote and leases. */
  TimeoutNow: 16,
  /** Local: leader checks that a quorum was recently active. */
  CheckQuorum: 17,
  /** Local: the shell reports a peer unreachable. */
  Unreachable: 18,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const messageTypeName: Readonly<Record<MessageType, string>> = Object.freeze(
  Object.fromEntries(Object.entries(MessageType).map(([name, value]) => [value, name])) as Record<MessageType, string>,
);

export interface SnapshotChunk {
  readonly meta: SnapshotMeta;
  /** Byte offset of `data` within the whole snapshot. */
  readonly offset: number;
  readonly totalBytes: number;
  /** CRC-32C of the whole snapshot, checked by the receiver once complete. */
  readonly checksum: number;
  readonly data: Uint8Array;
}

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** 0 for local messages. */
  readonly term: number;
  /** Append: term of entry `index`. Vote: last log term. Reject: term at `rejectHint`. */
  readonly logTerm?: number;
  /** Append: index before `entries`. Vote: last log index. AppendResponse: matched (or rejected) index. ReadIndexResponse: read index. SnapshotResponse: snapshot index. */
  readonly index?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly reject?: boolean;
  /** On a rejected append: the follower's guess of the last index that might match. */
  readonly rejectHint?: number;
  /** Heartbeat round (read confirmation) or read request id. */
  readonly context?: number;
  /** Vote/TimeoutNow: a leadership transfer; voters ignore their leader lease. */
  readonly force?: boolean;
  readonly snapshot?: SnapshotChunk;
  /** SnapshotResponse: bytes received so far. */
  readonly offset?: number;
  /** TransferLeader: the node to hand leadership to. */
  readonly transferee?: NodeId;
}

/** A confirmed linearizable read: once the state machine has applied `index`, read and answer `context`. */
export interface ReadState {
  readonly index: number;
  readonly context: number;
}

export const Role = {
  Follower: 'follower',
  PreCandidate: 'pre-candidate',
  Candidate: 'candidate',
  Leader: 'leader',
} as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}
