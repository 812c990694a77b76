/**
 * Writing a snapshot file off the event loop. Every SQLite call runs in a worker thread; the main
 * thread only packs rows into transferred buffers (`BatchPacker`), in pieces small enough to keep
 * each turn of the event loop short, then does the async fsync + rename that publishes the file.
 */
import { rename, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { fsyncPath, unlinkQuietly } from './fs-sync.js';
import {
  BatchPacker,
  META_CREATE_SQL,
  META_INSERT_SQL,
  TAG_BLOB,
  TAG_INT64,
  TAG_NULL,
  TAG_REAL,
  TAG_SAFE_INT,
  TAG_TEXT,
  createTableSql,
  insertSql,
  primaryKeyIndexSql,
  type MetaRow,
  type PackedBatch,
  type SnapshotFileInfo,
  type SnapshotRow,
  type SnapshotTableSpec,
} from './sqlite-snapshot-format.js';

export interface SnapshotWriter {
  /**
   * Queues rows for `table`. They are packed in pieces of about `PIECE_PACK_MS_TARGET` each, with a
   * turn of the event loop between pieces; the promise resolves once the worker has accepted the
   * rows, with at most `QUEUED_PIECES_MAX` pieces (`QUEUED_BYTES_MAX` bytes) still queued
   * (backpressure). The rows may be reused once it resolves. After a rejected write, only abort().
   */
  write(table: string, rows: readonly SnapshotRow[]): Promise<void>;
  /**
   * Builds the primary-key indexes, writes meta, closes the db, fsyncs the file, renames temp →
   * final and fsyncs the directory. Duplicate primary keys are reported here (INVALID_ARGUMENT).
   */
  commit(): Promise<SnapshotFileInfo>;
  /** Stops the worker and deletes the temp file. A no-op after a successful commit. */
  abort(): Promise<void>;
}

/** Packed pieces queued for the worker at most; `write()` waits for acknowledgements beyond this... */
export const QUEUED_PIECES_MAX = 4;
/** ...or beyond this many packed bytes. */
export const QUEUED_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Main-thread budget for packing one piece, in ms. Pieces start at `PIECE_ROWS_MIN` rows (the
 * packing code starts cold) and follow the measured cost, within `PIECE_ROWS_MAX` (kept low so that
 * a piece packed by deoptimized code, or interrupted by a GC, still stays short).
 */
const PIECE_PACK_MS_TARGET = 1;
const PIECE_ROWS_MIN = 64;
const PIECE_ROWS_MAX = 2048;
/** SQLite page cache of the build, in KiB (it also bounds the in-memory part of the index sort). */
const BUILD_CACHE_KIB = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// The worker: plain JS evaluated with `{ eval: true }`, so it runs the same from the TS sources
// (vitest) and from dist/; better-sqlite3 comes from the absolute path the parent resolved.
//
// How the file is built (measured with 1M random-order 16 B keys, see bench/snapshot-stall.ts):
// - journal_mode=OFF, synchronous=OFF: the file is private until the parent fsyncs and renames it;
//   a crash mid-build leaves only a *.tmp, which SnapshotStore.open() deletes.
// - One transaction for the whole build, not one per batch: without a journal it buys no
//   atomicity, and each commit rewrites the dirty pages (per-batch commits: ~1.5x slower unindexed).
// - Primary keys become a UNIQUE index built at commit, after the rows are in: one external sort
//   instead of a random B-tree insert per row (3.4 s instead of 16.5 s for 1M keys).
// - No VACUUM: each snapshot is a brand-new file that is only appended to, so it has no free pages
//   to reclaim.

const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlitePath);
const text = new TextDecoder();
let db;
let tables;
let inserts;

function openDb(msg) {
  if (db) throw new Error('snapshot database already open');
  tables = msg.tables;
  db = new Database(msg.filePath);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -' + msg.cacheKiB);
  db.exec(msg.metaCreateSql);
  for (const t of tables) db.exec(t.createSql);
  inserts = tables.map((t) => db.prepare(t.insertSql));
  db.exec('BEGIN');
}

