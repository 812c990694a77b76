import { describe, expect, it } from 'vitest';
import { fromJsonLines, HistoryRecorder, toJsonLines, type HistoryEvent, type OpFunction, type Value } from './history.js';
import { checkLinearizable } from './linearizability.js';

// ---------------------------------------------------------------------------
// Hand-written histories

interface Spec {
  p: number;
  f: OpFunction;
  k?: string;
  /** write/cas: the new value. */
  v?: Value;
  /** cas: the expected value. */
  exp?: Value;
  /** invoke and completion times. */
  t: [number, number];
  /** default ok; 'open' = no completion event. */
  out?: 'ok' | 'fail' | 'info' | 'open';
  /** read: the value returned. */
  r?: Value;
}

/** Builds a history; list each process's ops in order. */
function history(...specs: Spec[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const s of specs) {
    const key = s.k ?? 'k';
    const value = s.f === 'read' ? null : (s.v ?? null);
    const base = s.f === 'cas' ? { process: s.p, f: s.f, key, expected: s.exp ?? null } : { process: s.p, f: s.f, key };
    events.push({ ...base, type: 'invoke', value, time: s.t[0] });
    const out = s.out ?? 'ok';
    if (out === 'open') continue;
    const result = s.f === 'read' && out === 'ok' ? (s.r ?? null) : value;
    events.push({ ...base, type: out, value: result, time: s.t[1] });
  }
  // Stable: ties keep the listed order, so a zero-length op stays invoke-then-complete.
  return events.sort((a, b) => a.time - b.time);
}

const verdictOf = (...specs: Spec[]): string => checkLinearizable(history(...specs)).verdict;

describe('checkLinearizable: linearizable histories', () => {
  it('accepts the empty history', () => {
    expect(checkLinearizable([])).toEqual({ verdict: 'ok', keys: [] });
  });

  it('accepts a read of an absent key as null', () => {
    expect(verdictOf({ p: 0, f: 'read', t: [0, 1], r: null })).toBe('ok');
  });

  it('accepts sequential write then read', () => {
    expect(verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 1] }, { p: 0, f: 'read', t: [2, 3], r: 'a' })).toBe('ok');
  });

  it('accepts a read overlapping a write seeing either the old or the new value', () => {
    for (const r of [null, 'a']) {
      expect(verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 10] }, { p: 1, f: 'read', t: [2, 3], r })).toBe('ok');
    }
  });

  it('accepts concurrent writes linearized in either order', () => {
    for (const r of ['a', 'b']) {
      expect(
        verdictOf(
          { p: 0, f: 'write', v: 'a', t: [0, 5] },
          { p: 1, f: 'write', v: 'b', t: [1, 6] },
          { p: 2, f: 'read', t: [7, 8], r },
          { p: 2, f: 'read', t: [9, 10], r },
        ),
      ).toBe('ok');
    }
  });

  it('accepts reads that see concurrent writes in an order consistent with a linearization', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 20] },
        { p: 1, f: 'write', v: 'b', t: [0, 20] },
        { p: 2, f: 'read', t: [1, 2], r: 'b' },
        { p: 2, f: 'read', t: [3, 4], r: 'a' },
      ),
    ).toBe('ok');
  });

  it('accepts a successful cas and ignores a failed one', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'cas', exp: 'x', v: 'c', t: [2, 3], out: 'fail' },
        { p: 1, f: 'cas', exp: 'a', v: 'b', t: [4, 5] },
        { p: 0, f: 'read', t: [6, 7], r: 'b' },
      ),
    ).toBe('ok');
  });

  it('accepts a cas from absent (expected null)', () => {
    expect(verdictOf({ p: 0, f: 'cas', exp: null, v: 1, t: [0, 1] }, { p: 0, f: 'read', t: [2, 3], r: 1 })).toBe('ok');
  });

  it('accepts two concurrent cas from the same value when only one succeeds', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'cas', exp: 'a', v: 'b', t: [2, 5] },
        { p: 2, f: 'cas', exp: 'a', v: 'c', t: [2, 5], out: 'fail' },
        { p: 0, f: 'read', t: [6, 7], r: 'b' },
      ),
    ).toBe('ok');
  });

  it('drops failed writes', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'write', v: 'b', t: [2, 3], out: 'fail' },
        { p: 0, f: 'read', t: [4, 5], r: 'a' },
      ),
    ).toBe('ok');
  });

  it('accepts an info write that happened, or not', () => {
    for (const r of ['a', 'b']) {
      expect(
        verdictOf(
          { p: 0, f: 'write', v: 'a', t: [0, 1] },
          { p: 1, f: 'write', v: 'b', t: [2, 3], out: 'info' },
          { p: 0, f: 'read', t: [4, 5], r },
        ),
      ).toBe('ok');
    }
  });

  it('lets an info write take effect long after the process gave up on it', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'write', v: 'b', t: [2, 3], out: 'info' },
        { p: 1, f: 'read', t: [4, 5], r: 'a' },
        { p: 0, f: 'read', t: [6, 7], r: 'a' },
        { p: 0, f: 'read', t: [8, 9], r: 'b' },
      ),
    ).toBe('ok');
  });

  it('accepts an info cas that happened', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'cas', exp: 'a', v: 'b', t: [2, 3], out: 'info' },
        { p: 0, f: 'read', t: [4, 5], r: 'b' },
      ),
    ).toBe('ok');
  });

  it('treats an op still outstanding at the end of the history like info', () => {
    expect(
      verdictOf({ p: 1, f: 'write', v: 'b', t: [0, 0], out: 'open' }, { p: 0, f: 'read', t: [4, 5], r: 'b' }),
    ).toBe('ok');
  });

  it('drops info reads, whatever they would have returned', () => {
    expect(verdictOf({ p: 0, f: 'read', t: [0, 1], out: 'info' }, { p: 0, f: 'read', t: [2, 3], r: null })).toBe('ok');
  });

  it('treats ops touching at the same timestamp as concurrent', () => {
    expect(verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 5] }, { p: 1, f: 'read', t: [5, 6], r: null })).toBe('ok');
  });

  it('checks keys independently', () => {
    const result = checkLinearizable(
      history(
        { p: 0, f: 'write', k: 'x', v: 1, t: [0, 1] },
        { p: 1, f: 'write', k: 'y', v: 2, t: [0, 1] },
        { p: 0, f: 'read', k: 'y', t: [2, 3], r: 2 },
        { p: 1, f: 'read', k: 'x', t: [2, 3], r: 1 },
      ),
    );
    expect(result.verdict).toBe('ok');
    expect(result.keys.map((k) => [k.key, k.verdict, k.ops])).toEqual([
      ['x', 'ok', 2],
      ['y', 'ok', 2],
    ]);
    expect(result.failure).toBeUndefined();
  });
});

