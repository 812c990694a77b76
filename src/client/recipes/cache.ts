/**
 * A local mirror of a subtree (Curator's TreeCache), kept by one recursive watch with data.
 *
 * No change is missed, and none is applied out of order, by comparing zxids instead of trusting
 * timing: the watch starts first (it delivers every change after zxid W), then every node is read
 * (each read at some zxid R ≥ W, since reads never go below what the client has seen). For each
 * path the cache remembers the position its knowledge reflects — 2R+1 for a read at R (after the
 * whole entry R), 2Z for an event at Z (events of one entry arrive in order) — and applies a read
 * or an event only if it is newer; a delete seen while loading leaves a tombstone so an older read
 * cannot resurrect the node. A node with no children at its read needs no listing: any later child arrives as an event.
 * The watch and the reads share the session stream, so a read's answer at R comes after the events
 * up to R: when the reads are done the mirror equals the tree at the watch's position.
 * If the watch's history was compacted (COMPACTED), everything is read again and the differences
 * are emitted as changes; meanwhile the old mirror keeps serving.
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../../common/errors.js';
import type { Client } from '../client.js';
import { clientInternals } from '../internals.js';
import { joinPath } from '../paths.js';
import { TypedEmitter } from '../typed-emitter.js';
import type { Stat, WatchEvent } from '../types.js';
import { WatchStream } from '../watch-stream.js';

export interface CacheEntry {
  readonly data: Uint8Array;
  readonly stat: Stat;
}

export interface CacheChange {
  readonly type: 'created' | 'changed' | 'deleted';
  readonly path: string;
  /** The zxid of the change (for changes found by a re-read, the zxid of that read). */
  readonly zxid: number;
  /** The node after the change (absent for 'deleted'). */
  readonly entry?: CacheEntry;
}

export interface CacheEvents {
  change: [CacheChange];
  /** The cache stopped (session lost, client closed, ...); it serves its last state. */
  error: [unknown];
}

interface Known extends CacheEntry {
  /** The zxid of the read or event this came from. */
  readonly zxid: number;
  /** The position it reflects: `readPos` or `eventPos`. */
  readonly pos: number;
}

const readPos = (zxid: number): number => 2 * zxid + 1;
const eventPos = (zxid: number): number => 2 * zxid;

/** One full load: a watch and the mirror it feeds. */
interface Generation {
  readonly entries: Map<string, Known>;
  readonly tombstones: Map<string, number>;
  loading: boolean;
  failed: unknown;
  watch?: WatchStream;
}

/** Reads in flight at once while loading. */
const READ_BATCH = 64;

export class Cache extends TypedEmitter<CacheEvents> {
  readonly #client: Client;
  readonly #root: string;
  readonly #ready: Promise<void>;
  #gen: Generation | undefined;
  #closed = false;

  constructor(client: Client, root: string) {
    super();
    this.#client = client;
    this.#root = root;
    this.#ready = this.#load();
    this.#ready.catch(() => undefined);
  }

  /** Resolves once the mirror holds the whole subtree; rejects if it cannot be loaded. */
  ready(): Promise<void> {
    return this.#ready;
  }

  get(path: string): CacheEntry | undefined {
    const k = this.#gen?.entries.get(path);
    return k && { data: k.data, stat: k.stat };
  }

