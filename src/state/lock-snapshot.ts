/**
 * The locks snapshot table:
 *   locks(name TEXT pk, kind TEXT, permits, delay_ms, blocked_until_ms,
 *         holders TEXT, waiters TEXT)
 * holders: JSON [[sessionId, token, mode, sinceMs, valueBase64], ...] in grant order;
 * waiters: JSON [[sessionId, mode, sinceMs, valueBase64], ...] in arrival order.
 * (JSON cells: a lock's lists are small and this is not a hot path.)
 */
import type { SnapshotRow, SnapshotTableSpec, SnapshotValue } from '../storage/sqlite-snapshot-format.js';
import type { StateLimits } from './limits.js';
import { LockTable } from './locks.js';
import { corrupt, int } from './snapshot-cells.js';
import type { LockDescription, LockHolder, LockWaiter } from './lock-types.js';
import type { LockKind, LockMode } from './lock-name.js';

export const locksTable: SnapshotTableSpec = {
  name: 'locks',
  columns: [
    { name: 'name', type: 'TEXT' },
    { name: 'kind', type: 'TEXT' },
    { name: 'permits', type: 'INTEGER' },
    { name: 'delay_ms', type: 'INTEGER' },
    { name: 'blocked_until_ms', type: 'INTEGER' },
    { name: 'holders', type: 'TEXT' },
    { name: 'waiters', type: 'TEXT' },
  ],
  primaryKey: ['name'],
};

const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64');

export function lockRows(locks: LockTable): SnapshotRow[] {
  return locks.names().map((name) => {
    const d = locks.describe(name) as LockDescription;
    return [
      name,
      d.kind,
      d.permits,
      d.delayMs,
      d.blockedUntilMs,
      JSON.stringify(d.holders.map((h) => [h.sessionId, h.token, h.mode, h.sinceMs, b64(h.value)])),
      JSON.stringify(d.waiters.map((w) => [w.sessionId, w.mode, w.sinceMs, b64(w.value)])),
    ];
  });
}


function list(v: SnapshotValue | undefined, what: string): unknown[][] {
  let parsed: unknown;
  try {
    parsed = typeof v === 'string' ? JSON.parse(v) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((e) => Array.isArray(e))) throw corrupt(`${what} is not a JSON list of lists`);
  return parsed as unknown[][];
}

function bytes(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw corrupt(`${what} is not base64`);
  const b = Buffer.from(v, 'base64');
  // Buffer skips what is not base64: a round trip tells garbage apart.
  if (b.toString('base64') !== v) throw corrupt(`${what} is not base64`);
  return new Uint8Array(b);
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number') throw corrupt(`${what} is not a number`);
  return v;
}

function* descriptions(rows: Iterable<SnapshotRow>): Iterable<LockDescription> {
  for (const row of rows) {
    if (row.length !== locksTable.columns.length) throw corrupt(`lock row has ${row.length} cells`);
    const name = row[0];
    if (typeof name !== 'string') throw corrupt('lock name is not text');
    const what = `lock ${JSON.stringify(name)}`;
    const holders: LockHolder[] = list(row[5], `holders of ${what}`).map((h) => {
      if (h.length !== 5) throw corrupt(`a holder of ${what} has ${h.length} fields`);
      return { sessionId: num(h[0], 'session'), token: num(h[1], 'token'), mode: h[2] as LockMode, sinceMs: num(h[3], 'since'), value: bytes(h[4], `value in ${what}`) };
    });
    const waiters: LockWaiter[] = list(row[6], `waiters of ${what}`).map((w) => {
      if (w.length !== 4) throw corrupt(`a waiter of ${what} has ${w.length} fields`);
      return { sessionId: num(w[0], 'session'), mode: w[1] as LockMode, sinceMs: num(w[2], 'since'), value: bytes(w[3], `value in ${what}`) };
    });
    yield {
      name,
      kind: row[1] as LockKind,
      permits: int(row[2], `permits of ${what}`),
      delayMs: int(row[3], `delay of ${what}`),
      blockedUntilMs: int(row[4], `block of ${what}`),
      holders,
      waiters,
    };
  }
}

/** Builds the lock table from its rows; throws CORRUPTED on anything a lock table could not hold. */
export function locksFromRows(rows: Iterable<SnapshotRow>, appliedIndex: number, limits: Readonly<StateLimits>): LockTable {
  return LockTable.fromDescriptions(descriptions(rows), appliedIndex, limits);
}
