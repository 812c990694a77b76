/**
 * One simulated replica: the real Raft core over a MemoryStorage that stands for its disk, a
 * disk model (writes complete after a seeded delay; a crash loses the write in progress or tears
 * it to a prefix), the state machine, and the client requests it is serving.
 *
 * This is the imperative shell of the simulator; it drives the core exactly as a server would:
 * ready → send → persist → send-after-persist → apply → advance.
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../../src/common/errors.js';
import type { Rng } from '../../src/common/rng.js';
import {
  type ConfState,
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  type NodeId,
  RawNode,
  type RaftMutation,
  type Ready,
  Role,
  applyToConfState,
  bootstrapEntries,
  decodeConfChange,
} from '../../src/raft/index.js';
import { type KvCommand, type KvOutcome, type KvValue, type SimApp, fnv1a } from './state-machine.js';

export function describeConf(conf: ConfState): string {
  return `voters=${conf.voters.join(',')} learners=${conf.learners.join(',')}`;
}

export type ShellMutation = 'ack-before-persist';

export interface SimNodeOptions {
  readonly id: NodeId;
  readonly rng: Rng;
  readonly electionTicks: number;
  readonly snapshotEvery: number;
  readonly snapshotKeepEntries: number;
  readonly snapshotChunkBytes: number;
  readonly diskDelayTicksMax: number;
  readonly appendBytesMax: number;
  /** This node's clock runs slow: it ticks once every `tickEvery` simulated ticks (clock drift). */
  readonly tickEvery: number;
  readonly raftMutations: ReadonlySet<RaftMutation>;
  /** A fresh application state machine (the simulator's register map, or the real znode tree). */
  readonly app: () => SimApp;
  readonly shellMutations: ReadonlySet<ShellMutation>;
}

/** Callbacks into the simulation: the network, invariant checks and client answers. */
export interface SimNodeHooks {
  send(m: Message): void;
  onPersist(node: SimNode, rd: Ready): void;
  /** `problem`: an application invariant the state broke after this entry. */
  onApplied(node: SimNode, entry: Entry, digest: number, problem: string | undefined): void;
  onWriteResult(node: SimNode, cmd: KvCommand, out: KvOutcome): void;
  onReadResult(node: SimNode, context: number, value: KvValue): void;
  onAfterStep(node: SimNode): void;
}

interface PendingWrite {
  readonly rd: Ready;
  readonly completesAt: number;
}

export class SimNode {
  readonly id: NodeId;
  readonly disk = new MemoryStorage();
  readonly #opts: SimNodeOptions;
  readonly #hooks: SimNodeHooks;
  node: RawNode | undefined;
  sm: SimApp;
  /** Writes this node proposed as leader: index → the command and the term it was proposed in. */
  readonly #proposed = new Map<number, { cmd: KvCommand; term: number }>();
  #write: PendingWrite | undefined;
  /** Reads waiting for the state machine to reach their index: context → {index, key}. */
  #reads = new Map<number, { index: number | undefined; key: string }>();
  crashes = 0;
  /** The membership as of the applied index, computed here independently of the core. */
  confAtApplied: ConfState = { voters: [], learners: [] };
  /** A process pause (GC, SIGSTOP): no ticks, no messages, no disk completions until then. */
  pausedUntil = 0;

  constructor(opts: SimNodeOptions, hooks: SimNodeHooks) {
    this.id = opts.id;
    this.#opts = opts;
    this.#hooks = hooks;
    this.sm = opts.app();
  }

  /** Found a new cluster: identical bootstrap entries on every founding member. */
  bootstrap(voters: readonly NodeId[]): void {
    const { entries, hardState } = bootstrapEntries(voters);
    this.disk.append(entries);
    this.disk.setHardState(hardState);
  }

  get alive(): boolean {
    return this.node !== undefined;
  }

  get role(): Role | undefined {
    return this.node?.raft.role;
  }

