/**
 * Membership changes one server at a time (thesis §4.1, with etcd's learners) and leadership
 * transfer (thesis §3.10).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { type ConfChange, ConfChangeType, MessageType as MT, Role, bootstrapEntries, decodeConfChange, encodeConfChange } from '../../src/raft/index.js';
import { Cluster, committed, thrown } from './raft-harness.js';

const ET = 10;



function change(c: Cluster, leader: number, cc: ConfChange): void {
  c.node(leader).proposeConfChange(cc);
  c.deliverAll();
  c.tick(leader); // everyone learns the commit and applies it
}

/** A 3-voter cluster led by 1, with node 4 added as a learner and caught up. */
function withLearner(opts: { checkQuorum?: boolean } = {}): Cluster {
  const c = new Cluster({ size: 3, ...opts });
  c.elect(1);
  c.addNode(4);
  change(c, 1, { type: ConfChangeType.AddLearner, nodeId: 4 });
  c.tick(1, 2);
  return c;
}

describe('learners', () => {
  it('a learner receives the whole log and applies it, but is not counted towards commitment', () => {
    const c = withLearner();
    expect(c.node(1).confState()).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(c.node(4).confState()).toEqual({ voters: [1, 2, 3], learners: [4] });
    c.propose(1, 'a');
    c.deliverAll();
    c.tick(1);
    expect(c.values(4)).toEqual(['a']);

    c.isolate(2);
    c.isolate(3);
    const index = c.propose(1, 'b');
    c.deliverAll();
    c.tick(1, 3);
    expect(c.node(4).raft.log.lastIndex()).toBe(index); // the learner has it...
    expect(c.node(1).raft.progress.get(4)?.match).toBe(index);
    expect(committed(c, 1)).toBeLessThan(index); // ...but leader + learner are not a majority of three voters
  });

  it('a learner never campaigns, however long it hears nothing', () => {
    const c = withLearner();
    const t = c.term(4);
    c.isolate(4);
    c.tick(4, 20 * ET);
    c.campaign(4); // even when asked to
    expect(c.role(4)).toBe(Role.Follower);
    expect(c.term(4)).toBe(t);
    expect(c.messages({ from: 4 }).filter((m) => m.type === MT.PreVote || m.type === MT.Vote)).toEqual([]);
  });

  it('a node that does not know the membership yet (empty storage) never campaigns either', () => {
    const c = new Cluster({ size: 3 });
    c.addNode(4);
    c.tick(4, 5 * ET);
    c.campaign(4);
    expect(c.role(4)).toBe(Role.Follower);
    expect(c.messages({ from: 4 })).toEqual([]);
  });

  it('a promoted learner votes and counts: the quorum of four voters is three', () => {
    const c = withLearner({ checkQuorum: false });
    change(c, 1, { type: ConfChangeType.AddVoter, nodeId: 4 });
    for (const id of [1, 2, 3, 4]) expect(c.node(id).confState()).toEqual({ voters: [1, 2, 3, 4], learners: [] });

    // Leader and node 4 alone are two of four: no commit.
    c.isolate(2);
    c.isolate(3);
    const index = c.propose(1, 'x');
    c.deliverAll();
    c.tick(1, 2);
    expect(committed(c, 1)).toBeLessThan(index);
    // With node 2 back, 1 + 2 + 4 commit it.
    c.heal();
    c.isolate(3);
    c.tick(1, 2);
    expect(committed(c, 1)).toBe(index);

    // And node 4 can now be elected.
    c.heal();
    c.elect(4);
    expect(c.leader()).toBe(4);
  });
});

