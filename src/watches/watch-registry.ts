/**
 * Who watches what on this replica (ZooKeeper's `WatchManager`). Never replicated.
 *
 * One-shot watches (ZooKeeper's, removed when they fire):
 * - `data` (Get, or Exists on an existing node): changed or deleted of the path;
 * - `exists` (Exists on a missing node): created, changed or deleted of the path;
 * - `children` (Children): children or deleted of the path.
 * Setting the same kind on the same path again before it fires adds nothing (one notification).
 *
 * Persistent watches stay until removed and carry a filter of event types and `withData`:
 * - on one path: created, changed, deleted and children of exactly that path;
 * - recursive: created, changed and deleted of the path and every descendant, but never `children`
 *   (as ZooKeeper's PERSISTENT_RECURSIVE: the created/deleted of a child already says it).
 *
 * As in ZooKeeper, a watcher gets one notification per event however many of its watches match:
 * `match` returns one `WatchMatch` per watcher, listing every matching persistent handle and fired
 * one-shot kind so the client can dispatch to each.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { parentPath, validatePath } from '../state/path.js';
import { WATCH_EVENT_TYPES, type WatchEvent, type WatchEventType } from './watch-event.js';

export type OneShotKind = 'data' | 'exists' | 'children';

export const ONE_SHOT_KINDS: readonly OneShotKind[] = ['data', 'exists', 'children'];

export interface PersistentWatchOptions {
  /** The whole subtree rather than the path alone. Default false. */
  readonly recursive?: boolean;
  /** Event types delivered; default all (all but `children` for recursive watches). */
  readonly types?: Iterable<WatchEventType>;
  /** Whether the server should fill data and stat into this watch's events. Default false. */
  readonly withData?: boolean;
}

export interface PersistentWatch {
  readonly handleId: number;
  readonly watcherId: number;
  readonly path: string;
  readonly recursive: boolean;
  readonly types: readonly WatchEventType[];
  readonly withData: boolean;
}

/** One notification: `event` goes to `watcherId` once, on behalf of every listed watch. */
export interface WatchMatch {
  readonly watcherId: number;
  /** The persistent watches that matched, ascending; empty when only one-shots fired. */
  readonly handleIds: readonly number[];
  /** The one-shot kinds that fired (and are now removed), in `ONE_SHOT_KINDS` order. */
  readonly oneShotKinds: readonly OneShotKind[];
  /** Whether any matching persistent watch asked for data. */
  readonly withData: boolean;
  readonly event: WatchEvent;
}

export interface WatchRegistryLimits {
  /** Most watches (one-shot kinds on a path, plus persistent handles) of one watcher. */
  readonly maxWatchesPerWatcher: number;
  /** Most watches on this replica. */
  readonly maxWatches: number;
}

const TYPE_BIT: Readonly<Record<WatchEventType, number>> = { created: 1, changed: 2, deleted: 4, children: 8 };
const ALL_TYPES = 15;
const RECURSIVE_TYPES = ALL_TYPES & ~TYPE_BIT.children;
const KIND_BIT: Readonly<Record<OneShotKind, number>> = { data: 1, exists: 2, children: 4 };
/** The one-shot kinds each event type fires. */
const FIRES: Readonly<Record<WatchEventType, number>> = {
  created: KIND_BIT.exists,
  changed: KIND_BIT.data | KIND_BIT.exists,
  deleted: KIND_BIT.data | KIND_BIT.exists | KIND_BIT.children,
  children: KIND_BIT.children,
};

interface Handle {
  readonly handleId: number;
  readonly watcherId: number;
  readonly path: string;
  readonly recursive: boolean;
  readonly typeMask: number;
  readonly withData: boolean;
}

/** The one-shot kinds one watcher has on one path; shared by both indexes. */
interface OneShotEntry {
  mask: number;
}

interface WatcherRecord {
  readonly oneShots: Map<string, OneShotEntry>;
  readonly handles: Map<number, Handle>;
  count: number;
}

interface Builder {
  handleIds: number[];
  kindMask: number;
  withData: boolean;
}

/** Whether a persistent watch delivers `event` (the registry's rule, for filtering history on resume). */
export function persistentWatchAccepts(watch: Pick<PersistentWatch, 'path' | 'recursive' | 'types'>, event: WatchEvent): boolean {
  if (!watch.types.includes(event.type)) return false;
  if (!watch.recursive) return event.path === watch.path;
  return event.type !== 'children' && isWithin(event.path, watch.path);
}

/** Whether `path` is `root` or below it (`/ab` is not below `/a`). */
export function isWithin(path: string, root: string): boolean {
  if (root === '/' || path === root) return true;
  return path.length > root.length && path.startsWith(root) && path.charCodeAt(root.length) === 0x2f;
}

