/**
 * The state machine's snapshot tables (for the SQLite snapshot store, storage/sqlite-snapshot*.ts):
 *   znodes(path TEXT pk, data BLOB, czxid, mzxid, pzxid, ctime, mtime, version, cversion,
 *          ephemeral_owner, kind TEXT, ttl_ms)
 *   sessions(id pk, timeout_ms, last_seq, last_result BLOB, owner TEXT, forgotten_through)
 *                                                            -- last_result: JSON of last_seq's outcome
 *   session_outcomes(session_id, seq, result BLOB)           -- pk (session_id, seq): the other
 *                                                            -- remembered outcomes (see sessions.ts)
 *   members(id pk, peer TEXT, client TEXT)                   -- every member's addresses
 *   locks(name TEXT pk, kind TEXT, permits, delay_ms, blocked_until_ms, holders TEXT, waiters TEXT)
 *                                                            -- see lock-snapshot.ts
 *   acls(path TEXT pk, grants TEXT)                          -- see acl.ts
 *   quotas(path TEXT pk, max_nodes, max_bytes)               -- see quotas.ts; usage is recounted on restore
 * Rows are produced sorted by primary key; restoring checks everything and throws CORRUPTED.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SnapshotRow, SnapshotTableSpec } from '../storage/sqlite-snapshot-format.js';
import { aclsTable } from './acl.js';
import { DataTree } from './data-tree.js';
import type { StateLimits } from './limits.js';
import { locksTable } from './lock-snapshot.js';
import { MemberTable } from './members.js';
import { quotasTable } from './quotas.js';
import { blob, corrupt, int, text } from './snapshot-cells.js';
import { SessionTable } from './sessions.js';
import { isZnodeKind, type ZnodeRecord } from './stat.js';
import type { TxnOutcome } from './state-machine.js';

export const STATE_MACHINE_NAME = 'conclave-znodes';
/** Bumped whenever the tables below change incompatibly. */
export const STATE_VERSION = 5;

export const znodesTable: SnapshotTableSpec = {
  name: 'znodes',
  columns: [
    { name: 'path', type: 'TEXT' },
    { name: 'data', type: 'BLOB' },
    { name: 'czxid', type: 'INTEGER' },
    { name: 'mzxid', type: 'INTEGER' },
    { name: 'pzxid', type: 'INTEGER' },
    { name: 'ctime', type: 'INTEGER' },
    { name: 'mtime', type: 'INTEGER' },
    { name: 'version', type: 'INTEGER' },
    { name: 'cversion', type: 'INTEGER' },
    { name: 'ephemeral_owner', type: 'INTEGER' },
    { name: 'kind', type: 'TEXT' },
    { name: 'ttl_ms', type: 'INTEGER' },
  ],
  primaryKey: ['path'],
};

export const sessionsTable: SnapshotTableSpec = {
  name: 'sessions',
  columns: [
    { name: 'id', type: 'INTEGER' },
    { name: 'timeout_ms', type: 'INTEGER' },
    { name: 'last_seq', type: 'INTEGER' },
    { name: 'last_result', type: 'BLOB' },
    // Added in STATE_VERSION 4; a v3 row has 4 cells and no owner.
    { name: 'owner', type: 'TEXT' },
    // Added in STATE_VERSION 5; before it only the latest request was remembered (last_seq - 1).
    { name: 'forgotten_through', type: 'INTEGER' },
  ],
  primaryKey: ['id'],
};

/** Added in STATE_VERSION 5 (absent: no outcome but the latest is remembered). */
export const sessionOutcomesTable: SnapshotTableSpec = {
  name: 'session_outcomes',
  columns: [
    { name: 'session_id', type: 'INTEGER' },
    { name: 'seq', type: 'INTEGER' },
    { name: 'result', type: 'BLOB' },
  ],
  primaryKey: ['session_id', 'seq'],
};

export const membersTable: SnapshotTableSpec = {
  name: 'members',
  columns: [
    { name: 'id', type: 'INTEGER' },
    { name: 'peer', type: 'TEXT' },
    { name: 'client', type: 'TEXT' },
  ],
  primaryKey: ['id'],
};

