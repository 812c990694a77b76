/**
 * Safety properties checked after every step of a simulation. Each check is incremental, so the
 * simulator can afford to run it constantly:
 *  - election safety: at most one leader per term;
 *  - log matching: entries with the same index and term have the same content and predecessor term;
 *  - leader completeness / state machine safety: a committed index never changes content, and a new
 *    leader holds every committed entry;
 *  - identical application: every replica applies the same entry at each index and reaches the same
 *    state digest;
 *  - monotonicity: a node's term never decreases (across restarts), its commit never decreases while up.
 */
import type { Entry, NodeId, Ready } from '../../src/raft/index.js';
import { Role } from '../../src/raft/index.js';
import { type SimNode, describeConf } from './sim-node.js';
import { fnv1a } from './state-machine.js';

export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

interface EntryRecord {
  readonly digest: number;
  readonly prevTerm: number | undefined;
}

export function entryDigest(e: Entry): number {
  return fnv1a(e.data, (e.term * 2654435761 + e.type) >>> 0);
}

export class InvariantChecker {
  readonly #leaders = new Map<number, NodeId>();
  readonly #entries = new Map<string, EntryRecord>();
  /**
   * Committed index → entry digest, the term of the node that first saw it committed, and how many
   * durable copies it must have (a majority of the committing leader's voters).
   */
  readonly #committed = new Map<number, { digest: number; term: number; copiesNeeded: number }>();
  #maxCommitted = 0;
  readonly #applied = new Map<number, { digest: number; state: number }>();
  readonly #lastTerm = new Map<NodeId, number>();
  readonly #lastCommit = new Map<NodeId, number>();
  #lastLeaderCheck = new Map<NodeId, number>();
  checks = 0;

  fail(message: string): never {
    throw new InvariantViolation(message);
  }

  /**
   * A node restarted from its disk. Its commit index may restart lower (it is persisted lazily), and
   * its term is what was durable: a term adopted but lost in a crash was never acted upon.
   */
  onRestart(id: NodeId, durableTerm: number): void {
    const lastTerm = this.#lastTerm.get(id);
    if (lastTerm !== undefined && durableTerm > lastTerm) this.fail(`node ${id}: restarted with term ${durableTerm}, above any term it had (${lastTerm})`);
    this.#lastTerm.set(id, durableTerm);
    this.#lastCommit.delete(id);
    this.#lastLeaderCheck.delete(id);
  }

