// Linearizability checker for a per-key register (read / write / cas, and create / delete: a
// create takes effect only on an absent register, a delete only on a present one).
//
// Keys are independent registers, so the history is partitioned by key and each
// key is checked on its own (P-compositionality). Each key is checked with the
// Wing & Gong backtracking search over a linked list of call/return entries,
// with Lowe's memoization of the (set of linearized ops, register state)
// configurations already explored, so no configuration is searched twice.

import type { HistoryEvent, OpFunction, Value } from './history.js';

export interface CheckOptions {
  /**
   * Wall-clock budget for the whole check; default 10_000 ms. A key whose
   * search outlives it is 'unknown'; once it is spent, each remaining key still
   * gets a few thousand search steps, which settles small keys.
   */
  timeBudgetMs?: number;
  /** Maximum number of search steps per key (mainly for tests); default unlimited. */
  iterationBudget?: number;
}

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface KeyResult {
  key: string;
  verdict: Verdict;
  /** Number of operations invoked on this key (including failed ones). */
  ops: number;
  /** For illegal: the events around the point where every linearization gets stuck. */
  window?: HistoryEvent[];
  /** For illegal: a human-readable account of why. */
  explanation?: string;
}

export interface CheckResult {
  verdict: Verdict;
  keys: KeyResult[];
  /** The first illegal key result, if any. */
  failure?: KeyResult;
}

const DEFAULT_TIME_BUDGET_MS = 10_000;
/** How often (in search steps) the clock is consulted. */
const CLOCK_CHECK_MASK = 4095;
const MAX_WINDOW_OPS = 20;
const MAX_STUCK_STATES = 8;

export function checkLinearizable(events: readonly HistoryEvent[], opts: CheckOptions = {}): CheckResult {
  const budget: Budget = {
    deadline: performance.now() + (opts.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS),
    iterations: opts.iterationBudget ?? Infinity,
  };
  const byKey = groupByKey(pairOperations(events));
  const keys = [...byKey.keys()].sort();
  const results = keys.map((key) => checkKey(key, byKey.get(key) ?? [], budget));
  const failure = results.find((r) => r.verdict === 'illegal');
  const verdict: Verdict = failure ? 'illegal' : results.some((r) => r.verdict === 'unknown') ? 'unknown' : 'ok';
  return failure ? { verdict, keys: results, failure } : { verdict, keys: results };
}

// ---------------------------------------------------------------------------
// Pairing invocations with completions

/** One operation as it appears in the history. */
interface PairedOp {
  process: number;
  f: OpFunction;
  key: string;
  invoke: HistoryEvent;
  invokeIndex: number;
  /** Undefined if the history ends while the op is outstanding (treated like info). */
  end?: HistoryEvent;
  endIndex: number;
}

/** Pairs each invoke with the next event of the same process; throws on a malformed history. */
function pairOperations(events: readonly HistoryEvent[]): PairedOp[] {
  const ops: PairedOp[] = [];
  const open = new Map<number, PairedOp>();
  events.forEach((e, i) => {
    const pending = open.get(e.process);
    if (e.type === 'invoke') {
      if (pending) {
        throw new Error(`malformed history: event ${i} invokes process ${e.process} again while its op from event ${pending.invokeIndex} is outstanding`);
      }
      const op: PairedOp = { process: e.process, f: e.f, key: e.key, invoke: e, invokeIndex: i, endIndex: -1 };
      open.set(e.process, op);
      ops.push(op);
      return;
    }
    if (!pending) throw new Error(`malformed history: event ${i} (${e.type}) completes nothing for process ${e.process}`);
    if (pending.f !== e.f || pending.key !== e.key) {
      throw new Error(`malformed history: event ${i} completes ${e.f} ${e.key} but process ${e.process} invoked ${pending.f} ${pending.key} at event ${pending.invokeIndex}`);
    }
    if (e.time < pending.invoke.time) {
      throw new Error(`malformed history: event ${i} completes at time ${e.time}, before its invoke at ${pending.invoke.time}`);
    }
    pending.end = e;
    pending.endIndex = i;
    open.delete(e.process);
  });
  return ops;
}

function groupByKey(ops: PairedOp[]): Map<string, PairedOp[]> {
  const byKey = new Map<string, PairedOp[]>();
  for (const op of ops) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  return byKey;
}

// ---------------------------------------------------------------------------
// The per-key model

/** Register values are interned to small integers so the state is just a number. */
const ABSENT = 0;
const REJECT = -1;

interface ModelOp {
  /** Bit index in the linearized set. */
  bit: number;
  source: PairedOp;
  f: OpFunction;
  /** write/cas: the new value; read: the value returned. Interned. */
  arg: number;
  /** cas: the expected value. Interned. */
  expected: number;
  /** Outcome unknown: may take effect any time after its call, or never. */
  info: boolean;
  call: number;
  ret: number;
  callPos: number;
  /** Position of the return entry, or -1 for info ops (their return is at +infinity). */
  retPos: number;
}

