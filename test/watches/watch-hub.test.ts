import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/common/errors.js';
import { type WatchEvent, type WatchFrame, WatchHub, defaultWatchHubOptions } from '../../src/watches/index.js';

/** A sink that records frames and reports a chosen backlog. */
function sink(backlog = (_frames: WatchFrame[]) => 0): { frames: WatchFrame[]; send(f: WatchFrame): number } {
  const frames: WatchFrame[] = [];
  return {
    frames,
    send(f) {
      frames.push(f);
      return backlog(frames);
    },
  };
}

const ev = (type: WatchEvent['type'], path: string, zxid: number, data?: string): WatchEvent => ({ type, path, zxid, ...(data === undefined ? {} : { data: new TextEncoder().encode(data) }) });

describe('WatchHub', () => {
  it('fires a one-shot once, to every request that set it, without data', () => {
    const hub = new WatchHub();
    const s = sink();
    const w = hub.openWatcher(s);
    hub.oneShot(w, 1, 'data', '/a');
    hub.oneShot(w, 2, 'data', '/a');
    hub.applied(1, [ev('changed', '/a', 1, 'x')]);
    hub.applied(2, [ev('changed', '/a', 2, 'y')]);
    expect(s.frames).toEqual([
      { kind: 'event', requestId: 1, event: { type: 'changed', path: '/a', zxid: 1 }, oneShot: true },
      { kind: 'event', requestId: 2, event: { type: 'changed', path: '/a', zxid: 1 }, oneShot: true },
    ]);
    expect(hub.registry.size).toBe(0);
  });

  it('starts a persistent watch, replays history from a zxid, then delivers live events, data only if asked', () => {
    const hub = new WatchHub();
    hub.applied(1, [ev('created', '/r/a', 1, 'one')]);
    hub.applied(2, [ev('created', '/x', 2, 'other')]);
    hub.applied(3, [ev('changed', '/r/a', 3, 'two')]);
    const s = sink();
    const w = hub.openWatcher(s);
    hub.watch(w, 9, { path: '/r', recursive: true, fromZxid: 1, withData: true });
    hub.watch(w, 10, { path: '/r', recursive: true, withData: false });
    hub.applied(4, [ev('deleted', '/r/a', 4)]);
    expect(s.frames).toEqual([
      { kind: 'started', requestId: 9, zxid: 1 },
      { kind: 'event', requestId: 9, event: ev('changed', '/r/a', 3, 'two'), oneShot: false },
      { kind: 'started', requestId: 10, zxid: 3 },
      { kind: 'event', requestId: 9, event: ev('deleted', '/r/a', 4), oneShot: false },
      { kind: 'event', requestId: 10, event: ev('deleted', '/r/a', 4), oneShot: false },
    ]);
    expect(() => hub.watch(w, 9, { path: '/r', recursive: false, withData: false })).toThrow(/already names a watch/);
    expect(hub.unwatch(w, 9)).toBe(true);
    expect(hub.unwatch(w, 9)).toBe(false);
  });

  it('refuses a resume beyond what it has applied, and one older than its window, registering nothing', () => {
    const hub = new WatchHub({ ...defaultWatchHubOptions, historyEventsMax: 2 });
    for (let z = 1; z <= 5; z++) hub.applied(z, [ev('changed', '/a', z)]);
    const w = hub.openWatcher(sink());
    expect(() => hub.watch(w, 1, { path: '/a', recursive: false, fromZxid: 9, withData: false })).toThrow(ErrorCode.UNAVAILABLE);
    expect(() => hub.watch(w, 1, { path: '/a', recursive: false, fromZxid: 1, withData: false })).toThrow(ErrorCode.COMPACTED);
    expect(hub.registry.size).toBe(0);
  });

  it('sends progress only to idle watches, and compaction warnings to lagging watchers', () => {
    const hub = new WatchHub({ ...defaultWatchHubOptions, bufferedBytesPerWatcherMax: 1000 });
    const idle = sink();
    let backlog = 0;
    const lagging = sink(() => backlog);
    const a = hub.openWatcher(idle);
    const b = hub.openWatcher(lagging);
    hub.watch(a, 1, { path: '/quiet', recursive: false, withData: false });
    hub.watch(b, 2, { path: '/busy', recursive: false, withData: false });
    hub.progress(); // both were just started: busy
    expect(idle.frames.filter((f) => f.kind === 'progress')).toEqual([]);
    backlog = 600;
    hub.applied(1, [ev('changed', '/busy', 1)]);
    hub.progress();
    expect(idle.frames.at(-1)).toEqual({ kind: 'progress', requestId: 1, zxid: 1, compactionWarning: false });
    expect(lagging.frames.at(-1)).toEqual({ kind: 'progress', requestId: 2, zxid: 1, compactionWarning: true });
  });

  it('cuts off a watcher past its backlog bound, telling each watch where to resume, and forgets its watches', () => {
    const hub = new WatchHub({ ...defaultWatchHubOptions, bufferedBytesPerWatcherMax: 100 });
    const slow = sink((frames) => frames.length * 40);
    const w = hub.openWatcher(slow);
    hub.watch(w, 1, { path: '/a', recursive: false, withData: false });
    hub.oneShot(w, 2, 'children', '/b');
    hub.applied(1, [ev('changed', '/a', 1)]);
    hub.applied(2, [ev('changed', '/a', 2)]); // third frame: 120 bytes buffered
    const cancelled = slow.frames.filter((f) => f.kind === 'cancelled');
    expect(cancelled.map((f) => f.requestId).sort()).toEqual([1, 2]);
    expect(cancelled.every((f) => f.kind === 'cancelled' && f.error.code === ErrorCode.LIMIT_EXCEEDED && f.error.details['currentZxid'] === 2)).toBe(true);
    expect(hub.registry.size).toBe(0);
    hub.applied(3, [ev('changed', '/a', 3)]);
    expect(slow.frames.filter((f) => f.kind === 'event').map((f) => (f.kind === 'event' ? f.event.zxid : 0))).toEqual([1, 2]);
    expect(() => hub.watch(w, 3, { path: '/a', recursive: false, withData: false })).toThrow(ErrorCode.LIMIT_EXCEEDED);
    expect(hub.stats.slowWatchersCut).toBe(1);
  });

  it('forgets a closed watcher and its watches', () => {
    const hub = new WatchHub();
    const s = sink();
    const w = hub.openWatcher(s);
    hub.watch(w, 1, { path: '/', recursive: true, withData: false });
    hub.oneShot(w, 2, 'exists', '/n');
    hub.closeWatcher(w);
    hub.applied(1, [ev('created', '/n', 1)]);
    expect(s.frames).toHaveLength(1);
    expect(hub.registry.size).toBe(0);
    expect(hub.watcherCount).toBe(0);
  });
});