function insertBatch(table, buffer, byteLength, rowCount) {
  const stmt = inserts[table];
  const width = tables[table].width;
  const bytes = new Uint8Array(buffer, 0, byteLength);
  const view = new DataView(buffer, 0, byteLength);
  const args = new Array(width);
  let pos = 0;
  for (let r = 0; r < rowCount; r++) {
    for (let c = 0; c < width; c++) {
      const tag = bytes[pos++];
      if (tag === ${TAG_NULL}) {
        args[c] = null;
      } else if (tag === ${TAG_SAFE_INT}) {
        args[c] = BigInt(view.getFloat64(pos, true));
        pos += 8;
      } else if (tag === ${TAG_INT64}) {
        args[c] = view.getBigInt64(pos, true);
        pos += 8;
      } else if (tag === ${TAG_REAL}) {
        args[c] = view.getFloat64(pos, true);
        pos += 8;
      } else if (tag === ${TAG_TEXT} || tag === ${TAG_BLOB}) {
        const n = view.getUint32(pos, true);
        pos += 4;
        const cell = bytes.subarray(pos, pos + n);
        args[c] = tag === ${TAG_TEXT} ? text.decode(cell) : cell;
        pos += n;
      } else {
        throw new Error('corrupt batch: tag ' + tag + ' at byte ' + (pos - 1));
      }
    }
    stmt.run(args);
  }
  if (pos !== byteLength) throw new Error('corrupt batch: ' + (byteLength - pos) + ' trailing bytes');
}

function commit(meta) {
  for (const t of tables) if (t.indexSql) db.exec(t.indexSql);
  const stmt = db.prepare(workerData.metaInsertSql);
  // Integers as BigInt, so SQLite stores INTEGER (a JS number would bind as REAL: 7.0).
  for (const [key, value] of meta) stmt.run(key, Number.isInteger(value) ? BigInt(value) : value);
  db.exec('COMMIT');
  db.close();
  db = undefined;
}

