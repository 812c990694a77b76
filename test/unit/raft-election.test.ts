/**
 * Leader election, stated the way the Raft paper (§5.2, §5.4.1) and etcd (pre-vote, check-quorum,
 * leases) state it.
 */
import { describe, expect, it } from 'vitest';
import { EntryType, type Message, MessageType as MT, Role } from '../../src/raft/index.js';
import { Cluster, storageWith } from './raft-harness.js';

const ET = 10; // election ticks used throughout

/** Tick `id` alone until it leaves the follower role; returns the tick count. */
function ticksUntilCampaign(c: Cluster, id: number, max: number): number {
  for (let t = 1; t <= max; t++) {
    c.tick(id);
    if (c.role(id) !== Role.Follower) return t;
  }
  return -1;
}

function voteResponsesFrom(c: Cluster, id: number): Message[] {
  return c.messages({ type: MT.VoteResponse, from: id });
}

describe('§5.2 leader election', () => {
  it('a follower that hears from no leader campaigns after its election timeout, drawn at random from [electionTicks, 2·electionTicks)', () => {
    const observed = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const c = new Cluster({ size: 3, seed, electionTicks: ET });
      c.isolate(1);
      const t = ticksUntilCampaign(c, 1, 3 * ET);
      expect(t).toBeGreaterThanOrEqual(ET);
      expect(t).toBeLessThan(2 * ET);
      observed.add(t);
    }
    // Randomized: different seeds give different timeouts (so split votes resolve).
    expect(observed.size).toBeGreaterThan(2);
  });

  it('on timeout a follower becomes candidate: it increments its term, votes for itself and asks every peer for a vote', () => {
    const c = new Cluster({ size: 3, preVote: false });
    c.isolate(1);
    ticksUntilCampaign(c, 1, 2 * ET);
    const r = c.node(1).raft;
    expect(r.role).toBe(Role.Candidate);
    expect(r.term).toBe(2);
    expect(r.vote).toBe(1);
    const asks = c.messages({ type: MT.Vote, from: 1 });
    expect(asks.map((m) => m.to).sort()).toEqual([2, 3]);
    for (const m of asks) expect(m).toMatchObject({ term: 2, index: 3, logTerm: 1 });
    // Its vote for itself is durable before anything else happens.
    expect(c.storage(1).hardState()).toMatchObject({ term: 2, vote: 1 });
  });

  it('a candidate that wins votes from a majority becomes leader and appends an empty entry of its term', () => {
    const c = new Cluster({ size: 3, preVote: false });
    c.campaign(1);
    const r = c.node(1).raft;
    expect(r.role).toBe(Role.Leader);
    expect(r.term).toBe(2);
    const last = r.log.lastIndex();
    expect(last).toBe(4);
    expect(r.log.term(last)).toBe(2);
    const entry = c.applied(1).at(-1);
    expect(entry).toMatchObject({ index: 4, term: 2, type: EntryType.Normal });
    expect(entry?.data.length).toBe(0);
    // The others recognise it.
    expect(c.node(2).raft.lead).toBe(1);
    expect(c.node(3).raft.lead).toBe(1);
  });

  it('a candidate wins with a bare majority and not with less (5 nodes: 3 votes win, 2 do not)', () => {
    const win = new Cluster({ size: 5, preVote: false });
    win.isolate(4);
    win.isolate(5);
    win.campaign(1);
    expect(win.role(1)).toBe(Role.Leader);

    const lose = new Cluster({ size: 5, preVote: false });
    lose.isolate(3);
    lose.isolate(4);
    lose.isolate(5);
    lose.campaign(1);
    expect(lose.role(1)).toBe(Role.Candidate);
    expect(lose.leader()).toBeUndefined();
  });

  it('a candidate that hears from a leader of its own term recognises it and returns to follower', () => {
    const c = new Cluster({ size: 3, preVote: false, checkQuorum: false });
    c.isolate(3);
    c.campaign(3); // candidate in term 2, nobody hears it
    expect(c.role(3)).toBe(Role.Candidate);
    c.campaign(1); // 1 wins term 2 with 2's vote
    expect(c.role(1)).toBe(Role.Leader);
    expect(c.term(1)).toBe(c.term(3));
    c.heal();
    c.tick(1); // a heartbeat
    expect(c.role(3)).toBe(Role.Follower);
    expect(c.node(3).raft.lead).toBe(1);
  });

  it('a node grants at most one vote per term, first come first served (and repeats it to the same candidate)', () => {
    const c = new Cluster({ size: 3, preVote: false });
    const vote = (from: number): Message => ({ type: MT.Vote, from, to: 3, term: 2, index: 3, logTerm: 1 });

    c.node(3).step(vote(1));
    c.process(3);
    c.node(3).step(vote(2));
    c.process(3);
    c.node(3).step(vote(1)); // a retransmission
    c.process(3);

    const answers = voteResponsesFrom(c, 3).map((m) => `${m.to}:${m.reject ? 'no' : 'yes'}`);
    expect(answers).toEqual(['1:yes', '2:no', '1:yes']);
    expect(c.node(3).raft.vote).toBe(1);
    expect(c.storage(3).hardState()).toMatchObject({ term: 2, vote: 1 });
  });

  describe('§5.4.1 election restriction: a vote goes only to a candidate whose log is at least as up-to-date', () => {
    // The voter's log ends at term 2, index 5 (three bootstrap entries at term 1, then two at term 2).
    const cases: ReadonlyArray<[string, number, number, boolean]> = [
      ['an older last term loses even with a longer log', 1, 9, false],
      ['the same last term with a shorter log loses', 2, 4, false],
      ['the same last term and the same length wins', 2, 5, true],
      ['the same last term with a longer log wins', 2, 6, true],
      ['a newer last term wins even with a shorter log', 3, 4, true],
    ];
    it.each(cases)('%s (candidate log %i/%i)', (_name, logTerm, index, granted) => {
      const storages = new Map([[3, storageWith([1, 2, 3], [{ term: 2 }, { term: 2 }], { term: 2 })]]);
      const c = new Cluster({ size: 3, preVote: false, storages });
      c.node(3).step({ type: MT.Vote, from: 1, to: 3, term: 3, index, logTerm });
      c.process(3);
      const [answer, ...rest] = voteResponsesFrom(c, 3);
      expect(rest).toEqual([]);
      expect(answer?.reject ?? false).toBe(!granted);
      // Either way the voter moved to the candidate's term.
      expect(c.term(3)).toBe(3);
      expect(c.node(3).raft.vote).toBe(granted ? 1 : 0);
    });
  });

  it('a leader that sees a message with a higher term steps down and adopts the term (§5.1)', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(1);
    c.node(1).step({ type: MT.AppendResponse, from: 2, to: 1, term: t + 1 });
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.term(1)).toBe(t + 1);
    expect(c.node(1).raft.lead).toBe(0);
  });

  it('a stale leader cut off while the others elect a new one steps down when it hears from them again', () => {
    const c = new Cluster({ size: 3, preVote: false, checkQuorum: false });
    c.elect(1);
    c.isolate(1);
    c.elect(2);
    expect(c.role(1)).toBe(Role.Leader); // it does not know yet
    c.heal();
    c.tick(2);
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.term(1)).toBe(c.term(2));
    expect(c.node(1).raft.lead).toBe(2);
  });

  it('randomized timeouts resolve an election when every node starts at once: one leader, followed by all', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = new Cluster({ size: 5, seed });
      let ticks = 0;
      while (c.leader() === undefined && ticks < 5 * ET) {
        c.tickAll();
        ticks++;
      }
      const leader = c.leader();
      expect(leader).toBeDefined();
      const leaders = c.ids.filter((id) => c.role(id) === Role.Leader);
      expect(leaders).toEqual([leader]);
      c.tickAll(); // a heartbeat round
      for (const id of c.ids) expect(c.node(id).raft.lead).toBe(leader);
    }
  });

  it('a single-node cluster elects itself when its timer fires and commits on its own', () => {
    const c = new Cluster({ size: 1 });
    let ticks = 0;
    while (c.role(1) !== Role.Leader && ticks < 2 * ET) {
      c.tick(1);
      ticks++;
    }
    expect(c.role(1)).toBe(Role.Leader);
    expect(ticks).toBeLessThan(2 * ET);
    expect(c.messages().length).toBe(0); // nobody to ask
    const index = c.propose(1, 'solo');
    c.deliverAll();
    expect(c.node(1).raft.log.committed).toBe(index);
    expect(c.values(1)).toEqual(['solo']);
  });
});

