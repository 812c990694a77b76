/**
 * A tiny deterministic in-memory network for unit tests of the Raft core.
 *
 * Nodes 1..N run the real `RawNode` over a `MemoryStorage` each, and the harness plays the shell:
 * send `messages`, persist (snapshot, entries, hard state), send `messagesAfterPersist`, apply,
 * advance. Messages travel through one FIFO queue; `deliverAll()` routes them until nothing moves.
 * Nothing here is asynchronous or random: the same test always sees the same history.
 *
 * The "state machine" is a list of strings (one per applied non-empty normal entry); a snapshot's
 * data is that list as JSON, so a follower that installs a snapshot can be compared with the leader.
 */
import type { RaftLimits } from '../../src/common/limits.js';
import { SeededRng } from '../../src/common/rng.js';
import {
  type Entry,
  EntryType,
  MemoryStorage,
  type Message,
  type MessageType,
  type NodeId,
  type RaftMutation,
  RawNode,
  type ReadState,
  type Ready,
  Role,
  type Snapshot,
  bootstrapEntries,
  describeMessage,
} from '../../src/raft/index.js';

export interface ClusterOptions {
  /** Founding voters 1..size, bootstrapped with `bootstrapEntries`. */
  readonly size: number;
  readonly seed?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  readonly disableProposalForwarding?: boolean;
  readonly limits?: Partial<RaftLimits>;
  readonly mutations?: ReadonlySet<RaftMutation>;
  /** Hand-built storages by id, used instead of the bootstrap (e.g. Figure 8 histories). */
  readonly storages?: ReadonlyMap<NodeId, MemoryStorage>;
}

/** Rewrites or drops (undefined) a message in transit. */
export type Interceptor = (m: Message) => Message | undefined;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(data: Uint8Array): string {
  return decoder.decode(data);
}

/** A storage holding the bootstrap of `voters` followed by `extra` entries, with the given hard state. */
export function storageWith(voters: readonly NodeId[], extra: ReadonlyArray<{ term: number; data?: string }>, hs: { term: number; vote?: NodeId }): MemoryStorage {
  const s = new MemoryStorage();
  const boot = bootstrapEntries(voters);
  s.append(boot.entries);
  let index = boot.entries.length;
  s.append(extra.map((e) => ({ term: e.term, index: ++index, type: EntryType.Normal, data: bytes(e.data ?? '') })));
  s.setHardState({ term: hs.term, vote: hs.vote ?? 0, commit: boot.entries.length });
  return s;
}

/** A node's commit index. */
export function committed(c: Cluster, id: number): number {
  return c.node(id).raft.log.committed;
}

