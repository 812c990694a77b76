/**
 * Log replication and commitment (§5.3, §5.4.2), the shell's persistence contract, proposal
 * admission errors and flow control.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { MemoryStorage, type Message, MessageType as MT, Role } from '../../src/raft/index.js';
import { Cluster, storageWith, committed, thrown } from './raft-harness.js';

const RESPONSES: ReadonlySet<number> = new Set([MT.AppendResponse, MT.VoteResponse, MT.PreVoteResponse, MT.HeartbeatResponse, MT.SnapshotResponse]);



/**
 * Node 1 led term 2 but was cut off and appended 50 entries nobody else got; meanwhile node 2 led
 * term 3 and committed 50 entries with node 3, and then node 3 took over in term 4 (so the leader
 * knows nothing about node 1's log and starts probing at its own last index).
 */
function divergedFollower(): Cluster {
  const c = new Cluster({ size: 3, preVote: false, checkQuorum: false });
  c.elect(1);
  c.isolate(1);
  for (let i = 0; i < 50; i++) c.propose(1, `stale-${i}`);
  c.deliverAll();
  c.elect(2);
  for (let i = 0; i < 50; i++) c.propose(2, `fresh-${i}`);
  c.deliverAll();
  c.elect(3);
  c.deliverAll();
  return c;
}

describe('§5.3 log replication', () => {
  it('an entry is committed once a majority has persisted it, and not while only a minority has', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const before = committed(c, 1);
    c.isolate(2);
    c.isolate(3);
    const index = c.propose(1, 'x');
    c.deliverAll();
    c.tick(1, 3);
    expect(committed(c, 1)).toBe(before); // only the leader has it
    c.heal();
    c.cut(1, 3); // 3 stays away: the leader and 2 are a majority
    c.tick(1, 2);
    expect(committed(c, 1)).toBe(index);
    expect(c.values(1)).toEqual(['x']);
  });

  it("the leader counts its own copy only once it has persisted it (after advance())", () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.tick(1); // everyone learns the commit of the empty entry
    const before = committed(c, 1);
    c.isolate(3);
    const index = c.propose(1, 'x');
    // Hold the leader's Ready: its appends go out, but its own write has not completed.
    const rd = c.node(1).ready();
    expect(rd.entries.map((e) => e.index)).toEqual([index]);
    for (const m of rd.messages) c.send(m);
    c.deliverAll();
    expect(c.node(2).raft.log.lastIndex()).toBe(index); // node 2 has persisted and acknowledged it
    expect(committed(c, 1)).toBe(before); // 1 of 3 persisted copies is not a majority
    c.persist(1, rd);
    c.finishReady(1, rd);
    c.deliverAll();
    expect(committed(c, 1)).toBe(index);
  });

  it('followers learn the commit index and apply the same entries in the same order', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    for (let i = 0; i < 10; i++) {
      // Proposals made on followers are forwarded to the leader.
      c.propose(1 + (i % 3), `v${i}`);
      c.deliverAll();
    }
    c.tick(1); // a heartbeat carries the latest commit index
    const expected = Array.from({ length: 10 }, (_, i) => `v${i}`);
    const leaderApplied = c.applied(1).map((e) => `${e.term}/${e.index}`);
    for (const id of c.ids) {
      expect(committed(c, id)).toBe(committed(c, 1));
      expect(c.values(id)).toEqual(expected);
      expect(c.applied(id).map((e) => `${e.term}/${e.index}`)).toEqual(leaderApplied);
    }
  });

  /*
   * Regression (found by this suite): node 3's probe was outstanding when the commit moved, so the
   * broadcast skipped it; its ack must bring it the new commit index at once (etcd does the same),
   * not leave it waiting for the next heartbeat.
   */
  it('a follower acknowledging after the commit moved is sent the new commit index at once, not at the next heartbeat', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    expect(committed(c, 1)).toBe(4);
    expect(committed(c, 2)).toBe(4);
    expect(committed(c, 3)).toBe(4);
  });

  it("a follower's conflicting uncommitted entries are overwritten by the leader's, and never applied", () => {
    const c = divergedFollower();
    expect(c.logTerms(1, 5).every((t) => t === 2)).toBe(true);
    expect(c.logTerms(1).length).toBe(54);
    c.heal();
    c.tick(3, 3);
    expect(c.logTerms(1)).toEqual(c.logTerms(3));
    expect(c.node(1).raft.log.lastIndex()).toBe(c.node(3).raft.log.lastIndex());
    expect(c.values(1)).toEqual(c.values(3));
    expect(c.values(1).filter((v) => v.startsWith('stale'))).toEqual([]);
    expect(c.storage(1).allEntries().map((e) => e.term)).toEqual(c.logTerms(3));
  });

  it('fast back-off: the leader skips a whole conflicting term per rejection instead of one entry', () => {
    const c = divergedFollower();
    const mark = c.sent.length;
    c.heal();
    c.tick(3, 3);
    const since = c.sent.slice(mark);
    const rejections = since.filter((m) => m.type === MT.AppendResponse && m.from === 1 && m.reject);
    expect(rejections.length).toBe(1); // 50 conflicting entries, one round trip to find the match
    const appends = since.filter((m) => m.type === MT.Append && m.to === 1);
    expect(appends.length).toBeLessThanOrEqual(3);
    expect(c.logTerms(1)).toEqual(c.logTerms(3));
  });

  it('a follower far behind a new leader is found after a single rejection (its hint is its last index)', () => {
    const c = new Cluster({ size: 3, preVote: false, checkQuorum: false });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 100; i++) c.propose(1, `v${i}`);
    c.deliverAll();
    c.elect(2); // a leader that has never heard from 3
    const mark = c.sent.length;
    c.heal();
    c.tick(2, 3);
    const since = c.sent.slice(mark);
    expect(since.filter((m) => m.type === MT.AppendResponse && m.from === 3 && m.reject).length).toBe(1);
    expect(c.values(3)).toEqual(c.values(2));
    expect(c.values(3).length).toBe(100);
  });
});