  *entries(): IterableIterator<[string, CacheEntry]> {
    for (const [path, k] of this.#gen?.entries ?? []) yield [path, { data: k.data, stat: k.stat }];
  }

  get size(): number {
    return this.#gen?.entries.size ?? 0;
  }

  close(): void {
    this.#closed = true;
    this.#gen?.watch?.close();
  }

  async #load(): Promise<void> {
    for (;;) {
      if (this.#closed) throw new ConclaveError(ErrorCode.UNAVAILABLE, 'the cache was closed');
      const gen: Generation = { entries: new Map(), tombstones: new Map(), loading: true, failed: undefined };
      gen.watch = new WatchStream(this.#client[clientInternals], this.#root, { recursive: true, withData: true }, { event: (e) => this.#onEvent(gen, e), error: (err) => this.#onWatchError(gen, err) });
      try {
        await gen.watch.started;
        await this.#readTree(gen);
      } catch (err: unknown) {
        gen.failed ??= err;
      }
      if (gen.failed !== undefined) {
        gen.watch.close();
        if (isConclaveError(gen.failed, ErrorCode.COMPACTED)) continue;
        throw gen.failed;
      }
      gen.loading = false;
      gen.tombstones.clear();
      const old = this.#gen;
      this.#gen = gen;
      if (old) this.#emitDifferences(old.entries, gen.entries);
      return;
    }
  }

  /** Level by level: get each node, list the children of those that have some. */
  async #readTree(gen: Generation): Promise<void> {
    let level = [this.#root];
    while (level.length > 0 && gen.failed === undefined) {
      const next: string[] = [];
      for (let i = 0; i < level.length; i += READ_BATCH) {
        await Promise.all(level.slice(i, i + READ_BATCH).map((path) => this.#readNode(gen, path, next)));
      }
      level = next;
    }
  }

  async #readNode(gen: Generation, path: string, next: string[]): Promise<void> {
    let read;
    try {
      read = await this.#client.get(path);
    } catch (err: unknown) {
      if (isConclaveError(err, ErrorCode.NO_NODE)) return; // deleted meanwhile: its event says so
      throw err;
    }
    const pos = readPos(read.zxid);
    const tomb = gen.tombstones.get(path);
    const known = gen.entries.get(path);
    if ((tomb === undefined || tomb < pos) && (!known || known.pos < pos)) {
      gen.entries.set(path, { data: read.data, stat: read.stat, zxid: read.zxid, pos });
    }
    if (read.stat.numChildren === 0) return;
    try {
      for await (const name of this.#client.allChildren(path)) next.push(joinPath(path, name));
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
    }
  }

  #onEvent(gen: Generation, e: WatchEvent): void {
    const pos = eventPos(e.zxid);
    const known = gen.entries.get(e.path);
    const tomb = gen.tombstones.get(e.path);
    if ((known && known.pos > pos) || (tomb !== undefined && tomb > pos)) return;
    const live = gen === this.#gen && !gen.loading;
    if (e.type === 'deleted') {
      if (gen.loading) gen.tombstones.set(e.path, pos);
      if (!known) return;
      gen.entries.delete(e.path);
      if (live) this.emit('change', { type: 'deleted', path: e.path, zxid: e.zxid });
      return;
    }
    if ((e.type !== 'created' && e.type !== 'changed') || !e.data || !e.stat) return;
    const entry: Known = { data: e.data, stat: e.stat, zxid: e.zxid, pos };
    gen.entries.set(e.path, entry);
    gen.tombstones.delete(e.path);
    if (live) this.emit('change', { type: known ? 'changed' : 'created', path: e.path, zxid: e.zxid, entry: { data: e.data, stat: e.stat } });
  }

  #onWatchError(gen: Generation, err: unknown): void {
    if (gen.loading) {
      gen.failed ??= err; // #load decides
      return;
    }
    if (gen !== this.#gen || this.#closed) return;
    if (isConclaveError(err, ErrorCode.COMPACTED)) {
      this.#load().catch((e: unknown) => this.emit('error', e));
      return;
    }
    this.emit('error', err);
  }

  #emitDifferences(before: Map<string, Known>, after: Map<string, Known>): void {
    for (const [path, k] of after) {
      const was = before.get(path);
      if (was && was.stat.mzxid === k.stat.mzxid && was.stat.czxid === k.stat.czxid) continue;
      this.emit('change', { type: was ? 'changed' : 'created', path, zxid: k.zxid, entry: { data: k.data, stat: k.stat } });
    }
    for (const [path, k] of before) if (!after.has(path)) this.emit('change', { type: 'deleted', path, zxid: k.zxid });
  }
}
