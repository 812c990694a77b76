import { describe, expect, it } from 'vitest';
import { ConclaveError, ErrorCode } from '../../src/common/errors.js';
import { WatchRegistry, isWithin, persistentWatchAccepts, type WatchEvent, type WatchMatch } from '../../src/watches/index.js';

const ev = (type: WatchEvent['type'], path: string, zxid = 1): WatchEvent => ({ type, path, zxid });
const registry = (): WatchRegistry => new WatchRegistry({ maxWatchesPerWatcher: 100, maxWatches: 1000 });

/** The watcher ids a match reached, ascending. */
const who = (matches: readonly WatchMatch[]): number[] => matches.map((m) => m.watcherId).sort((a, b) => a - b);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConclaveError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('one-shot watches (ZooKeeper meaning)', () => {
  it('data fires on changed and deleted of its path, not created or children', () => {
    for (const [type, fires] of [['changed', true], ['deleted', true], ['created', false], ['children', false]] as const) {
      const r = registry();
      r.addOneShot(1, 'data', '/a');
      expect(who(r.match(ev(type, '/a'))), type).toEqual(fires ? [1] : []);
    }
  });

  it('exists fires on created, changed and deleted of its path, not children', () => {
    for (const [type, fires] of [['created', true], ['changed', true], ['deleted', true], ['children', false]] as const) {
      const r = registry();
      r.addOneShot(1, 'exists', '/a');
      expect(who(r.match(ev(type, '/a'))), type).toEqual(fires ? [1] : []);
    }
  });

  it('children fires on children and deleted of its path, not created or changed', () => {
    for (const [type, fires] of [['children', true], ['deleted', true], ['created', false], ['changed', false]] as const) {
      const r = registry();
      r.addOneShot(1, 'children', '/a');
      expect(who(r.match(ev(type, '/a'))), type).toEqual(fires ? [1] : []);
    }
  });

  it('fires once and is removed; events on other paths leave it alone', () => {
    const r = registry();
    r.addOneShot(1, 'data', '/a');
    expect(r.match(ev('changed', '/a/b'))).toEqual([]);
    expect(r.match(ev('changed', '/ab'))).toEqual([]);
    expect(r.size).toBe(1);
    const first = r.match(ev('changed', '/a', 7));
    expect(first).toEqual([{ watcherId: 1, handleIds: [], oneShotKinds: ['data'], withData: false, event: ev('changed', '/a', 7) }]);
    expect(r.size).toBe(0);
    expect(r.watcherCount).toBe(0);
    expect(r.match(ev('changed', '/a', 8))).toEqual([]);
  });

  it('an identical registration before it fires adds nothing and fires once', () => {
    const r = registry();
    expect(r.addOneShot(1, 'data', '/a')).toBe(true);
    expect(r.addOneShot(1, 'data', '/a')).toBe(false);
    expect(r.size).toBe(1);
    expect(r.match(ev('changed', '/a'))).toHaveLength(1);
    expect(r.size).toBe(0);
  });

  it('only the kinds an event fires are removed: a children watch survives a data change', () => {
    const r = registry();
    r.addOneShot(1, 'data', '/a');
    r.addOneShot(1, 'children', '/a');
    expect(r.match(ev('changed', '/a'))[0]?.oneShotKinds).toEqual(['data']);
    expect(r.size).toBe(1);
    expect(r.match(ev('children', '/a'))[0]?.oneShotKinds).toEqual(['children']);
    expect(r.size).toBe(0);
  });

  it('a delete fires data, exists and children watches of one watcher as one notification', () => {
    const r = registry();
    r.addOneShot(1, 'data', '/a');
    r.addOneShot(1, 'exists', '/a');
    r.addOneShot(1, 'children', '/a');
    r.addOneShot(2, 'children', '/a');
    const m = r.match(ev('deleted', '/a'));
    expect(m).toHaveLength(2);
    expect(m.find((x) => x.watcherId === 1)?.oneShotKinds).toEqual(['data', 'exists', 'children']);
    expect(m.find((x) => x.watcherId === 2)?.oneShotKinds).toEqual(['children']);
    expect(r.size).toBe(0);
  });

  it('removeOneShot removes one kind before it fires', () => {
    const r = registry();
    r.addOneShot(1, 'data', '/a');
    expect(r.removeOneShot(1, 'exists', '/a')).toBe(false);
    expect(r.removeOneShot(1, 'data', '/a')).toBe(true);
    expect(r.removeOneShot(1, 'data', '/a')).toBe(false);
    expect(r.size).toBe(0);
    expect(r.match(ev('changed', '/a'))).toEqual([]);
  });

  it('rejects a bad path with BAD_PATH and registers nothing', () => {
    const r = registry();
    expect(codeOf(() => r.addOneShot(1, 'data', 'a'))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(() => r.addPersistent(1, '/a/'))).toBe(ErrorCode.BAD_PATH);
    expect(r.size).toBe(0);
    expect(r.watcherCount).toBe(0);
  });
});