describe('WatchHub.restart (a snapshot installed)', () => {
  it('cancels every watch with the zxid it had reached, and refuses resumes from before the snapshot', () => {
    const hub = new WatchHub();
    const s = sink();
    const w = hub.openWatcher(s);
    hub.watch(w, 1, { path: '/', recursive: true, withData: false });
    hub.oneShot(w, 2, 'data', '/a');
    hub.applied(5, [ev('created', '/a', 5)]);
    hub.restart(40);
    const cancelled = s.frames.filter((f) => f.kind === 'cancelled');
    expect(cancelled.map((f) => f.requestId).sort()).toEqual([1, 2]);
    expect(cancelled.every((f) => f.kind === 'cancelled' && f.error.code === ErrorCode.UNAVAILABLE && f.error.details['currentZxid'] === 5)).toBe(true);
    hub.applied(41, [ev('changed', '/a', 41)]);
    expect(s.frames.filter((f) => f.kind === 'event' && f.event.zxid === 41)).toEqual([]);
    expect(() => hub.watch(w, 3, { path: '/', recursive: true, fromZxid: 5, withData: false })).toThrow(ErrorCode.COMPACTED);
    hub.watch(w, 4, { path: '/', recursive: true, fromZxid: 40, withData: false });
    expect(s.frames.at(-1)).toMatchObject({ kind: 'event', requestId: 4, event: { zxid: 41 } });
  });
});