describe('pre-vote (thesis §9.6)', () => {
  it('an isolated node that times out again and again does not raise its term', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(3);
    c.isolate(3);
    c.tick(3, 10 * ET);
    expect(c.term(3)).toBe(t);
    expect(c.storage(3).hardState().term).toBe(t);
    expect(c.role(3)).toBe(Role.PreCandidate);
    // It did try, more than once, each time for the term it would use.
    const tries = c.messages({ type: MT.PreVote, from: 3 });
    expect(tries.length).toBeGreaterThanOrEqual(2 * 5);
    for (const m of tries) expect(m.term).toBe(t + 1);
  });

  it('when the isolated node rejoins, the leader keeps its leadership and its term', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(1);
    c.isolate(3);
    c.tick(3, 10 * ET);
    c.heal();
    c.tickAll(3 * ET);
    expect(c.leader()).toBe(1);
    expect(c.term(1)).toBe(t);
    expect(c.role(3)).toBe(Role.Follower);
    expect(c.node(3).raft.lead).toBe(1);
  });

  it('without pre-vote the isolated node inflates its term and disrupts the leader when it returns', () => {
    const c = new Cluster({ size: 3, preVote: false });
    c.elect(1);
    const t = c.term(1);
    c.isolate(3);
    c.tick(3, 10 * ET);
    expect(c.term(3)).toBeGreaterThan(t + 3);
    c.heal();
    c.tick(1); // the leader's heartbeat meets the inflated term
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.term(1)).toBe(c.term(3));
  });
});

