/**
 * Linearizable reads without writing to the log (Raft thesis §6.4): the leader records its commit
 * index, confirms with a heartbeat round that a quorum still follows it, then answers.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { type Message, MessageType as MT, Role } from '../../src/raft/index.js';
import { Cluster, committed } from './raft-harness.js';


function contexts(c: Cluster, id: number): number[] {
  return c.readStates(id).map((rs) => rs.context);
}

describe('§6.4 read index', () => {
  it('the leader answers a read only after a quorum has acknowledged a heartbeat round started after the request', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const index = committed(c, 1);
    // Followers hear the leader, but their answers are lost.
    c.cut(2, 1);
    c.cut(3, 1);
    c.node(1).readIndex(7);
    c.deliverAll();
    const round = c.messages({ type: MT.Heartbeat, from: 1 }).filter((m) => (m.context ?? 0) > 0);
    expect(round.map((m) => m.to).sort()).toEqual([2, 3]);
    expect(c.readStates(1)).toEqual([]);
    c.tick(1, 3);
    expect(c.readStates(1)).toEqual([]);
    // One follower's answer gets through: with the leader itself that is a quorum of three.
    c.heal();
    c.cut(3, 1);
    c.tick(1);
    expect(c.readStates(1)).toEqual([{ index, context: 7 }]);
  });

  it('an acknowledgement of a heartbeat sent before the read was requested does not confirm it', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.node(1).readIndex(1);
    c.deliverAll(); // round 1 completes
    expect(contexts(c, 1)).toEqual([1]);
    const held: Message[] = [];
    c.intercept = (m) => (m.type === MT.HeartbeatResponse ? (held.push(m), undefined) : m);
    c.tick(1); // a plain heartbeat; its answers (echoing round 1) are held back
    const stale = held.splice(0);
    expect(stale.map((m) => m.context)).toEqual([1, 1]);
    c.node(1).readIndex(2);
    c.deliverAll(); // round 2 goes out; its answers are held too
    const fresh = held.splice(0);
    expect(fresh.map((m) => m.context)).toEqual([2, 2]);
    c.intercept = undefined;
    for (const m of stale) c.send(m);
    c.deliverAll();
    expect(contexts(c, 1)).toEqual([1]); // the old answers vouch only for what came before them
    c.send(fresh[0] as Message);
    c.deliverAll();
    expect(contexts(c, 1)).toEqual([1, 2]);
  });

  it('each read gets its own state, and a read issued after a commit gets the newer index', () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    const first = committed(c, 1);
    c.node(1).readIndex(1);
    c.node(1).readIndex(2);
    c.deliverAll();
    const index = c.propose(1, 'x');
    c.deliverAll();
    expect(committed(c, 1)).toBe(index);
    c.node(1).readIndex(3);
    c.deliverAll();
    expect(c.readStates(1)).toEqual([
      { index: first, context: 1 },
      { index: first, context: 2 },
      { index, context: 3 },
    ]);
  });

  it.each([
    ['is never answered, even after the new leader takes over', false],
    ['(is answered under the read-without-quorum mutation, which this test catches)', true],
  ])('a read on a leader cut off from the others %s', (_name, mutate) => {
    const c = new Cluster({ size: 3, checkQuorum: false, mutations: mutate ? new Set(['read-without-quorum'] as const) : new Set() });
    c.elect(1);
    c.isolate(1);
    c.node(1).readIndex(9);
    c.deliverAll();
    c.tick(1, 30);
    expect(c.role(1)).toBe(Role.Leader); // it still believes it leads (no check-quorum here)
    c.elect(2);
    c.propose(2, 'newer');
    c.deliverAll();
    c.tick(1, 30);
    c.heal();
    c.tick(2, 3);
    expect(c.role(1)).toBe(Role.Follower);
    expect(contexts(c, 1).includes(9)).toBe(mutate);
  });

  it("a follower's read is forwarded to the leader and answered with the leader's commit index", () => {
    const c = new Cluster({ size: 3 });
    c.elect(1);
    c.propose(1, 'x');
    c.deliverAll();
    c.node(2).readIndex(5);
    c.deliverAll();
    expect(c.messages({ type: MT.ReadIndex, from: 2, to: 1 }).length).toBe(1);
    expect(c.messages({ type: MT.ReadIndexResponse, from: 1, to: 2 }).length).toBe(1);
    expect(c.readStates(2)).toEqual([{ index: committed(c, 1), context: 5 }]);
    expect(c.readStates(1)).toEqual([]);
  });

  it('a follower that knows no leader refuses a read with NOT_LEADER', () => {
    const c = new Cluster({ size: 3 });
    let err: unknown;
    try {
      c.node(2).readIndex(1);
    } catch (e: unknown) {
      err = e;
    }
    expect(isConclaveError(err, ErrorCode.NOT_LEADER)).toBe(true);
  });

  it('a new leader defers reads until it has committed an entry of its own term', () => {
    const c = new Cluster({ size: 3, checkQuorum: false });
    c.elect(1);
    c.propose(1, 'x');
    c.deliverAll();
    // The acks for node 2's first entries are lost, so its empty entry stays uncommitted.
    c.intercept = (m) => (m.type === MT.AppendResponse && m.to === 2 ? undefined : m);
    c.elect(2);
    const r = c.node(2).raft;
    const empty = r.log.lastIndex();
    expect(r.log.term(empty)).toBe(r.term);
    expect(r.log.committed).toBeLessThan(empty);
    c.node(2).readIndex(4);
    c.deliverAll();
    c.tick(2, 5); // heartbeat rounds are answered, yet the read waits
    expect(c.readStates(2)).toEqual([]);
    c.intercept = undefined;
    c.tick(2, 2);
    expect(r.log.committed).toBe(empty);
    expect(c.readStates(2)).toEqual([{ index: empty, context: 4 }]);
  });

  it('a single-node cluster answers a read at once, with no messages', () => {
    const c = new Cluster({ size: 1 });
    c.elect(1);
    const index = c.propose(1, 'x');
    c.deliverAll();
    const mark = c.sent.length;
    c.node(1).readIndex(3);
    c.deliverAll();
    expect(c.readStates(1)).toEqual([{ index, context: 3 }]);
    expect(c.sent.length).toBe(mark);
  });
});
