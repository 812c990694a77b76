/**
 * How the `conclave` command speaks: machine output with `--json` (one JSON document on stdout),
 * human tables otherwise, colour only on a TTY, and errors as one line on stderr with the typed
 * code and a documented exit code.
 */
import { ErrorCode, isConclaveError } from '../common/errors.js';

/** Exit codes, documented in the README and `conclave --help`. */
export const EXIT = {
  OK: 0,
  /** A server bug or an unexpected failure. */
  INTERNAL: 1,
  /** Bad usage or bad input (the request was refused and changed nothing). */
  BAD_INPUT: 2,
  /** The node does not exist. */
  NOT_FOUND: 3,
  /** A conflict with the current state: exists already, wrong version, not empty, ... */
  CONFLICT: 4,
  /** No member could serve the request (down, no leader, timed out, session lost, rate limited). */
  UNAVAILABLE: 5,
  /** Refused by the cluster's security: no or bad credentials, no permission, over a quota. */
  REFUSED: 6,
} as const;

const CODE_EXIT: Partial<Record<ErrorCode, number>> = {
  BAD_PATH: EXIT.BAD_INPUT,
  BAD_ARGUMENTS: EXIT.BAD_INPUT,
  INVALID_ARGUMENT: EXIT.BAD_INPUT,
  DATA_TOO_LARGE: EXIT.BAD_INPUT,
  LIMIT_EXCEEDED: EXIT.BAD_INPUT,
  NO_NODE: EXIT.NOT_FOUND,
  NODE_EXISTS: EXIT.CONFLICT,
  BAD_VERSION: EXIT.CONFLICT,
  NOT_EMPTY: EXIT.CONFLICT,
  NO_CHILDREN_FOR_EPHEMERALS: EXIT.CONFLICT,
  RUNTIME_INCONSISTENCY: EXIT.CONFLICT,
  BAD_MEMBERSHIP_CHANGE: EXIT.CONFLICT,
  STALE_REQUEST: EXIT.CONFLICT,
  NOT_LEADER: EXIT.UNAVAILABLE,
  UNAVAILABLE: EXIT.UNAVAILABLE,
  LEADER_TRANSFERRING: EXIT.UNAVAILABLE,
  PROPOSAL_BACKPRESSURE: EXIT.UNAVAILABLE,
  SESSION_EXPIRED: EXIT.UNAVAILABLE,
  COMPACTED: EXIT.UNAVAILABLE,
  RATE_LIMITED: EXIT.UNAVAILABLE,
  UNAUTHENTICATED: EXIT.REFUSED,
  PERMISSION_DENIED: EXIT.REFUSED,
  QUOTA_EXCEEDED: EXIT.REFUSED,
};

export function exitCodeOf(err: unknown): number {
  return isConclaveError(err) ? (CODE_EXIT[err.code] ?? EXIT.INTERNAL) : EXIT.INTERNAL;
}

/** One line: `conclave: CODE: message`. The message of a ConclaveError already starts with its code. */
export function errorLine(err: unknown): string {
  if (isConclaveError(err)) return `conclave: ${err.message}\n`;
  return `conclave: ${err instanceof Error ? err.message : String(err)}\n`;
}

export interface Out {
  readonly json: boolean;
  /** Colour and progress only when stdout is a terminal. */
  readonly tty: boolean;
  write(text: string): void;
  /** Machine output: one JSON document per call. */
  emit(value: unknown): void;
  /** Progress on stderr, TTY only, overwriting its line. */
  progress(text: string): void;
}

export function stdOut(json: boolean): Out {
  const tty = process.stdout.isTTY === true;
  return {
    json,
    tty,
    write: (text) => void process.stdout.write(text),
    emit: (value) => void process.stdout.write(`${JSON.stringify(value, jsonReplacer)}\n`),
    progress: (text) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${text}\u001b[K`);
    },
  };
}

/** Bytes become UTF-8 text when they are valid UTF-8, else `{ base64 }`. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) {
    const text = decodeText(value);
    return text !== undefined ? text : { base64: Buffer.from(value).toString('base64') };
  }
  return value;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function decodeText(b: Uint8Array): string | undefined {
  try {
    return decoder.decode(b);
  } catch {
    return undefined;
  }
}

export function bold(out: Out, text: string): string {
  return out.tty ? `\u001b[1m${text}\u001b[22m` : text;
}

/** A plain left-aligned table with a header row. */
export function table(out: Out, headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${bold(out, line(headers))}\n${cells.map(line).join('\n')}${cells.length ? '\n' : ''}`;
}