interface KeyModel {
  ops: ModelOp[];
  /** Interned id -> value. */
  values: Value[];
  /** Interned ids of values that some op of this key writes. */
  written: Set<number>;
  /** Entries sorted by time: entryOp[i] is the op, entryIsCall[i] whether it is its call. */
  entryOp: Int32Array;
  entryIsCall: Uint8Array;
}

function buildModel(paired: PairedOp[]): KeyModel {
  const values: Value[] = [null];
  // Keyed by JSON text, so equal lists (set reads) are one value and "1" and 1 stay two.
  const ids = new Map<string, number>([['null', ABSENT]]);
  const intern = (v: Value): number => {
    const key = JSON.stringify(v);
    let id = ids.get(key);
    if (id === undefined) {
      id = values.length;
      values.push(v);
      ids.set(key, id);
    }
    return id;
  };

  const ops: ModelOp[] = [];
  const written = new Set<number>();
  for (const p of paired) {
    const outcome = p.end?.type ?? 'info';
    if (outcome === 'fail') continue; // definitely did not happen
    const info = outcome === 'info';
    if (p.f === 'read' && info) continue; // no effect and no observed result
    const arg = p.f === 'delete' ? ABSENT : intern(p.f === 'read' ? (p.end?.value ?? null) : p.invoke.value);
    if (p.f !== 'read' && p.f !== 'delete') written.add(arg);
    ops.push({
      bit: ops.length,
      source: p,
      f: p.f,
      arg,
      expected: p.f === 'cas' ? intern(p.invoke.expected ?? null) : ABSENT,
      info,
      call: p.invoke.time,
      ret: info || !p.end ? Infinity : p.end.time,
      callPos: -1,
      retPos: -1,
    });
  }

  // Sort entries by time; at equal times calls go first, which treats touching
  // ops as concurrent (the permissive choice: no false "illegal" from clock ties).
  const entries: { op: ModelOp; isCall: boolean; time: number }[] = [];
  for (const op of ops) {
    entries.push({ op, isCall: true, time: op.call });
    if (!op.info) entries.push({ op, isCall: false, time: op.ret });
  }
  entries.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || a.op.bit - b.op.bit);
  const entryOp = new Int32Array(entries.length);
  const entryIsCall = new Uint8Array(entries.length);
  entries.forEach((e, i) => {
    entryOp[i] = e.op.bit;
    entryIsCall[i] = e.isCall ? 1 : 0;
    if (e.isCall) e.op.callPos = i;
    else e.op.retPos = i;
  });
  return { ops, values, written, entryOp, entryIsCall };
}

/** Applies `op` to the register; returns the new state or REJECT. */
function step(op: ModelOp, state: number): number {
  switch (op.f) {
    case 'write':
      return op.arg;
    case 'cas':
      return state === op.expected ? op.arg : REJECT;
    case 'read':
      return state === op.arg ? state : REJECT;
    case 'create':
      return state === ABSENT ? op.arg : REJECT;
    case 'delete':
      return state !== ABSENT ? ABSENT : REJECT;
  }
}

// ---------------------------------------------------------------------------
// Bitset and memo cache

/** Per-bit random-looking hash; a set's hash is the XOR of its members' hashes, so it updates in O(1). */
function bitHash(i: number): number {
  let x = Math.imul(i + 1, 0x9e3779b1);
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

class Bitset {
  readonly words: Uint32Array;
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
  }

  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
    this.hash ^= bitHash(i);
  }

  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
    this.hash ^= bitHash(i);
  }

  equals(other: Uint32Array): boolean {
    const w = this.words;
    for (let i = 0; i < w.length; i++) if (w[i] !== other[i]) return false;
    return true;
  }
}

function isSet(words: Uint32Array, i: number): boolean {
  return ((words[i >>> 5]! >>> (i & 31)) & 1) === 1;
}

/** Set of (linearized ops, state) configurations already explored. */
class ConfigCache {
  readonly #buckets = new Map<number, { words: Uint32Array; state: number }[]>();

  /** Adds the configuration; returns false if it was already present. */
  add(bits: Bitset, state: number): boolean {
    const h = (bits.hash ^ Math.imul(state + 1, 0x27d4eb2d)) | 0;
    const bucket = this.#buckets.get(h);
    if (bucket) {
      for (const c of bucket) if (c.state === state && bits.equals(c.words)) return false;
      bucket.push({ words: bits.words.slice(), state });
    } else {
      this.#buckets.set(h, [{ words: bits.words.slice(), state }]);
    }
    return true;
  }
}

// ---------------------------------------------------------------------------
// The search

