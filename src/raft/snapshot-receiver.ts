/**
 * The follower side of a chunked snapshot transfer: chunks must arrive in order; anything out of
 * order is answered with the offset we have, so the leader resumes from there. The whole is
 * checked against the sender's CRC-32C before it is installed.
 */
import { crc32c } from '../common/checksum.js';
import type { Snapshot, SnapshotChunk, SnapshotMeta } from './types.js';

export type ChunkOutcome =
  | { kind: 'progress'; offset: number }
  | { kind: 'complete'; snapshot: Snapshot }
  | { kind: 'corrupt' };

export class SnapshotReceiver {
  #meta: SnapshotMeta | undefined;
  #parts: Uint8Array[] = [];
  #received = 0;

  receive(chunk: SnapshotChunk): ChunkOutcome {
    const same = this.#meta !== undefined && this.#meta.index === chunk.meta.index && this.#meta.term === chunk.meta.term;
    if (!same || chunk.offset === 0) {
      if (chunk.offset !== 0) return { kind: 'progress', offset: 0 };
      this.#meta = chunk.meta;
      this.#parts = [];
      this.#received = 0;
    }
    if (chunk.offset !== this.#received) return { kind: 'progress', offset: this.#received };
    this.#parts.push(chunk.data);
    this.#received += chunk.data.length;
    if (this.#received < chunk.totalBytes) return { kind: 'progress', offset: this.#received };

    const data = concat(this.#parts, this.#received);
    const meta = this.#meta as SnapshotMeta;
    this.reset();
    if (data.length !== chunk.totalBytes || crc32c(data) !== chunk.checksum) return { kind: 'corrupt' };
    return { kind: 'complete', snapshot: { meta, data } };
  }

  reset(): void {
    this.#meta = undefined;
    this.#parts = [];
    this.#received = 0;
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
