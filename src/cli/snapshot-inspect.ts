/**
 * `conclave snapshot inspect FILE`: show that a snapshot is a plain SQLite file — its header
 * (index, term, membership, state machine and schema version) and each table with its row count.
 * The same is one query away with any SQLite tool: `sqlite3 FILE 'select * from meta'`.
 */
import Database from 'better-sqlite3';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { SnapshotStore } from '../storage/sqlite-snapshot.js';

export interface SnapshotReport {
  readonly file: string;
  readonly index: number;
  readonly term: number;
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  readonly stateMachine: string;
  readonly stateVersion: number;
  readonly zxid: number | undefined;
  readonly tables: ReadonlyArray<{ readonly name: string; readonly columns: readonly string[]; readonly rows: number }>;
}

export async function inspectSnapshot(file: string): Promise<SnapshotReport> {
  const store = new SnapshotStore('.');
  const header = await store.readHeader(file);
  const tables = await store.readTables(file);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      file,
      index: header.index,
      term: header.term,
      voters: header.conf.voters,
      learners: header.conf.learners,
      stateMachine: header.stateMachine,
      stateVersion: header.stateVersion,
      zxid: header.zxid,
      tables: tables.map((t) => {
        const row = db.prepare(`SELECT count(*) AS n FROM "${t.name}"`).get() as { n: number } | undefined;
        if (!row) throw new ConclaveError(ErrorCode.CORRUPTED, `table ${t.name} is missing from ${file}`);
        return { name: t.name, columns: t.columns.map((c) => `${c.name} ${c.type}`), rows: row.n };
      }),
    };
  } finally {
    db.close();
  }
}

export function formatSnapshotReport(r: SnapshotReport): string {
  const lines = [
    `file:          ${r.file}`,
    `index / term:  ${r.index} / ${r.term}`,
    `voters:        ${r.voters.join(', ') || '(none)'}`,
    `learners:      ${r.learners.join(', ') || '(none)'}`,
    `state machine: ${r.stateMachine} (schema v${r.stateVersion})${r.zxid !== undefined ? `, zxid ${r.zxid}` : ''}`,
    'tables:',
    ...r.tables.map((t) => `  ${t.name} (${t.columns.join(', ')}): ${t.rows} row(s)`),
  ];
  return `${lines.join('\n')}\n`;
}