interface Budget {
  deadline: number;
  iterations: number;
}

/** The deepest configuration reached: used to explain an illegal history. */
interface Stuck {
  depth: number;
  state: number;
  linearized: Uint32Array;
  /** The op (bit) that last set the state, or -1 if the register still holds its initial value. */
  setter: number;
  /** The op whose return the search hit first from this configuration (-1 until then). */
  blocker: number;
  /**
   * Register states in which the search had to give up at the blocker's return,
   * in this or other configurations (capped): the values it could have held.
   */
  states: Set<number>;
}

type SearchOutcome = { verdict: 'ok' } | { verdict: 'unknown' } | { verdict: 'illegal'; stuck: Stuck };

function search(model: KeyModel, budget: Budget): SearchOutcome {
  const { ops, entryOp, entryIsCall } = model;
  const n = ops.length;
  const m = entryOp.length;
  const NIL = -1;
  const HEAD = m;
  // Doubly linked list over entry positions, with HEAD as sentinel.
  const next = new Int32Array(m + 1);
  const prev = new Int32Array(m + 1);
  for (let i = 0; i < m; i++) {
    next[i] = i + 1 < m ? i + 1 : NIL;
    prev[i] = i === 0 ? HEAD : i - 1;
  }
  next[HEAD] = m > 0 ? 0 : NIL;
  prev[HEAD] = NIL;

  const unlink = (x: number): void => {
    next[prev[x]!] = next[x]!;
    if (next[x] !== NIL) prev[next[x]!] = prev[x]!;
  };
  // Dancing-links restore: valid because removals are undone in reverse order.
  const relink = (x: number): void => {
    next[prev[x]!] = x;
    if (next[x] !== NIL) prev[next[x]!] = x;
  };

  const bits = new Bitset(n);
  const cache = new ConfigCache();
  const stackOp = new Int32Array(n);
  const stackState = new Int32Array(n);
  const stackSetter = new Int32Array(n);
  let depth = 0;
  let state = ABSENT;
  let setter = -1;
  const deeper = (): Stuck => ({ depth, state, linearized: bits.words.slice(), setter, blocker: -1, states: new Set() });
  let stuck = deeper();

  let entry = next[HEAD]!;
  for (let iter = 1; ; iter++) {
    if (entry === NIL) return { verdict: 'ok' }; // only info calls remain: they never happened
    if (iter > budget.iterations) return { verdict: 'unknown' };
    if ((iter & CLOCK_CHECK_MASK) === 0 && performance.now() > budget.deadline) return { verdict: 'unknown' };

    if (entryIsCall[entry] === 1) {
      const op = ops[entryOp[entry]!]!;
      const after = step(op, state);
      if (after !== REJECT) {
        bits.set(op.bit);
        if (cache.add(bits, after)) {
          stackOp[depth] = op.bit;
          stackState[depth] = state;
          stackSetter[depth] = setter;
          depth++;
          state = after;
          if (op.f !== 'read') setter = op.bit;
          unlink(op.callPos);
          if (op.retPos >= 0) unlink(op.retPos);
          if (depth > stuck.depth) stuck = deeper();
          entry = next[HEAD]!;
          continue;
        }
        bits.clear(op.bit);
      }
      entry = next[entry]!;
    } else {
      // An op returned before being linearized: undo the most recent choice.
      const returning = entryOp[entry]!;
      if (stuck.blocker === -1) stuck.blocker = returning;
      if (returning === stuck.blocker && stuck.states.size < MAX_STUCK_STATES) stuck.states.add(state);
      if (depth === 0) return { verdict: 'illegal', stuck };
      depth--;
      const op = ops[stackOp[depth]!]!;
      state = stackState[depth]!;
      setter = stackSetter[depth]!;
      bits.clear(op.bit);
      if (op.retPos >= 0) relink(op.retPos);
      relink(op.callPos);
      entry = next[op.callPos]!;
    }
  }
}

function checkKey(key: string, paired: PairedOp[], budget: Budget): KeyResult {
  const model = buildModel(paired);
  const outcome = search(model, budget);
  if (outcome.verdict !== 'illegal') return { key, verdict: outcome.verdict, ops: paired.length };
  const { window, explanation } = explain(key, model, paired, outcome.stuck);
  return { key, verdict: 'illegal', ops: paired.length, window, explanation };
}

// ---------------------------------------------------------------------------
// Explaining an illegal history

