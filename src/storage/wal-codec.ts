/**
 * Framing and encoding of write-ahead-log records (schema: proto/raft.proto).
 * A frame is [u32 LE payload length][u32 LE CRC-32C of payload][payload]; the payload is one byte
 * of record type followed by the protobuf message. A batch of records is encoded into one buffer
 * so that it goes to disk in one write.
 */
import { crc32c } from '../common/checksum.js';
import type { Entry, EntryType, HardState } from '../raft/index.js';
import { WireReader, WireType, tagSize, varintSize, writeVarint } from '../common/protobuf-wire.js';

export const RecordType = { Entry: 1, HardState: 2, SnapshotMark: 3 } as const;

export type WalRecord =
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hard-state'; readonly hardState: HardState }
  | { readonly kind: 'snapshot'; readonly index: number; readonly term: number };

export const FRAME_HEADER_BYTES = 8;
/** No single record may claim more than this; a larger length is corruption. */
export const RECORD_BYTES_MAX = 64 * 1024 * 1024;

function fieldVarintSize(field: number, value: number): number {
  return value === 0 ? 0 : tagSize(field) + varintSize(value);
}

function writeFieldVarint(buf: Uint8Array, at: number, field: number, value: number): number {
  if (value === 0) return at;
  at = writeVarint(buf, at, (field << 3) | WireType.Varint);
  return writeVarint(buf, at, value);
}

function payloadSize(r: WalRecord): number {
  switch (r.kind) {
    case 'entry': {
      const e = r.entry;
      const data = e.data.length === 0 ? 0 : tagSize(4) + varintSize(e.data.length) + e.data.length;
      return 1 + fieldVarintSize(1, e.term) + fieldVarintSize(2, e.index) + fieldVarintSize(3, e.type) + data;
    }
    case 'hard-state':
      return 1 + fieldVarintSize(1, r.hardState.term) + fieldVarintSize(2, r.hardState.vote) + fieldVarintSize(3, r.hardState.commit);
    case 'snapshot':
      return 1 + fieldVarintSize(1, r.index) + fieldVarintSize(2, r.term);
  }
}

function writePayload(buf: Uint8Array, at: number, r: WalRecord): number {
  switch (r.kind) {
    case 'entry': {
      const e = r.entry;
      buf[at++] = RecordType.Entry;
      at = writeFieldVarint(buf, at, 1, e.term);
      at = writeFieldVarint(buf, at, 2, e.index);
      at = writeFieldVarint(buf, at, 3, e.type);
      if (e.data.length > 0) {
        at = writeVarint(buf, at, (4 << 3) | WireType.LengthDelimited);
        at = writeVarint(buf, at, e.data.length);
        buf.set(e.data, at);
        at += e.data.length;
      }
      return at;
    }
    case 'hard-state':
      buf[at++] = RecordType.HardState;
      at = writeFieldVarint(buf, at, 1, r.hardState.term);
      at = writeFieldVarint(buf, at, 2, r.hardState.vote);
      return writeFieldVarint(buf, at, 3, r.hardState.commit);
    case 'snapshot':
      buf[at++] = RecordType.SnapshotMark;
      at = writeFieldVarint(buf, at, 1, r.index);
      return writeFieldVarint(buf, at, 2, r.term);
  }
}

/** Encode records as consecutive frames in one buffer. */
export function encodeRecords(records: readonly WalRecord[]): Buffer {
  let total = 0;
  const sizes = records.map((r) => {
    const s = payloadSize(r);
    total += FRAME_HEADER_BYTES + s;
    return s;
  });
  const buf = Buffer.allocUnsafe(total);
  let at = 0;
  records.forEach((r, i) => {
    const size = sizes[i] as number;
    const start = at + FRAME_HEADER_BYTES;
    const end = writePayload(buf, start, r);
    buf.writeUInt32LE(size, at);
    buf.writeUInt32LE(crc32c(buf.subarray(start, end)), at + 4);
    at = end;
  });
  return buf;
}

export type FrameRead =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly next: number }
  /** Clean end: no bytes left, or zero fill (a length of 0 never starts a real frame). */
  | { readonly kind: 'end' }
  /** The frame runs past the end of the buffer: a write cut short. */
  | { readonly kind: 'partial'; readonly reason: string }
  /** The frame is all there but wrong: checksum mismatch or undecodable. */
  | { readonly kind: 'bad'; readonly reason: string; readonly next: number };

export function readFrame(buf: Uint8Array, at: number): FrameRead {
  if (at >= buf.length) return { kind: 'end' };
  if (at + FRAME_HEADER_BYTES > buf.length) {
    return allZero(buf, at) ? { kind: 'end' } : { kind: 'partial', reason: 'frame header cut short' };
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = view.getUint32(at, true);
  const crc = view.getUint32(at + 4, true);
  if (length === 0) {
    return allZero(buf, at) ? { kind: 'end' } : { kind: 'bad', reason: 'zero-length frame', next: at + FRAME_HEADER_BYTES };
  }
  if (length > RECORD_BYTES_MAX) return { kind: 'bad', reason: `frame length ${length} exceeds ${RECORD_BYTES_MAX}`, next: buf.length };
  const start = at + FRAME_HEADER_BYTES;
  const end = start + length;
  if (end > buf.length) return { kind: 'partial', reason: `frame of ${length} bytes cut short at ${buf.length - start}` };
  const payload = buf.subarray(start, end);
  if (crc32c(payload) !== crc) return { kind: 'bad', reason: 'checksum mismatch', next: end };
  try {
    return { kind: 'record', record: decodePayload(payload), next: end };
  } catch (err: unknown) {
    return { kind: 'bad', reason: err instanceof Error ? err.message : 'undecodable record', next: end };
  }
}

function allZero(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function decodePayload(payload: Uint8Array): WalRecord {
  const type = payload[0];
  const r = new WireReader(payload, 1);
  const fields = new Map<number, number>();
  let data: Uint8Array = new Uint8Array(0);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (type === RecordType.Entry && field === 4 && wire === WireType.LengthDelimited) data = new Uint8Array(r.bytes());
    else if (wire === WireType.Varint) fields.set(field, r.varint());
    else r.skip(wire);
  }
  const f = (n: number): number => fields.get(n) ?? 0;
  switch (type) {
    case RecordType.Entry:
      return { kind: 'entry', entry: { term: f(1), index: f(2), type: f(3) as EntryType, data } };
    case RecordType.HardState:
      return { kind: 'hard-state', hardState: { term: f(1), vote: f(2), commit: f(3) } };
    case RecordType.SnapshotMark:
      return { kind: 'snapshot', index: f(1), term: f(2) };
    default:
      throw new Error(`unknown record type ${String(type)}`);
  }
}
