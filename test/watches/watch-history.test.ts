import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/common/assert.js';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { WATCH_EVENT_OVERHEAD_BYTES, WatchHistory, watchEventBytes, type WatchEvent } from '../../src/watches/index.js';

const ev = (zxid: number, path = `/n${zxid}`, type: WatchEvent['type'] = 'changed'): WatchEvent => ({ type, path, zxid });

function thrown(fn: () => unknown): ConclaveError {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err;
    throw err;
  }
  throw new Error('expected a ConclaveError');
}

/** zxids of what `since` returns. */
const zxids = (events: readonly WatchEvent[]): number[] => events.map((e) => e.zxid);

describe('watchEventBytes', () => {
  it('charges the UTF-8 path, the data and a fixed overhead', () => {
    expect(watchEventBytes({ type: 'created', path: '/ab', zxid: 1 })).toBe(WATCH_EVENT_OVERHEAD_BYTES + 3);
    expect(watchEventBytes({ type: 'changed', path: '/é', zxid: 1, data: new Uint8Array(10) })).toBe(WATCH_EVENT_OVERHEAD_BYTES + 3 + 10);
  });
});

describe('WatchHistory window', () => {
  it('evicts the oldest txns by count and moves oldestZxid to the last evicted zxid', () => {
    const h = new WatchHistory({ maxEvents: 3, maxBytes: 1 << 20 });
    for (let z = 1; z <= 5; z++) h.append([ev(z)], z);
    expect(h.length).toBe(3);
    expect(h.currentZxid).toBe(5);
    expect(h.oldestZxid).toBe(2);
    expect(zxids(h.since(2))).toEqual([3, 4, 5]);
  });

  it('evicts by bytes', () => {
    const size = watchEventBytes(ev(1, '/x'));
    const h = new WatchHistory({ maxEvents: 100, maxBytes: size * 2 });
    h.append([ev(1, '/x')], 1);
    h.append([ev(2, '/x')], 2);
    expect(h.length).toBe(2);
    expect(h.bytes).toBe(size * 2);
    h.append([{ type: 'changed', path: '/x', zxid: 3, data: new Uint8Array(1) }], 3);
    // The new event is one byte bigger: both older ones must go to fit.
    expect(h.length).toBe(1);
    expect(h.oldestZxid).toBe(2);
    expect(h.bytes).toBe(size + 1);
  });

  it('evicts a txn whole, even when only part of it is over the bound', () => {
    const h = new WatchHistory({ maxEvents: 3, maxBytes: 1 << 20 });
    h.append([ev(1, '/a', 'created'), ev(1, '/', 'children')], 1);
    h.append([ev(2, '/a'), ev(2, '/a')], 2);
    // 4 events > 3: txn 1 goes entirely, not just its first event.
    expect(h.length).toBe(2);
    expect(h.oldestZxid).toBe(1);
    expect(zxids(h.since(1))).toEqual([2, 2]);
  });

  it('a txn bigger than the whole window is evicted at once and compacts up to itself', () => {
    const h = new WatchHistory({ maxEvents: 2, maxBytes: 1 << 20 });
    h.append([ev(1)], 1);
    h.append([ev(2, '/a'), ev(2, '/b'), ev(2, '/c')], 2);
    expect(h.length).toBe(0);
    expect(h.bytes).toBe(0);
    expect(h.oldestZxid).toBe(2);
    expect(h.since(2)).toEqual([]);
    expect(thrown(() => h.since(1)).code).toBe(ErrorCode.COMPACTED);
  });

  it('keeps count and bytes within bounds over a long run, reclaiming evicted slots', () => {
    const h = new WatchHistory({ maxEvents: 50, maxBytes: 40 * watchEventBytes(ev(1, '/k')) });
    for (let z = 1; z <= 10_000; z++) {
      h.append(z % 3 === 0 ? [] : [ev(z, '/k'), ...(z % 7 === 0 ? [ev(z, '/k')] : [])], z);
      expect(h.length).toBeLessThanOrEqual(40);
    }
    const all = h.since(h.oldestZxid);
    expect(all.length).toBe(h.length);
    expect(all.every((e) => e.zxid > h.oldestZxid)).toBe(true);
    expect(all[all.length - 1]?.zxid).toBe(10_000);
  });
});

