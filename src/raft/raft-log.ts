/**
 * The whole log as one node sees it: the persisted part (`Storage`) under the unstable tail,
 * plus the commit and apply cursors. Terms outside the known range read as `undefined`.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import { UnstableLog } from './log-unstable.js';
import { type Storage, limitBytes } from './storage.js';
import type { Entry, Snapshot } from './types.js';

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: UnstableLog;
  committed: number;
  applied: number;

  constructor(storage: Storage) {
    this.storage = storage;
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    // The state machine restarts from the latest snapshot, which may be newer than the compaction point.
    const restored = Math.max(storage.firstIndex() - 1, storage.snapshot().meta.index);
    this.committed = restored;
    this.applied = restored;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The last index known to be durable on this node. */
  stableIndex(): number {
    // While an incoming snapshot is not yet durable, only the previous snapshot is known to be.
    if (this.unstable.snapshot) return this.storage.snapshot().meta.index;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (err: unknown) {
      if (isConclaveError(err, ErrorCode.COMPACTED) || isConclaveError(err, ErrorCode.UNAVAILABLE)) return undefined;
      throw err;
    }
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'the last entry has a term');
    return t;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ours = this.lastTerm();
    return lastTerm > ours || (lastTerm === ours && lastIndex >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries: if our entry at `index` has `logTerm`, append `entries`
   * (truncating a conflicting suffix) and return the index of the last new entry; else undefined.
   */
  maybeAppend(index: number, logTerm: number, commit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      this.append(entries.slice(conflict - index - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** The first incoming entry whose term differs from ours (or that we lack), or 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off (etcd's findConflictByTerm): the largest index ≤ `index` whose term is ≤ `term`.
   * Everything after it cannot match a log whose entry at `index` has term `term`.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
    }
    return i;
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = (entries[0] as Entry).index - 1;
    assert(after >= this.committed, () => `append after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, () => `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Committed entries not yet applied and already durable here, within `maxBytes`. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = Math.min(this.committed, this.stableIndex()) + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    if (this.unstable.snapshot) return false;
    return Math.max(this.applied + 1, this.firstIndex()) <= Math.min(this.committed, this.stableIndex());
  }

  /** Entries in [lo, hi) within `maxBytes` (at least one). Throws COMPACTED when lo is before the first index. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new ConclaveError(ErrorCode.COMPACTED, `entries from ${lo} are compacted`);
    assert(hi <= this.lastIndex() + 1, () => `slice up to ${hi} beyond last index ${this.lastIndex()}`);
    if (lo >= hi) return [];
    let out: Entry[] = [];
    const uOffset = this.unstable.offset;
    if (lo < uOffset) {
      out = this.storage.entries(lo, Math.min(hi, uOffset), maxBytes);
      if (out.length < Math.min(hi, uOffset) - lo) return out; // the byte limit stopped us
    }
    if (hi > uOffset) {
      out = out.concat(this.unstable.slice(Math.max(lo, uOffset), hi));
    }
    return limitBytes(out, maxBytes);
  }

  /** Entries from `lo` to the end, within `maxBytes`. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.slice();
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }
}
