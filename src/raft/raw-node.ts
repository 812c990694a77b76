/**
 * The shell's handle on the Raft core (model: etcd's RawNode). The shell loops:
 *
 *   while (node.hasReady()) {
 *     const rd = node.ready();
 *     send(rd.messages);                     // may go out while persisting (the leader's appends)
 *     persist(rd.hardState, rd.entries, rd.snapshot);   // one write, one fdatasync
 *     send(rd.messagesAfterPersist);         // votes and acks vouch for durable state
 *     apply(rd.snapshot, rd.committedEntries); answer(rd.readStates);
 *     node.advance();
 *   }
 *
 * Only one Ready is outstanding at a time; `advance()` acknowledges exactly that one.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { encodeConfChange } from './conf-change.js';
import type { RaftConfig } from './config.js';
import { Raft } from './raft.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType as MT,
  NONE,
  type NodeId,
  type ReadState,
  Role,
  type Snapshot,
  type SoftState,
  hardStateEqual,
} from './types.js';

export interface Ready {
  /** Set when the leader or role changed. */
  readonly softState: SoftState | undefined;
  /** Set when it changed; persist it with the entries. */
  readonly hardState: HardState | undefined;
  readonly readStates: readonly ReadState[];
  /** Entries to persist (they may replace a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to persist and install. */
  readonly snapshot: Snapshot | undefined;
  /** Entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  /** The write must be fsync'd before `messagesAfterPersist` go out. */
  readonly mustSync: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly lead: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
}

/** Message types only the node itself may generate. */
const LOCAL_ONLY: ReadonlySet<number> = new Set([MT.Hup, MT.Beat, MT.CheckQuorum, MT.Unreachable]);

/** Most bytes of committed entries handed out in one Ready. */
const APPLY_BATCH_BYTES_MAX = 16 * 1024 * 1024;

export class RawNode {
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.#prevSoft = this.raft.softState();
    this.#prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** A message from a peer. Local-only types and messages from ourselves are ignored. */
  step(m: Message): void {
    if (LOCAL_ONLY.has(m.type) || m.from === this.raft.id || m.to !== this.raft.id) return;
    if (m.type === MT.Propose && this.raft.role !== Role.Leader) return;
    this.raft.step(m);
  }

  /**
   * Propose one entry. On the leader, returns its index. On a follower, forwards it to the leader
   * and returns 0 (the outcome is learned when it is applied), or, with `disableProposalForwarding`
   * or no known leader, throws NOT_LEADER with the leader hint.
   */
  propose(data: Uint8Array): number {
    return this.raft.propose([{ type: EntryType.Normal, data }]);
  }

  /** Propose several entries at once (one append for all). Returns the last one's index. */
  proposeBatch(datas: readonly Uint8Array[]): number {
    return this.raft.propose(datas.map((data) => ({ type: EntryType.Normal, data })));
  }

  proposeConfChange(cc: ConfChange): number {
    if (this.raft.role !== Role.Leader) {
      throw new ConclaveError(ErrorCode.NOT_LEADER, `node ${this.raft.id} is not the leader`, { leader: this.raft.lead });
    }
    return this.raft.propose([{ type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
  }

  /**
   * Ask for a linearizable read point. A `ReadState` with this `context` arrives in a later Ready
   * once leadership is confirmed; if it never does (leader change, lost message) the caller retries
   * with a new context.
   */
  readIndex(context: number): void {
    if (this.raft.role !== Role.Leader && this.raft.lead === NONE) {
      throw new ConclaveError(ErrorCode.NOT_LEADER, `node ${this.raft.id} knows no leader`, { leader: NONE });
    }
    this.raft.step({ type: MT.ReadIndex, from: this.raft.id, to: this.raft.id, term: 0, context });
  }

  transferLeadership(transferee: NodeId): void {
    this.raft.step({ type: MT.TransferLeader, from: this.raft.id, to: this.raft.id, term: 0, transferee });
  }

  campaign(): void {
    this.raft.step({ type: MT.Hup, from: this.raft.id, to: this.raft.id, term: 0 });
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step({ type: MT.Unreachable, from: id, to: this.raft.id, term: 0 });
  }

  hasReady(): boolean {
    if (this.#outstanding) return false;
    const r = this.raft;
    return (
      r.hasFlushWork() ||
      r.msgs.length > 0 ||
      r.msgsAfterPersist.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommittedEntries() ||
      !hardStateEqual(r.hardState(), this.#prevHard) ||
      !softStateEqual(r.softState(), this.#prevSoft)
    );
  }

  ready(): Ready {
    assert(!this.#outstanding, 'ready() called again before advance()');
    const r = this.raft;
    r.flush();
    const soft = r.softState();
    const hard = r.hardState();
    const hardChanged = !hardStateEqual(hard, this.#prevHard);
    const entries = r.log.unstableEntries();
    const rd: Ready = {
      softState: softStateEqual(soft, this.#prevSoft) ? undefined : soft,
      hardState: hardChanged ? hard : undefined,
      readStates: r.readStates,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEntries(APPLY_BATCH_BYTES_MAX),
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      mustSync:
        entries.length > 0 ||
        r.log.unstable.snapshot !== undefined ||
        (hardChanged && (hard.term !== this.#prevHard.term || hard.vote !== this.#prevHard.vote)),
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    this.#prevSoft = soft;
    if (hardChanged) this.#prevHard = hard;
    this.#outstanding = rd;
    return rd;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const rd = this.#outstanding;
    assert(rd, 'advance() without an outstanding ready()');
    this.#outstanding = undefined;
    const r = this.raft;
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      r.log.appliedTo(rd.snapshot.meta.index);
      r.appliedSnapshot(rd.snapshot.meta.conf);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) r.persistedTo(last.index, last.term);
    r.appliedEntries(rd.committedEntries);
  }

  status(): Status {
    const r = this.raft;
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      lead: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      conf: r.conf,
    };
  }

  /** The membership as of the applied index: record this with a snapshot of the applied state. */
  confState(): ConfState {
    return this.raft.appliedConf;
  }

  /** This node was removed from the membership; the shell should stop it. */
  isRemoved(): boolean {
    return this.raft.removed;
  }
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}

/**
 * Write the initial membership of a brand-new cluster into empty storage, identically on every
 * founding member. `contextOf` gives each voter's conf change context (the application's member record).
 */
export function bootstrapEntries(voters: readonly NodeId[], contextOf?: (id: NodeId) => Uint8Array): { entries: Entry[]; hardState: HardState } {
  assert(voters.length > 0, 'bootstrap needs at least one voter');
  const entries = [...voters]
    .sort((a, b) => a - b)
    .map((nodeId, i) => {
      const context = contextOf?.(nodeId);
      return { term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(context ? { type: 0, nodeId, context } : { type: 0, nodeId }) };
    });
  return { entries, hardState: { term: 1, vote: NONE, commit: entries.length } };
}