export class WatchRegistry {
  readonly limits: WatchRegistryLimits;
  readonly #oneShots = new Map<string, Map<number, OneShotEntry>>();
  readonly #exact = new Map<string, Set<Handle>>();
  readonly #recursive = new Map<string, Set<Handle>>();
  readonly #handles = new Map<number, Handle>();
  readonly #watchers = new Map<number, WatcherRecord>();
  #size = 0;
  #nextHandleId = 1;

  constructor(limits: WatchRegistryLimits) {
    for (const name of ['maxWatchesPerWatcher', 'maxWatches'] as const) {
      const value = limits[name];
      if (!Number.isSafeInteger(value) || value <= 0) {
        throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `watch limit ${name} must be a positive integer, got ${String(value)}`, { name, value });
      }
    }
    this.limits = { ...limits };
  }

  /** Watches registered (each one-shot kind on a path, each persistent handle). */
  get size(): number {
    return this.#size;
  }

  /** Watchers with at least one watch. */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  watchCountOf(watcherId: number): number {
    return this.#watchers.get(watcherId)?.count ?? 0;
  }

  /** Sets a one-shot watch; false when the same one was already set (nothing added). */
  addOneShot(watcherId: number, kind: OneShotKind, path: string): boolean {
    const bit = KIND_BIT[kind];
    assert(bit !== undefined, () => `unknown one-shot watch kind ${String(kind)}`);
    validatePath(path);
    const existing = this.#watchers.get(watcherId)?.oneShots.get(path);
    if (existing !== undefined && (existing.mask & bit) !== 0) return false;
    const record = this.#reserve(watcherId);
    if (existing !== undefined) {
      existing.mask |= bit;
    } else {
      const entry: OneShotEntry = { mask: bit };
      record.oneShots.set(path, entry);
      let byWatcher = this.#oneShots.get(path);
      if (byWatcher === undefined) this.#oneShots.set(path, (byWatcher = new Map()));
      byWatcher.set(watcherId, entry);
    }
    return true;
  }

  /** Removes a one-shot watch before it fires; false when it was not set. */
  removeOneShot(watcherId: number, kind: OneShotKind, path: string): boolean {
    const record = this.#watchers.get(watcherId);
    const entry = record?.oneShots.get(path);
    const bit = KIND_BIT[kind];
    if (record === undefined || entry === undefined || (entry.mask & bit) === 0) return false;
    entry.mask &= ~bit;
    if (entry.mask === 0) this.#dropOneShotEntry(watcherId, record, path);
    this.#release(watcherId, record, 1);
    return true;
  }

  /** Adds a persistent watch and returns its handle id (unique on this registry). */
  addPersistent(watcherId: number, path: string, opts: PersistentWatchOptions = {}): number {
    validatePath(path);
    const recursive = opts.recursive === true;
    let typeMask = recursive ? RECURSIVE_TYPES : ALL_TYPES;
    if (opts.types !== undefined) {
      typeMask = 0;
      for (const type of opts.types) {
        const bit = TYPE_BIT[type];
        if (bit === undefined) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `unknown watch event type ${JSON.stringify(type)}`, { type });
        typeMask |= bit;
      }
      if (recursive && (typeMask & TYPE_BIT.children) !== 0) {
        throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'a recursive watch gets no children events; watch created and deleted instead', { path });
      }
      if (typeMask === 0) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'a watch must deliver at least one event type', { path });
    }
    const record = this.#reserve(watcherId);
    const handle: Handle = { handleId: this.#nextHandleId++, watcherId, path, recursive, typeMask, withData: opts.withData === true };
    record.handles.set(handle.handleId, handle);
    this.#handles.set(handle.handleId, handle);
    const index = recursive ? this.#recursive : this.#exact;
    let set = index.get(path);
    if (set === undefined) index.set(path, (set = new Set()));
    set.add(handle);
    return handle.handleId;
  }

  /** Removes one persistent watch of `watcherId`; false when it has no such handle. */
  remove(watcherId: number, handleId: number): boolean {
    const record = this.#watchers.get(watcherId);
    const handle = record?.handles.get(handleId);
    if (record === undefined || handle === undefined) return false;
    this.#dropHandle(record, handle);
    this.#release(watcherId, record, 1);
    return true;
  }

  /** Removes every watch of a watcher (its session closed or its stream went away); returns how many. */
  removeWatcher(watcherId: number): number {
    const record = this.#watchers.get(watcherId);
    if (record === undefined) return 0;
    const removed = record.count;
    for (const path of [...record.oneShots.keys()]) this.#dropOneShotEntry(watcherId, record, path);
    for (const handle of [...record.handles.values()]) this.#dropHandle(record, handle);
    this.#release(watcherId, record, removed);
    return removed;
  }

  persistentWatch(handleId: number): PersistentWatch | undefined {
    const h = this.#handles.get(handleId);
    if (h === undefined) return undefined;
    const types = WATCH_EVENT_TYPES.filter((t) => (h.typeMask & TYPE_BIT[t]) !== 0);
    return { handleId: h.handleId, watcherId: h.watcherId, path: h.path, recursive: h.recursive, types, withData: h.withData };
  }

  /**
   * Every watcher that gets `event`, once each, removing the one-shots that fire. Cost: the depth of
   * the path plus the watches of that path and its ancestors. Order: deterministic (one-shot
   * watchers, then exact persistent, then recursive from the deepest ancestor up).
   */
  match(event: WatchEvent): WatchMatch[] {
    const bit = TYPE_BIT[event.type];
    assert(bit !== undefined, () => `unknown event type ${String(event.type)}`);
    const found = new Map<number, Builder>();
    const builder = (watcherId: number): Builder => {
      let b = found.get(watcherId);
      if (b === undefined) found.set(watcherId, (b = { handleIds: [], kindMask: 0, withData: false }));
      return b;
    };

    const shots = this.#oneShots.get(event.path);
    if (shots !== undefined) {
      const fires = FIRES[event.type];
      for (const [watcherId, entry] of shots) {
        const fired = entry.mask & fires;
        if (fired === 0) continue;
        const record = this.#watchers.get(watcherId) as WatcherRecord;
        entry.mask &= ~fired;
        if (entry.mask === 0) this.#dropOneShotEntry(watcherId, record, event.path);
        this.#release(watcherId, record, bitCount(fired));
        builder(watcherId).kindMask |= fired;
      }
    }

    const addHandles = (set: Set<Handle> | undefined): void => {
      if (set === undefined) return;
      for (const h of set) {
        if ((h.typeMask & bit) === 0) continue;
        const b = builder(h.watcherId);
        b.handleIds.push(h.handleId);
        if (h.withData) b.withData = true;
      }
    };
    addHandles(this.#exact.get(event.path));
    if (event.type !== 'children' && this.#recursive.size > 0) {
      for (let p = event.path; ; p = parentPath(p)) {
        addHandles(this.#recursive.get(p));
        if (p === '/') break;
      }
    }

    const out: WatchMatch[] = [];
    for (const [watcherId, b] of found) {
      if (b.handleIds.length > 1) b.handleIds.sort((x, y) => x - y);
      const oneShotKinds = b.kindMask === 0 ? [] : ONE_SHOT_KINDS.filter((k) => (b.kindMask & KIND_BIT[k]) !== 0);
      out.push({ watcherId, handleIds: b.handleIds, oneShotKinds, withData: b.withData, event });
    }
    return out;
  }

  /** The watcher's record, after checking that one more watch fits; counts it. */
  #reserve(watcherId: number): WatcherRecord {
    assert(Number.isSafeInteger(watcherId), () => `watcher id must be an integer, got ${watcherId}`);
    let record = this.#watchers.get(watcherId);
    const count = record?.count ?? 0;
    if (count >= this.limits.maxWatchesPerWatcher) {
      throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `watcher ${watcherId} already has ${count} watches, the most allowed (maxWatchesPerWatcher)`, {
        limit: 'maxWatchesPerWatcher',
        max: this.limits.maxWatchesPerWatcher,
        watcherId,
      });
    }
    if (this.#size >= this.limits.maxWatches) {
      throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `this replica already has ${this.#size} watches, the most allowed (maxWatches)`, {
        limit: 'maxWatches',
        max: this.limits.maxWatches,
      });
    }
    if (record === undefined) this.#watchers.set(watcherId, (record = { oneShots: new Map(), handles: new Map(), count: 0 }));
    record.count++;
    this.#size++;
    return record;
  }

  #release(watcherId: number, record: WatcherRecord, n: number): void {
    record.count -= n;
    this.#size -= n;
    assert(record.count >= 0 && this.#size >= 0, 'watch counts never go negative');
    if (record.count === 0) this.#watchers.delete(watcherId);
  }

  #dropOneShotEntry(watcherId: number, record: WatcherRecord, path: string): void {
    record.oneShots.delete(path);
    const byWatcher = this.#oneShots.get(path);
    byWatcher?.delete(watcherId);
    if (byWatcher?.size === 0) this.#oneShots.delete(path);
  }

  #dropHandle(record: WatcherRecord, handle: Handle): void {
    record.handles.delete(handle.handleId);
    this.#handles.delete(handle.handleId);
    const index = handle.recursive ? this.#recursive : this.#exact;
    const set = index.get(handle.path);
    set?.delete(handle);
    if (set?.size === 0) index.delete(handle.path);
  }
}

function bitCount(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}