describe('§5.4.2 committing entries from previous terms (Figure 8)', () => {
  /**
   * Figure 8 with five bootstrap entries in front (indexes 1..5, term 1). Index 6 holds term 2 on
   * S1 and S2 (S1 led term 2) and term 3 on S5 (S5 led term 3). S4 and S5 are down while S1 is
   * re-elected in term 4 and replicates index 6 to S3; its own term-4 entry is held back in transit.
   */
  function figure8(mutate: boolean): Cluster {
    const voters = [1, 2, 3, 4, 5];
    const storages = new Map<number, MemoryStorage>([
      [1, storageWith(voters, [{ term: 2, data: 'S1@2' }], { term: 3 })],
      [2, storageWith(voters, [{ term: 2, data: 'S1@2' }], { term: 3 })],
      [3, storageWith(voters, [], { term: 3 })],
      [4, storageWith(voters, [], { term: 3 })],
      [5, storageWith(voters, [{ term: 3, data: 'S5@3' }], { term: 3, vote: 5 })],
    ]);
    const c = new Cluster({ size: 5, preVote: false, checkQuorum: false, storages, mutations: mutate ? new Set(['commit-old-term-by-count'] as const) : new Set() });
    c.isolate(4);
    c.isolate(5);
    // Appends carry S1's term-4 entries late: strip them in transit.
    c.intercept = (m: Message) => (m.type === MT.Append && m.entries ? { ...m, entries: m.entries.filter((e) => e.term !== 4) } : m);
    c.elect(1);
    expect(c.term(1)).toBe(4);
    return c;
  }

  it('a leader does not commit an entry of an older term even when a majority stores it', () => {
    const c = figure8(false);
    // Index 6 (term 2) is on S1, S2 and S3: a majority of five.
    for (const id of [1, 2, 3]) expect(c.node(id).raft.log.term(6)).toBe(2);
    expect(c.node(1).raft.progress.get(2)?.match).toBe(6);
    expect(c.node(1).raft.progress.get(3)?.match).toBe(6);
    c.tick(1, 3);
    expect(committed(c, 1)).toBe(5);
    expect(c.values(1)).toEqual([]);
  });

  it('(the same history with the commit-old-term-by-count mutation does commit it, which the test above would catch)', () => {
    const c = figure8(true);
    expect(committed(c, 1)).toBe(6);
  });

  it('…because S5 can still be elected and overwrite index 6 with its own term-3 entry', () => {
    const c = figure8(false);
    c.intercept = undefined;
    c.heal();
    c.isolate(1); // S1 crashes
    c.elect(5); // votes from S2, S3, S4: S5's last term (3) beats their 2 and 1
    c.tick(5, 3);
    for (const id of [2, 3, 4, 5]) {
      expect(c.node(id).raft.log.term(6)).toBe(3);
      expect(c.values(id)).toEqual(['S5@3']);
    }
  });

  it('once the leader commits an entry of its own term, the older entries before it are committed too, and S5 can no longer win', () => {
    const c = figure8(false);
    c.intercept = undefined; // the term-4 entry now gets through
    c.tick(1, 2);
    expect(committed(c, 1)).toBe(7);
    expect(c.values(1)).toEqual(['S1@2']);
    c.heal();
    c.isolate(1);
    expect(() => c.elect(5)).toThrow(/could not become leader/);
    expect(c.node(2).raft.log.term(6)).toBe(2);
  });
});

