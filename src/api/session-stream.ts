/**
 * The multiplexed session stream (`Conclave.Session`): a client sends many request frames on one
 * call and gets each answer, tagged with the request's id, as soon as it is ready (in any order).
 * It costs far less per operation than one unary call each. The stream is bounded: at most
 * `maxOutstandingPerStream` requests in flight (more get LIMIT_EXCEEDED), and while the client does
 * not read its answers the server stops reading its requests (flow control through gRPC).
 */
import type * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import type { Caller } from '../security/authenticator.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { ANSWERED, type CallContext, type Handler, type OneShotKind } from './conclave-service.js';
import { guardedCall, refusedAtTheDoor, sessionOf } from './access-control.js';
import { toErrorFrame, toServiceError } from './error-status.js';
import type { Req } from './request-parsing.js';

/** The size counted for a frame without data. */
export const FRAME_BYTES_MIN = 64;

/** Response fields named differently from their request's. */
const RESPONSE_FIELD_OF: Readonly<Record<string, string>> = { watch: 'watchStarted' };

/** The oneof field of a request frame → the handler (RPC method) serving it. */
const METHOD_OF: Readonly<Record<string, string>> = {
  create: 'Create',
  get: 'Get',
  set: 'Set',
  delete: 'Delete',
  exists: 'Exists',
  children: 'Children',
  multi: 'Multi',
  sync: 'Sync',
  openSession: 'OpenSession',
  keepAlive: 'KeepAlive',
  closeSession: 'CloseSession',
  watch: 'Watch',
  unwatch: 'Unwatch',
  lockAcquire: 'LockAcquire',
  lockRelease: 'LockRelease',
  lockDescribe: 'LockDescribe',
  validateFence: 'ValidateFence',
};

/** The session stream as a watcher: one per stream, created when the stream opens. */
export interface StreamWatches {
  readonly watcherId: number;
  watchOnce(requestId: number, kind: OneShotKind, path: string): void;
  close(): void;
}

export interface SessionStreamDeps {
  readonly server: ConclaveServer;
  readonly handlers: Readonly<Record<string, Handler>>;
  /** The watches of one stream; `send` writes a frame of about `bytes` to it and returns the bytes not yet flushed to the client. */
  readonly openWatches: (send: (frame: object, bytes: number) => number, caller: Caller) => StreamWatches;
  /** Stream-only handlers (watch, unwatch) that need the stream's watches. */
  readonly streamHandlers: (watches: StreamWatches) => Readonly<Record<string, Handler>>;
}

/** "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000" or "127.0.0.1:5000" → the host. */
export function clientHostOf(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracket = /^\[([^\]]+)\]/.exec(bare);
  if (bracket) return bracket[1] as string;
  const i = bare.lastIndexOf(':');
  return i > 0 ? bare.slice(0, i) : bare;
}

