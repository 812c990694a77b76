/**
 * The formats of snapshots, with no I/O: the file's name, its `meta` table, the caller's table specs
 * and the SQL built from them, a cheap check that bytes are a whole SQLite image, and the packed
 * batches in which rows travel to the writer's worker thread.
 *
 * A snapshot is one plain SQLite file: `sqlite3 FILE 'select * from meta'` shows the header.
 */
import type Database from 'better-sqlite3';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ConfState, NodeId } from '../raft/index.js';

/** Bumped whenever the layout of `meta` or of the file changes incompatibly. */
export const SNAPSHOT_FORMAT_VERSION = 1;

export interface SnapshotColumnSpec {
  readonly name: string;
  readonly type: 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL';
}

/** One table of a state machine's snapshot schema (per state machine, versioned by `stateVersion`). */
export interface SnapshotTableSpec {
  readonly name: string;
  readonly columns: ReadonlyArray<SnapshotColumnSpec>;
  /** Column names; rows are read back ordered by them (by insertion order when absent). */
  readonly primaryKey?: readonly string[];
}

export interface SnapshotHeader {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
  readonly stateMachine: string;
  readonly stateVersion: number;
  readonly zxid?: number;
}

/**
 * One cell. INTEGER cells read back as `number` when they are safe integers and as `bigint`
 * otherwise (lossless either way); BLOBs read back as plain `Uint8Array`s.
 */
export type SnapshotValue = number | bigint | string | Uint8Array | null;
export type SnapshotRow = readonly SnapshotValue[];

export interface SnapshotFileInfo {
  readonly path: string;
  readonly index: number;
  readonly term: number;
  readonly bytes: number;
}

const COLUMN_TYPES: ReadonlySet<string> = new Set(['INTEGER', 'TEXT', 'BLOB', 'REAL']);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const TABLES_MAX = 64;
const COLUMNS_MAX = 64;
const STATE_MACHINE_NAME_CHARS_MAX = 128;
/** The meta table is tiny; a header that claims more than this is not one of ours. */
const META_VALUE_CHARS_MAX = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// File names: snap-<term 16 hex>-<index 16 hex>.sqlite, so that a plain `ls` sorts by term, then index.

const FILE_NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.sqlite$/;
const TEMP_FILE_NAME = /^snap-.*\.tmp$/;

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function snapshotFileName(term: number, index: number): string {
  return `snap-${hex16(term)}-${hex16(index)}.sqlite`;
}

export function parseSnapshotFileName(name: string): { term: number; index: number } | undefined {
  const m = FILE_NAME.exec(name);
  if (!m) return undefined;
  const term = Number.parseInt(m[1] as string, 16);
  const index = Number.parseInt(m[2] as string, 16);
  if (!Number.isSafeInteger(term) || !Number.isSafeInteger(index)) return undefined;
  return { term, index };
}

export function isSnapshotTempFileName(name: string): boolean {
  return TEMP_FILE_NAME.test(name);
}

// ---------------------------------------------------------------------------------------------
// Validation of what callers hand us.

function invalid(message: string, details: Record<string, unknown> = {}, code: ErrorCode = ErrorCode.INVALID_ARGUMENT): ConclaveError {
  return new ConclaveError(code, message, details);
}

/** Array.isArray without its `any[]` narrowing (inputs here are typed, but may come from JSON). */
function isList(x: unknown): boolean {
  return Array.isArray(x);
}

function isCount(n: unknown, min: number): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= min;
}

function checkNodeIds(ids: unknown, what: string, code: ErrorCode): readonly NodeId[] {
  if (!Array.isArray(ids) || !ids.every((id) => isCount(id, 1))) {
    throw invalid(`snapshot ${what} must be an array of positive integer node ids`, { [what]: ids }, code);
  }
  return [...(ids as NodeId[])];
}

