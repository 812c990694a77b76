import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/common/rng.js';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { decodeTxn, encodeTxn } from '../../src/state/txn-codec.js';
import { requestIdOf, type Txn } from '../../src/state/txn.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

const samples: Txn[] = [
  { timeMs: 1_700_000_000_123, sessionId: 5, seq: 9, body: { type: 'create', path: '/a/b', data: bytes('hello'), kind: 'persistent', sequential: false, ttlMs: 0 } },
  { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'create', path: '/locks/', data: new Uint8Array(0), kind: 'ephemeral', sequential: true, ttlMs: 0 } },
  { timeMs: 2, sessionId: 3, seq: 1, body: { type: 'create', path: '/ttl', data: new Uint8Array([0, 255]), kind: 'ttl', sequential: false, ttlMs: 60_000 } },
  { timeMs: 3, sessionId: 3, seq: 2, body: { type: 'create', path: '/c', data: new Uint8Array(0), kind: 'container', sequential: false, ttlMs: 0 } },
  { timeMs: 4, sessionId: 3, seq: 3, body: { type: 'set', path: '/ünï\u{1F600}', data: bytes('x'), version: -1 } },
  { timeMs: 4, sessionId: 3, seq: 3, body: { type: 'set', path: '/a', data: bytes('x'), version: 2 ** 40 } },
  { timeMs: 5, sessionId: 2 ** 53 - 1, seq: 2 ** 53 - 1, body: { type: 'delete', path: '/a', version: 7 } },
  { timeMs: 6, sessionId: 1, seq: 0, body: { type: 'check', path: '/a', version: -1 } },
  { timeMs: 7, sessionId: 1, seq: 4, body: { type: 'multi', ops: [] } },
  {
    timeMs: 8,
    sessionId: 1,
    seq: 5,
    body: {
      type: 'multi',
      ops: [
        { type: 'create', path: '/m', data: bytes('1'), kind: 'persistent', sequential: true, ttlMs: 0 },
        { type: 'set', path: '/m', data: new Uint8Array(0), version: 0 },
        { type: 'check', path: '/m', version: -1 },
        { type: 'delete', path: '/m', version: 1 },
      ],
    },
  },
  { timeMs: 9, sessionId: 0, seq: 0, body: { type: 'createSession', sessionId: 77, timeoutMs: 30_000 } },
  { timeMs: 10, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 77 } },
  { timeMs: 0, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 0 } },
  { timeMs: 11, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 78, expired: true } },
  { timeMs: 12, sessionId: 3, seq: 6, body: { type: 'lockAcquire', name: 'job.7', kind: 'rwlock', mode: 'shared', permits: 0, wait: true, delayMs: 5000, value: bytes('host-a:4181') } },
  { timeMs: 13, sessionId: 3, seq: 0, body: { type: 'lockAcquire', name: 'pool', kind: 'semaphore', mode: 'exclusive', permits: 5, wait: false, delayMs: 0, value: new Uint8Array(0) } },
  { timeMs: 14, sessionId: 3, seq: 7, body: { type: 'lockRelease', name: 'job.7' } },
  { timeMs: 17, sessionId: 3, seq: 9, lowestUnansweredSeq: 4, body: { type: 'delete', path: '/a', version: -1 } },
  { timeMs: 18, sessionId: 3, seq: 10, lowestUnansweredSeq: 10, identity: 'app', body: { type: 'lockRelease', name: 'job.7' } },
  { timeMs: 15, sessionId: 3, seq: 0, body: { type: 'lockCancel', name: 'pool' } },
  { timeMs: 16, sessionId: 0, seq: 0, body: { type: 'lockWake', name: 'm' } },
];

function decodeError(b: Uint8Array): ConclaveError | undefined {
  try {
    decodeTxn(b);
    return undefined;
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err;
    throw err;
  }
}

