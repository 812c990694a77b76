/**
 * The imperative shell around the Raft core (model: etcd's raftNode.start()): real time becomes
 * ticks, Ready batches are persisted through `DiskStorage` (one write + one fdatasync), messages go
 * through a `PeerTransport`, committed entries are applied through the state machine's hooks, and
 * callers get promises for their proposals and linearizable read points.
 *
 * Order per Ready: send `messages` (the leader's appends go out while its own fsync runs) → persist
 * → send `messagesAfterPersist` (votes and acks vouch for durable state) → install a snapshot →
 * apply → answer reads → advance. A disk error is fatal: the replica stops rather than guess.
 */
import { randomInt } from 'node:crypto';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { SeededRng } from '../common/rng.js';
import {
  type ConfChange,
  EntryType,
  type Entry,
  type Message,
  type NodeId,
  RawNode,
  type Status,
  bootstrapEntries,
} from '../raft/index.js';
import type { DiskStorage } from '../storage/disk-storage.js';
import type { SnapshotFileInfo, SnapshotTableSpec, SnapshotWriter } from '../storage/sqlite-snapshot.js';
import type { PeerTransport } from '../transport/peer-transport.js';

export interface StateMachineHooks {
  /** Apply one committed entry (normal or membership), in order; the value goes to its proposer. */
  apply(entry: Entry): unknown;
  /** Load the state from a snapshot file (at start, and when a leader's snapshot is installed). */
  restore(file: SnapshotFileInfo | undefined): Promise<void>;
  /** How to write a snapshot of the applied state; without it, no snapshots are taken. */
  readonly snapshot?: {
    readonly stateMachine: string;
    readonly stateVersion: number;
    readonly tables: readonly SnapshotTableSpec[];
    /** Take one every this many applied entries at least. */
    readonly everyEntries: number;
    /**
     * The state's size in rows (about one entry each). A snapshot also waits for new entries worth
     * `SNAPSHOT_LOG_FRACTION` of it: a snapshot costs time in proportion to the state, so with a
     * fixed interval a large state would be snapshotted back to back (each member spent 70 % of
     * its time on it with 450k znodes and snapshots every 10,000 entries).
     */
    readonly stateRows?: () => number;
    /** Stream a point-in-time view of the applied state into the writer. */
    fill(writer: SnapshotWriter): Promise<void>;
  };
}

export interface RaftDriverOptions {
  readonly id: NodeId;
  readonly storage: DiskStorage;
  readonly transport: PeerTransport;
  readonly hooks: StateMachineHooks;
  /** The founding voters; used only when the storage is empty and this node is one of them. */
  readonly bootstrapVoters?: readonly NodeId[];
  /** The conf change context of each founding voter (the application's member record). */
  readonly bootstrapContext?: (id: NodeId) => Uint8Array;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Seed for election jitter (default: random). */
  readonly seed?: number;
  readonly onFatal?: (err: unknown) => void;
  /** Timings for metrics: a Ready's durable write, a snapshot. */
  readonly onPersisted?: (seconds: number) => void;
  readonly onSnapshot?: (seconds: number) => void;
  /** An entry applied (with how long the state machine took), or a proposal of ours that failed. */
  readonly onApplied?: (seconds: number) => void;
  readonly onProposalFailed?: () => void;
  readonly onRemoved?: () => void;
}

interface PendingProposal {
  readonly term: number;
  resolve(v: { index: number; result: unknown }): void;
  reject(err: unknown): void;
}

interface Waiter {
  readonly index: number;
  resolve(index: number): void;
}

export class RaftDriver {
  readonly id: NodeId;
  readonly node: RawNode;
  readonly #opts: RaftDriverOptions;
  readonly #pending = new Map<number, PendingProposal>();
  readonly #reads = new Map<number, { resolve(index: number): void; reject(err: unknown): void }>();
  #appliedWaiters: Waiter[] = [];
  #readContext = 0;
  #ticker: NodeJS.Timeout | undefined;
  /** Armed while the latest membership change concerning this replica removed it (see `#removedSeen`). */
  #removedTimer: NodeJS.Timeout | undefined;
  #draining = false;
  #stopped = false;
  /** The snapshot being written, if any; `stop()` waits for it so nothing writes after the owner closes. */
  #snapshot: Promise<void> | undefined;
  #lastSnapshotIndex: number;
  readonly stats = { readies: 0, applied: 0, snapshots: 0 };

  private constructor(opts: RaftDriverOptions, node: RawNode) {
    this.id = opts.id;
    this.#opts = opts;
    this.node = node;
    this.#lastSnapshotIndex = opts.storage.memory.snapshot().meta.index;
  }

