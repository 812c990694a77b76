/**
 * A growable protobuf writer (the reader is `WireReader` in protobuf-wire.ts), for messages whose
 * size is not known up front: txns and peer batches. Proto3 defaults (0, empty) are omitted, except
 * sub-messages, which are always written so that a oneof's presence survives an empty message, and
 * `optional` fields, written whenever they are defined (an absent index is not index 0).
 */
import { ConclaveError, ErrorCode } from './errors.js';
import { WireType, varintSize, writeVarint } from './protobuf-wire.js';

const encoder = new TextEncoder();

export class WireWriter {
  #buf = new Uint8Array(64);
  #at = 0;

  #ensure(extra: number): void {
    if (this.#at + extra <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#at + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#at));
    this.#buf = next;
  }

  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `cannot encode ${String(value)} as a varint`, { value });
    }
    this.#ensure(varintSize(value));
    this.#at = writeVarint(this.#buf, this.#at, value);
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  uint(field: number, value: number): this {
    if (value !== 0) {
      this.#tag(field, WireType.Varint);
      this.#varint(value);
    }
    return this;
  }

  /** sint64: zigzag, so -1 costs one byte. */
  sint(field: number, value: number): this {
    if (!Number.isSafeInteger(value)) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `cannot encode ${String(value)} as a sint`, { value });
    return this.uint(field, value >= 0 ? value * 2 : -value * 2 - 1);
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  /** A proto3 `optional` varint: written when defined, 0 included. */
  optionalUint(field: number, value: number | undefined): this {
    if (value === undefined) return this;
    this.#tag(field, WireType.Varint);
    this.#varint(value);
    return this;
  }

  optionalBool(field: number, value: boolean | undefined): this {
    return value === undefined ? this : this.optionalUint(field, value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array, always = false): this {
    if (value.length === 0 && !always) return this;
    this.#tag(field, WireType.LengthDelimited);
    this.#varint(value.length);
    this.#ensure(value.length);
    this.#buf.set(value, this.#at);
    this.#at += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, encoder.encode(value));
  }

  message(field: number, build: (w: WireWriter) => void): this {
    const inner = new WireWriter();
    build(inner);
    return this.bytes(field, inner.finish(), true);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}

/** Inverse of zigzag. */
export function unzigzag(v: number): number {
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}