describe('persistent watches on one path', () => {
  it('get created, changed, deleted and children of exactly that path, and stay', () => {
    const r = registry();
    const h = r.addPersistent(1, '/a');
    for (const type of ['created', 'changed', 'children', 'deleted', 'created'] as const) {
      expect(r.match(ev(type, '/a')), type).toEqual([{ watcherId: 1, handleIds: [h], oneShotKinds: [], withData: false, event: ev(type, '/a') }]);
    }
    expect(r.match(ev('created', '/a/b'))).toEqual([]);
    expect(r.match(ev('created', '/'))).toEqual([]);
    expect(r.size).toBe(1);
  });

  it('deliver only the filtered types and carry withData', () => {
    const r = registry();
    const h = r.addPersistent(1, '/a', { types: ['deleted', 'children'], withData: true });
    expect(r.match(ev('changed', '/a'))).toEqual([]);
    expect(r.match(ev('created', '/a'))).toEqual([]);
    expect(r.match(ev('children', '/a'))[0]).toMatchObject({ handleIds: [h], withData: true });
    expect(r.persistentWatch(h)).toEqual({ handleId: h, watcherId: 1, path: '/a', recursive: false, types: ['deleted', 'children'], withData: true });
  });

  it('refuse an empty or unknown type filter', () => {
    const r = registry();
    expect(codeOf(() => r.addPersistent(1, '/a', { types: [] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(codeOf(() => r.addPersistent(1, '/a', { types: ['renamed' as 'created'] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(r.size).toBe(0);
  });
});

describe('persistent recursive watches', () => {
  it('get created/changed/deleted of the path and every descendant, not of lookalike siblings', () => {
    const r = registry();
    const h = r.addPersistent(1, '/a', { recursive: true });
    expect(who(r.match(ev('created', '/a/b/c')))).toEqual([1]);
    expect(who(r.match(ev('changed', '/a')))).toEqual([1]);
    expect(who(r.match(ev('deleted', '/a/b')))).toEqual([1]);
    expect(r.match(ev('created', '/ab/c'))).toEqual([]);
    expect(r.match(ev('created', '/ab'))).toEqual([]);
    expect(r.match(ev('changed', '/'))).toEqual([]);
    expect(r.match(ev('created', '/a/b/c'))[0]?.handleIds).toEqual([h]);
  });

  it('never get children events (ZooKeeper PERSISTENT_RECURSIVE)', () => {
    const r = registry();
    r.addPersistent(1, '/a', { recursive: true });
    expect(r.match(ev('children', '/a'))).toEqual([]);
    expect(r.match(ev('children', '/a/b'))).toEqual([]);
    expect(codeOf(() => r.addPersistent(1, '/a', { recursive: true, types: ['created', 'children'] }))).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(r.persistentWatch(1)?.types).toEqual(['created', 'changed', 'deleted']);
  });

  it('on the root sees the whole tree', () => {
    const r = registry();
    r.addPersistent(1, '/', { recursive: true, types: ['deleted'] });
    expect(who(r.match(ev('deleted', '/x/y/z')))).toEqual([1]);
    expect(r.match(ev('created', '/x/y/z'))).toEqual([]);
  });

  it('at several ancestors of one watcher give one notification listing every handle', () => {
    const r = registry();
    const top = r.addPersistent(1, '/', { recursive: true });
    const mid = r.addPersistent(1, '/a', { recursive: true, withData: true });
    const exact = r.addPersistent(1, '/a/b');
    r.addOneShot(1, 'exists', '/a/b');
    const other = r.addPersistent(2, '/a/b', { recursive: true });
    const m = r.match(ev('created', '/a/b'));
    expect(m).toHaveLength(2);
    expect(m.find((x) => x.watcherId === 1)).toEqual({ watcherId: 1, handleIds: [top, mid, exact], oneShotKinds: ['exists'], withData: true, event: ev('created', '/a/b') });
    expect(m.find((x) => x.watcherId === 2)?.handleIds).toEqual([other]);
  });
});

describe('removal', () => {
  it('remove drops one handle, only for its owner', () => {
    const r = registry();
    const h1 = r.addPersistent(1, '/a', { recursive: true });
    const h2 = r.addPersistent(1, '/a');
    expect(h1).not.toBe(h2);
    expect(r.remove(2, h1)).toBe(false);
    expect(r.remove(1, h1)).toBe(true);
    expect(r.remove(1, h1)).toBe(false);
    expect(r.persistentWatch(h1)).toBeUndefined();
    expect(r.match(ev('created', '/a/b'))).toEqual([]);
    expect(r.match(ev('created', '/a'))[0]?.handleIds).toEqual([h2]);
    expect(r.size).toBe(1);
  });

  it('removeWatcher drops everything of one watcher and nothing of others', () => {
    const r = registry();
    r.addOneShot(1, 'data', '/a');
    r.addOneShot(1, 'children', '/a');
    r.addPersistent(1, '/a');
    r.addPersistent(1, '/', { recursive: true });
    r.addOneShot(2, 'data', '/a');
    expect(r.size).toBe(5);
    expect(r.watcherCount).toBe(2);
    expect(r.removeWatcher(1)).toBe(4);
    expect(r.removeWatcher(1)).toBe(0);
    expect(r.size).toBe(1);
    expect(r.watcherCount).toBe(1);
    expect(who(r.match(ev('deleted', '/a')))).toEqual([2]);
  });
});

describe('limits', () => {
  it('refuses a watch over maxWatchesPerWatcher with LIMIT_EXCEEDED and details', () => {
    const r = new WatchRegistry({ maxWatchesPerWatcher: 2, maxWatches: 100 });
    r.addOneShot(1, 'data', '/a');
    r.addPersistent(1, '/b');
    // A duplicate one-shot adds nothing, so it is not refused.
    expect(r.addOneShot(1, 'data', '/a')).toBe(false);
    let err: unknown;
    try {
      r.addOneShot(1, 'exists', '/c');
    } catch (e: unknown) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConclaveError);
    expect((err as ConclaveError).code).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect((err as ConclaveError).details).toEqual({ limit: 'maxWatchesPerWatcher', max: 2, watcherId: 1 });
    expect((err as ConclaveError).message).toContain('maxWatchesPerWatcher');
    expect(r.watchCountOf(1)).toBe(2);
    r.addOneShot(2, 'data', '/a');
    // Firing a one-shot frees its slot.
    r.match(ev('changed', '/a'));
    expect(r.watchCountOf(1)).toBe(1);
    expect(() => r.addPersistent(1, '/c', { recursive: true })).not.toThrow();
  });

  it('refuses a watch over maxWatches for the replica', () => {
    const r = new WatchRegistry({ maxWatchesPerWatcher: 10, maxWatches: 3 });
    r.addOneShot(1, 'data', '/a');
    r.addOneShot(2, 'data', '/a');
    r.addPersistent(3, '/a');
    expect(codeOf(() => r.addPersistent(4, '/a'))).toBe(ErrorCode.LIMIT_EXCEEDED);
    expect(r.watcherCount).toBe(3);
    r.removeWatcher(2);
    expect(() => r.addPersistent(4, '/a')).not.toThrow();
  });

  it('refuses limits that are not positive integers', () => {
    expect(codeOf(() => new WatchRegistry({ maxWatchesPerWatcher: 0, maxWatches: 3 }))).toBe(ErrorCode.INVALID_ARGUMENT);
  });
});

describe('helpers', () => {
  it('isWithin respects segment boundaries', () => {
    expect(isWithin('/a/b', '/a')).toBe(true);
    expect(isWithin('/a', '/a')).toBe(true);
    expect(isWithin('/ab', '/a')).toBe(false);
    expect(isWithin('/a', '/a/b')).toBe(false);
    expect(isWithin('/x', '/')).toBe(true);
  });

  it('persistentWatchAccepts agrees with the registry for filtering history on resume', () => {
    const r = registry();
    const h = r.addPersistent(1, '/a', { recursive: true, types: ['created', 'deleted'] });
    const spec = r.persistentWatch(h);
    expect(spec).toBeDefined();
    if (spec === undefined) return;
    for (const e of [ev('created', '/a/b'), ev('changed', '/a/b'), ev('children', '/a'), ev('deleted', '/a'), ev('created', '/ab')]) {
      expect(persistentWatchAccepts(spec, e), `${e.type} ${e.path}`).toBe(r.match(e).length > 0);
    }
  });

  it('finds the one matching watcher among thousands on other paths', () => {
    const r = new WatchRegistry({ maxWatchesPerWatcher: 10, maxWatches: 100_000 });
    for (let w = 0; w < 5000; w++) {
      r.addPersistent(w, `/svc/${w}`, { recursive: true });
      r.addOneShot(w, 'data', `/cfg/${w}`);
    }
    const m = r.match(ev('changed', '/svc/42/x/y'));
    expect(m.map((x) => x.watcherId)).toEqual([42]);
    expect(r.size).toBe(10_000);
  });
});