describe('checkLinearizable: non-linearizable histories', () => {
  it('rejects a stale read after a completed write, and explains it', () => {
    const events = history(
      { p: 0, f: 'write', v: 'a', t: [0, 1] },
      { p: 0, f: 'write', v: 'b', t: [2, 3] },
      { p: 1, f: 'read', t: [4, 5], r: 'a' },
    );
    const result = checkLinearizable(events);
    expect(result.verdict).toBe('illegal');
    const failure = result.failure!;
    expect(failure.key).toBe('k');
    expect(failure.explanation).toContain(
      'process 1 read -> "a" (ok, t=4..5) cannot be linearized before it completes: the register holds "b"',
    );
    expect(failure.explanation).toContain('Deepest attempt: 2 of 3 ops linearized');
    expect(failure.explanation).toContain('set by process 0 write "b"');
    expect(failure.window).toContainEqual(events[events.length - 1]);
    expect(failure.window!.length).toBeLessThanOrEqual(40);
  });

  it('rejects a read of a value that was never written', () => {
    const result = checkLinearizable(
      history({ p: 0, f: 'write', v: 'a', t: [0, 1] }, { p: 1, f: 'read', t: [0, 5], r: 'zzz' }),
    );
    expect(result.verdict).toBe('illegal');
    expect(result.failure!.explanation).toContain('no op on this key ever writes "zzz"');
  });

  it('rejects two successful cas from the same expected value', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 1, f: 'cas', exp: 'a', v: 'b', t: [2, 5] },
        { p: 2, f: 'cas', exp: 'a', v: 'c', t: [2, 5] },
      ),
    ).toBe('illegal');
  });

  it('rejects a lost acknowledged write', () => {
    expect(verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 1] }, { p: 1, f: 'read', t: [2, 3], r: null })).toBe('illegal');
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 1] },
        { p: 0, f: 'write', v: 'b', t: [2, 3] },
        { p: 1, f: 'read', t: [4, 5], r: 'b' },
        { p: 1, f: 'read', t: [6, 7], r: 'a' },
      ),
    ).toBe('illegal');
  });

  it('rejects a failed write that was observed', () => {
    expect(
      verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 1], out: 'fail' }, { p: 1, f: 'read', t: [2, 3], r: 'a' }),
    ).toBe('illegal');
  });

  it('rejects an info write observed before it was invoked', () => {
    expect(
      verdictOf({ p: 1, f: 'read', t: [0, 1], r: 'b' }, { p: 0, f: 'write', v: 'b', t: [2, 3], out: 'info' }),
    ).toBe('illegal');
  });

  it('rejects an ok cas whose expected value cannot be current', () => {
    expect(
      verdictOf({ p: 0, f: 'write', v: 'a', t: [0, 1] }, { p: 1, f: 'cas', exp: null, v: 'b', t: [2, 3] }),
    ).toBe('illegal');
  });

  it('distinguishes numbers from strings', () => {
    expect(verdictOf({ p: 0, f: 'write', v: 1, t: [0, 1] }, { p: 0, f: 'read', t: [2, 3], r: '1' })).toBe('illegal');
  });

  it('rejects reads flip-flopping between two concurrent writes', () => {
    expect(
      verdictOf(
        { p: 0, f: 'write', v: 'a', t: [0, 20] },
        { p: 1, f: 'write', v: 'b', t: [0, 20] },
        { p: 2, f: 'read', t: [1, 2], r: 'a' },
        { p: 2, f: 'read', t: [3, 4], r: 'b' },
        { p: 2, f: 'read', t: [5, 6], r: 'a' },
      ),
    ).toBe('illegal');
  });

  it('reports the first illegal key and keeps the others', () => {
    const result = checkLinearizable(
      history(
        { p: 0, f: 'write', k: 'a', v: 1, t: [0, 1] },
        { p: 1, f: 'write', k: 'b', v: 1, t: [0, 1] },
        { p: 0, f: 'read', k: 'a', t: [2, 3], r: 1 },
        { p: 1, f: 'read', k: 'b', t: [2, 3], r: 2 },
        { p: 2, f: 'read', k: 'c', t: [2, 3], r: 3 },
      ),
    );
    expect(result.verdict).toBe('illegal');
    expect(result.keys.map((k) => k.verdict)).toEqual(['ok', 'illegal', 'illegal']);
    expect(result.failure?.key).toBe('b');
  });

  it('throws on a malformed history', () => {
    const complete: HistoryEvent = { process: 0, type: 'ok', f: 'write', key: 'k', value: 1, time: 0 };
    expect(() => checkLinearizable([complete])).toThrow(/completes nothing/);
    const invoke: HistoryEvent = { ...complete, type: 'invoke' };
    expect(() => checkLinearizable([invoke, invoke])).toThrow(/outstanding/);
    expect(() => checkLinearizable([invoke, { ...complete, key: 'other' }])).toThrow(/completes write other/);
  });
});