function explain(key: string, model: KeyModel, paired: PairedOp[], stuck: Stuck): { window: HistoryEvent[]; explanation: string } {
  const { ops, values, entryOp, entryIsCall } = model;
  // Replay the entry order without the linearized ops: the calls seen before the
  // first pending return are the ops that could have gone next.
  const candidates: ModelOp[] = [];
  let blocker: ModelOp | undefined;
  for (let i = 0; i < entryOp.length && !blocker; i++) {
    const op = ops[entryOp[i]!]!;
    if (isSet(stuck.linearized, op.bit)) continue;
    if (entryIsCall[i] === 1) candidates.push(op);
    else blocker = op;
  }
  const setter = stuck.setter >= 0 ? ops[stuck.setter] : undefined;
  const fmt = (id: number): string => formatValue(values[id] ?? null);

  const lines: string[] = [`no linearization of key ${JSON.stringify(key)}.`];
  if (blocker) {
    const held = [...stuck.states].map(fmt).join(' or ');
    lines.push(`${describeOp(blocker, values)} cannot be linearized before it completes: the register holds ${held} there in every order tried.`);
  }
  lines.push(
    `Deepest attempt: ${stuck.depth} of ${ops.length} ops linearized, leaving the register holding ${fmt(stuck.state)}` +
      (setter ? ` (set by ${describeOp(setter, values)})` : ' (initial value)') +
      `; none of the ${candidates.length} ops that could go next can take effect:`,
  );
  for (const op of candidates) lines.push(`  - ${describeOp(op, values)}: ${whyRejected(op, stuck.state, model)}`);

  const windowOps = pickWindow(paired, candidates, setter, blocker);
  return { window: windowEvents(windowOps), explanation: lines.join('\n') };
}

function whyRejected(op: ModelOp, state: number, model: KeyModel): string {
  const fmt = (id: number): string => formatValue(model.values[id] ?? null);
  const neverWritten = (id: number): string =>
    id !== ABSENT && !model.written.has(id) ? ` (no op on this key ever writes ${fmt(id)})` : '';
  switch (op.f) {
    case 'read':
      return `register holds ${fmt(state)}, not ${fmt(op.arg)}${neverWritten(op.arg)}`;
    case 'cas':
      return `register holds ${fmt(state)}, not the expected ${fmt(op.expected)}${neverWritten(op.expected)}`;
    case 'write':
      return 'a write always applies (this should not happen)';
    case 'create':
      return `register holds ${fmt(state)}, so it cannot be created`;
    case 'delete':
      return 'register is absent, so it cannot be deleted';
  }
}

function describeOp(op: ModelOp, values: Value[]): string {
  const fmt = (id: number): string => formatValue(values[id] ?? null);
  const p = op.source;
  const what =
    op.f === 'read' ? `read -> ${fmt(op.arg)}` : op.f === 'write' ? `write ${fmt(op.arg)}` : op.f === 'cas' ? `cas ${fmt(op.expected)} -> ${fmt(op.arg)}` : op.f === 'create' ? `create ${fmt(op.arg)}` : 'delete';
  const outcome = op.info ? (p.end ? 'info' : 'never completed') : 'ok';
  const span = op.info ? `t=${op.call}..` : `t=${op.call}..${op.ret}`;
  return `process ${p.process} ${what} (${outcome}, ${span})`;
}

function formatValue(v: Value): string {
  return v === null ? 'null' : JSON.stringify(v);
}

/**
 * The ops worth showing: the op whose return blocks the search, the other ops
 * that could have gone next and the op that last set the register, then other
 * ops of the key overlapping that stretch of time, nearest its end first.
 */
function pickWindow(paired: PairedOp[], candidates: ModelOp[], setter: ModelOp | undefined, blocker: ModelOp | undefined): PairedOp[] {
  // Info candidates stay pending forever, so they neither come first nor stretch the window.
  const definite = candidates.filter((op) => !op.info);
  const first = [blocker, ...definite, setter].flatMap((op) => (op ? [op.source] : []));
  const span = first.length > 0 ? first : candidates.map((op) => op.source);
  const from = Math.min(...span.map((p) => p.invoke.time));
  const to = blocker ? blocker.ret : Math.max(...span.map((p) => p.invoke.time));

  const chosen = new Set<PairedOp>(first);
  for (const op of candidates) chosen.add(op.source);
  const endOf = (p: PairedOp): number => (p.end && p.end.type !== 'info' ? p.end.time : Infinity);
  const nearby = paired
    .filter((p) => !chosen.has(p) && p.invoke.time <= to && endOf(p) >= from)
    .sort((a, b) => Math.abs(a.invoke.time - to) - Math.abs(b.invoke.time - to));
  return [...chosen, ...nearby].slice(0, MAX_WINDOW_OPS);
}

/** The ops' events in history order. */
function windowEvents(ops: PairedOp[]): HistoryEvent[] {
  const events: { e: HistoryEvent; index: number }[] = [];
  for (const p of ops) {
    events.push({ e: p.invoke, index: p.invokeIndex });
    if (p.end) events.push({ e: p.end, index: p.endIndex });
  }
  return events.sort((a, b) => a.index - b.index).map((x) => x.e);
}