describe('txn codec', () => {
  it.each(samples.map((t) => [t.body.type, t] as const))('round-trips %s', (_, txn) => {
    expect(decodeTxn(encodeTxn(txn))).toEqual(txn);
  });

  it('leaves lowestUnansweredSeq out when it is 0 or absent, so older txns encode as they did', () => {
    const base: Txn = { timeMs: 1, sessionId: 3, seq: 2, body: { type: 'delete', path: '/a', version: -1 } };
    expect(encodeTxn({ ...base, lowestUnansweredSeq: 0 })).toEqual(encodeTxn(base));
    expect(decodeTxn(encodeTxn({ ...base, lowestUnansweredSeq: 0 }))).toEqual(base);
    expect(encodeTxn({ ...base, lowestUnansweredSeq: 1 }).length).toBeGreaterThan(encodeTxn(base).length);
  });

  it('fills in proto3 defaults for omitted create fields', () => {
    const t = decodeTxn(encodeTxn({ timeMs: 1, sessionId: 0, seq: 0, body: { type: 'create', path: '/x', data: new Uint8Array(0), kind: 'persistent' } }));
    expect(t.body).toEqual({ type: 'create', path: '/x', data: new Uint8Array(0), kind: 'persistent', sequential: false, ttlMs: 0 });
  });

  it('encodes compactly: a close-session txn is a handful of bytes', () => {
    expect(encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1 } })).toEqual(new Uint8Array([0x82, 0x01, 2, 0x08, 1]));
    expect(encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1, expired: false } })).toEqual(new Uint8Array([0x82, 0x01, 2, 0x08, 1]));
    expect(encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1, expired: true } })).toEqual(new Uint8Array([0x82, 0x01, 4, 0x08, 1, 0x10, 1]));
  });

  it('fills in proto3 defaults for omitted lock acquire fields (a blocking-free, exclusive, delay-free TryAcquire)', () => {
    const t = decodeTxn(encodeTxn({ timeMs: 1, sessionId: 2, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'mutex' } }));
    expect(t.body).toEqual({ type: 'lockAcquire', name: 'm', kind: 'mutex', mode: 'exclusive', permits: 0, wait: false, delayMs: 0, value: new Uint8Array(0) });
  });

  it('refuses to encode what the schema cannot hold', () => {
    const bad: unknown[] = [
      { timeMs: -1, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1 } },
      { timeMs: 1.5, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: 1 } },
      { timeMs: 1, sessionId: 0, seq: 0 },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'rename' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'set', path: '/a\ud800', data: new Uint8Array(0), version: 0 } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'delete', path: '/a', version: -2 } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'create', path: '/a', data: new Uint8Array(0), kind: 'weird' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'create', path: '/a', data: 'text', kind: 'persistent' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'multi', ops: [{ type: 'multi', ops: [] }] } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'spinlock' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'rwlock', mode: 'upgradable' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'semaphore', permits: -1 } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'mutex', delayMs: 0.5 } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockAcquire', name: 'm', kind: 'mutex', value: 'text' } },
      { timeMs: 1, sessionId: 0, seq: 0, body: { type: 'lockRelease', name: 7 } },
    ];
    for (const t of bad) {
      expect(() => encodeTxn(t as Txn), JSON.stringify(t)).toThrow(ConclaveError);
    }
  });

  it('rejects malformed bytes with INVALID_ARGUMENT', () => {
    const cases: Array<[string, number[]]> = [
      ['empty: no body', []],
      ['truncated varint', [0x08, 0x80]],
      ['body with wrong wire type', [0x80, 0x01, 0x05]],
      ['truncated body', [0x82, 0x01, 0x05, 0x08]],
      ['unknown node kind', [0x52, 0x02, 0x18, 0x09]],
      ['invalid UTF-8 path', [0x52, 0x03, 0x0a, 0x01, 0xff]],
      ['empty multi op', [0x72, 0x02, 0x0a, 0x00]],
      ['group wire type', [0x0b]],
      ['varint beyond 2^53', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
      ['unknown lock kind', [0x8a, 0x01, 0x02, 0x10, 0x09]],
      ['unknown lock mode', [0x8a, 0x01, 0x02, 0x18, 0x05]],
      ['lock name with the wrong wire type', [0x92, 0x01, 0x02, 0x08, 0x01]],
      ['lock name not UTF-8', [0xa2, 0x01, 0x03, 0x0a, 0x01, 0xc0]],
    ];
    for (const [what, b] of cases) {
      const err = decodeError(new Uint8Array(b));
      expect(err?.code, what).toBe(ErrorCode.INVALID_ARGUMENT);
    }
  });

  it('skips unknown fields (forward compatibility)', () => {
    const known = encodeTxn(samples[10] as Txn);
    const withUnknown = new Uint8Array([...known, 0xf8, 0x01, 0x2a, 0xfa, 0x01, 0x01, 0x00]);
    expect(decodeTxn(withUnknown)).toEqual(samples[10]);
  });

  it('never crashes on garbage: 20,000 random and mutated inputs decode or throw ConclaveError', () => {
    const rng = new SeededRng(20_240_601);
    const encoded = samples.map(encodeTxn);
    for (let i = 0; i < 20_000; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) {
        b = new Uint8Array(rng.int(0, 40));
        for (let j = 0; j < b.length; j++) b[j] = rng.int(0, 255);
      } else {
        const src = encoded[rng.int(0, encoded.length - 1)] as Uint8Array;
        b = Uint8Array.from(src.subarray(0, rng.int(0, src.length)));
        for (let k = rng.int(1, 3); k > 0 && b.length > 0; k--) b[rng.int(0, b.length - 1)] = rng.int(0, 255);
      }
      try {
        decodeTxn(b);
      } catch (err: unknown) {
        if (!(err instanceof ConclaveError)) throw new Error(`seed input ${i} threw ${String(err)}: ${Array.from(b).join(',')}`);
      }
    }
  });

  it('names the request id only when both session and seq are set', () => {
    expect(requestIdOf(samples[0] as Txn)).toEqual({ sessionId: 5, seq: 9 });
    expect(requestIdOf(samples[7] as Txn)).toBeUndefined();
    expect(requestIdOf(samples[1] as Txn)).toBeUndefined();
  });
});
