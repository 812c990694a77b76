/**
 * Randomized model tests: the indexed registry against a naive scan of every watch, and the history
 * window against the full log, over seeded random trees, watches and events.
 */
import { describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { SeededRng, type Rng } from '../../src/common/rng.js';
import { WatchHistory, WatchRegistry, watchEventBytes, type OneShotKind, type WatchEvent, type WatchEventType } from '../../src/watches/index.js';

const TYPES: readonly WatchEventType[] = ['created', 'changed', 'deleted', 'children'];
const KINDS: readonly OneShotKind[] = ['data', 'exists', 'children'];

interface RefWatch {
  readonly watcherId: number;
  readonly kind: OneShotKind | 'persistent' | 'recursive';
  readonly path: string;
  readonly handleId: number;
  readonly types: ReadonlySet<WatchEventType>;
  readonly withData: boolean;
}

interface Notification {
  watcherId: number;
  handleIds: number[];
  oneShotKinds: OneShotKind[];
  withData: boolean;
}

const segments = (path: string): string[] => (path === '/' ? [] : path.slice(1).split('/'));

/** The obvious implementation: a flat list, scanned for every event, written from the rules. */
class NaiveRegistry {
  watches: RefWatch[] = [];
  constructor(readonly perWatcherMax: number, readonly totalMax: number) {}

  fires(w: RefWatch, e: WatchEvent): boolean {
    switch (w.kind) {
      case 'data':
        return e.path === w.path && (e.type === 'changed' || e.type === 'deleted');
      case 'exists':
        return e.path === w.path && e.type !== 'children';
      case 'children':
        return e.path === w.path && (e.type === 'children' || e.type === 'deleted');
      case 'persistent':
        return e.path === w.path && w.types.has(e.type);
      case 'recursive': {
        if (e.type === 'children' || !w.types.has(e.type)) return false;
        const root = segments(w.path);
        const p = segments(e.path);
        return p.length >= root.length && root.every((s, i) => p[i] === s);
      }
    }
  }

  /** 'dup' | 'limit' | 'ok' */
  check(watcherId: number, dup?: (w: RefWatch) => boolean): 'dup' | 'limit' | 'ok' {
    if (dup !== undefined && this.watches.some(dup)) return 'dup';
    if (this.watches.filter((w) => w.watcherId === watcherId).length >= this.perWatcherMax) return 'limit';
    if (this.watches.length >= this.totalMax) return 'limit';
    return 'ok';
  }

  match(e: WatchEvent): Notification[] {
    const by = new Map<number, Notification>();
    const fired = this.watches.filter((w) => this.fires(w, e));
    for (const w of fired) {
      let n = by.get(w.watcherId);
      if (n === undefined) by.set(w.watcherId, (n = { watcherId: w.watcherId, handleIds: [], oneShotKinds: [], withData: false }));
      if (w.kind === 'persistent' || w.kind === 'recursive') {
        n.handleIds.push(w.handleId);
        n.withData ||= w.withData;
      } else {
        n.oneShotKinds.push(w.kind);
      }
    }
    this.watches = this.watches.filter((w) => !(fired.includes(w) && (KINDS as readonly string[]).includes(w.kind)));
    return normalize([...by.values()]);
  }

  get watcherCount(): number {
    return new Set(this.watches.map((w) => w.watcherId)).size;
  }
}

function normalize(ns: readonly Notification[]): Notification[] {
  return ns
    .map((n) => ({
      watcherId: n.watcherId,
      handleIds: [...n.handleIds].sort((a, b) => a - b),
      oneShotKinds: KINDS.filter((k) => n.oneShotKinds.includes(k)),
      withData: n.withData,
    }))
    .sort((a, b) => a.watcherId - b.watcherId);
}

/** A random tree's paths, with lookalike names (`a`, `ab`) so prefix bugs show. */
function randomPaths(rng: Rng): string[] {
  const names = ['a', 'ab', 'b', 'a1'];
  const paths = new Set<string>(['/']);
  for (let i = 0; i < 40; i++) {
    const depth = rng.int(1, 5);
    let p = '';
    for (let d = 0; d < depth; d++) p += `/${rng.pick(names)}`;
    paths.add(p);
  }
  return [...paths].sort();
}

function limitCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err.code;
    throw err;
  }
  return undefined;
}

