/**
 * Znode paths (DESIGN §2): absolute, `/`-separated, no empty segments, no `.` or `..` segments,
 * no trailing `/` (the root aside), well-formed UTF-16 (so it has a UTF-8 form), no control
 * characters (U+0000–U+001F, U+007F–U+009F), at most `pathBytesMax` UTF-8 bytes.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { stateLimits } from './limits.js';

export interface ValidatePathOptions {
  /**
   * The path is the prefix of a sequential create: the 10-digit suffix completes it, so it may end
   * in `/` (`/locks/` becomes `/locks/0000000007`). Validated as if the suffix were there.
   */
  readonly allowSequentialPrefix?: boolean;
  /** Defaults to `stateLimits.pathBytesMax`. */
  readonly pathBytesMax?: number;
}

/** The suffix length of sequential names, as in ZooKeeper (`%010d`). */
export const SEQUENTIAL_DIGITS = 10;
const SEQUENTIAL_PLACEHOLDER = '0'.repeat(SEQUENTIAL_DIGITS);

function badPath(path: string, why: string): ConclaveError {
  return new ConclaveError(ErrorCode.BAD_PATH, `${why}: ${JSON.stringify(path)}`, { path, reason: why });
}

/** Throws BAD_PATH unless `path` is a valid znode path. */
export function validatePath(path: string, opts: ValidatePathOptions = {}): void {
  if (typeof path !== 'string') throw new ConclaveError(ErrorCode.BAD_PATH, 'path must be a string', { path: String(path) });
  const full = opts.allowSequentialPrefix === true ? path + SEQUENTIAL_PLACEHOLDER : path;
  if (full.length === 0) throw badPath(path, 'path is empty');
  if (full.charCodeAt(0) !== 0x2f) throw badPath(path, 'path must start with /');
  const bytesMax = opts.pathBytesMax ?? stateLimits.pathBytesMax;
  // Cheap bound first: a UTF-8 byte count is at most 3 per UTF-16 code unit.
  if (full.length > bytesMax && utf8Length(full) > bytesMax) throw badPath(path, `path longer than ${bytesMax} UTF-8 bytes`);
  if (full.length === 1) return;
  if (full.charCodeAt(full.length - 1) === 0x2f) throw badPath(path, 'path must not end with /');
  for (let i = 0; i < full.length; i++) {
    const c = full.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) throw badPath(path, `control character U+${c.toString(16).padStart(4, '0').toUpperCase()} at ${i}`);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < full.length ? full.charCodeAt(i + 1) : 0;
      if (next < 0xdc00 || next > 0xdfff) throw badPath(path, `lone surrogate at ${i}`);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw badPath(path, `lone surrogate at ${i}`);
    }
  }
  for (const segment of full.slice(1).split('/')) {
    if (segment.length === 0) throw badPath(path, 'empty segment');
    if (segment === '.' || segment === '..') throw badPath(path, `relative segment "${segment}"`);
  }
  if (utf8Length(full) > bytesMax) throw badPath(path, `path longer than ${bytesMax} UTF-8 bytes`);
}

/** UTF-8 length of a well-formed string (lone surrogates count 3, as their replacement would). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** The parent of a valid non-root path (`/a/b` → `/a`, `/a` → `/`). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** The last segment of a valid non-root path (`/a/b` → `b`). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `parent` joined with a child name. */
export function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The 10-digit, zero-padded sequential suffix of `counter`. */
export function sequentialSuffix(counter: number): string {
  return String(counter).padStart(SEQUENTIAL_DIGITS, '0');
}

/**
 * The reserved subtree: the state machine's own read-only nodes (the lock mirrors under
 * `/conclave/locks`). Users may read and watch it but never create, set or delete at or under it.
 */
export const RESERVED_ROOT = '/conclave';

/** Whether `path` is at or under `/conclave` (so a user write to it is refused with BAD_ARGUMENTS). */
export function isReservedPath(path: unknown): boolean {
  return typeof path === 'string' && (path === RESERVED_ROOT || path.startsWith(`${RESERVED_ROOT}/`));
}
