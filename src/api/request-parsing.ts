/**
 * Validation of decoded API requests (proto-loader objects) into the state machine's ops, and of
 * results back into response objects. Anything malformed becomes a typed error before it can reach
 * the log.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type Stat, type TreeOp, type TxnResult, type ZnodeKind, stateLimits, validatePath } from '../state/index.js';

/** A request as proto-loader decodes it (defaults filled in, enums as strings, longs as numbers). */
export type Req = Record<string, unknown>;

const KINDS: Readonly<Record<string, ZnodeKind>> = { PERSISTENT: 'persistent', EPHEMERAL: 'ephemeral', CONTAINER: 'container', TTL: 'ttl' };

export function bad(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.BAD_ARGUMENTS, message);
}

export function str(req: Req, field: string): string {
  const v = req[field];
  if (typeof v !== 'string') throw bad(`${field} must be a string`);
  return v;
}

export function num(req: Req, field: string): number {
  const v = req[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(`${field} must be an integer`);
  return v;
}

export function bytes(req: Req, field: string): Uint8Array {
  const v = req[field];
  if (!(v instanceof Uint8Array)) throw bad(`${field} must be bytes`);
  if (v.length > stateLimits.znodeDataBytesMax) {
    throw new ConclaveError(ErrorCode.DATA_TOO_LARGE, `data of ${v.length} bytes exceeds ${stateLimits.znodeDataBytesMax}`);
  }
  return v;
}

export function path(req: Req, opts: { sequential?: boolean } = {}): string {
  const p = str(req, 'path');
  validatePath(p, opts.sequential ? { allowSequentialPrefix: true } : {});
  return p;
}

/** An expected version: absent (proto3 `optional`) or -1 means any. */
export function version(req: Req): number {
  if (req['expectedVersion'] === undefined) return -1;
  const v = num(req, 'expectedVersion');
  if (v < -1) throw bad('expected_version must be -1 (any) or a version');
  return v;
}

/** A write's request id in its session, and the lowest seq its client still waits on (0: not given). */
export interface RequestHeader {
  readonly sessionId: number;
  readonly seq: number;
  readonly lowestUnansweredSeq?: number;
}

/** A write outside any session: never deduplicated. */
export const NO_REQUEST: RequestHeader = Object.freeze({ sessionId: 0, seq: 0 });

export function header(req: Req): RequestHeader {
  const h = (req['header'] ?? {}) as Req;
  const n = (field: string): number => (typeof h[field] === 'number' ? (h[field] as number) : 0);
  const lowestUnansweredSeq = n('lowestUnansweredSeq');
  return lowestUnansweredSeq > 0 ? { sessionId: n('sessionId'), seq: n('seq'), lowestUnansweredSeq } : { sessionId: n('sessionId'), seq: n('seq') };
}

export function linearizable(req: Req): boolean {
  return req['consistency'] !== 'SERIALIZABLE';
}

export function stat(s: Stat): object {
  return { ...s };
}

export function createOp(req: Req): TreeOp {
  const kindName = typeof req['kind'] === 'string' ? req['kind'] : 'PERSISTENT';
  const kind = KINDS[kindName];
  if (!kind) throw bad(`unknown node kind ${kindName}`);
  const sequential = req['sequential'] === true;
  const ttlMs = num(req, 'ttlMs');
  return { type: 'create', path: path(req, { sequential }), data: bytes(req, 'data'), kind, sequential, ...(ttlMs > 0 ? { ttlMs } : {}) };
}

export function treeOp(op: Req): TreeOp {
  if (op['create']) return createOp(op['create'] as Req);
  if (op['set']) {
    const r = op['set'] as Req;
    return { type: 'set', path: path(r), data: bytes(r, 'data'), version: version(r) };
  }
  if (op['delete']) {
    const r = op['delete'] as Req;
    return { type: 'delete', path: path(r), version: version(r) };
  }
  if (op['check']) {
    const r = op['check'] as Req;
    return { type: 'check', path: path(r), version: version(r) };
  }
  throw bad('a multi op must be one of create, set, delete, check');
}

export function opResult(r: TxnResult | { type: 'error'; error: { code: string } }): object {
  switch (r.type) {
    case 'create':
      return { code: '', path: r.path, stat: stat(r.stat) };
    case 'set':
      return { code: '', stat: stat(r.stat) };
    case 'error':
      return { code: r.error.code };
    default:
      return { code: '' };
  }
}

