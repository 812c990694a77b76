/**
 * A growable protobuf writer for messages whose size is not known up front (peer batches). The
 * WAL's fixed records size themselves exactly instead (wal-codec.ts).
 */
import { WireType, writeVarint } from './protobuf-wire.js';

export class WireWriter {
  #buf: Uint8Array;
  #at = 0;

  constructor(initialBytes = 256) {
    this.#buf = new Uint8Array(initialBytes);
  }

  #ensure(extra: number): void {
    if (this.#at + extra <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#at + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#at));
    this.#buf = next;
  }

  /** A varint field; written when `value` is defined (0 included: presence matters). */
  varintField(field: number, value: number | undefined): void {
    if (value === undefined) return;
    this.#ensure(20);
    this.#at = writeVarint(this.#buf, this.#at, (field << 3) | WireType.Varint);
    this.#at = writeVarint(this.#buf, this.#at, value);
  }

  boolField(field: number, value: boolean | undefined): void {
    if (value !== undefined) this.varintField(field, value ? 1 : 0);
  }

  bytesField(field: number, value: Uint8Array): void {
    this.#ensure(20 + value.length);
    this.#at = writeVarint(this.#buf, this.#at, (field << 3) | WireType.LengthDelimited);
    this.#at = writeVarint(this.#buf, this.#at, value.length);
    this.#buf.set(value, this.#at);
    this.#at += value.length;
  }

  /** A nested message written by `fill` into its own writer. */
  messageField(field: number, fill: (w: WireWriter) => void): void {
    const inner = new WireWriter(64);
    fill(inner);
    this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }
}
