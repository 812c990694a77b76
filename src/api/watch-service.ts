/**
 * Watches over gRPC: one-shot and persistent watches on a session stream, and a persistent watch
 * on its own server stream (`Conclave.Watch`, for tools). Each stream is one watcher of the
 * replica's `WatchHub`; hub frames become `SessionResponse` messages tagged with the id of the
 * request that set the watch.
 */
import type * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { type WatchEventType, type WatchFrame, type WatchSpec, watchEventBytes } from '../watches/index.js';
import type { Caller } from '../security/authenticator.js';
import { authorize, mayRead, refusedAtTheDoor } from './access-control.js';
import { ANSWERED, type Handler } from './conclave-service.js';
import { toErrorFrame, toServiceError } from './error-status.js';
import { type Req, bad, num, path, stat } from './request-parsing.js';
import { FRAME_BYTES_MIN, type StreamWatches, clientHostOf } from './session-stream.js';

const TYPE_OF: Readonly<Record<string, WatchEventType>> = { CREATED: 'created', CHANGED: 'changed', DELETED: 'deleted', CHILDREN: 'children' };
const NAME_OF: Readonly<Record<WatchEventType, string>> = { created: 'CREATED', changed: 'CHANGED', deleted: 'DELETED', children: 'CHILDREN' };

function watchSpec(req: Req): WatchSpec {
  const p = path(req);
  const mode = req['mode'] ?? 'PERSISTENT';
  if (mode !== 'PERSISTENT' && mode !== 'PERSISTENT_RECURSIVE') throw bad(`unknown watch mode ${String(mode)}`);
  const rawTypes = Array.isArray(req['types']) ? (req['types'] as unknown[]) : [];
  const types = rawTypes.map((t) => {
    const type = typeof t === 'string' ? TYPE_OF[t] : undefined;
    if (!type) throw bad(`unknown event type ${String(t)}`);
    return type;
  });
  const fromZxid = num(req, 'fromZxid');
  return {
    path: p,
    recursive: mode === 'PERSISTENT_RECURSIVE',
    withData: req['withData'] === true,
    ...(types.length > 0 ? { types } : {}),
    ...(fromZxid > 0 ? { fromZxid } : {}),
  };
}

/** A hub frame as a SessionResponse message. */
export function toResponse(frame: WatchFrame): object {
  const id = frame.requestId;
  switch (frame.kind) {
    case 'started':
      return { id, watchStarted: { zxid: frame.zxid } };
    case 'event': {
      const e = frame.event;
      return { id, event: { type: NAME_OF[e.type], path: e.path, zxid: e.zxid, oneShot: frame.oneShot, ...(e.data ? { data: e.data } : {}), ...(e.stat ? { stat: stat(e.stat) } : {}) } };
    }
    case 'progress':
      return { id, progress: { zxid: frame.zxid, compactionWarning: frame.compactionWarning } };
    case 'cancelled':
      return { id, error: toErrorFrame(frame.error) };
  }
}

function frameBytes(frame: WatchFrame): number {
  return frame.kind === 'event' ? watchEventBytes(frame.event) : FRAME_BYTES_MIN;
}

/** Resuming on a replica that has not applied the resume point yet: wait for it, bounded. */
async function caughtUp(server: ConclaveServer, spec: WatchSpec): Promise<void> {
  if (spec.fromZxid !== undefined) await server.readBarrier(false, spec.fromZxid);
}

/**
 * No event leaks to a watcher that may not read its path: with inherited ACLs a watch's events lie
 * under a path it was allowed to read when it was set, but an ACL may have changed since.
 */
function visible(server: ConclaveServer, caller: Caller, frame: WatchFrame): boolean {
  return frame.kind !== 'event' || mayRead(server, { caller }, frame.event.path);
}

export function watchSupport(server: ConclaveServer): {
  open: (send: (frame: object, bytes: number) => number, caller: Caller) => StreamWatches;
  handlers: (w: StreamWatches) => Record<string, Handler>;
  watchStream: (call: grpc.ServerWritableStream<Req, object>) => void;
} {
  const hub = (): ConclaveServer['watches'] => server.watches;
  return {
    open: (send, caller) => {
      let unflushed = 0;
      const watcherId = hub().openWatcher({ send: (frame) => (visible(server, caller, frame) ? (unflushed = send(toResponse(frame), frameBytes(frame))) : unflushed) });
      return {
        watcherId,
        watchOnce: (requestId, kind, p) => hub().oneShot(watcherId, requestId, kind, p),
        close: () => hub().closeWatcher(watcherId),
      };
    },
    handlers: (w) => ({
      Watch: async (req, ctx) => {
        const spec = watchSpec(req);
        authorize(server, ctx, 'read', spec.path);
        await caughtUp(server, spec);
        // The hub answers (watchStarted, then any backlog) in order, before live events.
        hub().watch(w.watcherId, ctx.stream?.requestId ?? 0, spec);
        return ANSWERED;
      },
      Unwatch: async (req) => {
        const watchId = num(req, 'watchId');
        if (!hub().unwatch(w.watcherId, watchId)) throw bad(`no watch set by request ${watchId} on this stream`);
        return {};
      },
    }),
    watchStream: (call) => {
      let watcherId = 0;
      let unflushed = 0;
      const close = (): void => {
        if (watcherId) hub().closeWatcher(watcherId);
        watcherId = 0;
      };
      call.on('cancelled', close);
      call.on('close', close);
      call.on('error', close);
      const clientHost = clientHostOf(call.getPeer());
      const start = async (): Promise<void> => {
        const spec = watchSpec(call.request ?? {});
        let caller: Caller;
        try {
          caller = server.auth.identify(call);
          authorize(server, { clientHost, caller }, 'read', spec.path);
        } catch (err: unknown) {
          refusedAtTheDoor(server, 'Watch', clientHost, err);
          throw err;
        }
        await caughtUp(server, spec);
        watcherId = hub().openWatcher({
          send: (frame) => {
            if (!visible(server, caller, frame)) return unflushed;
            if (frame.kind === 'cancelled') {
              call.emit('error', toServiceError(frame.error));
              return 0;
            }
            const bytes = frameBytes(frame);
            unflushed += bytes;
            call.write(toResponse(frame), () => {
              unflushed -= bytes;
            });
            return unflushed;
          },
        });
        hub().watch(watcherId, 0, spec);
      };
      start().catch((err: unknown) => {
        close();
        call.emit('error', toServiceError(err instanceof ConclaveError ? err : new ConclaveError(ErrorCode.INTERNAL, String(err)), server.leaderAddress()));
      });
    },
  };
}
