/**
 * Writing a snapshot file off the event loop: every SQLite call runs in a worker thread; the main
 * thread only packs each batch of rows into one ArrayBuffer, which it *transfers* (no structured
 * clone of thousands of small arrays, and no accidental copy of the large pooled buffer that a small
 * `Buffer` may be a view of), then does the async fsync + rename that publishes the file.
 *
 * Batch encoding, per cell: a tag byte, then
 *   0 null | 1 integer: int64 LE | 2 real: float64 LE | 3 text: u32 LE length + UTF-8 | 4 blob: u32 LE length + bytes
 */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import {
  META_CREATE_SQL,
  META_INSERT_SQL,
  createTableSql,
  insertSql,
  primaryKeyIndexSql,
  type MetaRow,
  type SnapshotFileInfo,
  type SnapshotRow,
  type SnapshotTableSpec,
} from './sqlite-snapshot-meta.js';

export interface SnapshotWriter {
  /**
   * Queues rows for `table`. The rows are packed in pieces sized to take about
   * `PIECE_PACK_MS_TARGET` each, with a turn of the event loop between pieces; the promise resolves
   * once the worker has accepted the rows, with at most `QUEUED_PIECES_MAX` pieces
   * (`QUEUED_BYTES_MAX` bytes) still queued (backpressure). The caller may reuse or mutate the rows
   * as soon as it resolves. After a rejected write the writer can only be aborted.
   */
  write(table: string, rows: readonly SnapshotRow[]): Promise<void>;
  /** Writes meta, closes the db, fsyncs the file, renames temp → final, fsyncs the directory. */
  commit(): Promise<SnapshotFileInfo>;
  /** Stops the worker and deletes the temp file. A no-op after a successful commit. */
  abort(): Promise<void>;
}

/** Packed pieces queued for the worker at most; `write()` waits for acknowledgements past this... */
export const QUEUED_PIECES_MAX = 4;
/** ...and at most this many packed bytes. */
export const QUEUED_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Main-thread time budget for packing one piece. Pieces start small (the packing code is cold, so
 * the first rows are slow) and grow or shrink to this budget; `PIECE_ROWS_*` bound them.
 */
const PIECE_PACK_MS_TARGET = 1;
const PIECE_ROWS_MIN = 64;
const PIECE_ROWS_MAX = 8192;
/** A piece is also cut when it reaches this size (rows with large blobs). */
const PIECE_BYTES_MAX = 1024 * 1024;
/** SQLite page cache for the build, in KiB: random-order primary keys stay in memory. */
const BUILD_CACHE_KIB = 64 * 1024;

const TAG_NULL = 0;
const TAG_INT = 1;
const TAG_REAL = 2;
const TAG_TEXT = 3;
const TAG_BLOB = 4;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// The worker. Plain JS evaluated with `{ eval: true }` so that it runs the same from the TS sources
// (vitest) and from dist/. better-sqlite3 is loaded from the absolute path the parent resolved.
//
// How the file is built (each choice measured with 1M random-order 16 B keys, see bench/snapshot-stall.ts):
// - journal_mode=OFF, synchronous=OFF: the file is private until the parent fsyncs and renames it;
//   a crash mid-build leaves only a *.tmp that SnapshotStore.open() deletes.
// - One transaction for the whole build rather than one per batch: with no journal a transaction
//   buys no atomicity here, and committing every batch rewrites the dirty pages each time
//   (per-batch commits: ~1.5x slower for an unindexed table, ~2x with a primary key).
// - Primary keys become a UNIQUE index created at commit, after the rows are in: SQLite builds it
//   with one external sort instead of a random B-tree insert per row (3.4 s instead of 16.5 s).
//   Duplicate keys are therefore reported by commit(), not by write().
// - No VACUUM: each snapshot is a brand-new file that is only ever appended to, so it has no free
//   pages to reclaim.

