/**
 * The real znode state machine (`src/state/`) inside the simulator. Registers are znodes `/k1`…
 * (empty data reads as absent), written with `set`; compare-and-set has no znode equivalent, so the
 * workload sends only reads and writes in this mode. Besides those, the simulation proposes session,
 * ephemeral, sequential, delete, multi and lock txns, and after every apply the app checks that no
 * ephemeral node outlives its session and that the locks keep their rules (lock-checker.ts).
 */
import { type Entry } from '../../src/raft/index.js';
import { ConclaveStateMachine, type StateSnapshotRows, encodeTxn } from '../../src/state/index.js';
import { WatchHub, defaultWatchHubOptions } from '../../src/watches/index.js';
import { type LockTruth, checkLockApply, checkLockState, checkNoLockChange, decodeOrUndefined, lockViews, touchesLocks } from './lock-checker.js';
import type { KvCommand, KvOutcome, KvValue, SimApp } from './state-machine.js';
import type { WatchTruth } from './watch-observer.js';

export const ZNODE_KEYS = 3;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rows to bytes and back: JSON with tagged blobs and bigints (simulation only, not a hot path). */
function encodeRows(rows: StateSnapshotRows): Uint8Array {
  return encoder.encode(
    JSON.stringify(rows, (_k, v: unknown) => {
      if (v instanceof Uint8Array) return { $b: Buffer.from(v).toString('base64') };
      if (typeof v === 'bigint') return { $n: v.toString() };
      return v;
    }),
  );
}

function decodeRows(bytes: Uint8Array): StateSnapshotRows {
  return JSON.parse(decoder.decode(bytes), (_k, v: unknown) => {
    if (v && typeof v === 'object' && '$b' in v) return new Uint8Array(Buffer.from(String((v as { $b: string }).$b), 'base64'));
    if (v && typeof v === 'object' && '$n' in v) return BigInt(String((v as { $n: string }).$n));
    return v;
  }) as StateSnapshotRows;
}

export function genesisTxns(): Uint8Array[] {
  const txns: Uint8Array[] = [];
  for (const dir of ['/e', '/q']) txns.push(encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'create', path: dir, data: new Uint8Array(0), kind: 'persistent' } }));
  for (let k = 1; k <= ZNODE_KEYS; k++) {
    txns.push(encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'create', path: `/k${k}`, data: new Uint8Array(0), kind: 'persistent' } }));
  }
  return txns;
}

export class ZnodeApp implements SimApp {
  sm = new ConclaveStateMachine();
  /** This replica's watches; a small history so that resumes meet COMPACTED too. */
  readonly watches = new WatchHub({ ...defaultWatchHubOptions, historyEventsMax: 24 });
  readonly #truth: WatchTruth | undefined;
  readonly #lockTruth: LockTruth | undefined;
  #problem: string | undefined;
  /** The locks may have changed since `check` last judged them (their state checks are not free). */
  #locksDirty = true;

  constructor(truth?: WatchTruth, lockTruth?: LockTruth) {
    this.#truth = truth;
    this.#lockTruth = lockTruth;
  }

  encodeWrite(cmd: KvCommand): Uint8Array {
    return encodeTxn({ timeMs: 0, sessionId: 0, seq: 0, body: { type: 'set', path: `/${cmd.key}`, data: encoder.encode(cmd.value), version: -1 } });
  }

  apply(entry: Entry): KvOutcome | undefined {
    if (entry.data.length === 0) return undefined;
    const txn = decodeOrUndefined(entry.data);
    const before = touchesLocks(txn) ? lockViews(this.sm) : undefined;
    const r = this.sm.apply(entry.index, entry.data);
    this.#problem ??= this.#truth?.record(entry.index, r.events);
    this.#problem ??= this.#lockTruth?.record(entry.index, r);
    this.#problem ??= before ? checkLockApply(entry.index, txn, before, r, this.sm) : checkNoLockChange(entry.index, r);
    if (before) this.#locksDirty = true;
    this.watches.applied(entry.index, r.events);
    return { ok: r.ok };
  }

  get(key: string): KvValue {
    const node = this.sm.tree.exists(`/${key}`) ? this.sm.tree.get(`/${key}`) : undefined;
    return node && node.data.length > 0 ? decoder.decode(node.data) : null;
  }

  snapshot(): Uint8Array {
    return encodeRows(this.sm.snapshotRows());
  }

  restore(data: Uint8Array, index: number): void {
    this.sm = new ConclaveStateMachine();
    if (data.length > 0) this.sm.restore(decodeRows(data), index);
    if (index > this.watches.history.currentZxid) this.watches.restart(index);
    this.#locksDirty = true;
  }

  /**
   * The tree's digest costs time proportional to its size, so replicas compare it at every 8th
   * index (0 elsewhere; every replica samples the same indexes). The membership is still compared at
   * every index.
   */
  digest(index: number): number {
    return index % 8 === 0 ? this.sm.digest() : 0;
  }

  check(): string | undefined {
    if (this.#problem) return this.#problem;
    for (const owner of this.sm.tree.ephemeralOwners()) {
      if (!this.sm.sessions.has(owner)) return `ephemerals of session ${owner} outlive it: ${this.sm.tree.ephemeralsOf(owner).join(', ')}`;
    }
    if (!this.#locksDirty) return undefined;
    this.#locksDirty = false;
    return checkLockState(this.sm);
  }
}