describe('the persistence contract', () => {
  it('messagesAfterPersist carries only responses (votes, acks), messages never does, and a granted vote ships with its durable vote', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.deliverAll();
    c.isolate(1);
    c.tickAll(4 * 10); // a new election among 2 and 3
    c.heal();
    c.tickAll(5);
    const leader = c.leader() ?? 0;
    c.propose(leader, 'after');
    c.deliverAll();

    const seen = new Set<number>();
    for (const { rd } of c.readies) {
      for (const m of rd.messages) {
        expect(RESPONSES.has(m.type), `${m.type} in messages`).toBe(false);
        seen.add(m.type);
      }
      for (const m of rd.messagesAfterPersist) {
        expect(RESPONSES.has(m.type), `${m.type} in messagesAfterPersist`).toBe(true);
        seen.add(m.type);
        if (m.type === MT.VoteResponse && !m.reject) {
          // The vote being answered is in this very Ready's hard state, to be synced first.
          expect(rd.hardState?.vote).toBe(m.to);
          expect(rd.mustSync).toBe(true);
        }
      }
    }
    for (const t of [MT.Append, MT.AppendResponse, MT.PreVote, MT.PreVoteResponse, MT.Vote, MT.VoteResponse, MT.Heartbeat, MT.HeartbeatResponse]) expect(seen.has(t)).toBe(true);
  });
});

describe('proposals', () => {
  it('a follower with proposal forwarding disabled refuses with NOT_LEADER and names the leader', () => {
    const c = new Cluster({ size: 3, disableProposalForwarding: true });
    const early = thrown(() => c.propose(2, 'x'));
    expect(isConclaveError(early, ErrorCode.NOT_LEADER) && early.details.leader).toBe(0); // no leader known yet
    c.elect(1);
    const err = thrown(() => c.propose(2, 'x'));
    expect(isConclaveError(err, ErrorCode.NOT_LEADER)).toBe(true);
    expect(isConclaveError(err) && err.details.leader).toBe(1);
    expect(c.messages({ type: MT.Propose })).toEqual([]);
  });

  it('an entry larger than entryBytesMax is refused with LIMIT_EXCEEDED; one of exactly that size is taken', () => {
    const c = new Cluster({ size: 3, limits: { entryBytesMax: 100 } });
    c.elect(1);
    const err = thrown(() => c.node(1).propose(new Uint8Array(101)));
    expect(isConclaveError(err, ErrorCode.LIMIT_EXCEEDED)).toBe(true);
    const last = c.node(1).raft.log.lastIndex();
    expect(c.node(1).propose(new Uint8Array(100))).toBe(last + 1);
  });

  it('proposals beyond uncommittedEntriesBytesMax get PROPOSAL_BACKPRESSURE until entries commit', () => {
    const c = new Cluster({ size: 3, limits: { entryBytesMax: 100, uncommittedEntriesBytesMax: 200 } });
    c.elect(1);
    c.isolate(2);
    c.isolate(3);
    c.node(1).propose(new Uint8Array(100));
    c.node(1).propose(new Uint8Array(100)); // exactly at the budget
    c.deliverAll();
    const err = thrown(() => c.node(1).propose(new Uint8Array(1)));
    expect(isConclaveError(err, ErrorCode.PROPOSAL_BACKPRESSURE)).toBe(true);
    c.heal();
    c.tick(1, 3);
    expect(committed(c, 1)).toBe(c.node(1).raft.log.lastIndex());
    c.node(1).propose(new Uint8Array(100)); // the budget was released by the commit
    c.node(1).propose(new Uint8Array(100));
    expect(isConclaveError(thrown(() => c.node(1).propose(new Uint8Array(1))), ErrorCode.PROPOSAL_BACKPRESSURE)).toBe(true);
  });

  it('in replicate state the leader keeps at most inflightMessagesMax appends outstanding to a silent follower', () => {
    const c = new Cluster({ size: 3, limits: { inflightMessagesMax: 2 } });
    c.elect(1);
    c.tick(1);
    const mark = c.sent.length;
    c.cut(1, 3);
    for (let i = 0; i < 6; i++) {
      c.propose(1, `v${i}`);
      c.deliverAll(); // one append per proposal, as long as the window allows
    }
    // Count appends that carry entries (empty ones only advance the commit index).
    const carrying = c.sent.slice(mark).filter((m) => m.type === MT.Append && (m.entries?.length ?? 0) > 0);
    expect(carrying.filter((m) => m.to === 2).length).toBe(6);
    expect(carrying.filter((m) => m.to === 3).length).toBe(2);
    expect(c.node(1).raft.progress.get(3)?.inflights.count()).toBe(2);
    c.heal();
    c.tick(1, 4);
    expect(c.values(3)).toEqual(c.values(1));
    expect(c.values(3).length).toBe(6);
  });

  it('an append carries at most appendMessageBytesMax bytes of entries, yet always at least one entry', () => {
    const c = new Cluster({ size: 3, limits: { appendMessageBytesMax: 60 } });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 4; i++) c.propose(1, 'x'.repeat(50)); // 74 bytes each with overhead
    c.deliverAll();
    c.heal();
    const mark = c.sent.length;
    c.tick(1, 4);
    const appends = c.sent.slice(mark).filter((m) => m.type === MT.Append && m.to === 3 && (m.entries?.length ?? 0) > 0);
    expect(appends.length).toBeGreaterThanOrEqual(4);
    for (const m of appends) expect(m.entries?.length).toBe(1);
    expect(c.values(3)).toEqual(c.values(1));
    expect(c.role(1)).toBe(Role.Leader);
  });
});
