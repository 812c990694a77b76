/**
 * Raft as a pure state machine (model: etcd-io/raft). Messages come in through `step`, time
 * through `tick`; effects leave as data in `msgs`, `msgsAfterPersist`, `readStates` and the log's
 * unstable tail, which `RawNode` packs into a `Ready`. No I/O, no clock, no global randomness.
 *
 * Roles and their message handling live in this file; replication (sending appends, snapshots,
 * heartbeats) in `replication.ts`.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { applyToConfState, confChangeProblem, decodeConfChange } from './conf-change.js';
import { type ResolvedRaftConfig, type RaftConfig, resolveRaftConfig } from './config.js';
import { Progress, ProgressState } from './progress.js';
import { VoteResult, committedIndex, voteResult } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadIndexQueue } from './read-index.js';
import { Replicator } from './replication.js';
import { SnapshotReceiver } from './snapshot-receiver.js';
import {
  type ConfChange,
  type ConfState,
  ConfChangeType,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType as MT,
  NONE,
  type NodeId,
  type ReadState,
  Role,
  type SoftState,
} from './types.js';

type CampaignKind = 'pre-vote' | 'election' | 'transfer';

/** Responses vouch for local state (a vote, appended entries): send them only once it is durable. */
const RESPONSE_TYPES: ReadonlySet<number> = new Set([
  MT.AppendResponse,
  MT.VoteResponse,
  MT.PreVoteResponse,
  MT.HeartbeatResponse,
  MT.SnapshotResponse,
]);

export class Raft {
  readonly cfg: ResolvedRaftConfig;
  readonly id: NodeId;
  readonly log: RaftLog;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  /** The membership in force: the applied one, or that of a snapshot being installed. */
  conf: ConfState;
  /** The membership as of the applied index (what a snapshot of the applied state must record). */
  appliedConf: ConfState;
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  /** Messages that may be sent at once. */
  msgs: Message[] = [];
  /** Messages to send only after the next Ready's hard state and entries are durable. */
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NONE;
  /** A conf change at an index above `applied` is in flight; no other may be proposed. */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  /** The leader owes followers an append (new entries or a new commit index). */
  appendPending = false;
  /** The latest applied membership change concerning this node removed it. */
  removed = false;
  readonly readQueue = new ReadIndexQueue();
  /** Reads that arrived before this leader committed an entry of its own term. */
  pendingReadRequests: Message[] = [];
  readonly snapshotReceiver = new SnapshotReceiver();
  readonly replicator: Replicator;

  constructor(config: RaftConfig) {
    this.cfg = resolveRaftConfig(config);
    this.id = this.cfg.id;
    this.log = new RaftLog(this.cfg.storage);
    const { hardState, confState } = this.cfg.storage.initialState();
    this.conf = confState;
    this.appliedConf = confState;
    this.replicator = new Replicator(this);
    if (hardState.term > 0) {
      this.term = hardState.term;
      this.vote = hardState.vote;
      // A torn write may have kept the hard state but not all the entries it covered.
      this.log.commitTo(Math.min(hardState.commit, this.log.lastIndex()));
    }
    this.#rebuildProgress();
    this.becomeFollower(this.term, NONE);
  }

  // ───────────────────────────── state queries ─────────────────────────────

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  isVoter(id: NodeId): boolean {
    return this.conf.voters.includes(id);
  }

  promotable(): boolean {
    return this.isVoter(this.id) && !this.removed && !this.log.unstable.snapshot;
  }