describe('check-quorum and leader leases', () => {
  it('a leader that hears from no quorum for an election timeout steps down', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.isolate(1);
    // The first check counts the activity seen before the partition...
    c.tick(1, ET);
    expect(c.role(1)).toBe(Role.Leader);
    // ...the next one finds nobody.
    c.tick(1, ET);
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.node(1).raft.lead).toBe(0);
  });

  it('a leader that still hears from a quorum keeps leading, however long a minority is away', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.isolate(3);
    c.tick(1, 10 * ET);
    expect(c.role(1)).toBe(Role.Leader);
  });

  it('a follower that heard from its leader within the election timeout ignores a vote request with a higher term', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(2);
    const last = c.node(2).raft.log.lastIndex();
    for (const type of [MT.Vote, MT.PreVote]) {
      c.node(2).step({ type, from: 3, to: 2, term: t + 1, index: last, logTerm: t });
      c.process(2);
    }
    expect(c.term(2)).toBe(t);
    expect(c.node(2).raft.vote).toBe(1);
    expect(c.node(2).raft.lead).toBe(1);
    expect(c.messages({ from: 2, to: 3 })).toEqual([]); // not even a rejection
  });

  it('the lease expires: after an election timeout of silence the follower answers vote requests again', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(2);
    const last = c.node(2).raft.log.lastIndex();
    c.isolate(1);
    c.isolate(2);
    for (let i = 0; i < ET; i++) c.node(2).tick(); // silence, but not long enough to campaign itself
    expect(c.role(2)).toBe(Role.Follower);
    c.node(2).step({ type: MT.Vote, from: 3, to: 2, term: t + 1, index: last, logTerm: t });
    c.process(2);
    expect(c.term(2)).toBe(t + 1);
    expect(c.messages({ type: MT.VoteResponse, from: 2, to: 3 }).map((m) => m.reject ?? false)).toEqual([false]);
  });

  it('a forced vote request (leadership transfer) is honoured despite the lease', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const t = c.term(2);
    const last = c.node(2).raft.log.lastIndex();
    c.node(2).step({ type: MT.Vote, from: 3, to: 2, term: t + 1, index: last, logTerm: t, force: true });
    c.process(2);
    expect(c.term(2)).toBe(t + 1);
    expect(c.node(2).raft.vote).toBe(3);
    expect(c.messages({ type: MT.VoteResponse, from: 2, to: 3 }).map((m) => m.reject ?? false)).toEqual([false]);
  });
});