/** The error `fn` throws (fails the test if it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err: unknown) {
    return err;
  }
  throw new Error('expected an error');
}

export class Cluster {
  readonly ids: NodeId[] = [];
  readonly #opts: ClusterOptions;
  readonly #nodes = new Map<NodeId, RawNode>();
  readonly #storages = new Map<NodeId, MemoryStorage>();
  /** Committed entries applied by each node, in order (since it started or last restarted). */
  readonly #applied = new Map<NodeId, Entry[]>();
  /** The state machine: payloads of applied normal entries (restored from snapshots). */
  readonly #values = new Map<NodeId, string[]>();
  readonly #readStates = new Map<NodeId, ReadState[]>();
  readonly #installed = new Map<NodeId, Snapshot[]>();
  readonly #cuts = new Set<string>();
  #queue: Message[] = [];
  #seedCounter = 0;

  /** Every message a node emitted, in order (whether or not it was delivered). */
  readonly sent: Message[] = [];
  /** Messages lost to cuts or to the interceptor. */
  readonly dropped: Message[] = [];
  /** Every Ready handed out, with its node. */
  readonly readies: Array<{ id: NodeId; rd: Ready }> = [];
  /** Applied to every message just before delivery; return undefined to drop it. */
  intercept: Interceptor | undefined;

  constructor(opts: ClusterOptions) {
    this.#opts = opts;
    const voters = Array.from({ length: opts.size }, (_, i) => i + 1);
    for (const id of voters) {
      let storage = opts.storages?.get(id);
      if (!storage) {
        storage = new MemoryStorage();
        const { entries, hardState } = bootstrapEntries(voters);
        storage.append(entries);
        storage.setHardState(hardState);
      }
      this.#start(id, storage);
    }
    // Apply the bootstrap conf changes so that every node knows the membership.
    this.deliverAll();
  }

  #start(id: NodeId, storage: MemoryStorage): void {
    const o = this.#opts;
    const node = new RawNode({
      id,
      storage,
      rng: new SeededRng((o.seed ?? 1) * 1000 + id * 17 + this.#seedCounter++),
      electionTicks: o.electionTicks ?? 10,
      heartbeatTicks: o.heartbeatTicks ?? 1,
      preVote: o.preVote ?? true,
      checkQuorum: o.checkQuorum ?? true,
      disableProposalForwarding: o.disableProposalForwarding ?? false,
      limits: o.limits ?? {},
      mutations: o.mutations ?? new Set(),
    });
    if (!this.ids.includes(id)) this.ids.push(id);
    this.ids.sort((a, b) => a - b);
    this.#nodes.set(id, node);
    this.#storages.set(id, storage);
    this.#applied.set(id, []);
    this.#values.set(id, restoreValues(storage.snapshot()));
    this.#readStates.set(id, this.#readStates.get(id) ?? []);
    this.#installed.set(id, this.#installed.get(id) ?? []);
  }

  /** Start a brand-new node with empty storage (to be added as a learner). */
  addNode(id: NodeId): RawNode {
    if (this.#nodes.has(id)) throw new Error(`node ${id} exists`);
    this.#start(id, new MemoryStorage());
    return this.node(id);
  }

  /** Replace `id` with a brand-new node of the same id and empty storage (a member whose disk was lost). */
  replaceWithEmpty(id: NodeId): RawNode {
    this.#queue = this.#queue.filter((m) => m.to !== id);
    this.#start(id, new MemoryStorage());
    return this.node(id);
  }

  /** Crash and restart `id` from what its storage holds (unstable state and the queue's messages to it are lost). */
  restart(id: NodeId): RawNode {
    this.#queue = this.#queue.filter((m) => m.to !== id);
    this.#start(id, this.storage(id));
    return this.node(id);
  }

  node(id: NodeId): RawNode {
    const n = this.#nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  storage(id: NodeId): MemoryStorage {
    const s = this.#storages.get(id);
    if (!s) throw new Error(`no node ${id}`);
    return s;
  }

  /** Entries this node applied (since its last start), in order. */
  applied(id: NodeId): Entry[] {
    return this.#applied.get(id) ?? [];
  }

  /** The state machine of `id`: payloads of every applied non-empty normal entry, snapshots included. */
  values(id: NodeId): string[] {
    return this.#values.get(id) ?? [];
  }

  readStates(id: NodeId): ReadState[] {
    return this.#readStates.get(id) ?? [];
  }

  installedSnapshots(id: NodeId): Snapshot[] {
    return this.#installed.get(id) ?? [];
  }

  role(id: NodeId): Role {
    return this.node(id).raft.role;
  }

  term(id: NodeId): number {
    return this.node(id).raft.term;
  }

  /** The leader with the highest term, if any. */
  leader(): NodeId | undefined {
    let best: NodeId | undefined;
    for (const id of this.ids) {
      if (this.role(id) === Role.Leader && (best === undefined || this.term(id) > this.term(best))) best = id;
    }
    return best;
  }

  /** Log entries [lo, last] of `id` as "term/index" pairs (storage plus unstable tail). */
  logTerms(id: NodeId, lo = 1): number[] {
    const log = this.node(id).raft.log;
    const out: number[] = [];
    for (let i = Math.max(lo, log.firstIndex()); i <= log.lastIndex(); i++) out.push(log.term(i) ?? -1);
    return out;
  }

  // ───────────────────────────── network ─────────────────────────────

  /** Drop every message from `from` to `to` (one direction). */
  cut(from: NodeId, to: NodeId): void {
    this.#cuts.add(`${from}>${to}`);
  }

  /** Cut `id` off from everyone, both directions. */
  isolate(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.cut(id, other);
      this.cut(other, id);
    }
  }

  /** Restore every link (the interceptor stays). */
  heal(): void {
    this.#cuts.clear();
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.#cuts.has(`${from}>${to}`);
  }

  /** Put a message on the wire as if `m.from` had sent it. */
  send(m: Message): void {
    this.sent.push(m);
    this.#queue.push(m);
  }

  /** Messages emitted so far, optionally filtered. */
  messages(filter: { type?: MessageType; from?: NodeId; to?: NodeId } = {}): Message[] {
    return this.sent.filter(
      (m) => (filter.type === undefined || m.type === filter.type) && (filter.from === undefined || m.from === filter.from) && (filter.to === undefined || m.to === filter.to),
    );
  }

  /** Run every node's ready loop and deliver messages until nothing is left to do. */
  deliverAll(maxDeliveries = 100_000): void {
    let delivered = 0;
    for (;;) {
      for (const id of this.ids) this.process(id);
      const m = this.#queue.shift();
      if (m === undefined) return;
      if (++delivered > maxDeliveries) throw new Error(`deliverAll: no quiescence after ${maxDeliveries} messages (last: ${describeMessage(m)})`);
      const target = this.#nodes.get(m.to);
      const routed = this.isCut(m.from, m.to) || !target ? undefined : this.intercept ? this.intercept(m) : m;
      if (!routed || !target) {
        this.dropped.push(m);
        continue;
      }
      target.step(routed);
      this.process(m.to);
    }
  }

  /** The shell loop for one node. */
  process(id: NodeId): void {
    const n = this.node(id);
    while (n.hasReady()) this.handleReady(id, n.ready());
  }

  /** Send, persist, send-after-persist, apply, advance: one Ready the way a server would. */
  handleReady(id: NodeId, rd: Ready): void {
    this.readies.push({ id, rd });
    for (const m of rd.messages) this.send(m);
    this.persist(id, rd);
    this.finishReady(id, rd);
  }

  /** The persisting half of a Ready (for tests that hold a Ready back). */
  persist(id: NodeId, rd: Ready): void {
    const storage = this.storage(id);
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      this.#installed.get(id)?.push(rd.snapshot);
      this.#values.set(id, restoreValues(rd.snapshot));
    }
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
  }

  /** After persisting: messagesAfterPersist, apply, read states, advance. */
  finishReady(id: NodeId, rd: Ready): void {
    for (const m of rd.messagesAfterPersist) this.send(m);
    const values = this.values(id);
    for (const e of rd.committedEntries) {
      this.applied(id).push(e);
      if (e.type === EntryType.Normal && e.data.length > 0) values.push(text(e.data));
    }
    this.readStates(id).push(...rd.readStates);
    this.node(id).advance();
  }

  // ───────────────────────────── time and actions ─────────────────────────────

  /** Tick `id` n times, delivering after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.deliverAll();
    }
  }

  /** Tick every node n times (one round = every node ticks once), delivering after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids) this.node(id).tick();
      this.deliverAll();
    }
  }

  /** `id` starts an election (pre-vote first if enabled); messages are delivered. */
  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.deliverAll();
  }

  /** Drive `id` to leadership by campaigning (a few times at most, as repeated timeouts would). */
  elect(id: NodeId): void {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.campaign(id);
      if (this.role(id) === Role.Leader) return;
    }
    throw new Error(`node ${id} could not become leader (role ${this.role(id)}, term ${this.term(id)})`);
  }

  /** Propose a string on `id` (not delivered); returns the entry's index on a leader. */
  propose(id: NodeId, value: string): number {
    return this.node(id).propose(bytes(value));
  }

  /** Snapshot `id`'s state machine at its applied index and compact its log there. */
  compact(id: NodeId, data?: Uint8Array): Snapshot {
    const n = this.node(id);
    const index = n.raft.log.applied;
    const snap = this.storage(id).createSnapshot(index, n.confState(), data ?? bytes(JSON.stringify(this.values(id))));
    this.storage(id).compact(index);
    return snap;
  }
}

function restoreValues(snap: Snapshot): string[] {
  if (snap.data.length === 0) return [];
  try {
    const parsed: unknown = JSON.parse(text(snap.data));
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}
