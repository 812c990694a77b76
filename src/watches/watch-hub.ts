/**
 * A replica's watch hub: the registry of who watches what, the history window for resumes, and the
 * delivery of every applied change to the watchers it concerns, synchronously at apply time, in
 * zxid order, each once. Pure: watchers are sinks given by the shell (a session stream, a simulated
 * client), and periodic progress is driven by the shell calling `progress()`.
 *
 * Each watch answers to the id of the request that set it (one-shots set by the same request id
 * share it). Because delivery happens as the change is applied, a watcher's events are written to
 * its stream before any later read answer on the same stream: a client never sees state newer than
 * an event it has not received (ZooKeeper's guarantee).
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { WatchHistory } from './watch-history.js';
import { type OneShotKind, type PersistentWatch, WatchRegistry, persistentWatchAccepts } from './watch-registry.js';
import type { WatchEvent, WatchEventType } from './watch-event.js';

export type WatchFrame =
  /** The watch is in place: every event with a zxid above `zxid` follows. */
  | { readonly kind: 'started'; readonly requestId: number; readonly zxid: number }
  | { readonly kind: 'event'; readonly requestId: number; readonly event: WatchEvent; readonly oneShot: boolean }
  /** Nothing happened to this watch: every change up to `zxid` has been delivered. */
  | { readonly kind: 'progress'; readonly requestId: number; readonly zxid: number; readonly compactionWarning: boolean }
  /** The watch is gone (slow watcher cut off, or a snapshot replaced the state); resume from the error's `currentZxid`. */
  | { readonly kind: 'cancelled'; readonly requestId: number; readonly error: ConclaveError };

export interface WatchSink {
  /** Write a frame; returns the bytes now buffered towards the watcher, for the slow-watcher bound. */
  send(frame: WatchFrame): number;
}

export interface WatchHubOptions {
  readonly historyEventsMax: number;
  readonly historyBytesMax: number;
  readonly watchesPerWatcherMax: number;
  readonly watchesMax: number;
  /** A watcher with more than this many bytes buffered is cut off (and may resume). */
  readonly bufferedBytesPerWatcherMax: number;
  /** Warn a watch whose resume point is within this many events of being compacted away. */
  readonly compactionWarningEvents: number;
}

export const defaultWatchHubOptions: WatchHubOptions = {
  historyEventsMax: 100_000,
  historyBytesMax: 64 * 1024 * 1024,
  watchesPerWatcherMax: 10_000,
  watchesMax: 1_000_000,
  bufferedBytesPerWatcherMax: 8 * 1024 * 1024,
  compactionWarningEvents: 10_000,
};

export interface WatchSpec {
  readonly path: string;
  readonly recursive: boolean;
  /** Resume: deliver every change after this zxid; undefined for "from now". */
  readonly fromZxid?: number;
  readonly types?: readonly WatchEventType[];
  readonly withData: boolean;
}

interface Watcher {
  readonly sink: WatchSink;
  /** persistent handle → the request id it answers to, and back. */
  readonly requestOfHandle: Map<number, number>;
  readonly handleOfRequest: Map<number, number>;
  /** `${kind} ${path}` → the request ids waiting on that one-shot. */
  readonly oneShots: Map<string, number[]>;
  /** Handles that got an event or a progress frame since the last `progress()`. */
  readonly busy: Set<number>;
  /** Bytes buffered towards the watcher after the last frame. */
  buffered: number;
  cut: boolean;
}

export class WatchHub {
  readonly history: WatchHistory;
  readonly registry: WatchRegistry;
  readonly #opts: WatchHubOptions;
  readonly #watchers = new Map<number, Watcher>();
  #nextWatcher = 1;
  readonly stats = { eventsSent: 0, slowWatchersCut: 0 };

  constructor(opts: WatchHubOptions = defaultWatchHubOptions, startZxid = 0) {
    this.#opts = opts;
    this.history = new WatchHistory({ maxEvents: opts.historyEventsMax, maxBytes: opts.historyBytesMax, startZxid });
    this.registry = new WatchRegistry({ maxWatchesPerWatcher: opts.watchesPerWatcherMax, maxWatches: opts.watchesMax });
  }

