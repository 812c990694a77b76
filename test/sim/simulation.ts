/**
 * A whole cluster in one process, from one seed (model: TigerBeetle's VOPR). The seed chooses the
 * cluster size, fault rates and workload; the run has a fault phase (delays, drops, duplicates,
 * partitions, crashes that lose unsynced writes, membership changes, leadership transfers, constant
 * snapshots) and then a healed phase in which the cluster must make progress within a bound.
 * Invariants are checked after every step; the client history is checked for linearizability.
 */
import { ConclaveError } from '../../src/common/errors.js';
import { type Rng, SeededRng } from '../../src/common/rng.js';
import {
  ConfChangeType,
  type Entry,
  EntryType,
  type Message,
  type NodeId,
  type RaftMutation,
  Role,
  decodeConfChange,
  describeMessage,
} from '../../src/raft/index.js';
import { checkLinearizable } from '../model/linearizability.js';
import { InvariantChecker, InvariantViolation } from './invariants.js';
import { LockTruth } from './lock-checker.js';
import { LockTraffic } from './lock-traffic.js';
import { SimNetwork } from './network.js';
import { type ShellMutation, SimNode } from './sim-node.js';
import { KvStateMachine, fnv1a } from './state-machine.js';
import { WatchObserver, WatchTruth } from './watch-observer.js';
import { ZnodeApp } from './znode-app.js';
import { ZnodeTraffic } from './znode-traffic.js';
import { Workload } from './workload.js';

export interface SimOptions {
  readonly seed: number;
  readonly nodes?: 3 | 5;
  /** Ticks of the fault phase. */
  readonly steps?: number;
  readonly raftMutations?: readonly RaftMutation[];
  /** The application: the simulator's register map or the real znode tree (default: seed-chosen). */
  readonly app?: 'kv' | 'znode';
  readonly shellMutations?: readonly ShellMutation[];
  /** Keep every trace line (otherwise only the last ones, for failure reports). */
  readonly fullTrace?: boolean;
  /** Trace every message delivery too (very verbose). */
  readonly traceMessages?: boolean;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: string | undefined;
  readonly ticks: number;
  readonly nodes: number;
  readonly linearizability: string;
  readonly stats: Readonly<Record<string, number>>;
  readonly trace: readonly string[];
  /** A digest of the whole run: replaying a seed must reproduce it exactly. */
  readonly fingerprint: string;
}

const ELECTION_TICKS = 10;
const TRACE_TAIL = 80;
const LIVENESS_TICKS = 60 * ELECTION_TICKS;

interface Scenario {
  readonly nodes: 3 | 5;
  readonly steps: number;
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly delayTicksMax: number;
  readonly diskDelayTicksMax: number;
  readonly crashRate: number;
  readonly partitionRate: number;
  readonly membershipRate: number;
  readonly transferRate: number;
  readonly snapshotEvery: number;
  readonly snapshotKeepEntries: number;
  readonly snapshotChunkBytes: number;
  readonly appendBytesMax: number;
  /** Of the crashes, the share aimed at the current leader. */
  readonly leaderCrashBias: number;
  readonly pauseRate: number;
  /** Per node (by position): ticks once every N ticks. */
  readonly tickEvery: readonly number[];
  readonly clients: number;
  readonly keys: number;
  readonly app: 'kv' | 'znode';
}