export { aclsTable, locksTable, quotasTable };

export const stateSnapshotTables: readonly SnapshotTableSpec[] = [znodesTable, sessionsTable, membersTable, locksTable, aclsTable, quotasTable, sessionOutcomesTable];

export interface StateSnapshotRows {
  readonly znodes: readonly SnapshotRow[];
  readonly sessions: readonly SnapshotRow[];
  /** Absent (a snapshot older than STATE_VERSION 5) reads as none. */
  readonly sessionOutcomes?: readonly SnapshotRow[];
  readonly members: readonly SnapshotRow[];
  /** Absent reads as no locks; a tree that mirrors locks then fails the restore with CORRUPTED. */
  readonly locks?: readonly SnapshotRow[];
  /** Absent (a snapshot older than STATE_VERSION 4) reads as no ACLs. */
  readonly acls?: readonly SnapshotRow[];
  /** Absent reads as no quotas. */
  readonly quotas?: readonly SnapshotRow[];
}

export function memberRows(members: MemberTable): SnapshotRow[] {
  return members.list().map((m) => [m.id, m.peer, m.client]);
}

export function membersFromRows(rows: Iterable<SnapshotRow>): MemberTable {
  const table = new MemberTable();
  for (const row of rows) {
    if (row.length !== membersTable.columns.length) throw corrupt(`member row has ${row.length} cells`);
    const id = int(row[0], 'member id');
    if (id === 0 || table.get(id)) throw corrupt(`zero or duplicate member id ${id}`);
    table.apply({ type: 'add', member: { id, peer: text(row[1], `peer of member ${id}`), client: text(row[2], `client of member ${id}`) } });
  }
  return table;
}

export function treeRows(tree: DataTree): SnapshotRow[] {
  return tree.records().map(znodeRow);
}

/** A znode's row of the `znodes` table. */
export function znodeRow(r: ZnodeRecord): SnapshotRow {
  return [r.path, r.data, r.czxid, r.mzxid, r.pzxid, r.ctime, r.mtime, r.version, r.cversion, r.ephemeralOwner, r.kind, r.ttlMs];
}

export function sessionRows(sessions: SessionTable<TxnOutcome>, encode: (o: TxnOutcome) => Uint8Array): SnapshotRow[] {
  return sessions.ids().map((id) => {
    const s = sessions.get(id);
    if (s === undefined) throw new ConclaveError(ErrorCode.CORRUPTED, `session ${id} vanished`);
    const last = s.outcomes.get(s.lastSeq);
    return [id, s.timeoutMs, s.lastSeq, last === undefined ? null : encode(last), s.owner, s.forgottenThrough];
  });
}

/** The remembered outcomes other than each session's latest (that one is in its sessions row). */
export function sessionOutcomeRows(sessions: SessionTable<TxnOutcome>, encode: (o: TxnOutcome) => Uint8Array): SnapshotRow[] {
  const rows: SnapshotRow[] = [];
  for (const id of sessions.ids()) {
    const s = sessions.get(id);
    if (s === undefined) throw new ConclaveError(ErrorCode.CORRUPTED, `session ${id} vanished`);
    for (const [seq, outcome] of s.outcomes) if (seq !== s.lastSeq) rows.push([id, seq, encode(outcome)]);
  }
  return rows;
}


function* records(rows: Iterable<SnapshotRow>): Iterable<ZnodeRecord> {
  for (const row of rows) {
    if (row.length !== znodesTable.columns.length) throw corrupt(`znode row has ${row.length} cells`);
    const path = text(row[0], 'path');
    const kind = text(row[10], `kind of ${path}`);
    if (!isZnodeKind(kind)) throw corrupt(`unknown kind ${kind} of ${path}`);
    const n = (i: number, what: string): number => int(row[i], `${what} of ${path}`);
    yield {
      path,
      data: blob(row[1], `data of ${path}`),
      czxid: n(2, 'czxid'),
      mzxid: n(3, 'mzxid'),
      pzxid: n(4, 'pzxid'),
      ctime: n(5, 'ctime'),
      mtime: n(6, 'mtime'),
      version: n(7, 'version'),
      cversion: n(8, 'cversion'),
      ephemeralOwner: n(9, 'ephemeral_owner'),
      kind,
      ttlMs: n(11, 'ttl_ms'),
    };
  }
}