parentPort.on('message', (msg) => {
  try {
    if (msg.op === 'open') openDb(msg);
    else if (!db) throw new Error('snapshot database is not open');
    else if (msg.op === 'rows') insertBatch(msg.table, msg.buffer, msg.byteLength, msg.rowCount);
    else if (msg.op === 'commit') commit(msg.meta);
    else throw new Error('unknown op ' + msg.op);
    parentPort.postMessage({ seq: msg.seq, ok: true });
  } catch (err) {
    const code = err && typeof err.code === 'string' ? err.code : '';
    parentPort.postMessage({ seq: msg.seq, ok: false, code, message: String(err && err.message ? err.message : err) });
  }
});
`;

interface WorkerTable {
  readonly createSql: string;
  readonly indexSql: string | undefined;
  readonly insertSql: string;
  readonly width: number;
}

type WorkerRequest =
  | { readonly op: 'open'; readonly filePath: string; readonly cacheKiB: number; readonly metaCreateSql: string; readonly tables: readonly WorkerTable[] }
  | { readonly op: 'rows'; readonly table: number; readonly buffer: ArrayBuffer; readonly byteLength: number; readonly rowCount: number }
  | { readonly op: 'commit'; readonly meta: readonly MetaRow[] };

interface WorkerReply {
  readonly seq: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

let sqliteModulePath: string | undefined;
/** The absolute path of better-sqlite3 for the worker; sync fs on first call, so `SnapshotStore.open()` makes it. */
export function resolveSqlite(): string {
  sqliteModulePath ??= createRequire(import.meta.url).resolve('better-sqlite3');
  return sqliteModulePath;
}

/**
 * Starts a worker that loads better-sqlite3 and waits for its snapshot. Starting one costs the main
 * thread a few ms the first time (Node loads its worker internals), ~1 ms after that.
 */
export function spawnSnapshotWorker(): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { sqlitePath: resolveSqlite(), metaInsertSql: META_INSERT_SQL } });
}

/** SQLite's constraint/type errors are the caller's fault; everything else (disk full, I/O) is not. */
function workerError(reply: WorkerReply, path: string): ConclaveError {
  const code = reply.code ?? '';
  const callerFault = code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG' || code === 'SQLITE_RANGE';
  return new ConclaveError(callerFault ? ErrorCode.INVALID_ARGUMENT : ErrorCode.UNAVAILABLE, `snapshot write failed: ${reply.message ?? 'unknown error'}`, {
    path,
    sqliteCode: code,
  });
}

// ---------------------------------------------------------------------------------------------
// Temp file names, shared with the store.

let tempCounter = 0;
/** Unique within the process; `SnapshotStore.open()` clears temp files of earlier processes. */
export function tempSuffix(): string {
  return `${process.pid}-${++tempCounter}.tmp`;
}

export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------------------------------------

interface Pending {
  readonly seq: number;
  readonly bytes: number;
  readonly done: Promise<void>;
  resolve(): void;
  reject(err: ConclaveError): void;
}

type WriterState = 'open' | 'committing' | 'committed' | 'failed' | 'aborted';

export interface WriterOptions {
  readonly tempPath: string;
  readonly finalPath: string;
  readonly index: number;
  readonly term: number;
  readonly tables: readonly SnapshotTableSpec[];
  /** Built at commit time (so created-at is stamped then). */
  readonly meta: () => readonly MetaRow[];
  /** Called once the file is durable under its final name. */
  readonly onPublished: (info: SnapshotFileInfo) => void;
}

export class WorkerSnapshotWriter implements SnapshotWriter {
  readonly #opts: WriterOptions;
  readonly #worker: Worker;
  readonly #tableIndex: ReadonlyMap<string, number>;
  readonly #packer = new BatchPacker();
  readonly #pending: Pending[] = [];
  #pendingBytes = 0;
  #pieceRows = PIECE_ROWS_MIN;
  #seq = 0;
  #state: WriterState = 'open';
  #failure: ConclaveError | undefined;
  #exited = false;
  #stopping = false;
  #cleanup: Promise<void> | undefined;

  /** Takes ownership of `worker` (from `spawnSnapshotWorker`) and opens the temp file in it. */
  constructor(worker: Worker, opts: WriterOptions) {
    this.#opts = opts;
    this.#worker = worker;
    this.#tableIndex = new Map(opts.tables.map((t, i) => [t.name, i]));
    worker.ref();
    worker.on('message', (reply: WorkerReply) => this.#onReply(reply));
    worker.on('error', (err: Error) => this.#fail(new ConclaveError(ErrorCode.UNAVAILABLE, `snapshot worker crashed: ${err.message}`, { path: opts.tempPath })));
    worker.on('exit', () => {
      this.#exited = true;
      if (!this.#stopping) this.#fail(new ConclaveError(ErrorCode.UNAVAILABLE, 'snapshot worker exited', { path: opts.tempPath }));
    });
    const tables: WorkerTable[] = opts.tables.map((t) => ({ createSql: createTableSql(t), indexSql: primaryKeyIndexSql(t), insertSql: insertSql(t), width: t.columns.length }));
    this.#send({ op: 'open', filePath: opts.tempPath, cacheKiB: BUILD_CACHE_KIB, metaCreateSql: META_CREATE_SQL, tables });
  }

  async write(table: string, rows: readonly SnapshotRow[]): Promise<void> {
    this.#checkWritable();
    const t = this.#tableIndex.get(table);
    const spec = t === undefined ? undefined : this.#opts.tables[t];
    if (t === undefined || spec === undefined) {
      throw this.#poison(new ConclaveError(ErrorCode.INVALID_ARGUMENT, `unknown snapshot table ${table}`, { table }));
    }
    for (let from = 0; from < rows.length; ) {
      if (from > 0) await yieldToEventLoop();
      if (this.#failure) throw this.#failure;
      const started = performance.now();
      let packed: PackedBatch;
      try {
        packed = this.#packer.pack(spec, rows, from, this.#pieceRows);
      } catch (err: unknown) {
        throw this.#poison(err instanceof ConclaveError ? err : new ConclaveError(ErrorCode.INVALID_ARGUMENT, String(err)));
      }
      this.#tunePiece(packed.rowCount, performance.now() - started);
      const { buffer, byteLength, rowCount } = packed;
      this.#send({ op: 'rows', table: t, buffer, byteLength, rowCount }, [buffer]);
      from += rowCount;
      await this.#room(QUEUED_PIECES_MAX, QUEUED_BYTES_MAX);
    }
  }

  async commit(): Promise<SnapshotFileInfo> {
    this.#checkWritable();
    this.#state = 'committing';
    const { tempPath, finalPath } = this.#opts;
    try {
      await this.#room(0, 0);
      await this.#send({ op: 'commit', meta: this.#opts.meta() });
      this.#stopping = true;
      await this.#worker.terminate();
      await fsyncPath(tempPath);
      await rename(tempPath, finalPath);
      await fsyncPath(dirname(finalPath));
      const { size } = await stat(finalPath);
      const info: SnapshotFileInfo = { path: finalPath, index: this.#opts.index, term: this.#opts.term, bytes: size };
      this.#state = 'committed';
      this.#opts.onPublished(info);
      return info;
    } catch (err: unknown) {
      this.#state = 'failed';
      await this.#cleanupOnce();
      if (err instanceof ConclaveError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `snapshot commit failed: ${e.message}`, { path: basename(finalPath), errno: e.code });
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'committed') return;
    if (this.#state === 'committing') throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'cannot abort a snapshot while it commits');
    this.#state = 'aborted';
    this.#fail(new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'snapshot aborted'));
    await this.#cleanupOnce();
  }

  #checkWritable(): void {
    if (this.#failure) throw this.#failure;
    if (this.#state !== 'open') throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `snapshot writer is ${this.#state}`);
  }

  #poison(err: ConclaveError): ConclaveError {
    this.#fail(err);
    return err;
  }

  /** Grows a full piece (at most 2x a step) while packing stays under budget; shrinks it at once when not. */
  #tunePiece(rows: number, elapsedMs: number): void {
    if (rows < this.#pieceRows) return; // cut short by the end of the rows or by bytes: no signal
    const fit = elapsedMs > 0 ? Math.floor((rows * PIECE_PACK_MS_TARGET) / elapsedMs) : PIECE_ROWS_MAX;
    this.#pieceRows = Math.max(PIECE_ROWS_MIN, Math.min(PIECE_ROWS_MAX, fit, this.#pieceRows * 2));
  }

  #send(msg: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<void> {
    const seq = ++this.#seq;
    const bytes = msg.op === 'rows' ? msg.byteLength : 0;
    let resolve!: () => void;
    let reject!: (err: ConclaveError) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined); // failures surface through #failure and the awaiting call
    if (this.#failure) {
      reject(this.#failure);
      return done;
    }
    this.#pending.push({ seq, bytes, done, resolve, reject });
    this.#pendingBytes += bytes;
    this.#worker.postMessage({ ...msg, seq }, transfer);
    return done;
  }

  /** Waits until at most `pieces` pieces and `bytes` bytes are unacknowledged; throws the writer's failure if any. */
  async #room(pieces: number, bytes: number): Promise<void> {
    while (this.#pending.length > pieces || (this.#pending.length > 0 && this.#pendingBytes > bytes)) {
      const oldest = this.#pending[0];
      assert(oldest, 'pending piece');
      await oldest.done;
    }
    if (this.#failure) throw this.#failure;
  }

  #onReply(reply: WorkerReply): void {
    if (this.#failure) return; // everything queued was rejected already; late acks mean nothing
    if (!reply.ok) {
      this.#fail(workerError(reply, this.#opts.tempPath));
      return;
    }
    const head = this.#pending.shift();
    assert(head && head.seq === reply.seq, () => `snapshot worker acknowledged ${reply.seq}, expected ${head?.seq}`);
    this.#pendingBytes -= head.bytes;
    head.resolve();
  }

  /** The first failure wins; it rejects everything queued and starts removing the temp file. */
  #fail(err: ConclaveError): void {
    this.#failure ??= err;
    for (const p of this.#pending.splice(0)) p.reject(this.#failure);
    this.#pendingBytes = 0;
    if (this.#state === 'open') this.#state = 'failed';
    void this.#cleanupOnce().catch(() => undefined);
  }

  /** Stops the worker and deletes the temp file, once. Never touches the published file. */
  #cleanupOnce(): Promise<void> {
    this.#cleanup ??= (async () => {
      this.#stopping = true;
      if (!this.#exited) await this.#worker.terminate();
      await unlinkQuietly(this.#opts.tempPath);
    })();
    return this.#cleanup;
  }
}
