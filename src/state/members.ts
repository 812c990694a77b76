/**
 * The cluster's member directory: each member's peer and client addresses, replicated with the
 * membership itself. Raft's conf change entries carry a member record as their opaque context, so
 * every replica (and every snapshot) knows where to reach each member, including ones added at run
 * time (etcd keeps its member list in its store the same way).
 */
import { crc32c } from '../common/checksum.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { WireReader, WireType } from '../common/protobuf-wire.js';
import { WireWriter } from '../common/protobuf-writer.js';

export interface MemberAddresses {
  /** host:port of the peer (Raft) listener. */
  readonly peer: string;
  /** host:port of the public gRPC API. */
  readonly client: string;
}

export interface Member extends MemberAddresses {
  readonly id: number;
}

/** A membership change as the state machine sees it (decoded from a Raft conf change entry). */
export type MemberChange = { readonly type: 'add'; readonly member: Member } | { readonly type: 'remove'; readonly id: number };

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The conf change context: `message MemberRecord { string peer = 1; string client = 2; }`. */
export function encodeMemberAddresses(m: MemberAddresses): Uint8Array {
  return new WireWriter().string(1, m.peer).string(2, m.client).finish();
}

export function decodeMemberAddresses(b: Uint8Array): MemberAddresses {
  const r = new WireReader(b);
  let peer = '';
  let client = '';
  while (!r.done()) {
    const [field, wire] = r.tag();
    if (field === 1 && wire === WireType.LengthDelimited) peer = decodeText(r.bytes());
    else if (field === 2 && wire === WireType.LengthDelimited) client = decodeText(r.bytes());
    else r.skip(wire);
  }
  return { peer, client };
}

function decodeText(b: Uint8Array): string {
  try {
    return decoder.decode(b);
  } catch {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'member record holds text that is not UTF-8');
  }
}

export class MemberTable {
  readonly #members = new Map<number, MemberAddresses>();

  apply(change: MemberChange): void {
    if (change.type === 'remove') this.#members.delete(change.id);
    // A promotion carries no record; it keeps the addresses the learner was added with.
    else if (change.member.peer !== '' || !this.#members.has(change.member.id)) this.#members.set(change.member.id, { peer: change.member.peer, client: change.member.client });
  }

  get(id: number): MemberAddresses | undefined {
    return this.#members.get(id);
  }

  /** Sorted by id. */
  list(): Member[] {
    return [...this.#members].sort(([a], [b]) => a - b).map(([id, m]) => ({ id, ...m }));
  }

  get size(): number {
    return this.#members.size;
  }

  digest(): number {
    let sum = 0;
    const enc = new TextEncoder();
    for (const m of this.list()) sum = (sum + crc32c(enc.encode(`${m.id}\0${m.peer}\0${m.client}`))) % 0x1_0000_0000;
    return sum;
  }
}
