/**
 * ZooKeeper-style one-shot watches set by reads: the event arrives on the read's connection, tagged
 * with the read's request id. They live and die with that connection: if it is lost first, the
 * promise rejects and the caller must re-read (a change may have slipped by unseen).
 */
import type { ConclaveError } from '../common/errors.js';
import type { Connection } from './connection.js';
import type { WatchEvent } from './types.js';
import { type ResponseFrame, type WireEvent, errorOf, toWatchEvent } from './wire.js';

interface Armed {
  readonly resolve: (e: WatchEvent) => void;
  readonly reject: (err: ConclaveError) => void;
}

export class OneShotWatches {
  readonly #armed = new Map<Connection, Map<number, Armed>>();

  /** Arm the watch of read `id` on `conn`; `early` is its event if it overtook the read's answer. */
  arm(conn: Connection, id: number, early: WireEvent | undefined): Promise<WatchEvent> {
    let resolve!: (e: WatchEvent) => void;
    let reject!: (err: ConclaveError) => void;
    const promise = new Promise<WatchEvent>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers often drop the promise; that must not become an unhandled rejection.
    promise.catch(() => undefined);
    if (early) {
      resolve(toWatchEvent(early, false));
      conn.forget(id);
      return promise;
    }
    let byId = this.#armed.get(conn);
    if (!byId) this.#armed.set(conn, (byId = new Map()));
    byId.set(id, { resolve, reject });
    conn.listen(id, (frame) => this.#onFrame(conn, id, frame));
    return promise;
  }

  #onFrame(conn: Connection, id: number, frame: ResponseFrame): void {
    const armed = this.#armed.get(conn)?.get(id);
    if (!armed) return;
    if (frame.result !== 'event' && frame.result !== 'error') return;
    this.#armed.get(conn)?.delete(id);
    conn.forget(id);
    if (frame.result === 'event') armed.resolve(toWatchEvent(frame['event'] as WireEvent, false));
    else if (frame.error) armed.reject(errorOf(frame.error));
  }

  /** The connection is gone: its watches can no longer fire. */
  connectionLost(conn: Connection, err: ConclaveError): void {
    const byId = this.#armed.get(conn);
    this.#armed.delete(conn);
    for (const a of byId?.values() ?? []) a.reject(err);
  }

  failAll(err: ConclaveError): void {
    for (const conn of [...this.#armed.keys()]) this.connectionLost(conn, err);
  }
}
