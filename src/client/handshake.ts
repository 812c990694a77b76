/**
 * The first frame on a new stream: open the session there (openSession), or prove the session is
 * alive there with a keep-alive, which only the leader answers (a follower says NOT_LEADER and names
 * the leader).
 */
import type { ConclaveError } from '../common/errors.js';
import { unavailable } from './client-errors.js';
import { type ChannelSettings, Connection } from './connection.js';
import { type RequestOp, bodyOf, errorOf } from './wire.js';

export interface Handshake {
  readonly conn: Connection;
  /** When the handshake frame was sent (performance.now()): the session is alive until this + timeoutMs. */
  readonly sentAt: number;
  readonly sessionId: number;
  readonly timeoutMs: number;
}

export interface HandshakeRequest {
  readonly address: string;
  /** The session to prove alive; 0 opens a new one. */
  readonly sessionId: number;
  /** The session timeout to ask for when opening. */
  readonly sessionTimeoutMs: number;
  /** How long the member has to answer. */
  readonly answerMs: number;
  readonly id: number;
  readonly channel?: ChannelSettings | undefined;
  /** The connection closed after the handshake succeeded. */
  readonly onLateClose: (conn: Connection, reason: ConclaveError) => void;
}

export function handshake(req: HandshakeRequest): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const conn = new Connection(
      req.address,
      (c, reason) => {
        if (settled) return req.onLateClose(c, reason);
        settled = true;
        clearTimeout(timer);
        reject(reason);
      },
      req.channel,
    );
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      conn.close();
      reject(unavailable(`${req.address} did not answer within ${Math.round(req.answerMs)} ms`));
    }, req.answerMs);
    timer.unref();
    const sentAt = performance.now();
    const opening = req.sessionId === 0;
    const op: RequestOp = opening ? 'openSession' : 'keepAlive';
    conn.send(req.id, op, opening ? { timeoutMs: req.sessionTimeoutMs } : { sessionId: req.sessionId }, (frame) => {
      conn.forget(req.id);
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (frame.result === 'error' && frame.error) {
        conn.close();
        return reject(errorOf(frame.error));
      }
      const body = bodyOf<{ sessionId?: number; timeoutMs: number }>(frame, op);
      resolve({ conn, sentAt, sessionId: opening ? (body.sessionId ?? 0) : req.sessionId, timeoutMs: body.timeoutMs });
    });
  });
}
