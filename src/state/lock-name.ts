/**
 * Lock vocabulary: kinds, modes and names. A name is 1..`lockNameBytesMax` characters of
 * `[A-Za-z0-9._-]`, not `.` or `..`: it is one path segment, so every lock is mirrored as exactly
 * one node `/conclave/locks/<name>` (no `/`, hence no intermediate nodes to manage).
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { RESERVED_ROOT } from './path.js';
import type { StateLimits } from './limits.js';

/** mutex: one holder. rwlock: one exclusive holder or many shared ones. semaphore: up to `permits` holders. */
export type LockKind = 'mutex' | 'rwlock' | 'semaphore';
export const LOCK_KINDS: readonly LockKind[] = ['mutex', 'rwlock', 'semaphore'];

/** A mutex grant is exclusive; a semaphore permit is recorded as shared; an rwlock takes either. */
export type LockMode = 'exclusive' | 'shared';
export const LOCK_MODES: readonly LockMode[] = ['exclusive', 'shared'];

/** The parent of every lock's mirror node. */
export const LOCKS_ROOT = `${RESERVED_ROOT}/locks`;

export function isLockKind(x: unknown): x is LockKind {
  return typeof x === 'string' && (LOCK_KINDS as readonly string[]).includes(x);
}

export function isLockMode(x: unknown): x is LockMode {
  return typeof x === 'string' && (LOCK_MODES as readonly string[]).includes(x);
}

const NAME = /^[A-Za-z0-9._-]+$/;

/** Throws BAD_ARGUMENTS unless `name` is a valid lock name under `limits`. */
export function validateLockName(name: unknown, limits: Pick<StateLimits, 'lockNameBytesMax' | 'pathBytesMax'>): asserts name is string {
  const bad = (why: string): ConclaveError => new ConclaveError(ErrorCode.BAD_ARGUMENTS, `lock name ${JSON.stringify(String(name)).slice(0, 80)} ${why}`, { name: String(name).slice(0, 300) });
  if (typeof name !== 'string') throw bad('is not a string');
  if (name.length === 0) throw bad('is empty');
  const max = Math.min(limits.lockNameBytesMax, limits.pathBytesMax - LOCKS_ROOT.length - 1);
  if (name.length > max) throw bad(`is longer than ${max} bytes`);
  if (!NAME.test(name)) throw bad('may hold only A-Z a-z 0-9 . _ -');
  if (name === '.' || name === '..') throw bad('must not be . or ..');
}

/** The read-only node that mirrors a lock. */
export function lockNodePath(name: string): string {
  return `${LOCKS_ROOT}/${name}`;
}