function runRegistryModel(seed: number, steps: number): { matches: number; notifications: number; limits: number } {
  const rng = new SeededRng(seed);
  const paths = randomPaths(rng);
  const perWatcherMax = 12;
  const totalMax = 150;
  const real = new WatchRegistry({ maxWatchesPerWatcher: perWatcherMax, maxWatches: totalMax });
  const ref = new NaiveRegistry(perWatcherMax, totalMax);
  const seenHandles = new Set<number>();
  let zxid = 0;
  let matches = 0;
  let notifications = 0;
  let limits = 0;
  for (let step = 0; step < steps; step++) {
    const watcherId = rng.int(1, 25);
    const path = rng.pick(paths);
    const roll = rng.next();
    const where = `seed ${seed} step ${step}`;
    if (roll < 0.45) {
      const event: WatchEvent = { type: rng.pick(TYPES), path, zxid: ++zxid };
      const got = real.match(event);
      expect(got.every((m) => m.event === event), where).toBe(true);
      const want = ref.match(event);
      expect(normalize(got.map((m) => ({ ...m, handleIds: [...m.handleIds], oneShotKinds: [...m.oneShotKinds] }))), where).toEqual(want);
      matches++;
      notifications += want.length;
    } else if (roll < 0.7) {
      const kind = rng.pick(KINDS);
      const expected = ref.check(watcherId, (w) => w.watcherId === watcherId && w.kind === kind && w.path === path);
      let added: boolean | undefined;
      const code = limitCode(() => (added = real.addOneShot(watcherId, kind, path)));
      if (expected === 'limit') {
        expect(code, where).toBe(ErrorCode.LIMIT_EXCEEDED);
        limits++;
      } else {
        expect(code, where).toBeUndefined();
        expect(added, where).toBe(expected === 'ok');
        if (expected === 'ok') ref.watches.push({ watcherId, kind, path, handleId: 0, types: new Set(), withData: false });
      }
    } else if (roll < 0.85) {
      const recursive = rng.chance(0.5);
      const allowed = recursive ? TYPES.filter((t) => t !== 'children') : TYPES;
      const types = rng.chance(0.5) ? undefined : allowed.filter(() => rng.chance(0.6));
      if (types !== undefined && types.length === 0) types.push(rng.pick(allowed));
      const withData = rng.chance(0.3);
      const expected = ref.check(watcherId);
      let handleId = 0;
      const code = limitCode(() => (handleId = real.addPersistent(watcherId, path, { recursive, withData, ...(types ? { types } : {}) })));
      if (expected === 'limit') {
        expect(code, where).toBe(ErrorCode.LIMIT_EXCEEDED);
        limits++;
      } else {
        expect(code, where).toBeUndefined();
        expect(seenHandles.has(handleId), where).toBe(false);
        seenHandles.add(handleId);
        ref.watches.push({ watcherId, kind: recursive ? 'recursive' : 'persistent', path, handleId, types: new Set(types ?? allowed), withData });
      }
    } else if (roll < 0.93) {
      const mine = ref.watches.filter((w) => w.handleId !== 0);
      if (mine.length === 0) continue;
      const target = rng.pick(mine);
      // Sometimes the wrong owner, which must be refused.
      const owner = rng.chance(0.2) ? target.watcherId + 1 : target.watcherId;
      expect(real.remove(owner, target.handleId), where).toBe(owner === target.watcherId);
      if (owner === target.watcherId) ref.watches = ref.watches.filter((w) => w !== target);
    } else if (roll < 0.97) {
      const kind = rng.pick(KINDS);
      const target = ref.watches.find((w) => w.watcherId === watcherId && w.kind === kind && w.path === path);
      expect(real.removeOneShot(watcherId, kind, path), where).toBe(target !== undefined);
      ref.watches = ref.watches.filter((w) => w !== target);
    } else {
      const before = ref.watches.length;
      ref.watches = ref.watches.filter((w) => w.watcherId !== watcherId);
      expect(real.removeWatcher(watcherId), where).toBe(before - ref.watches.length);
    }
    expect(real.size, where).toBe(ref.watches.length);
    expect(real.watcherCount, where).toBe(ref.watcherCount);
    expect(real.watchCountOf(watcherId), where).toBe(ref.watches.filter((w) => w.watcherId === watcherId).length);
  }
  return { matches, notifications, limits };
}

describe('WatchRegistry against a naive scan', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    it(`agrees exactly on seed ${seed}`, () => {
      const stats = runRegistryModel(seed, 6000);
      // The run must actually exercise matching and the limits, or agreement proves little.
      expect(stats.matches).toBeGreaterThan(2000);
      expect(stats.notifications).toBeGreaterThan(1000);
      expect(stats.limits).toBeGreaterThan(0);
    });
  }
});

describe('WatchHistory against the full log', () => {
  for (const seed of [7, 8, 9]) {
    it(`serves every gap-free resume exactly and evicts no more than the bounds require (seed ${seed})`, () => {
      const rng = new SeededRng(seed);
      const maxEvents = rng.int(5, 40);
      const maxBytes = rng.int(3, 30) * 150;
      const h = new WatchHistory({ maxEvents, maxBytes });
      const log: WatchEvent[] = [];
      let compactedChecks = 0;
      for (let zxid = 1; zxid <= 3000; zxid++) {
        const n = rng.chance(0.2) ? 0 : rng.int(1, 4);
        const events: WatchEvent[] = [];
        for (let i = 0; i < n; i++) {
          const data = rng.chance(0.3) ? new Uint8Array(rng.int(0, 200)) : undefined;
          events.push({ type: rng.pick(TYPES), path: `/p${rng.int(0, 9)}`, zxid, ...(data ? { data } : {}) });
        }
        h.append(events, zxid);
        log.push(...events);

        expect(h.length).toBeLessThanOrEqual(maxEvents);
        expect(h.bytes).toBeLessThanOrEqual(maxBytes);
        const retained = h.since(h.oldestZxid);
        expect(retained.length).toBe(h.length);
        expect(retained.reduce((s, e) => s + watchEventBytes(e), 0)).toBe(h.bytes);
        // Maximal: the newest evicted txn would not have fitted back in.
        const evicted = log.filter((e) => e.zxid === h.oldestZxid);
        if (evicted.length > 0 && h.oldestZxid > 0) {
          const fits = h.length + evicted.length <= maxEvents && h.bytes + evicted.reduce((s, e) => s + watchEventBytes(e), 0) <= maxBytes;
          expect(fits, `zxid ${zxid}`).toBe(false);
        }

        const from = rng.int(Math.max(0, h.oldestZxid - 3), zxid + 1);
        if (from < h.oldestZxid) {
          expect(() => h.since(from)).toThrow(ConclaveError);
          compactedChecks++;
        } else {
          expect(h.since(from)).toEqual(log.filter((e) => e.zxid > from));
        }
      }
      expect(compactedChecks).toBeGreaterThan(0);
      expect(h.oldestZxid).toBeGreaterThan(0);
    });
  }
});
