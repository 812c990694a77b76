/**
 * A replica's durable storage: the write-ahead log and the SQLite snapshots on disk, with the
 * `MemoryStorage` the Raft core reads kept in step. `persist(ready)` is the shell's one durable
 * step per Ready (one WAL write + fdatasync); `saveSnapshot` records a state-machine snapshot and
 * compacts the log and old files behind it.
 *
 * Layout under the data directory: `wal/` (segments) and `snap/` (one SQLite file per snapshot).
 */
import { join } from 'node:path';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type ConfState, type Entry, MemoryStorage, type Ready, type Snapshot } from '../raft/index.js';
import { type SnapshotFileInfo, type SnapshotHeader, SnapshotStore, type SnapshotTableSpec, type SnapshotWriter } from './sqlite-snapshot.js';
import { Wal } from './wal.js';

export interface DiskStorageOptions {
  /** Snapshot files kept (older ones are deleted with the log segments they cover). */
  readonly keepSnapshots?: number;
  /** Entries kept in the log behind a new snapshot, so slightly lagging followers need no snapshot. */
  readonly keepEntriesAfterSnapshot?: number;
  readonly segmentBytesMax?: number;
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
}

export class DiskStorage {
  readonly memory: MemoryStorage;
  readonly wal: Wal;
  readonly snapshots: SnapshotStore;
  readonly #keepEntries: number;
  /** The snapshot file the memory log starts from (undefined: from the beginning). */
  #snapshotFile: SnapshotFileInfo | undefined;

  private constructor(memory: MemoryStorage, wal: Wal, snapshots: SnapshotStore, file: SnapshotFileInfo | undefined, opts: DiskStorageOptions) {
    this.memory = memory;
    this.wal = wal;
    this.snapshots = snapshots;
    this.#snapshotFile = file;
    this.#keepEntries = opts.keepEntriesAfterSnapshot ?? 1000;
  }

  static async open(dataDir: string, opts: DiskStorageOptions = {}): Promise<DiskStorage> {
    const snapshots = new SnapshotStore(join(dataDir, 'snap'), { keep: opts.keepSnapshots ?? 3 });
    await snapshots.open();
    const { wal, contents } = await Wal.open(join(dataDir, 'wal'), {
      ...(opts.segmentBytesMax !== undefined ? { segmentBytesMax: opts.segmentBytesMax } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    const memory = new MemoryStorage();
    const file = snapshots.latest();
    let base = 0;
    if (file) {
      const header = await snapshots.readHeader(file.path);
      memory.applySnapshot({ meta: { index: header.index, term: header.term, conf: header.conf }, data: await snapshots.readBytes(file.path) });
      base = header.index;
    }
    if (contents.snapshot && contents.snapshot.index > base) {
      throw new ConclaveError(ErrorCode.CORRUPTED, `the log was replaced by snapshot ${contents.snapshot.index}, but no snapshot file that new exists in ${join(dataDir, 'snap')}`);
    }
    const entries = contents.entries.filter((e) => e.index > base);
    const first = entries[0];
    if (first && first.index > base + 1) {
      throw new ConclaveError(ErrorCode.CORRUPTED, `the log starts at ${first.index} but the newest snapshot ends at ${base}: entries are missing`, { dataDir });
    }
    memory.append(entries);
    memory.setHardState(contents.hardState);
    return new DiskStorage(memory, wal, snapshots, file, opts);
  }

  /** Is this a brand-new data directory (nothing was ever persisted)? */
  isEmpty(): boolean {
    return this.memory.lastIndex() === 0 && this.memory.hardState().term === 0;
  }

  /** Persist a founding member's bootstrap entries. */
  async bootstrap(entries: readonly Entry[], hardState: Ready['hardState']): Promise<void> {
    await this.wal.save({ entries, hardState });
    this.memory.append(entries);
    if (hardState) this.memory.setHardState(hardState);
  }

  /**
   * Make a Ready durable: install an incoming snapshot file first (fsync'd and renamed), then one
   * WAL write + fdatasync for the snapshot mark, entries and hard state. Only then does the memory
   * log (what the core reads) change. Returns the installed snapshot's file, if any.
   */
  async persist(rd: Ready): Promise<SnapshotFileInfo | undefined> {
    let installed: SnapshotFileInfo | undefined;
    if (rd.snapshot) {
      installed = await this.snapshots.install(rd.snapshot.data);
      if (installed.index !== rd.snapshot.meta.index || installed.term !== rd.snapshot.meta.term) {
        throw new ConclaveError(ErrorCode.CORRUPTED, `received snapshot file is ${installed.term}/${installed.index}, expected ${rd.snapshot.meta.term}/${rd.snapshot.meta.index}`);
      }
    }
    const snapshotMark = rd.snapshot ? { index: rd.snapshot.meta.index, term: rd.snapshot.meta.term } : undefined;
    if (snapshotMark || rd.entries.length > 0 || rd.hardState) {
      await this.wal.save({ snapshot: snapshotMark, entries: rd.entries, hardState: rd.hardState, sync: rd.mustSync });
    }
    if (rd.snapshot) {
      this.memory.applySnapshot(rd.snapshot);
      this.#snapshotFile = installed;
    }
    this.memory.append(rd.entries);
    if (rd.hardState) this.memory.setHardState(rd.hardState);
    return installed;
  }

  /**
   * Record a snapshot of the state machine at `index` (its applied index, with membership `conf`).
   * `fill` streams the state's rows into the writer (in batches, yielding, so the event loop runs).
   * Then the memory log is compacted, old snapshot files pruned and covered log segments deleted.
   */
  async saveSnapshot(
    header: Omit<SnapshotHeader, 'term'>,
    tables: readonly SnapshotTableSpec[],
    fill: (writer: SnapshotWriter) => Promise<void>,
  ): Promise<SnapshotFileInfo | undefined> {
    if (header.index <= this.memory.snapshot().meta.index) return undefined;
    const term = this.memory.term(header.index);
    const writer = this.snapshots.beginWrite({ ...header, term }, tables);
    try {
      await fill(writer);
    } catch (err: unknown) {
      await writer.abort();
      throw err;
    }
    const info = await writer.commit();
    const data = await this.snapshots.readBytes(info.path);
    // A newer snapshot may have been installed from the leader while we wrote this one.
    if (header.index <= this.memory.snapshot().meta.index) return info;
    const snap: Snapshot = this.memory.createSnapshot(header.index, header.conf as ConfState, data);
    this.#snapshotFile = info;
    this.memory.compact(Math.max(0, snap.meta.index - this.#keepEntries));
    const oldestKept = await this.snapshots.prune();
    await this.wal.releaseTo(Math.min(oldestKept, Math.max(0, snap.meta.index - this.#keepEntries)));
    return info;
  }

  /** The snapshot file the state machine should restore from at start, if any. */
  snapshotFile(): SnapshotFileInfo | undefined {
    return this.#snapshotFile;
  }

  async close(): Promise<void> {
    await this.wal.close();
    await this.snapshots.close();
  }
}
