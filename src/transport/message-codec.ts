/**
 * Binary encoding of Raft messages for the peer protocol (schema: proto/peer.proto). Optional
 * fields are written only when present, so a decoded message equals the one sent. Anything that
 * does not decode is a typed error, never a crash.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ConfState, Entry, EntryType, Message, MessageType, SnapshotChunk, SnapshotMeta } from '../raft/index.js';
import { WireReader, WireType } from '../common/protobuf-wire.js';
import { WireWriter } from '../common/protobuf-writer.js';

const MESSAGE_TYPE_MAX = 18;

export function encodeBatch(messages: readonly Message[]): Uint8Array {
  const w = new WireWriter();
  for (const m of messages) w.message(1, (mw) => writeMessage(mw, m));
  return w.finish();
}

export function decodeBatch(bytes: Uint8Array): Message[] {
  try {
    const r = new WireReader(bytes);
    const out: Message[] = [];
    while (!r.done()) {
      const [field, wire] = r.tag();
      if (field === 1 && wire === WireType.LengthDelimited) out.push(readMessage(r.bytes()));
      else r.skip(wire);
    }
    return out;
  } catch (err: unknown) {
    if (err instanceof ConclaveError) throw err;
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `undecodable peer batch: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function writeMessage(w: WireWriter, m: Message): void {
  w.optionalUint(1, m.type);
  w.optionalUint(2, m.from);
  w.optionalUint(3, m.to);
  w.optionalUint(4, m.term);
  w.optionalUint(5, m.logTerm);
  w.optionalUint(6, m.index);
  for (const e of m.entries ?? []) w.message(7, (ew) => writeEntry(ew, e));
  w.optionalUint(8, m.commit);
  w.optionalBool(9, m.reject);
  w.optionalUint(10, m.rejectHint);
  w.optionalUint(11, m.context);
  w.optionalBool(12, m.force);
  const snap = m.snapshot;
  if (snap) w.message(13, (sw) => writeChunk(sw, snap));
  w.optionalUint(14, m.offset);
  w.optionalUint(15, m.transferee);
}

function writeEntry(w: WireWriter, e: Entry): void {
  w.optionalUint(1, e.term);
  w.optionalUint(2, e.index);
  w.optionalUint(3, e.type);
  if (e.data.length > 0) w.bytes(4, e.data);
}

function writeChunk(w: WireWriter, c: SnapshotChunk): void {
  w.message(1, (mw) => {
    mw.optionalUint(1, c.meta.index);
    mw.optionalUint(2, c.meta.term);
    mw.message(3, (cw) => {
      for (const v of c.meta.conf.voters) cw.optionalUint(1, v);
      for (const l of c.meta.conf.learners) cw.optionalUint(2, l);
    });
  });
  w.optionalUint(2, c.offset);
  w.optionalUint(3, c.totalBytes);
  w.optionalUint(4, c.checksum);
  if (c.data.length > 0) w.bytes(5, c.data);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function readMessage(bytes: Uint8Array): Message {
  const r = new WireReader(bytes);
  const m: Mutable<Message> = { type: 0 as MessageType, from: 0, to: 0, term: 0 };
  const entries: Entry[] = [];
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (wire === WireType.LengthDelimited) {
      if (field === 7) entries.push(readEntry(r.bytes()));
      else if (field === 13) m.snapshot = readChunk(r.bytes());
      else r.skip(wire);
      continue;
    }
    if (wire !== WireType.Varint) {
      r.skip(wire);
      continue;
    }
    const v = r.varint();
    switch (field) {
      case 1:
        if (v > MESSAGE_TYPE_MAX) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `unknown message type ${v}`);
        m.type = v as MessageType;
        break;
      case 2: m.from = v; break;
      case 3: m.to = v; break;
      case 4: m.term = v; break;
      case 5: m.logTerm = v; break;
      case 6: m.index = v; break;
      case 8: m.commit = v; break;
      case 9: m.reject = v !== 0; break;
      case 10: m.rejectHint = v; break;
      case 11: m.context = v; break;
      case 12: m.force = v !== 0; break;
      case 14: m.offset = v; break;
      case 15: m.transferee = v; break;
      default: break;
    }
  }
  if (entries.length > 0) m.entries = entries;
  return m;
}

function readEntry(bytes: Uint8Array): Entry {
  const r = new WireReader(bytes);
  let term = 0;
  let index = 0;
  let type = 0;
  let data: Uint8Array = new Uint8Array(0);
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 4 && wire === WireType.LengthDelimited) data = new Uint8Array(r.bytes());
    else if (wire === WireType.Varint) {
      const v = r.varint();
      if (field === 1) term = v;
      else if (field === 2) index = v;
      else if (field === 3) type = v;
    } else r.skip(wire);
  }
  if (type > 1) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `unknown entry type ${type}`);
  return { term, index, type: type as EntryType, data };
}

function readChunk(bytes: Uint8Array): SnapshotChunk {
  const r = new WireReader(bytes);
  let meta: SnapshotMeta = { index: 0, term: 0, conf: { voters: [], learners: [] } };
  const c = { offset: 0, totalBytes: 0, checksum: 0, data: new Uint8Array(0) };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (wire === WireType.LengthDelimited) {
      if (field === 1) meta = readMeta(r.bytes());
      else if (field === 5) c.data = new Uint8Array(r.bytes());
      else r.skip(wire);
    } else if (wire === WireType.Varint) {
      const v = r.varint();
      if (field === 2) c.offset = v;
      else if (field === 3) c.totalBytes = v;
      else if (field === 4) c.checksum = v;
    } else r.skip(wire);
  }
  return { meta, ...c };
}

function readMeta(bytes: Uint8Array): SnapshotMeta {
  const r = new WireReader(bytes);
  let index = 0;
  let term = 0;
  let conf: ConfState = { voters: [], learners: [] };
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 3 && wire === WireType.LengthDelimited) conf = readConf(r.bytes());
    else if (wire === WireType.Varint) {
      const v = r.varint();
      if (field === 1) index = v;
      else if (field === 2) term = v;
    } else r.skip(wire);
  }
  return { index, term, conf };
}

function readConf(bytes: Uint8Array): ConfState {
  const r = new WireReader(bytes);
  const voters: number[] = [];
  const learners: number[] = [];
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (wire !== WireType.Varint) {
      r.skip(wire);
      continue;
    }
    const v = r.varint();
    if (field === 1) voters.push(v);
    else if (field === 2) learners.push(v);
  }
  return { voters, learners };
}
