/**
 * Golden text for `describeReady` / `describeMessage`: the exact shell-visible history of a few fixed
 * scenarios. If the protocol or the format changes, these strings say precisely how.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfChangeType,
  EntryType,
  type Message,
  MessageType as MT,
  type Ready,
  Role,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  encodeConfChange,
} from '../../src/raft/index.js';
import { Cluster, bytes } from './raft-harness.js';

/** Every Ready handed out since `from`, as "=== node\n<describeReady>" blocks. */
function history(c: Cluster, from = 0): string {
  return c.readies
    .slice(from)
    .map(({ id, rd }) => `=== ${id}\n${describeReady(rd)}`)
    .join('\n');
}

describe('describeReady, scenario by scenario', () => {
  it('a single-node cluster: bootstrap, self-election, a write and a read', () => {
    const c = new Cluster({ size: 1 });
    expect(history(c)).toBe(['=== 1', 'apply: 1/1 conf'].join('\n'));

    let mark = c.readies.length;
    c.campaign(1);
    expect(history(c, mark)).toBe(
      [
        '=== 1',
        'soft: lead=1 leader',
        'hard: term=2 vote=1 commit=1',
        'persist: 2/2 empty',
        'sync',
        '=== 1',
        'hard: term=2 vote=1 commit=2',
        'apply: 2/2 empty',
      ].join('\n'),
    );

    mark = c.readies.length;
    c.propose(1, 'hello');
    c.node(1).readIndex(42); // the write is not committed yet: the read point is 2
    c.deliverAll();
    expect(history(c, mark)).toBe(
      [
        '=== 1',
        'persist: 2/3 5B',
        'read: ctx=42 index=2',
        'sync',
        '=== 1',
        'hard: term=2 vote=1 commit=3',
        'apply: 2/3 5B',
      ].join('\n'),
    );
  });

  it('a three-node election without pre-vote: votes after persist, the empty entry, the commit', () => {
    const c = new Cluster({ size: 3, preVote: false });
    const mark = c.readies.length;
    c.campaign(1);
    expect(history(c, mark)).toBe(
      [
        '=== 1',
        'soft: lead=0 candidate',
        'hard: term=2 vote=1 commit=3',
        'send: 1->2 Vote term=2 log=1/3',
        'send: 1->3 Vote term=2 log=1/3',
        'sync',
        '=== 2',
        'hard: term=2 vote=1 commit=3',
        'send after persist: 2->1 VoteResponse term=2',
        'sync',
        '=== 3',
        'hard: term=2 vote=1 commit=3',
        'send after persist: 3->1 VoteResponse term=2',
        'sync',
        '=== 1',
        'soft: lead=1 leader',
        'persist: 2/4 empty',
        'send: 1->2 Append term=2 log=1/3 commit=3 [2/4 empty]',
        'send: 1->3 Append term=2 log=1/3 commit=3 [2/4 empty]',
        'sync',
        '=== 2',
        'soft: lead=1 follower',
        'persist: 2/4 empty',
        'send after persist: 2->1 AppendResponse term=2 index=4',
        'sync',
        '=== 3',
        'soft: lead=1 follower',
        'persist: 2/4 empty',
        'send after persist: 3->1 AppendResponse term=2 index=4',
        'sync',
        '=== 1',
        'hard: term=2 vote=1 commit=4',
        'apply: 2/4 empty',
        'send: 1->2 Append term=2 log=2/4 commit=4',
        // Node 3's probe was outstanding during that broadcast: its ack brings it the commit at once.
        '=== 1',
        'send: 1->3 Append term=2 log=2/4 commit=4',
        '=== 2',
        'hard: term=2 vote=1 commit=4',
        'apply: 2/4 empty',
        'send after persist: 2->1 AppendResponse term=2 index=4',
        '=== 3',
        'hard: term=2 vote=1 commit=4',
        'apply: 2/4 empty',
        'send after persist: 3->1 AppendResponse term=2 index=4',
      ].join('\n'),
    );
  });

  it('the same election with pre-vote starts with a pre-campaign that changes no term', () => {
    const c = new Cluster({ size: 3 });
    const mark = c.readies.length;
    c.campaign(1);
    const lines = history(c, mark).split('\n');
    expect(lines.slice(0, 10)).toEqual([
      '=== 1',
      'soft: lead=0 pre-candidate',
      'send: 1->2 PreVote term=2 log=1/3',
      'send: 1->3 PreVote term=2 log=1/3',
      '=== 2',
      'send after persist: 2->1 PreVoteResponse term=2',
      '=== 3',
      'send after persist: 3->1 PreVoteResponse term=2',
      '=== 1',
      'soft: lead=0 candidate',
    ]);
  });

  it('every section of a Ready, in order', () => {
    const rd: Ready = {
      softState: { lead: 2, role: Role.Follower },
      hardState: { term: 5, vote: 2, commit: 19 },
      readStates: [{ index: 19, context: 8 }],
      entries: [{ term: 5, index: 21, type: EntryType.Normal, data: bytes('abcd') }],
      snapshot: { meta: { index: 20, term: 4, conf: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array(10) },
      committedEntries: [{ term: 4, index: 19, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 }) }],
      messages: [{ type: MT.ReadIndex, from: 3, to: 2, term: 0, context: 8 }],
      messagesAfterPersist: [{ type: MT.AppendResponse, from: 3, to: 2, term: 5, index: 21 }],
      mustSync: true,
    };
    expect(describeReady(rd)).toBe(
      [
        'soft: lead=2 follower',
        'hard: term=5 vote=2 commit=19',
        'persist: 5/21 4B',
        'snapshot: 4/20 voters=1,2,3',
        'apply: 4/19 conf',
        'send: 3->2 ReadIndex term=0 ctx=8',
        'send after persist: 3->2 AppendResponse term=5 index=21',
        'read: ctx=8 index=19',
        'sync',
      ].join('\n'),
    );
    const empty: Ready = { ...rd, softState: undefined, hardState: undefined, readStates: [], entries: [], snapshot: undefined, committedEntries: [], messages: [], messagesAfterPersist: [], mustSync: false };
    expect(describeReady(empty)).toBe('');
  });
});

