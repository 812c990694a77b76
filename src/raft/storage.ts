/**
 * The durable part of the Raft log as the core sees it: entries that have been persisted, the
 * hard state and the latest snapshot. The core only reads it; the shell writes it after persisting
 * a `Ready`. `MemoryStorage` is the in-memory twin (and the cache a disk-backed log sits behind).
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import {
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  emptyConfState,
  emptyHardState,
} from './types.js';

export interface InitialState {
  readonly hardState: HardState;
  readonly confState: ConfState;
}

export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), at least one if any, stopping before `maxBytes` is exceeded. Throws COMPACTED / UNAVAILABLE. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry `index`; `firstIndex() - 1` is answered from the snapshot. Throws COMPACTED / UNAVAILABLE. */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entryBytes(entry: Entry): number {
  return entry.data.length + 24;
}

/** Keep a prefix of `entries` within `maxBytes`, always at least one entry. */
export function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entryBytes(entries[i] as Entry);
    if (size > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

export class MemoryStorage implements Storage {
  #hardState: HardState = emptyHardState;
  #snapshot: Snapshot = { meta: { index: 0, term: 0, conf: emptyConfState }, data: new Uint8Array(0) };
  /** #entries[0] is a dummy standing for the snapshot (its index and term). */
  #entries: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.meta.conf };
  }

  hardState(): HardState {
    return this.#hardState;
  }

  setHardState(hs: HardState): void {
    this.#hardState = hs;
  }

  #offset(): number {
    return (this.#entries[0] as Entry).index;
  }

  firstIndex(): number {
    return this.#offset() + 1;
  }

  lastIndex(): number {
    return this.#offset() + this.#entries.length - 1;
  }

  term(index: number): number {
    const offset = this.#offset();
    if (index < offset) throw new ConclaveError(ErrorCode.COMPACTED, `term(${index}) is compacted (first index ${offset + 1})`);
    if (index > this.lastIndex()) throw new ConclaveError(ErrorCode.UNAVAILABLE, `term(${index}) beyond last index ${this.lastIndex()}`);
    return (this.#entries[index - offset] as Entry).term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#offset();
    if (lo <= offset) throw new ConclaveError(ErrorCode.COMPACTED, `entries from ${lo} are compacted (first index ${offset + 1})`);
    if (hi > this.lastIndex() + 1) throw new ConclaveError(ErrorCode.UNAVAILABLE, `entries up to ${hi} beyond last index ${this.lastIndex()}`);
    return limitBytes(this.#entries.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** All stored entries (after the snapshot), for inspection and the simulator's checks. */
  allEntries(): readonly Entry[] {
    return this.#entries.slice(1);
  }

  /** Replace everything with `snap` (a follower installing a leader's snapshot). */
  applySnapshot(snap: Snapshot): void {
    assert(snap.meta.index >= this.#snapshot.meta.index, () => `snapshot ${snap.meta.index} is older than ${this.#snapshot.meta.index}`);
    this.#snapshot = snap;
    this.#entries = [{ term: snap.meta.term, index: snap.meta.index, type: 0, data: new Uint8Array(0) }];
  }

  /** Record a snapshot of the applied state at `index` (≤ last index); entries are kept until `compact`. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.#snapshot.meta.index, () => `snapshot index ${index} is not newer than ${this.#snapshot.meta.index}`);
    assert(index <= this.lastIndex(), () => `snapshot index ${index} beyond last index ${this.lastIndex()}`);
    this.#snapshot = { meta: { index, term: this.term(index), conf }, data };
    return this.#snapshot;
  }

  /** Drop entries up to and including `index`, which the latest snapshot must cover. */
  compact(index: number): void {
    const offset = this.#offset();
    if (index <= offset) return;
    assert(index <= this.#snapshot.meta.index, () => `compact(${index}) beyond snapshot index ${this.#snapshot.meta.index}`);
    const dummy = this.#entries[index - offset] as Entry;
    this.#entries = [{ term: dummy.term, index: dummy.index, type: 0, data: new Uint8Array(0) }, ...this.#entries.slice(index - offset + 1)];
  }

  /** Append persisted entries, truncating any conflicting suffix they replace. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const incomingFirst = (entries[0] as Entry).index;
    // Entries below our first index are already covered by the snapshot.
    const fresh = incomingFirst < first ? entries.slice(first - incomingFirst) : entries;
    if (fresh.length === 0) return;
    const at = (fresh[0] as Entry).index;
    assert(at <= this.lastIndex() + 1, () => `append at ${at} leaves a gap after ${this.lastIndex()}`);
    this.#entries = this.#entries.slice(0, at - this.#offset());
    for (const e of fresh) this.#entries.push(e);
  }
}