// ---------------------------------------------------------------------------
// Randomized histories from a simulated correct register

/** Tiny LCG (Numerical Recipes constants); returns floats in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface SimOptions {
  processes: number;
  opsPerProcess: number;
  keys: number;
  infoRate: number;
  failRate: number;
}

interface SimOp {
  process: number;
  f: OpFunction;
  key: string;
  value: Value;
  expected: Value;
  invoke: number;
  complete: number;
  outcome: 'ok' | 'fail' | 'info';
  /** When it takes effect; undefined = never. */
  at?: number;
  result: Value;
}

const VALUES: readonly Value[] = ['a', 'b', 'c', 1, 2];

/**
 * Each op takes effect at a random instant between its invoke and completion
 * (info ops: at any instant after invoke, or never), applied to a real
 * register; the events are then replayed through a HistoryRecorder.
 */
function simulate(seed: number, o: SimOptions): HistoryEvent[] {
  const rand = lcg(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ops: SimOp[] = [];
  for (let process = 0; process < o.processes; process++) {
    let t = Math.floor(rand() * 5);
    for (let i = 0; i < o.opsPerProcess; i++) {
      const r = rand();
      const f: OpFunction = r < 0.4 ? 'read' : r < 0.75 ? 'write' : 'cas';
      const complete = t + Math.floor(rand() * 8);
      const u = rand();
      const outcome = u < o.infoRate ? 'info' : f === 'write' && u < o.infoRate + o.failRate ? 'fail' : 'ok';
      let at: number | undefined = t + rand() * (complete - t);
      if (outcome === 'fail') at = undefined;
      if (outcome === 'info') at = rand() < 0.5 ? undefined : t + rand() * 60;
      ops.push({
        process,
        f,
        key: `k${Math.floor(rand() * o.keys)}`,
        value: f === 'read' ? null : pick(VALUES),
        expected: f === 'cas' ? pick([null, ...VALUES]) : null,
        invoke: t,
        complete,
        outcome,
        at,
        result: null,
      });
      t = complete + Math.floor(rand() * 3);
    }
  }

  const register = new Map<string, Value>();
  const effective = ops.filter((op) => op.at !== undefined).sort((a, b) => a.at! - b.at!);
  for (const op of effective) {
    const current = register.get(op.key) ?? null;
    if (op.f === 'read') op.result = current;
    else if (op.f === 'write') register.set(op.key, op.value);
    else if (current === op.expected) register.set(op.key, op.value);
    else if (op.outcome === 'ok') op.outcome = 'fail'; // a cas that did not apply reports failure
  }
  return replay(ops);
}

function replay(ops: SimOp[]): HistoryEvent[] {
  interface Action {
    time: number;
    seq: number;
    run: () => void;
  }
  let now = 0;
  const recorder = new HistoryRecorder(() => now);
  const actions: Action[] = [];
  const seqs = new Map<number, number>();
  const nextSeq = (p: number): number => {
    const s = seqs.get(p) ?? 0;
    seqs.set(p, s + 1);
    return s;
  };
  for (const op of ops) {
    let handle: ReturnType<HistoryRecorder['invoke']> | undefined;
    actions.push({
      time: op.invoke,
      seq: nextSeq(op.process),
      run: () => {
        handle = recorder.invoke(op.process, op.f, op.key, op.value, op.f === 'cas' ? op.expected : undefined);
      },
    });
    actions.push({
      time: op.complete,
      seq: nextSeq(op.process),
      run: () => {
        if (op.outcome === 'ok') recorder.ok(handle!, op.f === 'read' ? op.result : undefined);
        else if (op.outcome === 'fail') recorder.fail(handle!);
        else recorder.info(handle!);
      },
    });
  }
  // Per process, seq follows time, so (time, seq) keeps each process's events in order.
  actions.sort((a, b) => a.time - b.time || a.seq - b.seq);
  for (const a of actions) {
    now = a.time;
    a.run();
  }
  return recorder.events();
}

function simOptions(rand: () => number): SimOptions {
  return {
    processes: 2 + Math.floor(rand() * 5),
    opsPerProcess: 5 + Math.floor(rand() * 20),
    keys: 1 + Math.floor(rand() * 3),
    infoRate: 0.1,
    failRate: 0.05,
  };
}

describe('checkLinearizable: randomized histories', () => {
  it('accepts 200 histories of a correct register, and rejects each with a read corrupted', () => {
    const rand = lcg(12345);
    let corrupted = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const events = simulate(seed, simOptions(rand));
      const result = checkLinearizable(events);
      expect(result.verdict, `seed ${seed}: ${result.failure?.explanation}`).toBe('ok');

      const reads = events.flatMap((e, i) => (e.type === 'ok' && e.f === 'read' ? [i] : []));
      if (reads.length === 0) continue;
      const victim = reads[Math.floor(rand() * reads.length)]!;
      const mutated = events.map((e, i) => (i === victim ? { ...e, value: 'never-written' } : e));
      const bad = checkLinearizable(mutated);
      expect(bad.verdict, `seed ${seed}`).toBe('illegal');
      expect(bad.failure?.key).toBe(events[victim]!.key);
      expect(bad.failure?.window).toContainEqual(mutated[victim]);
      corrupted++;
    }
    expect(corrupted).toBeGreaterThan(150);
  });

  it('accepts a 2,000-op history over 5 keys with 5 processes', () => {
    const events = simulate(99, { processes: 5, opsPerProcess: 400, keys: 5, infoRate: 0.05, failRate: 0.05 });
    expect(events.filter((e) => e.type === 'invoke')).toHaveLength(2000);
    const result = checkLinearizable(events);
    expect(result.verdict).toBe('ok');
    expect(result.keys).toHaveLength(5);
  });
});