/** Validates a header; failures are ConclaveErrors with `code` (INVALID_ARGUMENT for a caller's input). */
export function checkHeader(header: SnapshotHeader, code: ErrorCode = ErrorCode.INVALID_ARGUMENT): SnapshotHeader {
  if (!isCount(header.index, 1)) throw invalid('snapshot index must be a positive integer', { index: header.index }, code);
  if (!isCount(header.term, 1)) throw invalid('snapshot term must be a positive integer', { term: header.term }, code);
  const voters = checkNodeIds(header.conf?.voters, 'voters', code);
  const learners = checkNodeIds(header.conf?.learners, 'learners', code);
  if (voters.some((v) => learners.includes(v))) throw invalid('a node cannot be both voter and learner', { voters, learners }, code);
  const sm = header.stateMachine;
  if (typeof sm !== 'string' || sm.length === 0 || sm.length > STATE_MACHINE_NAME_CHARS_MAX) {
    throw invalid(`stateMachine must be a non-empty string of at most ${STATE_MACHINE_NAME_CHARS_MAX} chars`, { stateMachine: sm }, code);
  }
  if (!isCount(header.stateVersion, 0)) throw invalid('stateVersion must be a non-negative integer', { stateVersion: header.stateVersion }, code);
  if (header.zxid !== undefined && !isCount(header.zxid, 0)) throw invalid('zxid must be a non-negative integer', { zxid: header.zxid }, code);
  const base = { index: header.index, term: header.term, conf: { voters, learners }, stateMachine: sm, stateVersion: header.stateVersion };
  return header.zxid === undefined ? base : { ...base, zxid: header.zxid };
}

/** Validates table specs and returns a clean copy; failures are ConclaveErrors with `code`. */
export function checkTableSpecs(tables: readonly SnapshotTableSpec[], code: ErrorCode = ErrorCode.INVALID_ARGUMENT): readonly SnapshotTableSpec[] {
  if (!isList(tables) || tables.length > TABLES_MAX) throw invalid(`a snapshot has at most ${TABLES_MAX} tables`, {}, code);
  const names = new Set<string>();
  return tables.map((t) => {
    const name = t?.name;
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw invalid('table names must be identifiers [A-Za-z_][A-Za-z0-9_]*', { table: name }, code);
    const lower = name.toLowerCase();
    if (lower === 'meta' || lower.startsWith('sqlite_')) throw invalid(`table name ${name} is reserved`, { table: name }, code);
    if (names.has(lower)) throw invalid(`duplicate table ${name}`, { table: name }, code);
    names.add(lower);
    if (!isList(t.columns) || t.columns.length === 0 || t.columns.length > COLUMNS_MAX) {
      throw invalid(`table ${name} needs 1..${COLUMNS_MAX} columns`, { table: name }, code);
    }
    const columns = new Set<string>();
    for (const c of t.columns) {
      if (typeof c?.name !== 'string' || !IDENTIFIER.test(c.name)) throw invalid(`bad column name in ${name}`, { table: name, column: c?.name }, code);
      if (!COLUMN_TYPES.has(c.type)) throw invalid(`bad column type in ${name}.${c.name}`, { table: name, type: c.type }, code);
      if (columns.has(c.name.toLowerCase())) throw invalid(`duplicate column ${name}.${c.name}`, { table: name }, code);
      columns.add(c.name.toLowerCase());
    }
    const pk = t.primaryKey;
    if (pk !== undefined) {
      if (!isList(pk) || pk.length === 0 || new Set(pk).size !== pk.length || !pk.every((k) => typeof k === 'string' && columns.has(k.toLowerCase()))) {
        throw invalid(`primary key of ${name} must name distinct columns of the table`, { table: name, primaryKey: pk }, code);
      }
    }
    const cols = t.columns.map((c) => ({ name: c.name, type: c.type }));
    return pk === undefined ? { name, columns: cols } : { name, columns: cols, primaryKey: [...pk] };
  });
}

// ---------------------------------------------------------------------------------------------
// SQL. Identifiers are validated above and quoted anyway.

const q = (id: string): string => `"${id}"`;

export const META_CREATE_SQL = 'CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value)';
export const META_INSERT_SQL = 'INSERT INTO meta (key, value) VALUES (?, ?)';