  send(m: Message): void {
    if (RESPONSE_TYPES.has(m.type)) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  // ───────────────────────────── role changes ─────────────────────────────

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rng.int(0, this.cfg.electionTicks - 1);
    this.leadTransferee = NONE;
    this.votes.clear();
    this.appendPending = false;
    this.uncommittedBytes = 0;
    this.readQueue.reset();
    this.pendingReadRequests = [];
    const last = this.log.lastIndex();
    for (const [id, pr] of this.progress) {
      const fresh = new Progress(last + 1, this.cfg.limits.inflightMessagesMax, pr.isLearner);
      if (id === this.id) fresh.match = this.log.stableIndex();
      this.progress.set(id, fresh);
    }
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  becomePreCandidate(): void {
    assert(this.role !== Role.Leader, 'a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote: a partitioned node cannot inflate the term.
    this.votes.clear();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  becomeCandidate(): void {
    assert(this.role !== Role.Leader, 'a leader cannot become a candidate');
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    assert(this.role === Role.Candidate, () => `only a candidate becomes leader (was ${this.role})`);
    this.#reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    for (const pr of this.progress.values()) pr.recentActive = true;
    // Conservatively treat everything not yet applied as a possible conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of our term: committing it commits everything before it (§5.4.2) and
    // lets us serve reads (§6.4).
    this.#appendEntries([{ term: this.term, index: this.log.lastIndex() + 1, type: EntryType.Normal, data: new Uint8Array(0) }]);
    this.appendPending = true;
  }

  // ───────────────────────────── time ─────────────────────────────

  tick(): void {
    if (this.role === Role.Leader) this.#tickLeader();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step({ type: MT.Hup, from: this.id, to: this.id, term: 0 });
    }
  }

  #tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step({ type: MT.CheckQuorum, from: this.id, to: this.id, term: 0 });
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === Role.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step({ type: MT.Beat, from: this.id, to: this.id, term: 0 });
    }
  }

  // ───────────────────────────── elections ─────────────────────────────