  start(): void {
    this.sm = this.#opts.app();
    this.sm.restore(this.disk.snapshot().data, this.disk.snapshot().meta.index);
    this.#proposed.clear();
    this.confAtApplied = this.disk.snapshot().meta.conf;
    this.node = new RawNode({
      id: this.id,
      storage: this.disk,
      rng: this.#opts.rng.fork(),
      electionTicks: this.#opts.electionTicks,
      heartbeatTicks: 1,
      preVote: true,
      checkQuorum: true,
      disableProposalForwarding: true,
      limits: { snapshotChunkBytesMax: this.#opts.snapshotChunkBytes, appendMessageBytesMax: this.#opts.appendBytesMax, inflightMessagesMax: 8 },
      mutations: this.#opts.raftMutations,
    });
    this.#write = undefined;
    this.#reads.clear();
  }

  /** Lose everything not durable: the write in progress is dropped or torn to a prefix. */
  crash(now: number): void {
    const w = this.#write;
    if (w && w.completesAt > now) this.#persistTorn(w.rd);
    else if (w) this.#persist(w.rd);
    this.node = undefined;
    this.#write = undefined;
    this.#reads.clear();
    this.crashes++;
  }

  stop(): void {
    this.node = undefined;
    this.#write = undefined;
    this.#reads.clear();
  }

  isPaused(now: number): boolean {
    return now < this.pausedUntil;
  }

  tick(now: number): void {
    if (!this.node || this.isPaused(now) || now % this.#opts.tickEvery !== 0) return;
    this.node.tick();
    this.#hooks.onAfterStep(this);
    this.process(now);
  }

  receive(now: number, m: Message): void {
    if (!this.node) return;
    this.node.step(m);
    this.#hooks.onAfterStep(this);
    this.process(now);
  }

  /** Propose a client write. Throws NOT_LEADER etc. */
  propose(now: number, cmd: KvCommand): void {
    if (!this.node || this.isPaused(now)) throw new ConclaveError(ErrorCode.UNAVAILABLE, `node ${this.id} is down`);
    const index = this.node.propose(this.sm.encodeWrite(cmd));
    this.#proposed.set(index, { cmd, term: this.node.raft.term });
    this.process(now);
  }

  /** Propose an application txn nobody waits for (the simulator's own background traffic). */
  proposeRaw(now: number, data: Uint8Array): void {
    if (!this.node || this.isPaused(now)) return;
    try {
      this.node.propose(data);
    } catch (err: unknown) {
      if (!isConclaveError(err)) throw err;
    }
    this.process(now);
  }

  /** Start a linearizable read of `key`; the answer comes through onReadResult. */
  read(now: number, context: number, key: string): void {
    if (!this.node || this.isPaused(now)) throw new ConclaveError(ErrorCode.UNAVAILABLE, `node ${this.id} is down`);
    this.node.readIndex(context);
    this.#reads.set(context, { index: undefined, key });
    this.process(now);
  }

  abandonRead(context: number): void {
    this.#reads.delete(context);
  }

  /** Drive Ready batches until the node has nothing to do or waits for its disk. */
  process(now: number): void {
    while (this.node && !this.#write && this.node.hasReady()) {
      const rd = this.node.ready();
      const ackEarly = this.#opts.shellMutations.has('ack-before-persist');
      for (const m of rd.messages) this.#hooks.send(m);
      if (ackEarly) for (const m of rd.messagesAfterPersist) this.#hooks.send(m);
      this.#hooks.onPersist(this, rd);
      const delay = rd.mustSync || rd.snapshot ? this.#opts.rng.int(0, this.#opts.diskDelayTicksMax) : 0;
      this.#write = { rd, completesAt: now + delay };
      if (delay === 0) this.#completeWrite(now);
    }
  }

  /** Called every tick: finish a disk write whose time has come. */
  pollDisk(now: number): void {
    if (this.isPaused(now)) return;
    if (this.#write && this.#write.completesAt <= now) this.#completeWrite(now);
  }

  #completeWrite(now: number): void {
    const w = this.#write;
    const node = this.node;
    if (!w || !node) return;
    const rd = w.rd;
    this.#persist(rd);
    if (!this.#opts.shellMutations.has('ack-before-persist')) for (const m of rd.messagesAfterPersist) this.#hooks.send(m);
    if (rd.snapshot) {
      this.sm.restore(rd.snapshot.data, rd.snapshot.meta.index);
      this.confAtApplied = rd.snapshot.meta.conf;
    }
    for (const e of rd.committedEntries) this.#apply(e);
    for (const rs of rd.readStates) {
      const pending = this.#reads.get(rs.context);
      if (pending) pending.index = rs.index;
    }
    node.advance();
    this.#write = undefined;
    this.#answerReads();
    this.#maybeSnapshot();
    this.#hooks.onAfterStep(this);
    this.process(now);
  }

  #persist(rd: Ready): void {
    if (rd.snapshot) this.disk.applySnapshot(rd.snapshot);
    this.disk.append(rd.entries);
    if (rd.hardState) this.disk.setHardState(rd.hardState);
  }

  /** A crash mid-write: the records [snapshot?, entries…, hard state] survive only up to a random prefix. */
  #persistTorn(rd: Ready): void {
    const records = (rd.snapshot ? 1 : 0) + rd.entries.length + (rd.hardState ? 1 : 0);
    let keep = this.#opts.rng.int(0, records);
    if (rd.snapshot) {
      if (keep === 0) return;
      this.disk.applySnapshot(rd.snapshot);
      keep--;
    }
    const entries = rd.entries.slice(0, keep);
    this.disk.append(entries);
    if (keep > rd.entries.length && rd.hardState) this.disk.setHardState(rd.hardState);
  }

  #apply(e: Entry): void {
    if (e.type === EntryType.Normal) {
      const out = this.sm.apply(e);
      const mine = this.#proposed.get(e.index);
      if (mine) {
        this.#proposed.delete(e.index);
        // Only our own entry answers our client; another leader's entry at that index means ours was lost.
        if (mine.term === e.term && out) this.#hooks.onWriteResult(this, mine.cmd, out);
      }
    } else {
      this.confAtApplied = applyToConfState(this.confAtApplied, decodeConfChange(e.data));
    }
    // Replicas must agree on the membership too, not just the data.
    this.#hooks.onApplied(this, e, (this.sm.digest(e.index) ^ fnv1a(new TextEncoder().encode(describeConf(this.confAtApplied)))) >>> 0, this.sm.check());
  }

  #answerReads(): void {
    const node = this.node;
    if (!node) return;
    const applied = node.raft.log.applied;
    for (const [context, r] of this.#reads) {
      if (r.index !== undefined && r.index <= applied) {
        this.#reads.delete(context);
        this.#hooks.onReadResult(this, context, this.sm.get(r.key));
      }
    }
  }

  #maybeSnapshot(): void {
    const node = this.node;
    if (!node) return;
    const applied = node.raft.log.applied;
    const snapIndex = this.disk.snapshot().meta.index;
    if (applied - snapIndex < this.#opts.snapshotEvery || applied > this.disk.lastIndex()) return;
    try {
      this.disk.createSnapshot(applied, node.confState(), this.sm.snapshot());
      this.disk.compact(Math.max(0, applied - this.#opts.snapshotKeepEntries));
    } catch (err: unknown) {
      if (!isConclaveError(err)) throw err;
    }
  }
}
