/**
 * The recent committed events of one replica, for persistent watches that resume after a disconnect
 * (etcd's watchable store serves the same purpose from its MVCC history). Bounded by event count and
 * by bytes; the oldest txns are evicted whole.
 *
 * Positions are zxids meaning "I have seen every event up to and including this zxid".
 * `oldestZxid` is the highest zxid whose events were evicted (or the start/restart zxid): a resume
 * from any `fromZxid >= oldestZxid` is gap-free, one from below it is COMPACTED.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { watchEventBytes, type WatchEvent } from './watch-event.js';

export interface WatchHistoryOptions {
  /** Most events retained. */
  readonly maxEvents: number;
  /** Most bytes retained, as charged by `watchEventBytes`. */
  readonly maxBytes: number;
  /** The zxid already applied when the history starts (its events are not known). Default 0. */
  readonly startZxid?: number;
}

/** Retained slots are [#head, #events.length); evicted slots are cleared and reclaimed in bulk. */
const COMPACT_MIN_SLOTS = 1024;

export class WatchHistory {
  readonly maxEvents: number;
  readonly maxBytes: number;
  #events: Array<WatchEvent | undefined> = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #currentZxid: number;
  #oldestZxid: number;

  constructor(opts: WatchHistoryOptions) {
    for (const name of ['maxEvents', 'maxBytes'] as const) {
      const value = opts[name];
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `watch history ${name} must be a positive integer, got ${String(value)}`, { name, value });
      }
    }
    const start = opts.startZxid ?? 0;
    assert(Number.isSafeInteger(start) && start >= 0, () => `watch history startZxid must be a non-negative integer, got ${start}`);
    this.maxEvents = opts.maxEvents;
    this.maxBytes = opts.maxBytes;
    this.#currentZxid = start;
    this.#oldestZxid = start;
  }

  /** The zxid of the last txn appended. */
  get currentZxid(): number {
    return this.#currentZxid;
  }

  /** The lowest `fromZxid` that `since` accepts. */
  get oldestZxid(): number {
    return this.#oldestZxid;
  }

  /** Events retained. */
  get length(): number {
    return this.#events.length - this.#head;
  }

  /** Bytes retained. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records the events of the txn at `zxid` (possibly none), then evicts the oldest txns over the bounds. */
  append(events: readonly WatchEvent[], zxid: number): void {
    assert(Number.isSafeInteger(zxid) && zxid > this.#currentZxid, () => `watch history zxid must increase: ${zxid} after ${this.#currentZxid}`);
    for (const event of events) {
      assert(event.zxid === zxid, () => `event ${event.type} ${event.path} has zxid ${event.zxid}, appended at ${zxid}`);
      const size = watchEventBytes(event);
      this.#events.push(event);
      this.#sizes.push(size);
      this.#bytes += size;
    }
    this.#currentZxid = zxid;
    this.#evict();
  }

  /**
   * The events with zxid > `fromZxid`, in order, that pass `filter`. COMPACTED when `fromZxid` is below
   * `oldestZxid`. A `fromZxid` beyond `currentZxid` is legitimate (the client saw a replica that is
   * further ahead) and yields nothing: the caller must then skip live events up to `fromZxid`.
   */
  since(fromZxid: number, filter?: (event: WatchEvent) => boolean): WatchEvent[] {
    if (!Number.isSafeInteger(fromZxid) || fromZxid < 0) {
      throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `resume zxid must be a non-negative integer, got ${String(fromZxid)}`, { fromZxid });
    }
    if (fromZxid < this.#oldestZxid) {
      throw new ConclaveError(
        ErrorCode.COMPACTED,
        `watch history from zxid ${fromZxid} was compacted; the oldest resumable zxid is ${this.#oldestZxid}, re-read and watch again`,
        { fromZxid, oldestZxid: this.#oldestZxid, currentZxid: this.#currentZxid },
      );
    }
    const out: WatchEvent[] = [];
    if (fromZxid >= this.#currentZxid) return out;
    const end = this.#events.length;
    for (let i = this.#firstAfter(fromZxid); i < end; i++) {
      const event = this.#events[i] as WatchEvent;
      if (filter === undefined || filter(event)) out.push(event);
    }
    return out;
  }

  /**
   * Whether a watcher positioned at `fromZxid` is already compacted, or would be after about
   * `marginEvents` more events. An estimate: the count bound is exact, the byte bound assumes future
   * events of the current average size.
   */
  nearEdge(fromZxid: number, marginEvents: number): boolean {
    if (fromZxid < this.#oldestZxid) return true;
    const count = this.length;
    const behind = this.#firstAfter(fromZxid) - this.#head;
    let free = this.maxEvents - count;
    if (count > 0) free = Math.min(free, Math.floor((this.maxBytes - this.#bytes) / (this.#bytes / count)));
    return behind + free < marginEvents;
  }

  /** After a snapshot is installed at `zxid`: nothing before it can be resumed from. */
  restart(zxid: number): void {
    assert(Number.isSafeInteger(zxid) && zxid >= this.#currentZxid, () => `watch history restart at ${zxid} is behind ${this.#currentZxid}`);
    this.#events = [];
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#currentZxid = zxid;
    this.#oldestZxid = zxid;
  }

  /** The index of the first retained event with zxid > `zxid` (binary search). */
  #firstAfter(zxid: number): number {
    let lo = this.#head;
    let hi = this.#events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#events[mid] as WatchEvent).zxid <= zxid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #evict(): void {
    const end = this.#events.length;
    while (this.#head < end && (end - this.#head > this.maxEvents || this.#bytes > this.maxBytes)) {
      // Whole txns: a part of one left behind could never be served (every allowed resume skips it).
      const zxid = (this.#events[this.#head] as WatchEvent).zxid;
      while (this.#head < end && (this.#events[this.#head] as WatchEvent).zxid === zxid) {
        this.#bytes -= this.#sizes[this.#head] as number;
        this.#events[this.#head] = undefined;
        this.#head++;
      }
      this.#oldestZxid = zxid;
    }
    if (this.#head >= COMPACT_MIN_SLOTS && this.#head * 2 >= end) {
      this.#events = this.#events.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
  }
}
