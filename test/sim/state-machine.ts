/**
 * The replicated state machine the simulator drives, kept an interface so the znode tree can plug
 * into the same harness later. `KvStateMachine` is a map of registers with write and
 * compare-and-set; commands carry the client and operation ids so the proposer can answer.
 */
import type { Entry } from '../../src/raft/index.js';

/**
 * What the simulator needs of an application state machine: register writes encoded as entries,
 * reads of a register, snapshots, and a digest compared across replicas. `check` reports a broken
 * application invariant (e.g. an ephemeral node outliving its session).
 */
export interface SimApp {
  encodeWrite(cmd: KvCommand): Uint8Array;
  /** Apply one committed normal entry; the outcome of the register write it carried, if any. */
  apply(entry: Entry): KvOutcome | undefined;
  get(key: string): KvValue;
  snapshot(): Uint8Array;
  /** Replace the state with a snapshot's (`index`: the snapshot's index). */
  restore(data: Uint8Array, index: number): void;
  /** The state's digest after applying `index` (an app may sample: same indexes on every replica). */
  digest(index: number): number;
  check(): string | undefined;
}

export type KvValue = string | null;

export interface KvCommand {
  readonly client: number;
  readonly op: number;
  readonly f: 'write' | 'cas';
  readonly key: string;
  readonly value: string;
  readonly expected?: KvValue;
}

export interface KvOutcome {
  readonly ok: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KvStateMachine implements SimApp {
  #data = new Map<string, string>();

  get(key: string): KvValue {
    return this.#data.get(key) ?? null;
  }

  encodeWrite(cmd: KvCommand): Uint8Array {
    return encoder.encode(JSON.stringify(cmd));
  }

  apply(entry: Entry): KvOutcome | undefined {
    if (entry.data.length === 0) return undefined;
    const cmd = JSON.parse(decoder.decode(entry.data)) as KvCommand;
    if (cmd.f === 'write') {
      this.#data.set(cmd.key, cmd.value);
      return { ok: true };
    }
    const current = this.get(cmd.key);
    if (current !== (cmd.expected ?? null)) return { ok: false };
    this.#data.set(cmd.key, cmd.value);
    return { ok: true };
  }

  check(): string | undefined {
    return undefined;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.#data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  }

  restore(data: Uint8Array, _index: number): void {
    this.#data = new Map(data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as [string, string][]));
  }

  digest(): number {
    return fnv1a(this.snapshot());
  }
}

export function fnv1a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
