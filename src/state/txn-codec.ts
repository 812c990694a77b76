/**
 * Hand-written protobuf codec of txns (schema: proto/txn.proto). `decodeTxn` never crashes on
 * garbage: anything malformed is a ConclaveError(INVALID_ARGUMENT). Decoded `data` fields are
 * views into the input bytes (the tree copies what it stores).
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { WireReader, WireType } from '../common/protobuf-wire.js';
import { PERMISSIONS, type AclGrant, type Permission } from './acl.js';
import type { TreeOp } from './data-tree.js';
import { LOCK_KINDS, LOCK_MODES, type LockKind, type LockMode } from './lock-name.js';
import { ZNODE_KINDS, isZnodeKind, type ZnodeKind } from './stat.js';
import type { LockTxnBody, SecurityTxnBody, Txn, TxnBody } from './txn.js';
import { WireWriter, unzigzag } from '../common/protobuf-writer.js';

const Field = {
  timeMs: 1,
  sessionId: 2,
  seq: 3,
  identity: 4,
  lowestUnansweredSeq: 5,
  create: 10,
  setData: 11,
  delete: 12,
  check: 13,
  multi: 14,
  createSession: 15,
  closeSession: 16,
  lockAcquire: 17,
  lockRelease: 18,
  lockCancel: 19,
  lockWake: 20,
  setAcl: 21,
  removeAcl: 22,
  setQuota: 23,
  removeQuota: 24,
} as const;

const LockField = { name: 1, kind: 2, mode: 3, permits: 4, wait: 5, delayMs: 6, value: 7 } as const;

const OpField = { create: 1, setData: 2, delete: 3, check: 4 } as const;

function invalid(message: string, details: Record<string, unknown> = {}): ConclaveError {
  return new ConclaveError(ErrorCode.INVALID_ARGUMENT, `txn: ${message}`, details);
}

// ---------------------------------------------------------------------------------------------
// Encoding.

function checkCount(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}

function checkVersion(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < -1) throw invalid(`version must be an integer ≥ -1, got ${String(v)}`);
  return v;
}

/** A string with a UTF-8 form (TextEncoder would silently replace a lone surrogate). */
function checkString(name: string, s: unknown): string {
  if (typeof s !== 'string') throw invalid(`${name} must be a string`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw invalid(`${name} holds a lone surrogate at ${i}`);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) throw invalid(`${name} holds a lone surrogate at ${i}`);
  }
  return s;
}