/** The table, without its primary key: that is built afterwards by `primaryKeyIndexSql` (see the writer). */
export function createTableSql(t: SnapshotTableSpec): string {
  return `CREATE TABLE ${q(t.name)} (${t.columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`;
}

/** The primary key as a UNIQUE index named "<table>:pk" (a name no valid table identifier can take). */
export function primaryKeyIndexSql(t: SnapshotTableSpec): string | undefined {
  if (!t.primaryKey) return undefined;
  return `CREATE UNIQUE INDEX ${q(`${t.name}:pk`)} ON ${q(t.name)} (${t.primaryKey.map(q).join(', ')})`;
}

export function insertSql(t: SnapshotTableSpec): string {
  return `INSERT INTO ${q(t.name)} (${t.columns.map((c) => q(c.name)).join(', ')}) VALUES (${t.columns.map(() => '?').join(', ')})`;
}

export function selectSql(t: SnapshotTableSpec): string {
  const order = t.primaryKey ? t.primaryKey.map(q).join(', ') : 'rowid';
  return `SELECT ${t.columns.map((c) => q(c.name)).join(', ')} FROM ${q(t.name)} ORDER BY ${order}`;
}

// ---------------------------------------------------------------------------------------------
// The meta table: one row per field, values typed (INTEGER or JSON/plain TEXT) so that a human
// reading it with the sqlite3 shell sees numbers as numbers.

export type MetaRow = readonly [key: string, value: number | string];

export function metaRows(header: SnapshotHeader, tables: readonly SnapshotTableSpec[], createdAtMs: number): MetaRow[] {
  const rows: MetaRow[] = [
    ['format_version', SNAPSHOT_FORMAT_VERSION],
    ['index', header.index],
    ['term', header.term],
    ['voters', JSON.stringify(header.conf.voters)],
    ['learners', JSON.stringify(header.conf.learners)],
    ['state_machine', header.stateMachine],
    ['state_version', header.stateVersion],
    ['created_at_ms', createdAtMs],
    ['tables', JSON.stringify(tables)],
  ];
  if (header.zxid !== undefined) rows.push(['zxid', header.zxid]);
  return rows;
}

export interface SnapshotMeta {
  readonly header: SnapshotHeader;
  readonly tables: readonly SnapshotTableSpec[];
  readonly createdAtMs: number;
}

function parseJson(text: unknown, key: string, path: string, code: ErrorCode): unknown {
  if (typeof text !== 'string') throw invalid(`snapshot meta ${key} is not text`, { path, key }, code);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalid(`snapshot meta ${key} is not JSON`, { path, key }, code);
  }
}

/**
 * Reads and validates `meta` from an open database. Anything that is not a sane snapshot of ours is
 * a ConclaveError with `code`: INVALID_ARGUMENT for bytes just received, CORRUPTED for a published file.
 */
export function readMeta(db: Database.Database, path: string, code: ErrorCode): SnapshotMeta {
  let raw: unknown[];
  try {
    raw = db.prepare('SELECT key, value FROM meta').raw(true).all();
  } catch (err: unknown) {
    throw invalid(`not a Conclave snapshot (no readable meta table): ${err instanceof Error ? err.message : String(err)}`, { path }, code);
  }
  const meta = new Map<string, unknown>();
  for (const row of raw) {
    const [key, value] = row as [unknown, unknown];
    if (typeof key !== 'string') throw invalid('snapshot meta has a non-text key', { path }, code);
    if (typeof value === 'string' && value.length > META_VALUE_CHARS_MAX) throw invalid(`snapshot meta ${key} is too large`, { path, key }, code);
    meta.set(key, value);
  }
  const int = (key: string): number => {
    const v = meta.get(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(`snapshot meta ${key} is missing or not an integer`, { path, key, value: v }, code);
    return v;
  };
  const version = int('format_version');
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw invalid(`unsupported snapshot format version ${version} (this build reads ${SNAPSHOT_FORMAT_VERSION})`, { path, version }, code);
  }
  const zxid = meta.has('zxid') ? int('zxid') : undefined;
  const stateMachine = meta.get('state_machine');
  const index = int('index');
  const term = int('term');
  const voters = parseJson(meta.get('voters'), 'voters', path, code) as NodeId[];
  const learners = parseJson(meta.get('learners'), 'learners', path, code) as NodeId[];
  const header = checkHeader(
    {
      index,
      term,
      conf: { voters, learners },
      stateMachine: typeof stateMachine === 'string' ? stateMachine : '',
      stateVersion: int('state_version'),
      ...(zxid === undefined ? {} : { zxid }),
    },
    code,
  );
  const tables = checkTableSpecs(parseJson(meta.get('tables'), 'tables', path, code) as SnapshotTableSpec[], code);
  return { header, tables, createdAtMs: int('created_at_ms') };
}