describe('describeMessage and friends', () => {
  const meta = { index: 20, term: 3, conf: { voters: [1, 2, 3], learners: [] } };
  const cases: ReadonlyArray<[Message, string]> = [
    [{ type: MT.AppendResponse, from: 2, to: 1, term: 5, index: 7, reject: true, rejectHint: 4, logTerm: 3 }, '2->1 AppendResponse term=5 log=3/7 reject hint=4'],
    [
      {
        type: MT.Append,
        from: 1,
        to: 2,
        term: 4,
        index: 9,
        logTerm: 3,
        commit: 9,
        entries: [
          { term: 4, index: 10, type: EntryType.Normal, data: bytes('abc') },
          { term: 4, index: 11, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.Remove, nodeId: 3 }) },
          { term: 4, index: 12, type: EntryType.Normal, data: new Uint8Array(0) },
        ],
      },
      '1->2 Append term=4 log=3/9 commit=9 [4/10 3B, 4/11 conf, 4/12 empty]',
    ],
    [{ type: MT.Append, from: 1, to: 2, term: 4, index: 12, logTerm: 4, commit: 12, entries: [] }, '1->2 Append term=4 log=4/12 commit=12'],
    [
      { type: MT.Snapshot, from: 1, to: 3, term: 4, snapshot: { meta, offset: 64, totalBytes: 150, checksum: 123, data: new Uint8Array(64) } },
      '1->3 Snapshot term=4 snap=3/20 [64,+64) of 150',
    ],
    [{ type: MT.SnapshotResponse, from: 3, to: 1, term: 4, index: 20, offset: 128 }, '3->1 SnapshotResponse term=4 index=20 offset=128'],
    [{ type: MT.SnapshotResponse, from: 3, to: 1, term: 4, index: 20, offset: 0, reject: true }, '3->1 SnapshotResponse term=4 index=20 reject offset=0'],
    [{ type: MT.Vote, from: 2, to: 3, term: 6, index: 9, logTerm: 5, force: true }, '2->3 Vote term=6 log=5/9 force'],
    [{ type: MT.TransferLeader, from: 3, to: 1, term: 0, transferee: 3 }, '3->1 TransferLeader term=0 transferee=3'],
    [{ type: MT.Heartbeat, from: 1, to: 2, term: 4, commit: 9, context: 2 }, '1->2 Heartbeat term=4 commit=9 ctx=2'],
    [{ type: MT.Heartbeat, from: 1, to: 2, term: 4, commit: 3, context: 0 }, '1->2 Heartbeat term=4 commit=3'],
    [{ type: MT.ReadIndexResponse, from: 1, to: 2, term: 4, index: 12, context: 77 }, '1->2 ReadIndexResponse term=4 index=12 ctx=77'],
    [{ type: MT.TimeoutNow, from: 1, to: 2, term: 4 }, '1->2 TimeoutNow term=4'],
  ];
  it.each(cases.map(([m, expected]) => [expected, m] as const))('%s', (expected, m) => {
    expect(describeMessage(m)).toBe(expected);
  });

  it('describeEntry and describeHardState', () => {
    expect(describeEntry({ term: 2, index: 7, type: EntryType.Normal, data: bytes('hello') })).toBe('2/7 5B');
    expect(describeEntry({ term: 2, index: 8, type: EntryType.Normal, data: new Uint8Array(0) })).toBe('2/8 empty');
    expect(describeEntry({ term: 1, index: 1, type: EntryType.ConfChange, data: encodeConfChange({ type: ConfChangeType.AddVoter, nodeId: 1 }) })).toBe('1/1 conf');
    expect(describeHardState({ term: 3, vote: 0, commit: 12 })).toBe('term=3 vote=0 commit=12');
  });
});
