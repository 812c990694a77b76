/**
 * The leader's view of one follower (etcd's tracker.Progress): how far its log matches, what to
 * send next, and whether to probe, stream (replicate) or ship a snapshot. `Inflights` bounds the
 * number of append messages in flight while streaming.
 */
import { assert } from '../common/assert.js';
import type { Snapshot } from './types.js';

export const ProgressState = {
  /** We don't know where the follower's log matches: one append at a time until it does. */
  Probe: 'probe',
  /** Streaming appends optimistically, up to the in-flight window. */
  Replicate: 'replicate',
  /** The follower needs entries we have compacted: ship a snapshot in chunks. */
  Snapshot: 'snapshot',
} as const;
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState];

/** A ring of the last index of each in-flight append, freed as acknowledgements arrive. */
export class Inflights {
  readonly #capacity: number;
  #buffer: number[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights overflow');
    this.#buffer.push(lastIndex);
  }

  /** Free every in-flight message whose last index is ≤ `index`. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#buffer.length && (this.#buffer[n] as number) <= index) n++;
    if (n > 0) this.#buffer.splice(0, n);
  }

  full(): boolean {
    return this.#buffer.length >= this.#capacity;
  }

  count(): number {
    return this.#buffer.length;
  }

  reset(): void {
    this.#buffer = [];
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Probe state: an append was sent and no answer has come yet. */
  probeSent = false;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;
  /** Snapshot state: the snapshot being shipped and how many bytes the follower confirmed. */
  pendingSnapshot: Snapshot | undefined;
  snapshotChecksum = 0;
  snapshotOffset = 0;
  /** Replicate state: `match` at the previous heartbeat answer, to notice appends lost in transit. */
  matchAtLastHeartbeat = -1;

  constructor(next: number, inflightMax: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
    this.isLearner = isLearner;
  }

  #resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = undefined;
    this.snapshotOffset = 0;
    this.state = state;
    this.matchAtLastHeartbeat = -1;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot && this.pendingSnapshot) {
      const snapIndex = this.pendingSnapshot.meta.index;
      this.#resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, snapIndex + 1);
    } else {
      this.#resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot, checksum: number): void {
    this.#resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshot;
    this.snapshotChecksum = checksum;
  }

  /** An acknowledgement up to `index`; returns whether it told us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** Sent entries up to `lastIndex` while replicating: move `next` optimistically. */
  sentEntries(lastIndex: number, entryCount: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === ProgressState.Probe) {
      this.probeSent = true;
    }
  }

  /**
   * A rejection of the append at `rejected`; `hint` is where the follower suggests we retry.
   * Returns false when the rejection is stale (it concerns a message we've moved past).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  describe(): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? ' learner' : ''}${this.isPaused() ? ' paused' : ''}`;
  }
}