const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { sqlitePath, filePath, cacheKiB, metaCreateSql, metaInsertSql, tables } = workerData;
const text = new TextDecoder();
let db;
let inserts;
let initError;
try {
  const Database = require(sqlitePath);
  db = new Database(filePath);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('cache_size = -' + cacheKiB);
  db.exec(metaCreateSql);
  for (const t of tables) db.exec(t.createSql);
  inserts = tables.map((t) => db.prepare(t.insertSql));
  db.exec('BEGIN');
} catch (err) {
  initError = err;
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
      if (tag === 0) {
        args[c] = null;
      } else if (tag === 1) {
        args[c] = view.getBigInt64(pos, true);
        pos += 8;
      } else if (tag === 2) {
        args[c] = view.getFloat64(pos, true);
        pos += 8;
      } else if (tag === 3 || tag === 4) {
        const n = view.getUint32(pos, true);
        pos += 4;
        const cell = bytes.subarray(pos, pos + n);
        args[c] = tag === 3 ? text.decode(cell) : cell;
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
  const stmt = db.prepare(metaInsertSql);
  for (const [key, value] of meta) stmt.run(key, value);
  db.exec('COMMIT');
  db.close();
  db = undefined;
}

parentPort.on('message', (msg) => {
  try {
    if (initError) throw initError;
    if (!db) throw new Error('snapshot database already closed');
    if (msg.op === 'rows') insertBatch(msg.table, msg.buffer, msg.byteLength, msg.rowCount);
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
  | { readonly op: 'rows'; readonly seq: number; readonly table: number; readonly buffer: ArrayBuffer; readonly byteLength: number; readonly rowCount: number }
  | { readonly op: 'commit'; readonly seq: number; readonly meta: readonly MetaRow[] };

interface WorkerReply {
  readonly seq: number;
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
}

let sqliteModulePath: string | undefined;
function resolveSqlite(): string {
  sqliteModulePath ??= createRequire(import.meta.url).resolve('better-sqlite3');
  return sqliteModulePath;
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
// Packing rows on the main thread.

interface Packed {
  readonly buffer: ArrayBuffer;
  readonly byteLength: number;
  readonly rowCount: number;
}

class BatchPacker {
  #bytesPerRow = 64;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;

  /**
   * Packs rows from `from` on, stopping after `maxRows` rows or `PIECE_BYTES_MAX` bytes;
   * throws INVALID_ARGUMENT on a malformed row (nothing of that piece is sent).
   */
  pack(table: SnapshotTableSpec, rows: readonly SnapshotRow[], from: number, maxRows: number): Packed {
    const width = table.columns.length;
    const end = Math.min(rows.length, from + maxRows);
    this.#buf = Buffer.from(new ArrayBuffer(Math.min(PIECE_BYTES_MAX, Math.max(1024, Math.ceil((end - from) * this.#bytesPerRow * 1.25)))));
    this.#pos = 0;
    let r = from;
    for (; r < end && this.#pos < PIECE_BYTES_MAX; r++) {
      const row = rows[r];
      if (!Array.isArray(row) || row.length !== width) {
        throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `row ${r} of ${table.name} must be an array of ${width} values`, { table: table.name, row: r });
      }
      for (let c = 0; c < width; c++) this.#cell(table, r, c, row[c] as unknown);
    }
    const rowCount = r - from;
    this.#bytesPerRow = Math.max(8, Math.ceil(this.#pos / rowCount));
    const packed = { buffer: this.#buf.buffer as ArrayBuffer, byteLength: this.#pos, rowCount };
    this.#buf = Buffer.alloc(0);
    return packed;
  }

  #ensure(n: number): Buffer {
    if (this.#pos + n > this.#buf.byteLength) {
      const bigger = Buffer.from(new ArrayBuffer(Math.max(this.#buf.byteLength * 2, this.#pos + n)));
      this.#buf.copy(bigger, 0, 0, this.#pos);
      this.#buf = bigger;
    }
    return this.#buf;
  }

  #cell(table: SnapshotTableSpec, r: number, c: number, v: unknown): void {
    if (v === null) {
      this.#ensure(1)[this.#pos++] = TAG_NULL;
    } else if (typeof v === 'string') {
      this.#text(v);
    } else if (typeof v === 'number') {
      if (Number.isNaN(v)) throw badCell(table, r, c, 'NaN is not storable');
      const buf = this.#ensure(9);
      if (Number.isSafeInteger(v)) {
        buf[this.#pos] = TAG_INT;
        buf.writeBigInt64LE(BigInt(v), this.#pos + 1);
      } else {
        buf[this.#pos] = TAG_REAL;
        buf.writeDoubleLE(v, this.#pos + 1);
      }
      this.#pos += 9;
    } else if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > INT64_MAX) throw badCell(table, r, c, 'bigint outside int64');
      const buf = this.#ensure(9);
      buf[this.#pos] = TAG_INT;
      buf.writeBigInt64LE(v, this.#pos + 1);
      this.#pos += 9;
    } else if (v instanceof Uint8Array) {
      const buf = this.#ensure(5 + v.byteLength);
      buf[this.#pos] = TAG_BLOB;
      buf.writeUInt32LE(v.byteLength, this.#pos + 1);
      buf.set(v, this.#pos + 5);
      this.#pos += 5 + v.byteLength;
    } else {
      throw badCell(table, r, c, `unsupported value type ${typeof v}`);
    }
  }

  /** Text: an ASCII fast path for the short keys that dominate snapshots, Buffer#write otherwise. */
  #text(s: string): void {
    const buf = this.#ensure(5 + s.length * 3);
    const start = this.#pos;
    const at = start + 5;
    let n = 0;
    if (s.length <= 64) {
      for (; n < s.length; n++) {
        const ch = s.charCodeAt(n);
        if (ch >= 0x80) break;
        buf[at + n] = ch;
      }
    }
    if (n < s.length) n = buf.write(s, at, 'utf8');
    buf[start] = TAG_TEXT;
    buf.writeUInt32LE(n, start + 1);
    this.#pos = at + n;
  }
}

function badCell(table: SnapshotTableSpec, row: number, col: number, why: string): ConclaveError {
  const column = table.columns[col]?.name;
  return new ConclaveError(ErrorCode.INVALID_ARGUMENT, `${table.name}.${column ?? col} in row ${row}: ${why}`, { table: table.name, row, column });
}

// ---------------------------------------------------------------------------------------------
// fsync helpers: async, on their own file handles.

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function unlinkQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err: unknown) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function tempSuffix(): string {
  return `${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
}

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
  /** Built by the store at commit time (stamps created-at then). */
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
  #cleanup: Promise<void> | undefined;

  constructor(opts: WriterOptions) {
    this.#opts = opts;
    this.#tableIndex = new Map(opts.tables.map((t, i) => [t.name, i]));
    const tables: WorkerTable[] = opts.tables.map((t) => ({ createSql: createTableSql(t), indexSql: primaryKeyIndexSql(t), insertSql: insertSql(t), width: t.columns.length }));
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        sqlitePath: resolveSqlite(),
        filePath: opts.tempPath,
        cacheKiB: BUILD_CACHE_KIB,
        metaCreateSql: META_CREATE_SQL,
        metaInsertSql: META_INSERT_SQL,
        tables,
      },
    });
    this.#worker.on('message', (reply: WorkerReply) => this.#onReply(reply));
    this.#worker.on('error', (err: Error) => this.#fail(new ConclaveError(ErrorCode.UNAVAILABLE, `snapshot worker crashed: ${err.message}`, { path: opts.tempPath })));
    this.#worker.on('exit', () => {
      this.#exited = true;
      if (this.#pending.length > 0) this.#fail(new ConclaveError(ErrorCode.UNAVAILABLE, 'snapshot worker exited', { path: opts.tempPath }));
    });
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
      let packed: Packed;
      try {
        packed = this.#packer.pack(spec, rows, from, this.#pieceRows);
      } catch (err: unknown) {
        throw this.#poison(err instanceof ConclaveError ? err : new ConclaveError(ErrorCode.INVALID_ARGUMENT, String(err)));
      }
      const { buffer, byteLength, rowCount } = packed;
      this.#tunePiece(rowCount, performance.now() - started);
      this.#send({ op: 'rows', seq: 0, table: t, buffer, byteLength, rowCount }, [buffer]);
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
      const ack = this.#send({ op: 'commit', seq: 0, meta: this.#opts.meta() });
      await ack;
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
    if (rows < this.#pieceRows) return; // cut short by the end of the batch or by bytes: no signal
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
    this.#pending.push({ seq, bytes, done, resolve, reject });
    this.#pendingBytes += bytes;
    this.#worker.postMessage({ ...msg, seq }, transfer);
    return done;
  }

  /** Waits until at most `pieces` pieces and `bytes` bytes are unacknowledged; throws the writer's failure if any. */
  async #room(pieces: number, bytes: number): Promise<void> {
    while (this.#pending.length > pieces || (this.#pending.length > 0 && this.#pendingBytes > bytes)) {
      const oldest = this.#pending[0];
      assert(oldest, 'pending batch');
      await oldest.done;
    }
    if (this.#failure) throw this.#failure;
  }

  #onReply(reply: WorkerReply): void {
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
      if (!this.#exited) await this.#worker.terminate();
      await unlinkQuietly(this.#opts.tempPath);
    })();
    return this.#cleanup;
  }
}
