/**
 * Raft snapshots as SQLite files (DESIGN §4.6), written without stalling the event loop (§4.5).
 *
 * One directory holds `snap-<term 16 hex>-<index 16 hex>.sqlite` files. Each is a plain SQLite
 * database with a `meta` key/value table (index, term, membership, state machine name + schema
 * version, format version, optional zxid, created-at) beside the state machine's own tables.
 *
 * Durability: a file is built under a `*.tmp` name (in a worker thread), fsync'd, renamed into
 * place, and the directory fsync'd; so a published name always holds a complete file, and a crash
 * leaves at most a `*.tmp` that `open()` deletes. Received snapshots (`install`) go the same way,
 * after being checked to be one of ours.
 *
 * Errors: bad input (header, schema, rows, received bytes) is INVALID_ARGUMENT; a published file
 * that does not read back as a snapshot is CORRUPTED; a missing file or failing disk is UNAVAILABLE.
 */
import Database from 'better-sqlite3';
import { mkdir, open, readFile, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import {
  checkHeader,
  checkSqliteImage,
  checkTableSpecs,
  isSnapshotTempFileName,
  metaRows,
  parseSnapshotFileName,
  readMeta,
  selectSql,
  snapshotFileName,
  type SnapshotFileInfo,
  type SnapshotHeader,
  type SnapshotMeta,
  type SnapshotRow,
  type SnapshotTableSpec,
  type SnapshotValue,
} from './sqlite-snapshot-format.js';
import {
  WorkerSnapshotWriter,
  resolveSqlite,
  spawnSnapshotWorker,
  tempSuffix,
  yieldToEventLoop,
  type SnapshotWriter,
} from './sqlite-snapshot-writer.js';
import { fsyncPath, unlinkQuietly } from './fs-sync.js';

export { SNAPSHOT_FORMAT_VERSION } from './sqlite-snapshot-format.js';
export type { SnapshotColumnSpec, SnapshotFileInfo, SnapshotHeader, SnapshotRow, SnapshotTableSpec, SnapshotValue } from './sqlite-snapshot-format.js';
export { QUEUED_BYTES_MAX, QUEUED_PIECES_MAX, type SnapshotWriter } from './sqlite-snapshot-writer.js';

export interface SnapshotStoreOptions {
  /** How many snapshots `prune()` keeps. Default 3. */
  readonly keep?: number;
  /** Wall clock for the created-at stamp, in ms since the epoch. Default `Date.now`. */
  readonly nowMs?: () => number;
}

/** Rows per batch that `readRows` yields. */
export const READ_BATCH_ROWS_DEFAULT = 10_000;
/**
 * Most main-thread time `readRows` spends stepping SQLite before it gives the event loop a turn,
 * in ms, even inside a batch: reading rows back in key order costs several µs a row (1M rows of
 * 48 B: ~7 s), so a 10,000-row batch read in one go would stall the loop for ~70 ms.
 */
const READ_SLICE_MS = 4;
/** Rows read between checks of the clock. */
const READ_CLOCK_ROWS = 128;
const KEEP_DEFAULT = 3;

function byIndex(a: SnapshotFileInfo, b: SnapshotFileInfo): number {
  return a.index - b.index || a.term - b.term;
}

const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER);
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** INTEGERs come back as bigint (no silent rounding); hand back numbers where that is lossless. */
function toSnapshotValue(v: unknown): SnapshotValue {
  if (typeof v === 'bigint') return v >= SAFE_MIN && v <= SAFE_MAX ? Number(v) : v;
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength); // a plain view, not a Buffer
  return v as SnapshotValue;
}

/** Opens a snapshot read-only; a file SQLite cannot open at all is UNAVAILABLE, one it rejects is `code`. */
function openReadOnly(path: string, code: ErrorCode): Database.Database {
  try {
    return new Database(path, { readonly: true, fileMustExist: true });
  } catch (err: unknown) {
    const e = err as { code?: string; message?: string };
    const missing = e.code === 'SQLITE_CANTOPEN';
    throw new ConclaveError(missing ? ErrorCode.UNAVAILABLE : code, `cannot open snapshot ${path}: ${e.message ?? String(err)}`, { path, sqliteCode: e.code });
  }
}