// ---------------------------------------------------------------------------
// Budgets

/**
 * 30 processes issue overlapping info writes of distinct values while one
 * read returns a value only written after it completed: the search has to
 * try every subset and order of the info writes before giving up.
 */
function explosiveHistory(key = 'k'): HistoryEvent[] {
  const specs: Spec[] = [{ p: 100, f: 'read', k: key, t: [0, 1000], r: 'late' }];
  for (let p = 0; p < 30; p++) {
    for (let i = 0; i < 4; i++) {
      const t = 1 + i * 10 + p;
      specs.push({ p, f: 'write', k: key, v: `w${p}-${i}`, t: [t, t + 5], out: 'info' });
    }
  }
  specs.push({ p: 101, f: 'write', k: key, v: 'late', t: [2000, 2001], out: 'info' });
  return history(...specs);
}

describe('checkLinearizable: budgets', () => {
  it('gives up with unknown when the iteration budget runs out', () => {
    const result = checkLinearizable(explosiveHistory(), { iterationBudget: 10_000 });
    expect(result.verdict).toBe('unknown');
    expect(result.keys[0]!.verdict).toBe('unknown');
  });

  it('gives up with unknown when the time budget runs out', () => {
    const started = performance.now();
    const result = checkLinearizable(explosiveHistory(), { timeBudgetMs: 1 });
    expect(result.verdict).toBe('unknown');
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('still reports illegal when another key is unknown', () => {
    const events = [
      ...explosiveHistory('a'),
      ...history({ p: 200, f: 'write', k: 'b', v: 1, t: [0, 1] }, { p: 200, f: 'read', k: 'b', t: [2, 3], r: null }),
    ].sort((x, y) => x.time - y.time);
    const result = checkLinearizable(events, { iterationBudget: 10_000 });
    expect(result.keys.map((k) => k.verdict)).toEqual(['unknown', 'illegal']);
    expect(result.verdict).toBe('illegal');
  });
});

// ---------------------------------------------------------------------------
// History format and recorder

describe('history JSON Lines', () => {
  it('round-trips', () => {
    const events = simulate(7, { processes: 3, opsPerProcess: 10, keys: 2, infoRate: 0.2, failRate: 0.1 });
    const text = toJsonLines(events);
    expect(text.trim().split('\n')).toHaveLength(events.length);
    expect(fromJsonLines(text)).toEqual(events);
    expect(fromJsonLines('\n' + text.replace(/\n/g, '\r\n') + '\n\n')).toEqual(events);
  });

  it('names the bad line', () => {
    const good = toJsonLines([{ process: 0, type: 'invoke', f: 'read', key: 'k', value: null, time: 1 }]);
    expect(() => fromJsonLines(good + '{"process": 0, "type": "ok"\n')).toThrow(/line 2: invalid JSON/);
    expect(() => fromJsonLines(good + '\n' + good.replace('"read"', '"append"'))).toThrow(/line 3: "f" must be/);
    expect(() => fromJsonLines(good.replace(',"value":null', ''))).toThrow(/line 1: "value"/);
    expect(() => fromJsonLines('[1]')).toThrow(/line 1: not a JSON object/);
    const cas = '{"process":0,"type":"invoke","f":"cas","key":"k","value":1,"time":0}';
    expect(() => fromJsonLines(cas)).toThrow(/line 1: a cas invoke needs "expected"/);
  });
});

describe('create and delete', () => {
  it('accepts a create of an absent register, then a delete, then reads of absent', () => {
    expect(
      verdictOf(
        { p: 0, f: 'create', v: 'a', t: [0, 1] },
        { p: 1, f: 'read', t: [2, 3], r: 'a' },
        { p: 0, f: 'delete', t: [4, 5] },
        { p: 1, f: 'read', t: [6, 7], r: null },
      ),
    ).toBe('ok');
  });

  it('rejects two creates that both succeed with no delete between them', () => {
    const result = checkLinearizable(history({ p: 0, f: 'create', v: 'a', t: [0, 1] }, { p: 1, f: 'create', v: 'b', t: [2, 3] }));
    expect(result.verdict).toBe('illegal');
    expect(result.failure?.explanation).toMatch(/cannot be created/);
  });

  it('rejects a read of a deleted register', () => {
    expect(verdictOf({ p: 0, f: 'create', v: 'a', t: [0, 1] }, { p: 0, f: 'delete', t: [2, 3] }, { p: 1, f: 'read', t: [4, 5], r: 'a' })).toBe('illegal');
  });

  it('lets an info delete happen any time after its invoke, or never', () => {
    for (const r of ['a', null]) {
      expect(verdictOf({ p: 0, f: 'create', v: 'a', t: [0, 1] }, { p: 0, f: 'delete', t: [2, 3], out: 'info' }, { p: 1, f: 'read', t: [4, 5], r })).toBe('ok');
    }
  });

  it('treats equal lists as one value', () => {
    expect(verdictOf({ p: 0, f: 'write', v: ['x', 'y'], t: [0, 1] }, { p: 1, f: 'read', t: [2, 3], r: ['x', 'y'] })).toBe('ok');
    expect(verdictOf({ p: 0, f: 'write', v: ['x', 'y'], t: [0, 1] }, { p: 1, f: 'read', t: [2, 3], r: ['y', 'x'] })).toBe('illegal');
  });

  it('round-trips create, delete and list values through JSON Lines', () => {
    const events: HistoryEvent[] = [
      { process: 3, type: 'invoke', f: 'create', key: '/s', value: 'e1', time: 1 },
      { process: 3, type: 'ok', f: 'create', key: '/s', value: 'e1-0000000001', time: 2 },
      { process: 4, type: 'invoke', f: 'read', key: '/s', value: null, time: 3 },
      { process: 4, type: 'ok', f: 'read', key: '/s', value: ['e1-0000000001'], time: 4 },
      { process: 3, type: 'invoke', f: 'delete', key: '/s', value: null, time: 5 },
      { process: 3, type: 'info', f: 'delete', key: '/s', value: null, time: 5 },
    ];
    expect(fromJsonLines(toJsonLines(events))).toEqual(events);
    expect(() => fromJsonLines('{"process":0,"type":"ok","f":"read","key":"k","value":[1],"time":0}')).toThrow(/"value" must be/);
  });
});

describe('HistoryRecorder', () => {
  it('records invoke/complete events with the injected clock', () => {
    let now = 10;
    const r = new HistoryRecorder(() => now);
    const w = r.invoke(1, 'cas', 'k', 'b', null);
    now = 12;
    r.ok(w);
    const rd = r.invoke(1, 'read', 'k', null);
    r.ok(rd, 'b');
    expect(r.events()).toEqual([
      { process: 1, type: 'invoke', f: 'cas', key: 'k', value: 'b', expected: null, time: 10 },
      { process: 1, type: 'ok', f: 'cas', key: 'k', value: 'b', expected: null, time: 12 },
      { process: 1, type: 'invoke', f: 'read', key: 'k', value: null, time: 12 },
      { process: 1, type: 'ok', f: 'read', key: 'k', value: 'b', time: 12 },
    ]);
  });

  it('refuses a second invoke while an op is outstanding, but not after info', () => {
    const r = new HistoryRecorder(() => 0);
    const w = r.invoke(1, 'write', 'k', 'a');
    expect(() => r.invoke(1, 'read', 'k', null)).toThrow(/outstanding/);
    r.invoke(2, 'read', 'k', null); // other processes are independent
    r.info(w);
    const again = r.invoke(1, 'read', 'k', null);
    expect(() => r.ok(w)).toThrow(/not outstanding/);
    r.fail(again);
    expect(r.events().map((e) => `${e.process}:${e.type}`)).toEqual(['1:invoke', '2:invoke', '1:info', '1:invoke', '1:fail']);
  });

  it('rejects misuse', () => {
    let now = 5;
    const r = new HistoryRecorder(() => now);
    expect(() => r.invoke(0, 'cas', 'k', 1)).toThrow(/expected/);
    const rd = r.invoke(0, 'read', 'k', null);
    expect(() => r.ok(rd)).toThrow(/value read/);
    now = 4;
    expect(() => r.ok(rd, 1)).toThrow(/backwards/);
  });

  it('records what a create made, which may differ from its data', () => {
    const r = new HistoryRecorder(() => 1);
    const c = r.invoke(0, 'create', '/seq', 'p0-1');
    r.ok(c, 'p0-1-0000000007');
    const w = r.invoke(0, 'write', 'k', 'a');
    expect(() => r.ok(w, 'b')).toThrow(/invoked with/);
    expect(r.events()[1]).toEqual({ process: 0, type: 'ok', f: 'create', key: '/seq', value: 'p0-1-0000000007', time: 1 });
  });
});