function scenarioFrom(rng: Rng, opts: SimOptions): Scenario {
  // Chosen from the seed without drawing from `rng`, so the rest of a scenario is the same in both.
  const app = opts.app ?? ((Math.imul(opts.seed, 0x9e3779b1) >>> 16) & 1 ? 'znode' : 'kv');
  return {
    nodes: opts.nodes ?? (rng.chance(0.5) ? 3 : 5),
    steps: opts.steps ?? 800,
    dropRate: rng.pick([0, 0.01, 0.05, 0.1]),
    duplicateRate: rng.pick([0, 0.01, 0.05]),
    delayTicksMax: rng.int(1, 4),
    diskDelayTicksMax: rng.int(0, 3),
    crashRate: rng.pick([0, 0.003, 0.01, 0.02]),
    partitionRate: rng.pick([0, 0.005, 0.02]),
    membershipRate: rng.pick([0, 0, 0.01, 0.03]),
    transferRate: rng.pick([0, 0.003, 0.01]),
    snapshotEvery: rng.int(3, 40),
    snapshotKeepEntries: rng.int(0, 5),
    // One chunk is in flight at a time: the znode tree's larger snapshots need larger chunks to
    // finish within the healing bound.
    snapshotChunkBytes: app === 'kv' ? rng.pick([16, 64, 256]) : rng.pick([1024, 4096, 16384]),
    // 1 byte: one entry per append, so acknowledgements move one index at a time.
    appendBytesMax: rng.pick([1, 256, 1024, 4096]),
    leaderCrashBias: rng.pick([0.3, 0.7]),
    pauseRate: rng.pick([0, 0.003, 0.01]),
    tickEvery: Array.from({ length: 16 }, () => (rng.chance(0.15) ? rng.int(2, 3) : 1)),
    clients: rng.int(2, 5),
    keys: rng.int(1, 3),
    app,
  };
}

export class Simulation {
  readonly #seed: number;
  readonly #opts: SimOptions;
  readonly #rng: Rng;
  readonly #faultRng: Rng;
  readonly scenario: Scenario;
  readonly #net: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly #checker = new InvariantChecker();
  readonly #workload: Workload;
  readonly #znodeTraffic: ZnodeTraffic | undefined;
  readonly #watchTruth = new WatchTruth();
  readonly #watcher: WatchObserver | undefined;
  readonly #lockTruth = new LockTruth();
  readonly #lockTraffic: LockTraffic | undefined;
  #now = 0;
  #nextNodeId: NodeId;
  readonly #restartAt = new Map<NodeId, number>();
  #healAt = -1;
  readonly #removed = new Set<NodeId>();
  #trace: string[] = [];
  #traceCount = 0;
  #fingerprint = 0x811c9dc5;
  readonly #roles = new Map<NodeId, string>();
  readonly #stats = { crashes: 0, partitions: 0, confChanges: 0, transfers: 0, leaderChanges: 0, snapshotsSent: 0 };