  get watcherCount(): number {
    return this.#watchers.size;
  }

  openWatcher(sink: WatchSink): number {
    const id = this.#nextWatcher++;
    this.#watchers.set(id, { sink, requestOfHandle: new Map(), handleOfRequest: new Map(), oneShots: new Map(), busy: new Set(), buffered: 0, cut: false });
    return id;
  }

  closeWatcher(watcherId: number): void {
    if (!this.#watchers.delete(watcherId)) return;
    this.registry.removeWatcher(watcherId);
  }

  /** Arm a one-shot watch; call it in the same turn as the read it belongs to. */
  oneShot(watcherId: number, requestId: number, kind: OneShotKind, path: string): void {
    const w = this.#watcher(watcherId);
    this.registry.addOneShot(watcherId, kind, path);
    const key = `${kind} ${path}`;
    const waiting = w.oneShots.get(key);
    if (waiting) waiting.push(requestId);
    else w.oneShots.set(key, [requestId]);
  }

  /**
   * Start a persistent watch answering to `requestId`. With `fromZxid`, the changes after it are
   * delivered first from the history (COMPACTED if it no longer reaches back that far); the
   * caller must have applied `fromZxid` already. Sends `started`, then those events.
   */
  watch(watcherId: number, requestId: number, spec: WatchSpec): void {
    const w = this.#watcher(watcherId);
    if (w.handleOfRequest.has(requestId)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `request id ${requestId} already names a watch on this stream`);
    const from = spec.fromZxid ?? this.history.currentZxid;
    if (from > this.history.currentZxid) {
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `this replica has applied ${this.history.currentZxid}, behind the resume point ${from}; try another replica`);
    }
    const handle = this.registry.addPersistent(watcherId, spec.path, { recursive: spec.recursive, ...(spec.types ? { types: spec.types } : {}), withData: spec.withData });
    let backlog: WatchEvent[];
    try {
      const watch = this.registry.persistentWatch(handle) as PersistentWatch;
      backlog = spec.fromZxid === undefined ? [] : this.history.since(from, (e) => persistentWatchAccepts(watch, e));
    } catch (err: unknown) {
      this.registry.remove(watcherId, handle);
      throw err;
    }
    w.requestOfHandle.set(handle, requestId);
    w.handleOfRequest.set(requestId, handle);
    this.#send(watcherId, w, { kind: 'started', requestId, zxid: from });
    for (const e of backlog) this.#send(watcherId, w, { kind: 'event', requestId, event: spec.withData ? e : strip(e), oneShot: false });
    // It barely made it: a later disconnect may leave it behind the window.
    if (spec.fromZxid !== undefined && this.nearCompaction(from)) this.#send(watcherId, w, { kind: 'progress', requestId, zxid: this.history.currentZxid, compactionWarning: true });
    w.busy.add(handle);
  }

  /** Remove the persistent watch set by `requestId`; false if there is none. */
  unwatch(watcherId: number, requestId: number): boolean {
    const w = this.#watcher(watcherId);
    const handle = w.handleOfRequest.get(requestId);
    if (handle === undefined) return false;
    w.handleOfRequest.delete(requestId);
    w.requestOfHandle.delete(handle);
    w.busy.delete(handle);
    return this.registry.remove(watcherId, handle);
  }

  /** The changes of the entry applied at `zxid` (data and stat filled for created/changed). */
  applied(zxid: number, events: readonly WatchEvent[]): void {
    this.history.append(events, zxid);
    for (const event of events) {
      for (const m of this.registry.match(event)) {
        const w = this.#watchers.get(m.watcherId);
        if (!w || w.cut) continue;
        for (const kind of m.oneShotKinds) {
          const key = `${kind} ${event.path}`;
          const ids = w.oneShots.get(key) ?? [];
          w.oneShots.delete(key);
          for (const requestId of ids) this.#send(m.watcherId, w, { kind: 'event', requestId, event: strip(event), oneShot: true });
        }
        for (const handle of m.handleIds) {
          const requestId = w.requestOfHandle.get(handle);
          if (requestId === undefined) continue;
          const withData = this.registry.persistentWatch(handle)?.withData ?? false;
          this.#send(m.watcherId, w, { kind: 'event', requestId, event: withData ? event : strip(event), oneShot: false });
          w.busy.add(handle);
        }
      }
    }
  }