describe('WatchHistory.since boundaries', () => {
  // zxids 1..10, one event each except 6 and 7 (no events); window keeps 5 events.
  function history(): WatchHistory {
    const h = new WatchHistory({ maxEvents: 5, maxBytes: 1 << 20 });
    for (let z = 1; z <= 10; z++) h.append(z === 6 || z === 7 ? [] : [ev(z)], z);
    return h;
  }

  it('retains 4, 5, 8, 9, 10 (1..3 evicted): oldestZxid is 3', () => {
    const h = history();
    expect(h.length).toBe(5);
    expect(h.oldestZxid).toBe(3);
    expect(h.currentZxid).toBe(10);
  });

  it('fromZxid = oldest - 1 is COMPACTED with the window in the details', () => {
    const err = thrown(() => history().since(2));
    expect(err.code).toBe(ErrorCode.COMPACTED);
    expect(err.details).toEqual({ fromZxid: 2, oldestZxid: 3, currentZxid: 10 });
  });

  it('fromZxid = oldest returns everything retained', () => {
    expect(zxids(history().since(3))).toEqual([4, 5, 8, 9, 10]);
  });

  it('fromZxid inside a run of empty txns returns the next events', () => {
    expect(zxids(history().since(6))).toEqual([8, 9, 10]);
    expect(zxids(history().since(8))).toEqual([9, 10]);
  });

  it('fromZxid = current returns nothing, and so does a fromZxid beyond it', () => {
    expect(history().since(10)).toEqual([]);
    expect(history().since(11)).toEqual([]);
  });

  it('applies the filter after the lookup', () => {
    expect(zxids(history().since(3, (e) => e.zxid % 2 === 0))).toEqual([4, 8, 10]);
  });

  it('rejects a negative or fractional fromZxid as INVALID_ARGUMENT', () => {
    expect(thrown(() => history().since(-1)).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(thrown(() => history().since(3.5)).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('a history started at a snapshot zxid cannot serve resumes from before it', () => {
    const h = new WatchHistory({ maxEvents: 5, maxBytes: 1 << 20, startZxid: 100 });
    expect(thrown(() => h.since(99)).details).toEqual({ fromZxid: 99, oldestZxid: 100, currentZxid: 100 });
    h.append([ev(101)], 101);
    expect(zxids(h.since(100))).toEqual([101]);
  });
});

describe('WatchHistory.append invariants', () => {
  it('asserts strictly increasing zxids and events stamped with the txn zxid', () => {
    const h = new WatchHistory({ maxEvents: 5, maxBytes: 1 << 20 });
    h.append([], 4);
    expect(h.currentZxid).toBe(4);
    expect(() => h.append([], 4)).toThrow(AssertionError);
    expect(() => h.append([ev(5)], 6)).toThrow(AssertionError);
  });

  it('refuses bounds that are not positive integers', () => {
    expect(thrown(() => new WatchHistory({ maxEvents: 0, maxBytes: 10 })).code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(thrown(() => new WatchHistory({ maxEvents: 10, maxBytes: 1.5 })).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('WatchHistory.restart', () => {
  it('clears the history: resumes from before the snapshot are COMPACTED, after it are empty', () => {
    const h = new WatchHistory({ maxEvents: 10, maxBytes: 1 << 20 });
    for (let z = 1; z <= 5; z++) h.append([ev(z)], z);
    h.restart(20);
    expect(h.length).toBe(0);
    expect(h.bytes).toBe(0);
    expect(h.oldestZxid).toBe(20);
    expect(h.currentZxid).toBe(20);
    expect(thrown(() => h.since(5)).details).toEqual({ fromZxid: 5, oldestZxid: 20, currentZxid: 20 });
    expect(h.since(20)).toEqual([]);
    h.append([ev(21)], 21);
    expect(zxids(h.since(20))).toEqual([21]);
  });

  it('asserts the restart zxid does not go back', () => {
    const h = new WatchHistory({ maxEvents: 10, maxBytes: 1 << 20 });
    h.append([ev(5)], 5);
    expect(() => h.restart(4)).toThrow(AssertionError);
  });
});

describe('WatchHistory.nearEdge', () => {
  it('counts retained events behind the watcher plus free slots', () => {
    const h = new WatchHistory({ maxEvents: 10, maxBytes: 1 << 20 });
    for (let z = 1; z <= 6; z++) h.append([ev(z)], z);
    // At 0: 0 behind + 4 free = 4 more events before zxid 1 is evicted.
    expect(h.nearEdge(0, 4)).toBe(false);
    expect(h.nearEdge(0, 5)).toBe(true);
    // At 3: 3 behind + 4 free = 7.
    expect(h.nearEdge(3, 7)).toBe(false);
    expect(h.nearEdge(3, 8)).toBe(true);
  });

  it('is true once the watcher is compacted', () => {
    const h = new WatchHistory({ maxEvents: 2, maxBytes: 1 << 20 });
    for (let z = 1; z <= 6; z++) h.append([ev(z)], z);
    expect(h.oldestZxid).toBe(4);
    expect(h.nearEdge(3, 0)).toBe(true);
    expect(h.nearEdge(4, 0)).toBe(false);
  });

  it('counts the byte bound too', () => {
    const size = watchEventBytes(ev(1, '/x'));
    const h = new WatchHistory({ maxEvents: 1000, maxBytes: size * 4 });
    h.append([ev(1, '/x')], 1);
    h.append([ev(2, '/x')], 2);
    // Room for 2 more events of this size, though 998 by count.
    expect(h.nearEdge(0, 2)).toBe(false);
    expect(h.nearEdge(0, 3)).toBe(true);
  });
});