/**
 * Reads meta, and checks that every table it lists exists. `code` is what a file that is not a sane
 * snapshot gets: INVALID_ARGUMENT for bytes just received, CORRUPTED for a published file.
 */
function readSnapshotMeta(path: string, code: ErrorCode): SnapshotMeta {
  const db = openReadOnly(path, code);
  try {
    const meta = readMeta(db, path, code);
    const present = new Set(
      db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .pluck()
        .all()
        .map((n) => String(n).toLowerCase()),
    );
    for (const t of meta.tables) {
      if (!present.has(t.name.toLowerCase())) throw new ConclaveError(code, `snapshot lacks table ${t.name} named in its meta`, { path, table: t.name });
    }
    return meta;
  } catch (err: unknown) {
    if (err instanceof ConclaveError) throw err;
    throw new ConclaveError(code, `unreadable snapshot ${path}: ${err instanceof Error ? err.message : String(err)}`, { path });
  } finally {
    db.close();
  }
}

export class SnapshotStore {
  readonly #dir: string;
  readonly #keep: number;
  readonly #nowMs: () => number;
  #files: SnapshotFileInfo[] = [];
  #opened = false;
  /** A worker started at open(), so the first snapshot pays no start-up on the event loop. */
  #spare: Worker | undefined;

  constructor(dir: string, opts: SnapshotStoreOptions = {}) {
    const keep = opts.keep ?? KEEP_DEFAULT;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'keep must be a positive integer', { keep });
    this.#dir = dir;
    this.#keep = keep;
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  get dir(): string {
    return this.#dir;
  }