  #hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    for (const e of this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteType: MT;
    let term: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      voteType = MT.PreVote;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MT.Vote;
      term = this.term;
    }
    if (this.#poll(this.id, true) === VoteResult.Won) {
      // A single-voter cluster wins at once.
      if (kind === 'pre-vote') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        from: this.id,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        force: kind === 'transfer',
      });
    }
  }

  #poll(id: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.conf.voters, this.votes);
  }

  #handleVoteRequest(m: Message): void {
    const preVote = m.type === MT.PreVote;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (preVote && m.term > this.term) ||
      (this.cfg.mutations.has('vote-twice-in-term') && this.lead === NONE);
    const upToDate = this.cfg.mutations.has('vote-without-log-check') || this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0);
    const responseType = preVote ? MT.PreVoteResponse : MT.VoteResponse;
    if (canVote && upToDate) {
      // A granted pre-vote answers with the term the candidate will use; it changes nothing here.
      this.send({ type: responseType, from: this.id, to: m.from, term: m.term, reject: false });
      if (!preVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: responseType, from: this.id, to: m.from, term: this.term, reject: true });
    }
  }

  // ───────────────────────────── step ─────────────────────────────

  step(m: Message): void {
    if (!this.#stepTerm(m)) return;
    switch (m.type) {
      case MT.Hup:
        if (this.role !== Role.Leader && !this.#hasUnappliedConfChange()) {
          this.campaign(this.cfg.preVote ? 'pre-vote' : 'election');
        }
        return;
      case MT.Vote:
      case MT.PreVote:
        this.#handleVoteRequest(m);
        return;
    }
    switch (this.role) {
      case Role.Leader:
        this.#stepLeader(m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        this.#stepCandidate(m);
        return;
      case Role.Follower:
        this.#stepFollower(m);
        return;
    }
  }

  /** Term rules common to every role; false means the message is dropped. */
  #stepTerm(m: Message): boolean {
    if (m.term === 0) return true; // local message
    if (m.term > this.term) {
      if (m.type === MT.Vote || m.type === MT.PreVote) {
        // Check-quorum lease: while we hear from a leader, ignore disruptive candidates.
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        if (inLease && !m.force) return false;
      }
      if (m.type === MT.PreVote) return true; // never changes our term
      if (m.type === MT.PreVoteResponse && !m.reject) return true; // our own pre-campaign's term
      const fromLeader = m.type === MT.Append || m.type === MT.Heartbeat || m.type === MT.Snapshot;
      this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      return true;
    }
    if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MT.Append || m.type === MT.Heartbeat)) {
        // Tell a stale leader about the newer term so it steps down.
        this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term });
      } else if (m.type === MT.PreVote) {
        this.send({ type: MT.PreVoteResponse, from: this.id, to: m.from, term: this.term, reject: true });
      }
      return false;
    }
    return true;
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MT.Beat:
        this.replicator.broadcastHeartbeat(this.readQueue.currentRound());
        return;
      case MT.CheckQuorum:
        if (!this.#quorumActive()) this.becomeFollower(this.term, NONE);
        return;
      case MT.Propose:
        // Forwarded proposals that cannot be taken are dropped; the forwarder's client retries.
        try {
          this.propose((m.entries ?? []).map((e) => ({ type: e.type, data: e.data })));
        } catch {
          /* dropped */
        }
        return;
      case MT.ReadIndex:
        this.#handleReadIndex(m);
        return;
      case MT.TransferLeader:
        this.#handleTransferLeader(m.transferee ?? m.from);
        return;
    }
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MT.AppendResponse:
        pr.recentActive = true;
        this.replicator.handleAppendResponse(m, pr);
        return;
      case MT.HeartbeatResponse:
        pr.recentActive = true;
        this.replicator.handleHeartbeatResponse(m, pr);
        if (m.context !== undefined && m.context > 0) {
          for (const read of this.readQueue.ack(m.from, m.context, this.id, this.conf.voters)) this.#answerRead(read.index, read.context, read.from);
        }
        return;
      case MT.SnapshotResponse:
        pr.recentActive = true;
        this.replicator.handleSnapshotResponse(m, pr);
        return;
      case MT.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
    }
  }

  #stepCandidate(m: Message): void {
    const myResponse = this.role === Role.PreCandidate ? MT.PreVoteResponse : MT.VoteResponse;
    switch (m.type) {
      case MT.Propose:
        return; // dropped: no leader
      case MT.Append:
      case MT.Heartbeat:
      case MT.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        return;
      case myResponse: {
        const result = this.#poll(m.from, !m.reject);
        if (result === VoteResult.Won) {
          if (this.role === Role.PreCandidate) this.campaign('election');
          else {
            this.becomeLeader();
          }
        } else if (result === VoteResult.Lost) {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MT.Propose:
        if (this.lead !== NONE && !this.cfg.disableProposalForwarding) this.send({ ...m, from: this.id, to: this.lead, term: 0 });
        return;
      case MT.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppend(m);
        return;
      case MT.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
        this.send({ type: MT.HeartbeatResponse, from: this.id, to: m.from, term: this.term, context: m.context ?? 0 });
        return;
      case MT.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshotChunk(m);
        return;
      case MT.TransferLeader:
      case MT.ReadIndex:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MT.TimeoutNow:
        // Leadership transfer: campaign at once, skipping pre-vote and the voters' leases — unless a
        // committed membership change is still to be applied here (our view of the voters is stale).
        if (!this.#hasUnappliedConfChange()) this.campaign('transfer');
        return;
      case MT.ReadIndexResponse:
        this.readStates.push({ index: m.index ?? 0, context: m.context ?? 0 });
        return;
    }
  }

  // ───────────────────────────── follower handlers ─────────────────────────────

  #handleAppend(m: Message): void {
    const index = m.index ?? 0;
    if (index < this.log.committed) {
      this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, m.entries ?? []);
    if (lastNew !== undefined) {
      this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term, index: lastNew });
      return;
    }
    // Fast back-off: point the leader at the last index that could possibly match.
    const hintIndex = this.log.findConflictByTerm(Math.min(index, this.log.lastIndex()), m.logTerm ?? 0);
    this.send({
      type: MT.AppendResponse,
      from: this.id,
      to: m.from,
      term: this.term,
      index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.log.term(hintIndex) ?? 0,
    });
  }

  #handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot;
    if (!chunk) return;
    if (chunk.meta.index <= this.log.committed) {
      this.snapshotReceiver.reset();
      this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.committed });
      return;
    }
    const outcome = this.snapshotReceiver.receive(chunk);
    if (outcome.kind === 'progress') {
      this.send({ type: MT.SnapshotResponse, from: this.id, to: m.from, term: this.term, index: chunk.meta.index, offset: outcome.offset });
      return;
    }
    if (outcome.kind === 'corrupt') {
      this.send({ type: MT.SnapshotResponse, from: this.id, to: m.from, term: this.term, index: chunk.meta.index, offset: 0, reject: true });
      return;
    }
    const snap = outcome.snapshot;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already have the entries it covers: fast-forward the commit index and report a match at
      // the snapshot's index only — entries after it may still conflict with the leader's.
      this.log.commitTo(snap.meta.index);
      this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term, index: snap.meta.index });
      return;
    } else {
      this.log.restore(snap);
      this.conf = snap.meta.conf;
      this.#rebuildProgress();
    }
    this.send({ type: MT.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.lastIndex() });
  }

  // ───────────────────────────── leader: proposals, reads, transfers ─────────────────────────────

  /** Append proposals to the leader's log. Throws a typed error when they cannot be taken. */
  propose(items: ReadonlyArray<{ type: EntryType; data: Uint8Array }>): number {
    if (this.role !== Role.Leader) {
      if (this.lead !== NONE && !this.cfg.disableProposalForwarding) {
        const entries = items.map((it) => ({ term: 0, index: 0, type: it.type, data: it.data }));
        this.send({ type: MT.Propose, from: this.id, to: this.lead, term: 0, entries });
        return 0;
      }
      throw new ConclaveError(ErrorCode.NOT_LEADER, `node ${this.id} is not the leader`, { leader: this.lead });
    }
    if (this.leadTransferee !== NONE) {
      throw new ConclaveError(ErrorCode.LEADER_TRANSFERRING, `leadership is moving to ${this.leadTransferee}`, { leader: this.leadTransferee });
    }
    let bytes = 0;
    for (const it of items) {
      if (it.data.length > this.cfg.limits.entryBytesMax) {
        throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `entry of ${it.data.length} bytes exceeds entryBytesMax ${this.cfg.limits.entryBytesMax}`);
      }
      bytes += it.data.length;
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.limits.uncommittedEntriesBytesMax) {
      throw new ConclaveError(ErrorCode.PROPOSAL_BACKPRESSURE, `${this.uncommittedBytes} bytes already uncommitted`);
    }
    let index = this.log.lastIndex();
    const entries: Entry[] = [];
    for (const it of items) {
      index++;
      if (it.type === EntryType.ConfChange) this.#checkConfChange(decodeConfChange(it.data), index);
      entries.push({ term: this.term, index, type: it.type, data: it.data });
    }
    this.#appendEntries(entries);
    this.uncommittedBytes += bytes;
    this.appendPending = true;
    return index;
  }

  #checkConfChange(cc: ConfChange, index: number): void {
    if (this.pendingConfIndex > this.log.applied) {
      throw new ConclaveError(ErrorCode.BAD_MEMBERSHIP_CHANGE, `a membership change at index ${this.pendingConfIndex} is not applied yet`);
    }
    const problem = confChangeProblem(this.conf, cc);
    if (problem !== undefined) throw new ConclaveError(ErrorCode.BAD_MEMBERSHIP_CHANGE, problem);
    this.pendingConfIndex = index;
  }

  #appendEntries(entries: Entry[]): void {
    this.log.append(entries);
  }

  /** Readable only once this leader has committed an entry of its own term (§6.4 step 1). */
  committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  #handleReadIndex(m: Message): void {
    const context = m.context ?? 0;
    const voters = this.conf.voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.#answerRead(this.log.committed, context, m.from);
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadRequests.length < this.cfg.limits.pendingReadsMax) this.pendingReadRequests.push(m);
      return;
    }
    if (this.cfg.mutations.has('read-without-quorum')) {
      this.#answerRead(this.log.committed, context, m.from);
      return;
    }
    if (this.readQueue.size() >= this.cfg.limits.pendingReadsMax) return; // dropped; the caller times out
    this.readQueue.add(this.log.committed, context, m.from);
  }

  #answerRead(index: number, context: number, from: NodeId): void {
    if (from === this.id || from === NONE) this.readStates.push({ index, context });
    else this.send({ type: MT.ReadIndexResponse, from: this.id, to: from, term: this.term, index, context });
  }

  /** Called when the commit index moves: a leader's first commit in its term unblocks queued reads. */
  releasePendingReads(): void {
    if (this.pendingReadRequests.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const queued = this.pendingReadRequests;
    this.pendingReadRequests = [];
    for (const m of queued) this.#handleReadIndex(m);
  }

  #handleTransferLeader(transferee: NodeId): void {
    const pr = this.progress.get(transferee);
    if (!pr || pr.isLearner || transferee === this.id || transferee === this.leadTransferee) return;
    this.leadTransferee = transferee;
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.replicator.sendAppend(transferee, pr, true);
  }

  sendTimeoutNow(to: NodeId): void {
    this.send({ type: MT.TimeoutNow, from: this.id, to, term: this.term });
  }

  #quorumActive(): boolean {
    const active = committedIndex(this.conf.voters, (id) => (id === this.id || this.progress.get(id)?.recentActive ? 1 : 0));
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active === 1;
  }

  /** Advance the commit index to what a quorum has persisted, if it is of our term. */
  maybeCommit(): boolean {
    const quorumMatch = committedIndex(this.conf.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (quorumMatch <= this.log.committed) return false;
    // §5.4.2: only entries of the current term are committed by counting replicas.
    if (this.log.term(quorumMatch) !== this.term && !this.cfg.mutations.has('commit-old-term-by-count')) return false;
    const before = this.log.committed;
    this.log.commitTo(quorumMatch);
    // The committed entries no longer count against the uncommitted budget.
    if (this.uncommittedBytes > 0) {
      for (const e of this.log.slice(Math.max(before + 1, this.log.firstIndex()), quorumMatch + 1, Number.MAX_SAFE_INTEGER)) {
        this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.length);
      }
    }
    this.releasePendingReads();
    return true;
  }

  // ───────────────────────────── persistence & apply acknowledgements ─────────────────────────────

  /** The shell made entries up to (index, term) durable. */
  persistedTo(index: number, term: number): void {
    this.log.stableTo(index, term);
    if (this.role === Role.Leader) {
      const self = this.progress.get(this.id);
      if (self && self.maybeUpdate(this.log.stableIndex()) && this.maybeCommit()) this.appendPending = true;
    }
  }

  /** The shell applied committed entries up to `entries`' last; conf changes take effect now. */
  appliedEntries(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      this.appliedConf = applyToConfState(this.appliedConf, cc);
      // While a snapshot is being installed its membership is in force; older changes only catch
      // the applied view up to it.
      if (!this.log.unstable.snapshot) this.#confChanged(cc);
    }
    this.log.appliedTo((entries[entries.length - 1] as Entry).index);
  }

  /** The shell installed the snapshot it was handed: its membership is now the applied one. */
  appliedSnapshot(conf: ConfState): void {
    this.appliedConf = conf;
  }

  #confChanged(cc: ConfChange): void {
    this.conf = this.appliedConf;
    this.#rebuildProgress();
    if (cc.nodeId === this.id && cc.type === ConfChangeType.Remove) {
      this.removed = true;
      if (this.role === Role.Leader) this.becomeFollower(this.term, NONE);
      return;
    }
    // An id that was removed and later added back: a fresh replica of it replays the old removal
    // from the log before its re-addition; the latest change concerning this node decides.
    if (cc.nodeId === this.id) this.removed = false;
    if (this.role === Role.Leader) {
      if (this.leadTransferee !== NONE && !this.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
      // The quorum changed: something may have become committed; new members need the log.
      this.maybeCommit();
      this.appendPending = true;
    }
  }

  #rebuildProgress(): void {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    const next = this.log.lastIndex() + 1;
    for (const id of members) {
      const learner = this.conf.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr) pr.isLearner = learner;
      else {
        const fresh = new Progress(next, this.cfg.limits.inflightMessagesMax, learner);
        if (id === this.id) fresh.match = this.log.stableIndex();
        this.progress.set(id, fresh);
      }
    }
  }

  /** Flush batched work before a Ready is handed out: appends owed and a read-confirmation round. */
  flush(): void {
    if (this.role !== Role.Leader) return;
    if (this.readQueue.needsRound()) {
      for (const read of this.readQueue.releaseIfQuorumOfOne(this.id, this.conf.voters)) this.#answerRead(read.index, read.context, read.from);
      if (this.readQueue.needsRound()) this.replicator.broadcastHeartbeat(this.readQueue.startRound());
    }
    if (this.appendPending) {
      this.appendPending = false;
      this.replicator.broadcastAppend();
    }
  }

  hasFlushWork(): boolean {
    return this.role === Role.Leader && (this.appendPending || this.readQueue.needsRound());
  }
}