export function treeFromRows(rows: Iterable<SnapshotRow>, limits: Readonly<StateLimits>): DataTree {
  return DataTree.fromRecords(records(rows), limits);
}

/**
 * The sessions table and its remembered outcomes. A v3 row has no owner; a v4 row has no
 * `forgotten_through`, and then only the latest request was remembered.
 */
export function sessionsFromRows(rows: Iterable<SnapshotRow>, outcomeRows: Iterable<SnapshotRow>, decode: (b: Uint8Array) => TxnOutcome): SessionTable<TxnOutcome> {
  const table = new SessionTable<TxnOutcome>();
  const columns = sessionsTable.columns.length;
  const memory = new Map<number, { lastSeq: number; forgottenThrough: number; outcomes: [number, TxnOutcome][] }>();
  for (const row of rows) {
    if (row.length < columns - 2 || row.length > columns) throw corrupt(`session row has ${row.length} cells`);
    const id = int(row[0], 'session id');
    const owner = row.length > 4 ? text(row[4], `owner of session ${id}`) : '';
    const timeoutMs = int(row[1], `timeout of session ${id}`);
    const lastSeq = int(row[2], `last seq of session ${id}`);
    const forgottenThrough = row.length > 5 ? int(row[5], `forgotten seq of session ${id}`) : Math.max(0, lastSeq - 1);
    if (id === 0 || timeoutMs === 0) throw corrupt(`session ${id} has a zero id or timeout`);
    if (table.has(id)) throw corrupt(`duplicate session ${id}`);
    if (forgottenThrough > lastSeq || (lastSeq > 0 && forgottenThrough === lastSeq)) throw corrupt(`session ${id} forgot through ${forgottenThrough}, its last seq being ${lastSeq}`);
    table.open(id, timeoutMs, owner);
    const outcomes: [number, TxnOutcome][] = [];
    if (row[3] !== null) outcomes.push([lastSeq, decode(blob(row[3], `last result of session ${id}`))]);
    else if (lastSeq !== 0) throw corrupt(`session ${id} has a last seq but no result`);
    memory.set(id, { lastSeq, forgottenThrough, outcomes });
  }
  for (const row of outcomeRows) {
    if (row.length !== sessionOutcomesTable.columns.length) throw corrupt(`session outcome row has ${row.length} cells`);
    const id = int(row[0], 'session id of an outcome');
    const seq = int(row[1], `seq of an outcome of session ${id}`);
    const m = memory.get(id);
    if (m === undefined) throw corrupt(`an outcome of session ${id}, which is not open`);
    if (seq <= m.forgottenThrough || seq >= m.lastSeq) throw corrupt(`outcome ${seq} of session ${id} is outside its remembered range (${m.forgottenThrough}, ${m.lastSeq})`);
    m.outcomes.push([seq, decode(blob(row[2], `outcome ${seq} of session ${id}`))]);
  }
  for (const [id, m] of memory) {
    if (new Set(m.outcomes.map(([seq]) => seq)).size !== m.outcomes.length) throw corrupt(`session ${id} has an outcome twice`);
    table.restoreMemory(id, m.lastSeq, m.forgottenThrough, m.outcomes);
  }
  return table;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function decodeOutcome(b: Uint8Array): TxnOutcome {
  let o: unknown;
  try {
    o = JSON.parse(decoder.decode(b));
  } catch {
    throw corrupt('undecodable remembered result');
  }
  const ok = typeof o === 'object' && o !== null && 'ok' in o ? (o as { ok: unknown }).ok : undefined;
  if ((ok === true && 'result' in (o as object)) || (ok === false && 'error' in (o as object))) return o as TxnOutcome;
  throw corrupt('remembered result is not an outcome');
}
