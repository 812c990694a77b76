/**
 * The few pieces of the protobuf wire format our records need: varints (up to 2^53) and
 * length-delimited bytes. Hand-written so the hot path allocates one buffer per batch.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';

export const WireType = { Varint: 0, LengthDelimited: 2 } as const;

export function varintSize(value: number): number {
  let size = 1;
  let v = value;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Uint8Array, at: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

export function tagSize(field: number): number {
  return varintSize(field << 3);
}

/** Reads a protobuf message field by field. */
export class WireReader {
  readonly #buf: Uint8Array;
  #at: number;
  readonly #end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#at = start;
    this.#end = end;
  }

  done(): boolean {
    return this.#at >= this.#end;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.#at >= this.#end) throw malformed('truncated varint');
      const byte = this.#buf[this.#at++] as number;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(result)) throw malformed('varint beyond 2^53');
        return result;
      }
      scale *= 128;
    }
    throw malformed('varint too long');
  }

  /** Returns [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t & 7];
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.#at + len > this.#end) throw malformed('truncated bytes field');
    const out = this.#buf.subarray(this.#at, this.#at + len);
    this.#at += len;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === WireType.Varint) this.varint();
    else if (wireType === WireType.LengthDelimited) this.bytes();
    else if (wireType === 1) this.#at += 8;
    else if (wireType === 5) this.#at += 4;
    else throw malformed(`unknown wire type ${wireType}`);
  }
}

function malformed(what: string): ConclaveError {
  return new ConclaveError(ErrorCode.INVALID_ARGUMENT, `malformed protobuf: ${what}`);
}