  onPersist(node: SimNode, rd: Ready): void {
    const raft = node.node?.raft;
    if (!raft) return;
    for (const e of rd.entries) {
      const key = `${e.index}/${e.term}`;
      const prevTerm = e.index > 1 ? raft.log.term(e.index - 1) : 0;
      const digest = entryDigest(e);
      const seen = this.#entries.get(key);
      if (!seen) {
        this.#entries.set(key, { digest, prevTerm });
        continue;
      }
      if (seen.digest !== digest) this.fail(`log matching: node ${node.id} holds a different entry at ${key}`);
      if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
        this.fail(`log matching: node ${node.id} has term ${prevTerm} before ${key}, another node had ${seen.prevTerm}`);
      }
    }
  }

  onApplied(node: SimNode, e: Entry, stateDigest: number): void {
    const seen = this.#applied.get(e.index);
    const digest = entryDigest(e);
    if (!seen) {
      this.#applied.set(e.index, { digest, state: stateDigest });
      return;
    }
    if (seen.digest !== digest) this.fail(`state machine safety: node ${node.id} applied a different entry at index ${e.index}`);
    if (seen.state !== stateDigest) this.fail(`replica divergence: node ${node.id} reached a different state after index ${e.index}`);
  }

  afterStep(node: SimNode): void {
    const raft = node.node?.raft;
    if (!raft) return;
    this.checks++;
    const id = node.id;
    const coreConf = describeConf(node.node?.confState() ?? { voters: [], learners: [] });
    if (coreConf !== describeConf(node.confAtApplied)) {
      this.fail(`membership: node ${id} reports ${coreConf} at applied ${raft.log.applied}, but its applied log says ${describeConf(node.confAtApplied)}`);
    }
    // Term never decreases, even across a restart (it is part of the hard state).
    const lastTerm = this.#lastTerm.get(id) ?? 0;
    if (raft.term < lastTerm) this.fail(`node ${id}: term went back from ${lastTerm} to ${raft.term}`);
    this.#lastTerm.set(id, raft.term);
    const lastCommit = this.#lastCommit.get(id) ?? 0;
    if (raft.log.committed < lastCommit) this.fail(`node ${id}: commit went back from ${lastCommit} to ${raft.log.committed}`);
    // Record and compare what this node considers committed.
    for (let i = Math.max(lastCommit + 1, raft.log.firstIndex()); i <= raft.log.committed; i++) {
      const t = raft.log.term(i);
      if (t === undefined) continue;
      const entries = raft.log.slice(i, i + 1, Number.MAX_SAFE_INTEGER);
      const digest = entryDigest(entries[0] as Entry);
      const known = this.#committed.get(i);
      if (known === undefined) {
        // Membership takes effect when applied, so around a change a commit may have been decided
        // under the configuration one voter smaller: require a majority of that (exact for odd sizes).
        const voters = Math.max(1, raft.conf.voters.length - 1);
        this.#committed.set(i, { digest, term: raft.term, copiesNeeded: Math.floor(voters / 2) + 1 });
      }
      else if (known.digest !== digest) this.fail(`committed entry changed: node ${id} has a different entry at committed index ${i}`);
    }
    this.#maxCommitted = Math.max(this.#maxCommitted, raft.log.committed);
    this.#lastCommit.set(id, raft.log.committed);

    if (raft.role === Role.Leader) {
      const other = this.#leaders.get(raft.term);
      if (other !== undefined && other !== id) this.fail(`election safety: nodes ${other} and ${id} both lead term ${raft.term}`);
      this.#leaders.set(raft.term, id);
      if (this.#lastLeaderCheck.get(id) !== raft.term) {
        this.#lastLeaderCheck.set(id, raft.term);
        this.#checkLeaderCompleteness(node);
      }
    }
  }

  /**
   * A leader of term T must hold every entry committed in an earlier term. An entry's commit term is
   * approximated from above by the term of the first node seen to commit it, so this never flags a
   * stale leader of an old term (one that woke from a pause, say) for lacking newer entries.
   */
  #checkLeaderCompleteness(node: SimNode): void {
    const raft = node.node?.raft;
    if (!raft) return;
    let required = 0;
    for (let i = this.#maxCommitted; i > 0; i--) {
      const known = this.#committed.get(i);
      if (known === undefined) break;
      if (known.term < raft.term) {
        required = i;
        break;
      }
    }
    if (raft.log.lastIndex() < required) {
      this.fail(`leader completeness: node ${node.id} leads term ${raft.term} with last index ${raft.log.lastIndex()} < committed ${required}`);
    }
    for (let i = Math.max(raft.log.firstIndex(), required - 50); i <= required; i++) {
      const known = this.#committed.get(i);
      if (known === undefined || known.term >= raft.term || raft.log.term(i) === undefined) continue;
      const digest = entryDigest(raft.log.slice(i, i + 1, Number.MAX_SAFE_INTEGER)[0] as Entry);
      if (digest !== known.digest) this.fail(`leader completeness: node ${node.id} (term ${raft.term}) lacks committed entry ${i}`);
    }
  }

  /**
   * Committed entries are durable on a majority: after a crash (the only moment data can be lost),
   * every recent committed entry must still be on enough disks — in the log with the same content,
   * or covered by a snapshot. Removed members' disks count: durability is about copies, not votes.
   */
  checkDurability(nodes: Iterable<SimNode>, crashed: NodeId): void {
    const all = [...nodes];
    for (let i = Math.max(1, this.#maxCommitted - 200); i <= this.#maxCommitted; i++) {
      const known = this.#committed.get(i);
      if (!known) continue;
      let copies = 0;
      for (const n of all) {
        if (n.disk.snapshot().meta.index >= i) copies++;
        else if (i >= n.disk.firstIndex() && i <= n.disk.lastIndex()) {
          if (entryDigest(n.disk.entries(i, i + 1, Number.MAX_SAFE_INTEGER)[0] as Entry) === known.digest) copies++;
        }
      }
      if (copies < known.copiesNeeded) {
        this.fail(`durability: committed entry ${i} is on ${copies} disk(s) after node ${crashed} crashed; it needs ${known.copiesNeeded}`);
      }
    }
  }

  maxCommitted(): number {
    return this.#maxCommitted;
  }
}