describe('adding and removing voters', () => {
  it('removing a voter shrinks the quorum', () => {
    const c = new Cluster({ size: 4 });
    c.elect(1);
    c.isolate(3);
    c.isolate(4);
    const stuck = c.propose(1, 'x');
    c.deliverAll();
    expect(committed(c, 1)).toBeLessThan(stuck); // 2 of 4
    c.heal();
    c.tick(1, 2);
    expect(committed(c, 1)).toBe(stuck);

    change(c, 1, { type: ConfChangeType.Remove, nodeId: 4 });
    expect(c.node(1).confState().voters).toEqual([1, 2, 3]);
    expect([...c.node(1).raft.progress.keys()].sort()).toEqual([1, 2, 3]);
    c.isolate(3);
    c.isolate(4);
    const index = c.propose(1, 'y');
    c.deliverAll();
    expect(committed(c, 1)).toBe(index); // 2 of 3
  });

  it('a second membership change while one is pending is refused with BAD_MEMBERSHIP_CHANGE', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 });
    const err = thrown(() => c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5 }));
    expect(isConclaveError(err, ErrorCode.BAD_MEMBERSHIP_CHANGE)).toBe(true);
    // Once the first one is applied, the next one is welcome.
    c.deliverAll();
    expect(c.node(1).confState().learners).toEqual([4]);
    c.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5 });
    c.deliverAll();
    expect(c.node(1).confState().learners).toEqual([4, 5]);
  });

  it.each<[string, ConfChange]>([
    ['promoting a node that is not a learner', { type: ConfChangeType.AddVoter, nodeId: 5 }],
    ['promoting a node that is already a voter', { type: ConfChangeType.AddVoter, nodeId: 2 }],
    ['adding a voter again as a learner', { type: ConfChangeType.AddLearner, nodeId: 2 }],
    ['removing a node that is not a member', { type: ConfChangeType.Remove, nodeId: 9 }],
    ['a node id of zero', { type: ConfChangeType.AddLearner, nodeId: 0 }],
  ])('%s is refused with BAD_MEMBERSHIP_CHANGE and leaves the log untouched', (_name, cc) => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const last = c.node(1).raft.log.lastIndex();
    expect(isConclaveError(thrown(() => c.node(1).proposeConfChange(cc)), ErrorCode.BAD_MEMBERSHIP_CHANGE)).toBe(true);
    expect(c.node(1).raft.log.lastIndex()).toBe(last);
  });

  it('the last voter cannot be removed', () => {
    const c = new Cluster({ size: 1 });
    c.elect(1);
    const err = thrown(() => c.node(1).proposeConfChange({ type: ConfChangeType.Remove, nodeId: 1 }));
    expect(isConclaveError(err, ErrorCode.BAD_MEMBERSHIP_CHANGE)).toBe(true);
  });

  it('a leader removed from the membership steps down once the removal is applied, and the others elect a new leader', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.node(1).proposeConfChange({ type: ConfChangeType.Remove, nodeId: 1 });
    c.deliverAll();
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.node(1).isRemoved()).toBe(true);
    // The removal was committed with the old membership, so the others apply it too.
    for (const id of [2, 3]) expect(c.node(id).confState().voters).toEqual([2, 3]);
    const mark = c.sent.length;
    c.tickAll(4 * ET);
    const leader = c.leader();
    expect(leader === 2 || leader === 3).toBe(true);
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.sent.slice(mark).filter((m) => m.from === 1 && (m.type === MT.PreVote || m.type === MT.Vote))).toEqual([]);
    const index = c.propose(leader ?? 0, 'without 1');
    c.deliverAll();
    expect(committed(c, leader ?? 0)).toBe(index);
  });
});

describe('re-adding a removed id', () => {
  it('a fresh replica of a removed id replays its old removal, then its re-addition, and is not left removed', () => {
    const c = withLearner();
    change(c, 1, { type: ConfChangeType.Remove, nodeId: 4 });
    expect(c.node(4).isRemoved()).toBe(true);
    c.propose(1, 'while 4 was out');
    c.deliverAll();
    // 4's disk is lost; it comes back empty under the same id and is added again.
    c.replaceWithEmpty(4);
    change(c, 1, { type: ConfChangeType.AddLearner, nodeId: 4 });
    c.tick(1, 2);
    c.deliverAll();
    c.tick(1);
    // Its log held Remove(4) before AddLearner(4): the latest decides.
    expect(c.node(4).isRemoved()).toBe(false);
    expect(c.node(4).confState()).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(c.values(4)).toContain('while 4 was out');
    change(c, 1, { type: ConfChangeType.AddVoter, nodeId: 4 });
    expect(c.node(4).confState().voters).toEqual([1, 2, 3, 4]);
    expect(c.node(4).isRemoved()).toBe(false);
  });
});