export function sessionStreamHandler(deps: SessionStreamDeps) {
  const { server } = deps;
  return (call: grpc.ServerDuplexStream<Req, object>): void => {
    const clientHost = clientHostOf(call.getPeer());
    let caller: Caller;
    try {
      caller = server.auth.identify(call);
    } catch (err: unknown) {
      refusedAtTheDoor(server, 'Session', clientHost, err);
      call.emit('error', toServiceError(err, server.leaderAddress()));
      return;
    }
    const max = server.config.maxOutstandingPerStream;
    let outstanding = 0;
    let streamSessionId = 0;
    let closed = false;
    let halfClosed = false;
    // Requests still waiting (a blocked lock acquire) stop when the stream goes.
    const gone = new AbortController();
    // Bytes written to the call and not yet flushed to the client (gRPC counts messages, not bytes).
    // Reads are never paused for a slow reader: its keep-alives must still reach the session
    // tracker, or a live client that reads slowly would lose its session. Memory stays bounded by
    // the in-flight limit, the slow-watcher cut-off, and past `unflushedMax` by ending the stream.
    let unflushedBytes = 0;
    const unflushedMax = 2 * server.config.watchBufferBytes;
    let cutting = false;
    const send = (frame: object, bytes = FRAME_BYTES_MIN): number => {
      if (closed || cutting) return 0;
      unflushedBytes += bytes;
      call.write(frame, () => {
        unflushedBytes -= bytes;
      });
      if (unflushedBytes > unflushedMax) {
        // Ended on the next turn: `send` may be called from inside the watch hub's delivery loop.
        cutting = true;
        setImmediate(() => {
          const err = new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `more than ${unflushedMax} bytes of answers and events unread on this stream; reconnect and resume`, { limit: unflushedMax });
          close();
          call.emit('error', toServiceError(err, server.leaderAddress()));
        });
      }
      return unflushedBytes;
    };
    const watches = deps.openWatches(send, caller);
    const handlers = { ...deps.handlers, ...deps.streamHandlers(watches) };
    server.metrics?.sessionStreams.inc();
    const close = (): void => {
      if (closed) return;
      closed = true;
      watches.close();
      server.metrics?.sessionStreams.dec();
    };

    call.on('data', (frame: Req) => {
      // A stream that was cut (or closed) runs nothing more: its answers could not be delivered.
      if (closed || cutting) return;
      const id = typeof frame['id'] === 'number' ? frame['id'] : 0;
      const op = typeof frame['op'] === 'string' ? frame['op'] : '';
      const method = METHOD_OF[op];
      const handler = method ? handlers[method] : undefined;
      if (!method || !handler) {
        send({ id, error: toErrorFrame(new ConclaveError(ErrorCode.BAD_ARGUMENTS, `a session frame needs one of ${Object.keys(METHOD_OF).join(', ')}`)) });
        return;
      }
      if (outstanding >= max) {
        send({ id, error: toErrorFrame(new ConclaveError(ErrorCode.TOO_MANY_REQUESTS, `more than ${max} requests in flight on one session stream; retry once some are answered`, { limit: max })) });
        return;
      }
      outstanding++;
      const started = performance.now();
      const body = (frame[op] ?? {}) as Req;
      streamSessionId = sessionOf(body) || streamSessionId;
      const ctx: CallContext = { clientHost, caller, signal: gone.signal, streamSessionId, stream: { requestId: id, watchOnce: (kind, path) => watches.watchOnce(id, kind, path) } };
      let promise: Promise<object>;
      try {
        promise = guardedCall(server, method, handler, body, ctx);
      } catch (err: unknown) {
        promise = Promise.reject(err);
      }
      promise.then(
        (res) => {
          if (method === 'OpenSession') streamSessionId = sessionOf(res as Req) || streamSessionId;
          server.metrics?.requests.observe({ method, code: 'OK' }, (performance.now() - started) / 1000);
          if (res !== ANSWERED) send({ id, [RESPONSE_FIELD_OF[op] ?? op]: res }, answerBytes(res));
        },
        (err: unknown) => {
          server.metrics?.requests.observe({ method, code: isConclaveError(err) ? err.code : ErrorCode.INTERNAL }, (performance.now() - started) / 1000);
          send({ id, error: toErrorFrame(err, server.leaderAddress()) });
        },
      ).finally(() => {
        outstanding--;
        if (halfClosed && outstanding === 0) finish();
      });
    });
    // The client sent its last request: answer what is in flight, then end.
    const finish = (): void => {
      close();
      call.end();
    };
    call.on('end', () => {
      halfClosed = true;
      if (outstanding === 0) finish();
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.on('close', close);
  };
}

/** About how many bytes an answer takes on the wire: its data and child names dominate. */
function answerBytes(res: object): number {
  let n = FRAME_BYTES_MIN;
  const { data, children } = res as { data?: unknown; children?: unknown };
  if (data instanceof Uint8Array) n += data.byteLength;
  if (Array.isArray(children)) for (const c of children) if (typeof c === 'string') n += c.length + 2;
  return n;
}