  /**
   * Creates the directory, deletes temp files left by a crash, lists the published snapshots, and
   * starts a spare (unref'd) worker for the first snapshot.
   */
  async open(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const files: SnapshotFileInfo[] = [];
    for (const name of await readdir(this.#dir)) {
      const path = join(this.#dir, name);
      if (isSnapshotTempFileName(name)) {
        await unlinkQuietly(path);
        continue;
      }
      const parsed = parseSnapshotFileName(name);
      if (parsed) files.push({ path, ...parsed, bytes: (await stat(path)).size });
    }
    this.#files = files.sort(byIndex);
    resolveSqlite(); // module resolution does sync fs: here at startup rather than in the first beginWrite()
    this.#spare ??= this.#startSpare();
    this.#opened = true;
  }

  /** Stops the spare worker. Snapshots being written finish or fail on their own workers. */
  async close(): Promise<void> {
    const spare = this.#spare;
    this.#spare = undefined;
    this.#opened = false;
    if (spare) await spare.terminate();
  }

  /** Published snapshots, by index ascending. */
  list(): readonly SnapshotFileInfo[] {
    return [...this.#files];
  }

  latest(): SnapshotFileInfo | undefined {
    return this.#files[this.#files.length - 1];
  }

  /** Starts a snapshot; the returned writer builds it in a worker thread. Throws INVALID_ARGUMENT on a bad header or schema. */
  beginWrite(header: SnapshotHeader, tables: readonly SnapshotTableSpec[]): SnapshotWriter {
    this.#checkOpen();
    const h = checkHeader(header);
    const specs = checkTableSpecs(tables);
    const name = snapshotFileName(h.term, h.index);
    const worker = this.#spare ?? spawnSnapshotWorker();
    this.#spare = undefined;
    return new WorkerSnapshotWriter(worker, {
      tempPath: join(this.#dir, `${name}.${tempSuffix()}`),
      finalPath: join(this.#dir, name),
      index: h.index,
      term: h.term,
      tables: specs,
      meta: () => metaRows(h, specs, this.#nowMs()),
      onPublished: (info) => this.#add(info),
    });
  }

  /** The header of a published snapshot (CORRUPTED if the file is not a sane snapshot). */
  async readHeader(path: string): Promise<SnapshotHeader> {
    return readSnapshotMeta(path, ErrorCode.CORRUPTED).header;
  }

  /** The table specs the snapshot was written with (for a restore that checks its schema). */
  async readTables(path: string): Promise<readonly SnapshotTableSpec[]> {
    return readSnapshotMeta(path, ErrorCode.CORRUPTED).tables;
  }

  /** The whole file, to ship to a follower (Raft chunks it). */
  async readBytes(path: string): Promise<Uint8Array> {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Publishes a snapshot received from the leader: checks the bytes are a whole SQLite image, writes
   * and fsyncs a temp file, checks its meta and tables, renames it into place and fsyncs the
   * directory. Anything that is not a sane snapshot is refused with INVALID_ARGUMENT and leaves no file.
   */
  async install(bytes: Uint8Array): Promise<SnapshotFileInfo> {
    this.#checkOpen();
    checkSqliteImage(bytes);
    const temp = join(this.#dir, `snap-install.${tempSuffix()}`);
    let header: SnapshotHeader;
    try {
      const fh = await open(temp, 'wx');
      try {
        await fh.writeFile(bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      header = readSnapshotMeta(temp, ErrorCode.INVALID_ARGUMENT).header;
    } catch (err: unknown) {
      await unlinkQuietly(temp);
      if (err instanceof ConclaveError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `cannot write snapshot: ${e.message}`, { errno: e.code });
    }
    const path = join(this.#dir, snapshotFileName(header.term, header.index));
    try {
      await rename(temp, path);
    } catch (err: unknown) {
      await unlinkQuietly(temp);
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `cannot publish snapshot: ${(err as Error).message}`, { path });
    }
    await fsyncPath(this.#dir);
    const info: SnapshotFileInfo = { path, index: header.index, term: header.term, bytes: bytes.byteLength };
    this.#add(info);
    return info;
  }

  /**
   * Streams a table's rows, ordered by primary key (insertion order without one), in batches of
   * `batchRows`. The event loop gets a turn between batches and every `READ_SLICE_MS` within one.
   * Breaking out of the loop closes the file.
   */
  async *readRows(path: string, table: string, batchRows: number = READ_BATCH_ROWS_DEFAULT): AsyncGenerator<SnapshotRow[], void, undefined> {
    if (!Number.isSafeInteger(batchRows) || batchRows < 1) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'batchRows must be a positive integer', { batchRows });
    const spec = readSnapshotMeta(path, ErrorCode.CORRUPTED).tables.find((t) => t.name === table);
    if (!spec) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `snapshot has no table ${table}`, { path, table });
    const db = openReadOnly(path, ErrorCode.CORRUPTED);
    try {
      const rows = db.prepare(selectSql(spec)).raw(true).safeIntegers(true).iterate() as IterableIterator<unknown[]>;
      let batch: SnapshotRow[] = [];
      let sliceStarted = performance.now();
      for (const raw of rows) {
        for (let i = 0; i < raw.length; i++) raw[i] = toSnapshotValue(raw[i]);
        batch.push(raw as SnapshotValue[]);
        if (batch.length >= batchRows) {
          yield batch;
          batch = [];
        } else if (batch.length % READ_CLOCK_ROWS !== 0 || performance.now() - sliceStarted < READ_SLICE_MS) {
          continue;
        }
        await yieldToEventLoop();
        sliceStarted = performance.now();
      }
      if (batch.length > 0) yield batch;
    } finally {
      db.close();
    }
  }

  /**
   * Keeps the newest `keep` snapshots and deletes the older ones. Returns the index of the oldest
   * snapshot kept (the WAL may drop what it covers), or 0 when there is none.
   */
  async prune(): Promise<number> {
    const drop = this.#files.slice(0, Math.max(0, this.#files.length - this.#keep));
    for (const f of drop) {
      await unlinkQuietly(f.path);
      this.#files = this.#files.filter((x) => x !== f);
    }
    return this.#files[0]?.index ?? 0;
  }

  #checkOpen(): void {
    if (!this.#opened) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'snapshot store is not open; call open() first', { dir: this.#dir });
  }

  #startSpare(): Worker {
    const worker = spawnSnapshotWorker();
    worker.unref();
    const forget = (): void => {
      if (this.#spare === worker) this.#spare = undefined;
    };
    worker.on('error', forget); // a spare that failed to start is replaced by a fresh worker on demand
    worker.on('exit', forget);
    return worker;
  }

  #add(info: SnapshotFileInfo): void {
    this.#files = [...this.#files.filter((f) => f.path !== info.path), info].sort(byIndex);
  }
}