  constructor(opts: SimOptions) {
    this.#seed = opts.seed;
    this.#opts = opts;
    this.#rng = new SeededRng(opts.seed);
    this.scenario = scenarioFrom(this.#rng, opts);
    const s = this.scenario;
    this.#faultRng = this.#rng.fork();
    this.#net = new SimNetwork(this.#rng.fork(), { dropRate: s.dropRate, duplicateRate: s.duplicateRate, delayTicksMax: s.delayTicksMax });
    this.#workload = new Workload(this.#rng.fork(), { clients: s.clients, keys: s.keys, opRate: 0.3, timeoutTicks: 6 * ELECTION_TICKS, cas: s.app === 'kv' });
    this.#znodeTraffic = s.app === 'znode' ? new ZnodeTraffic(this.#rng.fork()) : undefined;
    // Its own generator, derived from the seed: adding it left every other draw of old seeds as it was.
    this.#watcher = s.app === 'znode' ? new WatchObserver(new SeededRng(opts.seed ^ 0x77a7c4), this.#watchTruth) : undefined;
    this.#lockTraffic = s.app === 'znode' ? new LockTraffic(new SeededRng(opts.seed ^ 0x10c4ed)) : undefined;
    const voters: NodeId[] = [];
    for (let id = 1; id <= s.nodes; id++) voters.push(id);
    for (const id of voters) {
      const node = this.#makeNode(id);
      node.bootstrap(voters);
      node.start();
    }
    this.#nextNodeId = s.nodes + 1;
  }

  #makeNode(id: NodeId): SimNode {
    const s = this.scenario;
    const node = new SimNode(
      {
        id,
        rng: this.#rng.fork(),
        electionTicks: ELECTION_TICKS,
        snapshotEvery: s.snapshotEvery,
        snapshotKeepEntries: s.snapshotKeepEntries,
        snapshotChunkBytes: s.snapshotChunkBytes,
        diskDelayTicksMax: s.diskDelayTicksMax,
        appendBytesMax: s.appendBytesMax,
        tickEvery: s.tickEvery[(id - 1) % s.tickEvery.length] as number,
        raftMutations: new Set(this.#opts.raftMutations ?? []),
        app: s.app === 'znode' ? () => new ZnodeApp(this.#watchTruth, this.#lockTruth) : () => new KvStateMachine(),
        shellMutations: new Set(this.#opts.shellMutations ?? []),
      },
      {
        send: (m) => this.#send(m),
        onPersist: (n, rd) => this.#checker.onPersist(n, rd),
        onApplied: (n, e, digest, problem) => this.#onApplied(n, e, digest, problem),
        onWriteResult: (n, cmd, out) => this.#workload.onWriteResult(n, cmd, out),
        onReadResult: (n, ctx, value) => this.#workload.onReadResult(n, ctx, value),
        onAfterStep: (n) => this.#afterStep(n),
      },
    );
    this.nodes.set(id, node);
    return node;
  }

  #log(line: string): void {
    const text = `t=${this.#now} ${line}`;
    this.#fingerprint = fnv1a(new TextEncoder().encode(text), this.#fingerprint);
    this.#traceCount++;
    this.#trace.push(text);
    if (!this.#opts.fullTrace && this.#trace.length > TRACE_TAIL * 2) this.#trace = this.#trace.slice(-TRACE_TAIL);
  }

  #send(m: Message): void {
    if (m.type === 11 /* Snapshot */) this.#stats.snapshotsSent++;
    this.#net.send(this.#now, m);
  }

  #afterStep(node: SimNode): void {
    this.#checker.afterStep(node);
    const raft = node.node?.raft;
    if (!raft) return;
    const role = `${raft.role}@${raft.term}`;
    if (this.#roles.get(node.id) !== role) {
      this.#roles.set(node.id, role);
      if (raft.role === Role.Leader) this.#stats.leaderChanges++;
      this.#log(`node ${node.id} is ${raft.role} in term ${raft.term} (commit ${raft.log.committed}, last ${raft.log.lastIndex()})`);
    }
  }

  #onApplied(node: SimNode, e: Entry, digest: number, problem: string | undefined): void {
    this.#checker.onApplied(node, e, digest);
    if (problem) this.#checker.fail(`application invariant broken on node ${node.id} after index ${e.index}: ${problem}`);
    if (e.type !== EntryType.ConfChange) return;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.Remove && !this.#removed.has(cc.nodeId)) {
      // A removed member is shut down once the change is applied somewhere, as an operator would.
      this.#removed.add(cc.nodeId);
      this.#log(`node ${cc.nodeId} removed; stopping it`);
      this.nodes.get(cc.nodeId)?.stop();
      this.#restartAt.delete(cc.nodeId);
    }
  }

  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const r = n.node?.raft;
      if (r?.role === Role.Leader && (!best || r.term > (best.node?.raft.term ?? 0))) best = n;
    }
    return best;
  }

  /** One tick: deliver due messages, finish disk writes, tick every node, inject faults, run clients. */
  #tick(faults: boolean): void {
    this.#now++;
    // Clients first: a node that wakes from a pause may serve a request before it reads its peers' messages.
    this.#workload.tick(this.#now, this.nodes);
    for (const m of this.#net.due(this.#now)) {
      const to = this.nodes.get(m.to);
      if (to?.isPaused(this.#now)) {
        this.#net.defer(m, to.pausedUntil);
        continue;
      }
      if (this.#opts.traceMessages) this.#log(`deliver ${describeMessage(m)}`);
      to?.receive(this.#now, m);
    }
    for (const n of this.nodes.values()) n.pollDisk(this.#now);
    for (const n of this.nodes.values()) n.tick(this.#now);
    for (const [id, at] of this.#restartAt) {
      if (at <= this.#now) this.#restart(id);
    }
    if (this.#healAt >= 0 && this.#healAt <= this.#now) {
      this.#net.healAll();
      this.#healAt = -1;
      this.#log('network healed');
    }
    if (faults) this.#injectFaults();
    const leader = this.leader();
    if (this.#znodeTraffic && leader && !this.#workload.paused) this.#znodeTraffic.tick(this.#now, leader);
    if (this.#lockTraffic && leader && !this.#workload.paused) this.#lockTraffic.tick(this.#now, leader);
    this.#watcher?.tick(this.#now, this.nodes);
  }

  #restart(id: NodeId): void {
    this.#restartAt.delete(id);
    const node = this.nodes.get(id);
    if (!node || node.alive || this.#removed.has(id)) return;
    this.#checker.onRestart(id, node.disk.hardState().term);
    node.start();
    this.#log(`node ${id} restarted (disk: snapshot ${node.disk.snapshot().meta.index}, last ${node.disk.lastIndex()}, term ${node.disk.hardState().term})`);
    this.#afterStep(node);
  }

  #members(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => !this.#removed.has(id));
  }

  #injectFaults(): void {
    const rng = this.#faultRng;
    const s = this.scenario;
    if (rng.chance(s.crashRate)) {
      const alive = [...this.nodes.values()].filter((n) => n.alive);
      // Keep at least a bare quorum's worth of nodes running most of the time.
      if (alive.length > 0 && (alive.length > Math.floor(s.nodes / 2) + 1 || rng.chance(0.1))) {
        const victim = rng.chance(s.leaderCrashBias) ? (this.leader() ?? rng.pick(alive)) : rng.pick(alive);
        victim.crash(this.#now);
        this.#checker.checkDurability(this.nodes.values(), victim.id);
        this.#workload.onCrash(victim.id);
        this.#stats.crashes++;
        this.#restartAt.set(victim.id, this.#now + rng.int(5, 80));
        this.#log(`node ${victim.id} crashed`);
      }
    }
    if (rng.chance(s.pauseRate)) {
      const alive = [...this.nodes.values()].filter((n) => n.alive && !n.isPaused(this.#now));
      if (alive.length > 0) {
        const victim = rng.chance(0.5) ? (this.leader() ?? rng.pick(alive)) : rng.pick(alive);
        victim.pausedUntil = this.#now + rng.int(5, 8 * ELECTION_TICKS);
        this.#log(`node ${victim.id} paused until t=${victim.pausedUntil}`);
      }
    }
    if (this.#healAt < 0 && rng.chance(s.partitionRate)) this.#partition(rng);
    if (rng.chance(s.membershipRate)) this.#changeMembership(rng);
    if (rng.chance(s.transferRate)) {
      const leader = this.leader();
      const voters = leader?.node?.confState().voters.filter((id) => id !== leader.id) ?? [];
      if (leader?.node && voters.length > 0) {
        const to = rng.pick(voters);
        leader.node.transferLeadership(to);
        this.#stats.transfers++;
        this.#log(`transfer leadership ${leader.id} -> ${to}`);
        leader.process(this.#now);
      }
    }
  }

  #partition(rng: Rng): void {
    const members = this.#members();
    const shape = rng.int(0, 3);
    let description: string;
    if (shape === 0) {
      const victim = rng.pick(members);
      this.#net.partition([victim], members);
      description = `isolate ${victim}`;
    } else if (shape === 1) {
      const leader = this.leader()?.id ?? rng.pick(members);
      this.#net.partition([leader], members);
      description = `isolate leader ${leader}`;
    } else if (shape === 2) {
      const side = members.filter(() => rng.chance(0.5));
      this.#net.partition(side, members);
      description = `split [${side.join(',')}] | rest`;
    } else {
      const a = rng.pick(members);
      const b = rng.pick(members.filter((id) => id !== a));
      this.#net.cut(a, b);
      description = `one-way cut ${a} -> ${b}`;
    }
    this.#stats.partitions++;
    this.#healAt = this.#now + rng.int(10, 120);
    this.#log(`partition: ${description} until t=${this.#healAt}`);
  }

  #changeMembership(rng: Rng): void {
    const leader = this.leader();
    const raw = leader?.node;
    if (!leader || !raw) return;
    const conf = raw.confState();
    const s = this.scenario;
    try {
      if (conf.learners.length > 0) {
        const learner = conf.learners[0] as NodeId;
        raw.proposeConfChange({ type: ConfChangeType.AddVoter, nodeId: learner });
        this.#log(`propose promote ${learner}`);
      } else if (conf.voters.length > s.nodes) {
        const victim = rng.pick(conf.voters);
        raw.proposeConfChange({ type: ConfChangeType.Remove, nodeId: victim });
        this.#log(`propose remove ${victim}`);
      } else {
        const id = this.#nextNodeId++;
        raw.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: id });
        this.#makeNode(id).start();
        this.#log(`propose add learner ${id}`);
      }
      this.#stats.confChanges++;
      leader.process(this.#now);
    } catch (err: unknown) {
      if (!(err instanceof ConclaveError)) throw err;
    }
  }

  /** Faults stop: heal the network, restart everyone, and demand progress within a bound. */
  #heal(): void {
    this.#net.healAll();
    this.#healAt = -1;
    this.#net.faults = { dropRate: 0, duplicateRate: 0, delayTicksMax: 2 };
    for (const id of [...this.#restartAt.keys()]) this.#restart(id);
    for (const n of this.nodes.values()) n.pausedUntil = Math.min(n.pausedUntil, this.#now);
    this.#log('faults stop: network healed, all nodes up');
  }

  #converged(): boolean {
    const leader = this.leader();
    const raft = leader?.node?.raft;
    if (!raft || !raft.committedEntryInCurrentTerm()) return false;
    if (raft.log.committed !== raft.log.lastIndex()) return false;
    for (const id of [...raft.conf.voters, ...raft.conf.learners]) {
      const r = this.nodes.get(id)?.node?.raft;
      if (!r || r.log.applied !== raft.log.committed || r.lead !== raft.id) return false;
    }
    return true;
  }

  run(): SimResult {
    let violation: string | undefined;
    let linearizability = 'not checked';
    try {
      for (let i = 0; i < this.scenario.steps; i++) this.#tick(true);
      this.#heal();
      const deadline = this.#now + LIVENESS_TICKS;
      const okBefore = this.#workload.okCount;
      let live = false;
      while (this.#now < deadline) {
        this.#tick(false);
        // After some successful operations, let the clients drain so the cluster can converge.
        if (this.#workload.okCount - okBefore >= 3) this.#workload.paused = true;
        if (this.#workload.paused && this.#workload.outstanding() === 0 && this.#converged()) {
          live = true;
          break;
        }
      }
      if (!live) {
        const leader = this.leader();
        violation = `liveness: no convergence within ${LIVENESS_TICKS} ticks after faults stopped (leader ${leader?.id ?? 'none'}, ${this.#workload.okCount - okBefore} ops ok since)`;
      }
      const result = checkLinearizable(this.#workload.history.events(), { timeBudgetMs: 5_000 });
      linearizability = result.verdict;
      if (!violation && result.verdict === 'illegal') {
        violation = `linearizability: ${result.failure?.explanation ?? 'illegal history'}`;
      }
      const watchProblem = this.#watcher?.check();
      if (!violation && watchProblem) violation = `watches: ${watchProblem}`;
    } catch (err: unknown) {
      if (err instanceof InvariantViolation) violation = err.message;
      else if (err instanceof Error) violation = `crash: ${err.stack ?? err.message}`;
      else throw err;
    }
    if (violation) this.#log(`VIOLATION ${violation}`);
    return {
      seed: this.#seed,
      ok: violation === undefined,
      violation,
      ticks: this.#now,
      nodes: this.scenario.nodes,
      linearizability,
      stats: {
        ...this.#stats,
        checks: this.#checker.checks,
        ops: this.#workload.invoked,
        opsOk: this.#workload.okCount,
        messages: this.#net.delivered,
        dropped: this.#net.dropped,
        committed: this.#checker.maxCommitted(),
        ...(this.#watcher ? Object.fromEntries(Object.entries(this.#watcher.stats).map(([k, v]) => [`watch_${k}`, v])) : {}),
        ...(this.#lockTraffic
          ? Object.fromEntries([...Object.entries(this.#lockTraffic.stats), ...Object.entries(this.#lockTruth.stats)].map(([k, v]) => [`lock_${k}`, v]))
          : {}),
      },
      trace: this.#trace.slice(this.#opts.fullTrace ? 0 : -TRACE_TAIL),
      fingerprint: `${(this.#fingerprint >>> 0).toString(16).padStart(8, '0')}:${this.#traceCount}:${this.#checker.maxCommitted()}`,
    };
  }
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