describe('leadership transfer', () => {
  it('the target becomes leader at a higher term at once, without waiting for an election timeout', () => {
    const c = new Cluster({ size: 3 }); // check-quorum leases on: only a forced campaign gets through
    c.elect(1);
    const t = c.term(1);
    c.node(1).transferLeadership(2);
    c.deliverAll(); // no ticks at all
    expect(c.leader()).toBe(2);
    expect(c.term(2)).toBe(t + 1);
    expect(c.role(1)).toBe(Role.Follower);
    expect(c.messages({ type: MT.TimeoutNow, from: 1, to: 2 }).length).toBe(1);
    for (const m of c.messages({ type: MT.Vote, from: 2 })) expect(m.force).toBe(true);
  });

  it('a follower can ask for the leadership itself (the request is forwarded to the leader)', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.node(3).transferLeadership(3);
    c.deliverAll();
    expect(c.leader()).toBe(3);
  });

  it('proposals during a transfer get LEADER_TRANSFERRING; a transfer that does not finish within an election timeout is abandoned', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.isolate(3);
    c.node(1).transferLeadership(3);
    c.deliverAll();
    const err = thrown(() => c.propose(1, 'x'));
    expect(isConclaveError(err, ErrorCode.LEADER_TRANSFERRING)).toBe(true);
    expect(isConclaveError(err) && err.details.leader).toBe(3);
    c.tick(1, ET);
    expect(c.role(1)).toBe(Role.Leader);
    expect(c.propose(1, 'x')).toBeGreaterThan(0);
  });

  it('transfer to a lagging follower first brings its log up to date, then hands over', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 5; i++) c.propose(1, `v${i}`);
    c.deliverAll();
    const last = c.node(1).raft.log.lastIndex();
    c.node(1).transferLeadership(3);
    c.deliverAll();
    expect(c.messages({ type: MT.TimeoutNow })).toEqual([]); // not while 3 lags
    c.heal();
    c.tick(1, 3);
    expect(c.leader()).toBe(3);
    // TimeoutNow went out only after 3 acknowledged the leader's last entry.
    const trace = c.sent;
    const timeoutAt = trace.findIndex((m) => m.type === MT.TimeoutNow);
    const caughtUpAt = trace.findIndex((m) => m.type === MT.AppendResponse && m.from === 3 && !m.reject && m.index === last);
    expect(caughtUpAt).toBeGreaterThanOrEqual(0);
    expect(caughtUpAt).toBeLessThan(timeoutAt);
    expect(c.values(3).slice(0, 5)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('transfer to a learner, to itself or to a stranger is ignored', () => {
    const c = withLearner();
    for (const target of [4, 1, 9]) {
      c.node(1).transferLeadership(target);
      c.deliverAll();
      expect(c.node(1).raft.leadTransferee).toBe(0);
      expect(c.propose(1, `after ${target}`)).toBeGreaterThan(0);
    }
    expect(c.leader()).toBe(1);
    expect(c.messages({ type: MT.TimeoutNow })).toEqual([]);
  });
});

describe('conf change encoding', () => {
  it('carries an opaque context through the log, and refuses a truncated entry', () => {
    const context = new TextEncoder().encode('peer=127.0.0.1:4194');
    const back = decodeConfChange(encodeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context }));
    expect(back.type).toBe(ConfChangeType.AddLearner);
    expect(back.nodeId).toBe(4);
    expect([...(back.context ?? [])]).toEqual([...context]);
    expect(decodeConfChange(encodeConfChange({ type: ConfChangeType.Remove, nodeId: 7 }))).toEqual({ type: ConfChangeType.Remove, nodeId: 7 });
    expect(() => decodeConfChange(new Uint8Array([1, 0, 0]))).toThrow(/malformed conf change/);
  });

  it('bootstrap entries carry each founding voter its own context', () => {
    const { entries } = bootstrapEntries([3, 1], (id) => new Uint8Array([id]));
    expect(entries.map((e) => [e.index, decodeConfChange(e.data).nodeId, [...(decodeConfChange(e.data).context ?? [])]])).toEqual([
      [1, 1, [1]],
      [2, 3, [3]],
    ]);
  });
});
