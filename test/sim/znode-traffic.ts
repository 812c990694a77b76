/**
 * Background znode traffic for simulations that run the real state machine: sessions open and
 * close (standing in for expiry), ephemerals are created under them, sequential nodes come and go,
 * and multis mix it all — all proposed to the current leader under the same faults as the clients'
 * reads and writes. Nobody waits for these; the invariants after every apply judge them.
 */
import type { Rng } from '../../src/common/rng.js';
import { type TxnBody, encodeTxn } from '../../src/state/index.js';
import type { SimNode } from './sim-node.js';
import { ZnodeApp, genesisTxns } from './znode-app.js';

const RATE = 0.2;

export class ZnodeTraffic {
  readonly #rng: Rng;
  #nextSession = 1;
  #next = 1;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  tick(now: number, leader: SimNode): void {
    const app = leader.sm;
    if (!(app instanceof ZnodeApp)) return;
    // Until the registers exist, (re)propose them: a lost proposal is simply proposed again.
    if (!app.sm.tree.exists('/k1')) {
      if (this.#rng.chance(0.2)) for (const txn of genesisTxns()) leader.proposeRaw(now, txn);
      return;
    }
    if (!this.#rng.chance(RATE)) return;
    const sessions = app.sm.sessions.ids();
    const session = sessions.length > 0 ? this.#rng.pick(sessions) : 0;
    const body = this.#pick(app, session);
    const sessionId = body.type === 'create' && body.kind === 'ephemeral' ? session : 0;
    leader.proposeRaw(now, encodeTxn({ timeMs: now, sessionId, seq: 0, body }));
  }

  #pick(app: ZnodeApp, session: number): TxnBody {
    const n = this.#next++;
    const queued = app.sm.tree.children('/q').names;
    switch (this.#rng.int(0, 6)) {
      case 0:
        return { type: 'createSession', sessionId: this.#nextSession++, timeoutMs: 1000 };
      case 1:
        return session > 0 ? { type: 'closeSession', sessionId: session } : { type: 'createSession', sessionId: this.#nextSession++, timeoutMs: 1000 };
      case 2:
      case 3:
        return session > 0
          ? { type: 'create', path: `/e/s${session}-${n}`, data: new Uint8Array([n & 0xff]), kind: 'ephemeral' }
          : { type: 'create', path: '/q/item-', data: new Uint8Array(0), kind: 'persistent', sequential: true };
      case 4:
        return { type: 'create', path: '/q/item-', data: new Uint8Array([1]), kind: 'persistent', sequential: true };
      case 5:
        return queued.length > 0 ? { type: 'delete', path: `/q/${this.#rng.pick(queued)}`, version: -1 } : { type: 'check', path: '/q', version: -1 };
      default:
        return {
          type: 'multi',
          ops: [
            { type: 'create', path: `/q/m-${n}`, data: new Uint8Array(0), kind: 'persistent' },
            { type: 'check', path: '/k1', version: -1 },
            // Sometimes doomed, so that rollbacks are exercised too.
            this.#rng.chance(0.3) ? { type: 'delete', path: '/q/absent', version: -1 } : { type: 'set', path: `/q/m-${n}`, data: new Uint8Array([2]), version: 0 },
          ],
        };
    }
  }
}
