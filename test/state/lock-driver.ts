/** A state machine driven with consecutive zxids and a settable clock, with lock shorthands for the lock tests. */
import { ConclaveStateMachine, type ApplyResult, type TxnResult } from '../../src/state/state-machine.js';
import type { StateLimits } from '../../src/state/limits.js';
import { stateLimits } from '../../src/state/limits.js';
import type { LockAcquireRequest } from '../../src/state/lock-types.js';
import { encodeTxn } from '../../src/state/txn-codec.js';
import type { Txn, TxnBody } from '../../src/state/txn.js';

/** An apply result whose `result` may be read without narrowing (undefined on failure). */
export type Applied = ApplyResult & { readonly result?: TxnResult };

export class LockDriver {
  readonly sm: ConclaveStateMachine;
  index = 0;
  timeMs = 1000;

  constructor(limits: Partial<StateLimits> = {}) {
    this.sm = new ConclaveStateMachine({ ...stateLimits, ...limits });
  }

  /** Applies through the codec, as a replica would. */
  apply(body: TxnBody, header: Partial<Omit<Txn, 'body'>> = {}): Applied {
    this.index++;
    return this.sm.apply(this.index, encodeTxn({ timeMs: this.timeMs, sessionId: 0, seq: 0, ...header, body }));
  }

  /** Applies a decoded txn (for values the encoder would refuse). */
  applyRaw(body: unknown, header: Partial<Omit<Txn, 'body'>> = {}): Applied {
    this.index++;
    return this.sm.applyTxn(this.index, { timeMs: this.timeMs, sessionId: 0, seq: 0, ...header, body: body as TxnBody });
  }

  open(...ids: number[]): void {
    for (const id of ids) this.apply({ type: 'createSession', sessionId: id, timeoutMs: 5000 });
  }

  /** A blocking mutex acquire unless `req` says otherwise. */
  acquire(sessionId: number, name: string, req: Partial<LockAcquireRequest> = {}, seq = 0): Applied {
    return this.apply({ type: 'lockAcquire', name, kind: 'mutex', wait: true, ...req }, { sessionId, seq });
  }

  release(sessionId: number, name: string, seq = 0): Applied {
    return this.apply({ type: 'lockRelease', name }, { sessionId, seq });
  }

  cancel(sessionId: number, name: string): Applied {
    return this.apply({ type: 'lockCancel', name }, { sessionId });
  }

  wake(name: string): Applied {
    return this.apply({ type: 'lockWake', name });
  }

  close(sessionId: number, expired = false): Applied {
    return this.apply({ type: 'closeSession', sessionId, ...(expired ? { expired } : {}) });
  }

  holders(name: string): Array<[number, string, number]> {
    return (this.sm.locks.describe(name)?.holders ?? []).map((h) => [h.sessionId, h.mode, h.token]);
  }

  waiters(name: string): number[] {
    return (this.sm.locks.describe(name)?.waiters ?? []).map((w) => w.sessionId);
  }

  /** The mirror node's JSON, or undefined when there is none. */
  mirror(name: string): unknown {
    const path = `/conclave/locks/${name}`;
    return this.sm.tree.exists(path) ? JSON.parse(new TextDecoder().decode(this.sm.tree.get(path).data)) : undefined;
  }
}

export function codeOf(r: ApplyResult): string {
  return r.ok ? 'ok' : r.error.code;
}
