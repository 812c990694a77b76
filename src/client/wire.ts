/**
 * The session stream's frames as proto-loader decodes them (camelCase, longs as numbers, enums as
 * strings, oneofs named in `result`), and their conversion to the SDK's public types.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { CreateFlags, Data, OpResult, Stat, WatchEvent, WatchEventType } from './types.js';

/** The oneof fields of a SessionRequest the SDK sends. */
export type RequestOp =
  | 'create'
  | 'get'
  | 'set'
  | 'delete'
  | 'exists'
  | 'children'
  | 'multi'
  | 'sync'
  | 'openSession'
  | 'keepAlive'
  | 'closeSession'
  | 'watch'
  | 'unwatch'
  | 'lockAcquire'
  | 'lockRelease'
  | 'lockDescribe'
  | 'validateFence';

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly leader: string;
  readonly oldestZxid: number;
  readonly currentZxid: number;
}

/** A SessionResponse: `result` names the field that is set. */
export interface ResponseFrame {
  readonly id: number;
  readonly result?: string;
  readonly error?: ErrorBody | null;
  readonly [field: string]: unknown;
}

export interface WireStat extends Stat {}

export interface WireEvent {
  readonly type: string;
  readonly path: string;
  readonly zxid: number;
  readonly data: Uint8Array | null;
  readonly stat: WireStat | null;
  readonly oneShot: boolean;
}

export interface WireOpResult {
  readonly code: string;
  readonly path: string;
  readonly stat: WireStat | null;
}

/** The body of a response frame's `field` (the SDK trusts the server to answer in the proto's shape). */
export function bodyOf<T>(frame: ResponseFrame, field: string): T {
  const body = frame[field];
  if (body === undefined || body === null) throw new ConclaveError(ErrorCode.INTERNAL, `response ${frame.id} has no ${field}`);
  return body as T;
}

const isErrorCode = (code: string): code is ErrorCode => Object.prototype.hasOwnProperty.call(ErrorCode, code);

/** The typed error of an error frame (COMPACTED and cut-offs keep their zxids in `details`). */
export function errorOf(e: ErrorBody): ConclaveError {
  const code = isErrorCode(e.code) ? e.code : ErrorCode.INTERNAL;
  const details: Record<string, unknown> = {};
  if (e.leader) details['leader'] = e.leader;
  if (e.oldestZxid) details['oldestZxid'] = e.oldestZxid;
  if (e.currentZxid) details['currentZxid'] = e.currentZxid;
  return new ConclaveError(code, e.message, details);
}

export function toBytes(data: Data | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array();
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

/** A plain Uint8Array view (grpc-js hands out Buffers). */
export function fromBytes(b: Uint8Array | null | undefined): Uint8Array {
  return b ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array();
}

export function toStat(s: WireStat | null | undefined): Stat {
  if (!s) throw new ConclaveError(ErrorCode.INTERNAL, 'response without a stat');
  return {
    czxid: s.czxid,
    mzxid: s.mzxid,
    pzxid: s.pzxid,
    ctime: s.ctime,
    mtime: s.mtime,
    version: s.version,
    cversion: s.cversion,
    ephemeralOwner: s.ephemeralOwner,
    dataLength: s.dataLength,
    numChildren: s.numChildren,
  };
}

const EVENT_TYPE: Readonly<Record<string, WatchEventType>> = { CREATED: 'created', CHANGED: 'changed', DELETED: 'deleted', CHILDREN: 'children' };
export const WIRE_EVENT_TYPE: Readonly<Record<WatchEventType, string>> = { created: 'CREATED', changed: 'CHANGED', deleted: 'DELETED', children: 'CHILDREN' };

export function toWatchEvent(e: WireEvent, withData: boolean): WatchEvent {
  const type = EVENT_TYPE[e.type];
  if (!type) throw new ConclaveError(ErrorCode.INTERNAL, `unknown event type ${e.type}`);
  const base = { type, path: e.path, zxid: e.zxid };
  if (!withData || (type !== 'created' && type !== 'changed')) return base;
  return { ...base, data: fromBytes(e.data), ...(e.stat ? { stat: toStat(e.stat) } : {}) };
}

/** The create request fields for `flags` (kind, sequential, ttlMs), refusing combinations that make no sense. */
export function createFields(flags: CreateFlags): { kind: string; sequential: boolean; ttlMs: number } {
  const kinds = [flags.ephemeral && 'EPHEMERAL', flags.container && 'CONTAINER', flags.ttlMs !== undefined && 'TTL'].filter((k): k is string => typeof k === 'string');
  if (kinds.length > 1) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `a node is at most one of ephemeral, container or ttl, got ${kinds.join(' and ').toLowerCase()}`);
  return { kind: kinds[0] ?? 'PERSISTENT', sequential: flags.sequential === true, ttlMs: flags.ttlMs ?? 0 };
}

/** -1 (any version) when omitted. */
export function expectedVersion(version: number | undefined): number {
  return version ?? -1;
}

export function toOpResult(r: WireOpResult): OpResult {
  const out: { error?: ErrorCode; path?: string; stat?: Stat } = {};
  if (r.code) out.error = isErrorCode(r.code) ? r.code : ErrorCode.INTERNAL;
  if (r.path) out.path = r.path;
  if (r.stat) out.stat = toStat(r.stat);
  return out;
}