function checkData(d: unknown): Uint8Array {
  if (!(d instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
  return d;
}

function writeOp(w: WireWriter, op: TreeOp): void {
  switch (op.type) {
    case 'create': {
      if (!isZnodeKind(op.kind)) throw invalid(`unknown kind ${String(op.kind)}`);
      const kind = ZNODE_KINDS.indexOf(op.kind);
      w.string(1, checkString('path', op.path)).bytes(2, checkData(op.data)).uint(3, kind).bool(4, op.sequential === true).uint(5, checkCount('ttlMs', op.ttlMs ?? 0));
      return;
    }
    case 'set':
      w.string(1, checkString('path', op.path)).bytes(2, checkData(op.data)).sint(3, checkVersion(op.version));
      return;
    case 'delete':
    case 'check':
      w.string(1, checkString('path', op.path)).sint(2, checkVersion(op.version));
      return;
    default:
      throw invalid(`unknown op ${String((op as { type?: unknown }).type)}`);
  }
}

/** An enum's number: the index of a known name. */
function enumIndex(what: string, names: readonly string[], v: unknown): number {
  const i = typeof v === 'string' ? names.indexOf(v) : -1;
  if (i < 0) throw invalid(`unknown ${what} ${String(v)}`);
  return i;
}

function writeLock(w: WireWriter, body: LockTxnBody): void {
  w.string(LockField.name, checkString('name', body.name));
  if (body.type !== 'lockAcquire') return;
  w.uint(LockField.kind, enumIndex('lock kind', LOCK_KINDS, body.kind))
    .uint(LockField.mode, enumIndex('lock mode', LOCK_MODES, body.mode ?? 'exclusive'))
    .uint(LockField.permits, checkCount('permits', body.permits ?? 0))
    .bool(LockField.wait, body.wait === true)
    .uint(LockField.delayMs, checkCount('delayMs', body.delayMs ?? 0))
    .bytes(LockField.value, checkData(body.value ?? new Uint8Array(0)));
}

/** SetAclTxn, RemoveAclTxn, SetQuotaTxn, RemoveQuotaTxn: `path = 1` first, then the body's own fields. */
function writeSecurity(w: WireWriter, body: SecurityTxnBody): void {
  w.string(1, checkString('path', body.path));
  if (body.type === 'setAcl') {
    if (!Array.isArray(body.grants)) throw invalid('grants must be an array');
    for (const g of body.grants as readonly AclGrant[]) {
      if (typeof g !== 'object' || g === null || !Array.isArray(g.perms)) throw invalid('a grant must be { identity, perms[] }');
      // Packed: each permission's number is below 128, so one byte each.
      const perms = Uint8Array.from(g.perms, (p) => enumIndex('permission', PERMISSIONS, p));
      w.message(2, (m) => m.string(1, checkString('identity', g.identity)).bytes(2, perms));
    }
  } else if (body.type === 'setQuota') {
    w.optionalUint(2, body.maxNodes === undefined ? undefined : checkCount('maxNodes', body.maxNodes));
    w.optionalUint(3, body.maxBytes === undefined ? undefined : checkCount('maxBytes', body.maxBytes));
  }
}

function opField(op: TreeOp, fields: { create: number; setData: number; delete: number; check: number }): number {
  switch (op?.type) {
    case 'create':
      return fields.create;
    case 'set':
      return fields.setData;
    case 'delete':
      return fields.delete;
    case 'check':
      return fields.check;
    default:
      throw invalid(`unknown op ${String((op as { type?: unknown } | undefined)?.type)}`);
  }
}

/** Encodes a txn; throws INVALID_ARGUMENT on a value the schema cannot hold. */
export function encodeTxn(txn: Txn): Uint8Array {
  const w = new WireWriter();
  w.uint(Field.timeMs, checkCount('timeMs', txn.timeMs)).uint(Field.sessionId, checkCount('sessionId', txn.sessionId)).uint(Field.seq, checkCount('seq', txn.seq));
  if (txn.identity !== undefined) w.string(Field.identity, checkString('identity', txn.identity));
  // Written only when given, so a txn without it encodes as it did before the field existed.
  if (txn.lowestUnansweredSeq !== undefined && txn.lowestUnansweredSeq !== 0) w.uint(Field.lowestUnansweredSeq, checkCount('lowestUnansweredSeq', txn.lowestUnansweredSeq));
  const body = txn.body as TxnBody | undefined;
  switch (body?.type) {
    case 'multi': {
      if (!Array.isArray(body.ops)) throw invalid('multi ops must be an array');
      const ops = body.ops;
      w.message(Field.multi, (m) => {
        for (const op of ops) m.message(1, (o) => o.message(opField(op, OpField), (x) => writeOp(x, op)));
      });
      break;
    }
    case 'createSession':
      w.message(Field.createSession, (m) => m.uint(1, checkCount('sessionId', body.sessionId)).uint(2, checkCount('timeoutMs', body.timeoutMs)));
      break;
    case 'closeSession':
      w.message(Field.closeSession, (m) => m.uint(1, checkCount('sessionId', body.sessionId)).bool(2, body.expired === true));
      break;
    case 'lockAcquire':
    case 'lockRelease':
    case 'lockCancel':
    case 'lockWake':
      w.message(Field[body.type], (m) => writeLock(m, body));
      break;
    case 'setAcl':
    case 'removeAcl':
    case 'setQuota':
    case 'removeQuota':
      w.message(Field[body.type], (m) => writeSecurity(m, body));
      break;
    default:
      if (body === undefined) throw invalid('txn has no body');
      w.message(opField(body, Field), (m) => writeOp(m, body));
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding.

const decoder = new TextDecoder('utf-8', { fatal: true });

function readString(r: WireReader): string {
  try {
    return decoder.decode(r.bytes());
  } catch (err: unknown) {
    if (err instanceof ConclaveError) throw err;
    throw invalid('string is not valid UTF-8');
  }
}

/** Reads every field of a message: `on` returns false for a field it does not know (it is skipped). */
function readFields(bytes: Uint8Array, on: (field: number, wire: number, r: WireReader) => boolean): void {
  const r = new WireReader(bytes);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (!on(field, wire, r)) r.skip(wire);
  }
}

function expectWire(field: number, wire: number, expected: number): void {
  if (wire !== expected) throw invalid(`field ${field} has wire type ${wire}, expected ${expected}`);
}

function readOp(kind: 'create' | 'set' | 'delete' | 'check', bytes: Uint8Array): TreeOp {
  let path = '';
  let data: Uint8Array = new Uint8Array(0);
  let nodeKind: ZnodeKind = 'persistent';
  let sequential = false;
  let ttlMs = 0;
  let version = 0;
  const versionField = kind === 'set' ? 3 : 2;
  readFields(bytes, (field, wire, r) => {
    if (field === 1) {
      expectWire(field, wire, WireType.LengthDelimited);
      path = readString(r);
    } else if (field === 2 && (kind === 'create' || kind === 'set')) {
      expectWire(field, wire, WireType.LengthDelimited);
      data = r.bytes();
    } else if (field === versionField && kind !== 'create') {
      expectWire(field, wire, WireType.Varint);
      version = unzigzag(r.varint());
    } else if (kind === 'create' && field === 3) {
      expectWire(field, wire, WireType.Varint);
      const k = r.varint();
      const named = ZNODE_KINDS[k];
      if (named === undefined) throw invalid(`unknown node kind ${k}`);
      nodeKind = named;
    } else if (kind === 'create' && field === 4) {
      expectWire(field, wire, WireType.Varint);
      sequential = r.varint() !== 0;
    } else if (kind === 'create' && field === 5) {
      expectWire(field, wire, WireType.Varint);
      ttlMs = r.varint();
    } else return false;
    return true;
  });
  switch (kind) {
    case 'create':
      return { type: 'create', path, data, kind: nodeKind, sequential, ttlMs };
    case 'set':
      return { type: 'set', path, data, version };
    case 'delete':
      return { type: 'delete', path, version };
    case 'check':
      return { type: 'check', path, version };
  }
}

function readEnum<T>(what: string, names: readonly T[], r: WireReader): T {
  const i = r.varint();
  const named = names[i];
  if (named === undefined) throw invalid(`unknown ${what} ${i}`);
  return named;
}

function readLock(field: number, bytes: Uint8Array): LockTxnBody {
  let name = '';
  let kind: LockKind = 'mutex';
  let mode: LockMode = 'exclusive';
  let permits = 0;
  let wait = false;
  let delayMs = 0;
  let value: Uint8Array = new Uint8Array(0);
  const acquire = field === Field.lockAcquire;
  readFields(bytes, (f, w, r) => {
    if (f === LockField.name || (acquire && f === LockField.value)) {
      expectWire(f, w, WireType.LengthDelimited);
      if (f === LockField.name) name = readString(r);
      else value = r.bytes();
      return true;
    }
    if (!acquire || f < LockField.kind || f > LockField.delayMs) return false;
    expectWire(f, w, WireType.Varint);
    if (f === LockField.kind) kind = readEnum('lock kind', LOCK_KINDS, r);
    else if (f === LockField.mode) mode = readEnum('lock mode', LOCK_MODES, r);
    else if (f === LockField.permits) permits = r.varint();
    else if (f === LockField.wait) wait = r.varint() !== 0;
    else delayMs = r.varint();
    return true;
  });
  if (acquire) return { type: 'lockAcquire', name, kind, mode, permits, wait, delayMs, value };
  return { type: field === Field.lockRelease ? 'lockRelease' : field === Field.lockCancel ? 'lockCancel' : 'lockWake', name };
}

function readPerms(wire: number, r: WireReader, into: Permission[]): void {
  if (wire === WireType.Varint) {
    into.push(readEnum('permission', PERMISSIONS, r));
    return;
  }
  expectWire(2, wire, WireType.LengthDelimited);
  const packed = new WireReader(r.bytes());
  while (!packed.done()) into.push(readEnum('permission', PERMISSIONS, packed));
}

function readGrant(bytes: Uint8Array): AclGrant {
  let identity = '';
  const perms: Permission[] = [];
  readFields(bytes, (f, w, r) => {
    if (f === 1) {
      expectWire(f, w, WireType.LengthDelimited);
      identity = readString(r);
    } else if (f === 2) readPerms(w, r, perms);
    else return false;
    return true;
  });
  return { identity, perms };
}

function readSecurity(field: number, bytes: Uint8Array): SecurityTxnBody {
  let path = '';
  const grants: AclGrant[] = [];
  let maxNodes: number | undefined;
  let maxBytes: number | undefined;
  readFields(bytes, (f, w, r) => {
    if (f === 1) {
      expectWire(f, w, WireType.LengthDelimited);
      path = readString(r);
    } else if (f === 2 && field === Field.setAcl) {
      expectWire(f, w, WireType.LengthDelimited);
      grants.push(readGrant(r.bytes()));
    } else if ((f === 2 || f === 3) && field === Field.setQuota) {
      expectWire(f, w, WireType.Varint);
      if (f === 2) maxNodes = r.varint();
      else maxBytes = r.varint();
    } else return false;
    return true;
  });
  switch (field) {
    case Field.setAcl:
      return { type: 'setAcl', path, grants };
    case Field.setQuota:
      return { type: 'setQuota', path, ...(maxNodes !== undefined ? { maxNodes } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) };
    case Field.removeAcl:
      return { type: 'removeAcl', path };
    default:
      return { type: 'removeQuota', path };
  }
}

const OP_KINDS = ['create', 'set', 'delete', 'check'] as const;

function readMultiOp(bytes: Uint8Array): TreeOp {
  let op: TreeOp | undefined;
  readFields(bytes, (field, wire, r) => {
    const kind = OP_KINDS[field - 1];
    if (kind === undefined) return false;
    expectWire(field, wire, WireType.LengthDelimited);
    op = readOp(kind, r.bytes());
    return true;
  });
  if (op === undefined) throw invalid('multi op has no op');
  return op;
}

/** Decodes a txn; throws ConclaveError(INVALID_ARGUMENT) on anything malformed, never another error. */
export function decodeTxn(bytes: Uint8Array): Txn {
  let timeMs = 0;
  let sessionId = 0;
  let seq = 0;
  let identity = '';
  let lowestUnansweredSeq = 0;
  let body: TxnBody | undefined;
  try {
    readFields(bytes, (field, wire, r) => {
      if (field >= Field.timeMs && field <= Field.seq) {
        expectWire(field, wire, WireType.Varint);
        const v = r.varint();
        if (field === Field.timeMs) timeMs = v;
        else if (field === Field.sessionId) sessionId = v;
        else seq = v;
        return true;
      }
      if (field === Field.identity) {
        expectWire(field, wire, WireType.LengthDelimited);
        identity = readString(r);
        return true;
      }
      if (field === Field.lowestUnansweredSeq) {
        expectWire(field, wire, WireType.Varint);
        lowestUnansweredSeq = r.varint();
        return true;
      }
      if (field < Field.create || field > Field.removeQuota) return false;
      expectWire(field, wire, WireType.LengthDelimited);
      const inner = r.bytes();
      if (field <= Field.check) body = readOp(OP_KINDS[field - Field.create] as (typeof OP_KINDS)[number], inner);
      else if (field === Field.multi) {
        const ops: TreeOp[] = [];
        readFields(inner, (f, w, rr) => {
          if (f !== 1) return false;
          expectWire(f, w, WireType.LengthDelimited);
          ops.push(readMultiOp(rr.bytes()));
          return true;
        });
        body = { type: 'multi', ops };
      } else if (field === Field.createSession) {
        let id = 0;
        let timeoutMs = 0;
        readFields(inner, (f, w, rr) => {
          if (f !== 1 && f !== 2) return false;
          expectWire(f, w, WireType.Varint);
          if (f === 1) id = rr.varint();
          else timeoutMs = rr.varint();
          return true;
        });
        body = { type: 'createSession', sessionId: id, timeoutMs };
      } else if (field === Field.closeSession) {
        let id = 0;
        let expired = false;
        readFields(inner, (f, w, rr) => {
          if (f !== 1 && f !== 2) return false;
          expectWire(f, w, WireType.Varint);
          if (f === 1) id = rr.varint();
          else expired = rr.varint() !== 0;
          return true;
        });
        // Absent means a client's close: the decoded shape of older txns stays as it was.
        body = expired ? { type: 'closeSession', sessionId: id, expired } : { type: 'closeSession', sessionId: id };
      } else if (field >= Field.setAcl) body = readSecurity(field, inner);
      else body = readLock(field, inner);
      return true;
    });
  } catch (err: unknown) {
    if (err instanceof ConclaveError) throw err;
    throw invalid(err instanceof Error ? err.message : 'undecodable');
  }
  if (body === undefined) throw invalid('txn has no body');
  // Absent fields stay absent, so the decoded shape of older txns stays as it was; an empty
  // identity is the same as none (trusted).
  const txn: { -readonly [K in keyof Txn]: Txn[K] } = { timeMs, sessionId, seq, body };
  if (lowestUnansweredSeq !== 0) txn.lowestUnansweredSeq = lowestUnansweredSeq;
  if (identity !== '') txn.identity = identity;
  return txn;
}