// ---------------------------------------------------------------------------------------------
// A cheap, in-memory check that bytes are one whole SQLite database image: the magic string, a
// sane page size, and a length that matches the page count in the header (catches truncation,
// which SQLite itself may not notice until it reads a missing page).

const SQLITE_MAGIC = 'SQLite format 3\0';
const SQLITE_HEADER_BYTES = 100;

export function checkSqliteImage(bytes: Uint8Array): void {
  if (bytes.byteLength < SQLITE_HEADER_BYTES) throw invalid('snapshot is too short to be a SQLite file', { bytes: bytes.byteLength });
  for (let i = 0; i < SQLITE_MAGIC.length; i++) {
    if (bytes[i] !== SQLITE_MAGIC.charCodeAt(i)) throw invalid('snapshot is not a SQLite file (bad magic)', { bytes: bytes.byteLength });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawPageSize = view.getUint16(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw invalid('snapshot has a bad SQLite page size', { pageSize });
  const changeCounter = view.getUint32(24);
  const pageCount = view.getUint32(28);
  const versionValidFor = view.getUint32(92);
  const expected = versionValidFor === changeCounter && pageCount > 0 ? pageCount * pageSize : undefined;
  if (expected === undefined || bytes.byteLength !== expected) {
    throw invalid('snapshot length does not match its SQLite header (truncated or padded)', { bytes: bytes.byteLength, expected });
  }
}

// ---------------------------------------------------------------------------------------------
// Packed batches: rows travel to the worker as one transferred ArrayBuffer per piece (no structured
// clone of thousands of small arrays, no accidental copy of the large pooled buffer that a small
// Buffer may be a view of). Each cell is a tag byte, then:
//   0 null | 1 integer: int64 LE | 2 real: float64 LE | 3 text: u32 LE length + UTF-8
//   4 blob: u32 LE length + bytes | 5 integer that is a safe JS number: float64 LE
// (5 spares the main thread a BigInt per integer cell; the worker binds it as an integer.)

export const TAG_NULL = 0;
export const TAG_INT64 = 1;
export const TAG_REAL = 2;
export const TAG_TEXT = 3;
export const TAG_BLOB = 4;
export const TAG_SAFE_INT = 5;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** A piece is cut when it reaches this size (rows with large blobs). */
export const PIECE_BYTES_MAX = 1024 * 1024;

export interface PackedBatch {
  readonly buffer: ArrayBuffer;
  readonly byteLength: number;
  readonly rowCount: number;
}

export class BatchPacker {
  #bytesPerRow = 64;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;

  /**
   * Packs rows from `from` on, stopping after `maxRows` rows or `PIECE_BYTES_MAX` bytes;
   * throws INVALID_ARGUMENT on a malformed row (nothing of that piece is sent).
   */
  pack(table: SnapshotTableSpec, rows: readonly SnapshotRow[], from: number, maxRows: number): PackedBatch {
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
      buf[this.#pos] = Number.isSafeInteger(v) ? TAG_SAFE_INT : TAG_REAL;
      buf.writeDoubleLE(v, this.#pos + 1);
      this.#pos += 9;
    } else if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > INT64_MAX) throw badCell(table, r, c, 'bigint outside int64');
      const buf = this.#ensure(9);
      buf[this.#pos] = TAG_INT64;
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