  /**
   * A snapshot replaced the state, jumping to `zxid`: the changes in between exist nowhere here.
   * Every watch is cancelled with the zxid it had reached (UNAVAILABLE: resume, on another replica
   * if this one answers COMPACTED), and nothing before `zxid` can be resumed from here any more.
   */
  restart(zxid: number): void {
    const reached = this.history.currentZxid;
    for (const [watcherId, w] of this.#watchers) {
      if (w.cut) continue;
      const requests = [...w.requestOfHandle.values(), ...[...w.oneShots.values()].flat()];
      for (const requestId of requests) {
        const error = new ConclaveError(ErrorCode.UNAVAILABLE, `this replica jumped from zxid ${reached} to ${zxid} by installing a snapshot; resume from ${reached}`, { currentZxid: reached });
        w.sink.send({ kind: 'cancelled', requestId, error });
      }
      this.#forget(watcherId, w);
    }
    this.history.restart(zxid);
  }

  /**
   * Tell every persistent watch that heard nothing since the previous call where it stands (etcd's
   * progress notify). A watcher whose unread backlog passed half the slow-watcher bound gets a
   * compaction warning on every watch instead: it is about to be cut off and must resume soon.
   */
  progress(): void {
    const zxid = this.history.currentZxid;
    for (const [watcherId, w] of this.#watchers) {
      if (w.cut) continue;
      const lagging = w.buffered > this.#opts.bufferedBytesPerWatcherMax / 2;
      for (const [handle, requestId] of w.requestOfHandle) {
        if (w.busy.has(handle) && !lagging) continue;
        this.#send(watcherId, w, { kind: 'progress', requestId, zxid, compactionWarning: lagging });
      }
      w.busy.clear();
    }
  }

  /** Whether a client resuming from `fromZxid` is about to lose the history it needs. */
  nearCompaction(fromZxid: number): boolean {
    return this.history.nearEdge(fromZxid, this.#opts.compactionWarningEvents);
  }

  #watcher(watcherId: number): Watcher {
    const w = this.#watchers.get(watcherId);
    if (!w) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `watcher ${watcherId} is closed`);
    if (w.cut) throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, 'this stream was cut off as a slow watcher; open a new one and resume', { currentZxid: this.history.currentZxid });
    return w;
  }

  #send(watcherId: number, w: Watcher, frame: WatchFrame): void {
    if (w.cut) return;
    if (frame.kind === 'event') this.stats.eventsSent++;
    w.buffered = w.sink.send(frame);
    if (w.buffered > this.#opts.bufferedBytesPerWatcherMax) this.#cut(watcherId, w);
  }

  /**
   * A watcher that does not read its events is cut off rather than buffered without bound. Every
   * event up to the current zxid was already written for it, so that is where each watch resumes.
   */
  #cut(watcherId: number, w: Watcher): void {
    const zxid = this.history.currentZxid;
    this.stats.slowWatchersCut++;
    const requests = [...w.requestOfHandle.values(), ...[...w.oneShots.values()].flat()];
    for (const requestId of requests) {
      const error = new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `slow watcher: more than ${this.#opts.bufferedBytesPerWatcherMax} bytes of events unread; resume from zxid ${zxid}`, { currentZxid: zxid });
      w.sink.send({ kind: 'cancelled', requestId, error });
    }
    w.cut = true;
    this.#forget(watcherId, w);
  }

  /** Drop every watch of a watcher (it stays open). */
  #forget(watcherId: number, w: Watcher): void {
    w.requestOfHandle.clear();
    w.handleOfRequest.clear();
    w.oneShots.clear();
    w.busy.clear();
    this.registry.removeWatcher(watcherId);
  }
}

function strip(e: WatchEvent): WatchEvent {
  return e.data === undefined && e.stat === undefined ? e : { type: e.type, path: e.path, zxid: e.zxid };
}
