/**
 * Reading snapshot cells back into the state: each helper checks a cell's type and throws CORRUPTED
 * naming what was wrong, so a bad snapshot refuses to load rather than half-loading.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SnapshotValue } from '../storage/sqlite-snapshot-format.js';

export function corrupt(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.CORRUPTED, `snapshot: ${message}`);
}

/** A non-negative safe integer (SQLite may hand back a bigint). */
export function int(v: SnapshotValue | undefined, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw corrupt(`${what} is not a non-negative safe integer`);
  return n;
}

export function text(v: SnapshotValue | undefined, what: string): string {
  if (typeof v !== 'string') throw corrupt(`${what} is not text`);
  return v;
}

/** A blob; NULL reads as empty. */
export function blob(v: SnapshotValue | undefined, what: string): Uint8Array {
  if (v === null) return new Uint8Array(0);
  if (!(v instanceof Uint8Array)) throw corrupt(`${what} is not a blob`);
  return v;
}