  static async start(opts: RaftDriverOptions): Promise<RaftDriver> {
    const { storage } = opts;
    if (storage.isEmpty() && opts.bootstrapVoters?.includes(opts.id)) {
      const { entries, hardState } = bootstrapEntries(opts.bootstrapVoters, opts.bootstrapContext);
      await storage.bootstrap(entries, hardState);
    }
    await opts.hooks.restore(storage.snapshotFile());
    const node = new RawNode({
      id: opts.id,
      storage: storage.memory,
      rng: new SeededRng(opts.seed ?? randomInt(0x7fffffff)),
      electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: opts.heartbeatTicks ?? 1,
      // The API layer forwards writes itself, so a proposal here either lands in our log or fails.
      disableProposalForwarding: true,
    });
    const driver = new RaftDriver(opts, node);
    opts.transport.onMessage((m) => driver.#receive(m));
    opts.transport.onUnreachable((peer) => {
      driver.node.reportUnreachable(peer);
      driver.#kick();
    });
    driver.#ticker = setInterval(() => driver.#tick(), opts.tickMs ?? 100);
    driver.#ticker.unref();
    driver.#kick();
    return driver;
  }

  /** Propose `data`; resolves with its index and the state machine's result once applied here. */
  propose(data: Uint8Array): Promise<{ index: number; result: unknown }> {
    return this.#track(() => this.node.propose(data));
  }

  proposeConfChange(cc: ConfChange): Promise<{ index: number; result: unknown }> {
    return this.#track(() => this.node.proposeConfChange(cc));
  }

  #track(proposeFn: () => number): Promise<{ index: number; result: unknown }> {
    if (this.#stopped) return Promise.reject(stoppedError(this.id));
    let index: number;
    try {
      index = proposeFn();
    } catch (err: unknown) {
      this.#opts.onProposalFailed?.();
      return Promise.reject(err);
    }
    const term = this.node.raft.term;
    this.#kick();
    return new Promise((resolve, reject) => this.#pending.set(index, { term, resolve, reject }));
  }

  /**
   * A linearizable read point: resolves with an index once leadership was confirmed for this very
   * request and the state machine has applied up to it. Each call gets a fresh index.
   */
  readIndex(): Promise<number> {
    if (this.#stopped) return Promise.reject(stoppedError(this.id));
    const context = ++this.#readContext;
    try {
      this.node.readIndex(context);
    } catch (err: unknown) {
      return Promise.reject(err);
    }
    this.#kick();
    return new Promise((resolve, reject) => this.#reads.set(context, { resolve, reject }));
  }

  /** Resolves once the state machine has applied `index`. */
  waitApplied(index: number): Promise<number> {
    if (this.node.raft.log.applied >= index) return Promise.resolve(this.node.raft.log.applied);
    return new Promise((resolve) => this.#appliedWaiters.push({ index, resolve }));
  }

  transferLeadership(to: NodeId): void {
    this.node.transferLeadership(to);
    this.#kick();
  }

  status(): Status {
    return this.node.status();
  }

  pendingProposals(): number {
    return this.#pending.size;
  }

  /** Stop ticking and processing; pending callers get UNAVAILABLE. The storage stays open for the owner to close. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#ticker) clearInterval(this.#ticker);
    if (this.#removedTimer) clearTimeout(this.#removedTimer);
    const err = stoppedError(this.id);
    for (const p of this.#pending.values()) p.reject(err);
    for (const r of this.#reads.values()) r.reject(err);
    this.#pending.clear();
    this.#reads.clear();
    while (this.#draining) await new Promise((r) => setImmediate(r));
    await this.#snapshot;
  }

  #receive(m: Message): void {
    if (this.#stopped) return;
    this.node.step(m);
    this.#kick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.node.tick();
    this.#kick();
  }

  /** Schedule a drain of Ready batches (coalesced: many steps, one drain). */
  #kick(): void {
    if (this.#draining || this.#stopped) return;
    this.#draining = true;
    setImmediate(() => void this.#drain());
  }

  async #drain(): Promise<void> {
    try {
      while (!this.#stopped && this.node.hasReady()) {
        const rd = this.node.ready();
        this.stats.readies++;
        this.#opts.transport.send(rd.messages);
        const started = performance.now();
        const persisted = this.#opts.storage.persist(rd);
        // With no new entries or snapshot to write, every committed entry is already in our stable
        // log (and on a quorum's): apply it while the hard state is written, not after. That write
        // (a new commit index) is what every commit's second Ready carries, so this is on the
        // latency path of every write.
        // Not with a membership change: the core takes it up in advance(), and its proposer must
        // not see the old configuration in between.
        const applyNow = rd.entries.length === 0 && rd.snapshot === undefined && rd.committedEntries.every((e) => e.type === EntryType.Normal);
        if (applyNow) for (const e of rd.committedEntries) this.#apply(e);
        const installed = await persisted;
        if (rd.mustSync) this.#opts.onPersisted?.((performance.now() - started) / 1000);
        if (this.#stopped) return;
        this.#opts.transport.send(rd.messagesAfterPersist);
        if (rd.snapshot) {
          await this.#opts.hooks.restore(installed);
          this.#lastSnapshotIndex = rd.snapshot.meta.index;
        }
        if (!applyNow) for (const e of rd.committedEntries) this.#apply(e);
        for (const rs of rd.readStates) {
          const read = this.#reads.get(rs.context);
          if (!read) continue;
          this.#reads.delete(rs.context);
          void this.waitApplied(rs.index).then(read.resolve);
        }
        this.node.advance();
        this.#wakeAppliedWaiters();
        this.#maybeSnapshot();
        if (this.node.isRemoved()) this.#removedSeen();
      }
    } catch (err: unknown) {
      // Crash rather than corrupt: a replica that cannot persist must not go on acknowledging.
      await this.stop();
      this.#opts.onFatal?.(err);
    } finally {
      this.#draining = false;
    }
    if (!this.#stopped && this.node.hasReady()) this.#kick();
  }

  /**
   * Removed from the membership: stop, unless a later entry adds this id back. A fresh replica of
   * an id that was removed and added again replays the old removal first, and the leader goes on
   * sending it the rest; a removed member stops hearing from the leader. So the removal is final
   * once it still stands after two election timeouts in which nothing more was applied.
   */
  #removedSeen(): void {
    if (this.#removedTimer) return;
    const graceMs = 2 * (this.#opts.electionTicks ?? 10) * (this.#opts.tickMs ?? 100);
    let applied = this.node.status().applied;
    const check = (): void => {
      this.#removedTimer = undefined;
      if (this.#stopped || !this.node.isRemoved()) return;
      const now = this.node.status().applied;
      if (now === applied) {
        this.#opts.onRemoved?.();
        return;
      }
      applied = now;
      this.#removedTimer = setTimeout(check, graceMs);
    };
    this.#removedTimer = setTimeout(check, graceMs);
  }

  #apply(e: Entry): void {
    const started = performance.now();
    const result = this.#opts.hooks.apply(e);
    this.#opts.onApplied?.((performance.now() - started) / 1000);
    this.stats.applied++;
    const p = this.#pending.get(e.index);
    if (!p) return;
    this.#pending.delete(e.index);
    if (p.term === e.term) {
      p.resolve({ index: e.index, result });
      return;
    }
    // Another leader's entry took that index: ours was never committed.
    this.#opts.onProposalFailed?.();
    p.reject(new ConclaveError(ErrorCode.NOT_LEADER, `proposal at index ${e.index} was lost in a leader change`, { leader: this.node.raft.lead }));
  }

  #wakeAppliedWaiters(): void {
    if (this.#appliedWaiters.length === 0) return;
    const applied = this.node.raft.log.applied;
    const ready = this.#appliedWaiters.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.#appliedWaiters = this.#appliedWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.resolve(applied);
  }

  /**
   * A snapshot at the applied index now (for a backup), unless the latest one already covers it.
   * Resolves once it is durable.
   */
  async snapshotNow(): Promise<void> {
    while (this.#snapshot) await this.#snapshot;
    if (this.#stopped) throw stoppedError(this.id);
    this.#maybeSnapshot(true);
    await this.#snapshot;
  }

  #maybeSnapshot(force = false): void {
    const spec = this.#opts.hooks.snapshot;
    const applied = this.node.raft.log.applied;
    if (!spec || this.#snapshot || this.#stopped || applied === this.#lastSnapshotIndex) return;
    const since = applied - this.#lastSnapshotIndex;
    if (!force && (since < spec.everyEntries || since < (spec.stateRows?.() ?? 0) * SNAPSHOT_LOG_FRACTION)) return;
    const started = performance.now();
    const header = { index: applied, conf: this.node.confState(), stateMachine: spec.stateMachine, stateVersion: spec.stateVersion };
    this.#snapshot = this.#opts.storage
      .saveSnapshot(header, spec.tables, (w) => spec.fill(w))
      .then(
        () => {
          this.#lastSnapshotIndex = applied;
          this.stats.snapshots++;
          this.#opts.onSnapshot?.((performance.now() - started) / 1000);
        },
        (err: unknown) => {
          if (!this.#stopped) this.#opts.onFatal?.(err);
        },
      )
      .finally(() => {
        this.#snapshot = undefined;
      });
  }
}

/**
 * New entries, as a fraction of the state's rows, between snapshots: the snapshot work per entry
 * stays bounded (about 1 / this rows written per entry applied) while a restart replays at most
 * this fraction of the state from the log (Raft thesis §5.1 sizes the log against the snapshot).
 */
export const SNAPSHOT_LOG_FRACTION = 0.25;

function stoppedError(id: NodeId): ConclaveError {
  return new ConclaveError(ErrorCode.UNAVAILABLE, `replica ${id} is stopped`);
}
