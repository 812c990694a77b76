import { describe, expect, it } from 'vitest';
import { ConclaveError } from '../../src/common/errors.js';
import { SeededRng } from '../../src/common/rng.js';
import { type Message, MessageType as MT } from '../../src/raft/index.js';
import { decodeBatch, encodeBatch } from '../../src/transport/message-codec.js';

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);

const SAMPLES: Message[] = [
  { type: MT.Heartbeat, from: 1, to: 2, term: 3, commit: 0, context: 0 },
  { type: MT.AppendResponse, from: 2, to: 1, term: 3 },
  { type: MT.AppendResponse, from: 2, to: 1, term: 3, index: 0 },
  { type: MT.AppendResponse, from: 2, to: 1, term: 5, index: 7, reject: true, rejectHint: 4, logTerm: 3 },
  {
    type: MT.Append,
    from: 1,
    to: 3,
    term: 2 ** 40,
    index: 9,
    logTerm: 3,
    commit: 8,
    entries: [
      { term: 4, index: 10, type: 0, data: bytes(1, 2, 3) },
      { term: 4, index: 11, type: 1, data: bytes(1, 0, 0, 0, 4) },
      { term: 4, index: 12, type: 0, data: new Uint8Array(0) },
    ],
  },
  { type: MT.Vote, from: 2, to: 3, term: 6, index: 9, logTerm: 5, force: true },
  { type: MT.PreVoteResponse, from: 3, to: 2, term: 6, reject: false },
  {
    type: MT.Snapshot,
    from: 1,
    to: 3,
    term: 4,
    snapshot: { meta: { index: 20, term: 3, conf: { voters: [1, 2, 3], learners: [4] } }, offset: 64, totalBytes: 150, checksum: 0xdeadbeef, data: bytes(9, 8, 7) },
  },
  { type: MT.SnapshotResponse, from: 3, to: 1, term: 4, index: 20, offset: 128 },
  { type: MT.TransferLeader, from: 3, to: 1, term: 0, transferee: 3 },
  { type: MT.ReadIndexResponse, from: 1, to: 2, term: 4, index: 12, context: 2 ** 50 },
];

describe('peer message codec', () => {
  it('round-trips every kind of message exactly, keeping absent fields absent and zeros present', () => {
    expect(decodeBatch(encodeBatch(SAMPLES))).toEqual(SAMPLES);
  });

  it('round-trips one message at a time and an empty batch', () => {
    for (const m of SAMPLES) expect(decodeBatch(encodeBatch([m]))).toEqual([m]);
    expect(decodeBatch(encodeBatch([]))).toEqual([]);
  });

  it('rejects malformed bytes with a typed error', () => {
    const good = encodeBatch(SAMPLES);
    expect(() => decodeBatch(good.subarray(0, good.length - 3))).toThrow(ConclaveError);
    expect(() => decodeBatch(bytes(0x0a, 0x02, 0x08, 0x7f))).toThrow(/unknown message type/);
    expect(() => decodeBatch(bytes(0x0a, 0xff))).toThrow(ConclaveError);
  });

  it('never crashes on random bytes: it decodes or throws a ConclaveError', () => {
    const rng = new SeededRng(7);
    for (let i = 0; i < 2000; i++) {
      const junk = new Uint8Array(rng.int(0, 64)).map(() => rng.int(0, 255));
      try {
        decodeBatch(junk);
      } catch (err: unknown) {
        expect(err).toBeInstanceOf(ConclaveError);
      }
    }
  });
});
