/**
 * The gRPC service implementations of one replica: unary calls (with request metrics and typed
 * errors as statuses), the session stream, snapshot download and the health service.
 */
import type * as grpc from '@grpc/grpc-js';
import { isConclaveError, ErrorCode } from '../common/errors.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { clusterHandlers, snapshotDownload } from './cluster-service.js';
import { accessHandlers } from './access-service.js';
import { lockHandlers } from './lock-service.js';
import { type Handler, conclaveHandlers } from './conclave-service.js';
import { guardedCall, refusedAtTheDoor } from './access-control.js';
import { toServiceError } from './error-status.js';
import type { Req } from './request-parsing.js';
import { clientHostOf, sessionStreamHandler } from './session-stream.js';
import { watchSupport } from './watch-service.js';

/**
 * Calls that need no identity even with auth on: health checks and the cluster's status and member
 * list (probes and operators' tools carry no credentials; none of them shows any znode data).
 */
const OPEN_METHODS: ReadonlySet<string> = new Set(['Check', 'Status', 'MemberList']);

export function createServiceHandlers(server: ConclaveServer): {
  conclave: grpc.UntypedServiceImplementation;
  cluster: grpc.UntypedServiceImplementation;
  locks: grpc.UntypedServiceImplementation;
  access: grpc.UntypedServiceImplementation;
  health: grpc.UntypedServiceImplementation;
} {
  const unary =
    (method: string, fn: Handler, open: boolean) =>
    (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>): void => {
      const started = performance.now();
      const observe = (code: string): void => server.metrics?.requests.observe({ method, code }, (performance.now() - started) / 1000);
      const gone = new AbortController();
      call.once('cancelled', () => gone.abort());
      const clientHost = clientHostOf(call.getPeer());
      let promise: Promise<object>;
      try {
        const caller = open ? { identity: undefined, via: 'none' as const } : server.auth.identify(call);
        promise = guardedCall(server, method, fn, call.request ?? {}, { clientHost, signal: gone.signal, caller });
      } catch (err: unknown) {
        refusedAtTheDoor(server, method, clientHost, err);
        promise = Promise.reject(err);
      }
      promise.then(
        (res) => {
          observe('OK');
          callback(null, res);
        },
        (err: unknown) => {
          observe(isConclaveError(err) ? err.code : ErrorCode.INTERNAL);
          callback(toServiceError(err, server.leaderAddress()));
        },
      );
    };
  const wrap = (handlers: Record<string, Handler>): Record<string, grpc.UntypedHandleCall> =>
    Object.fromEntries(Object.entries(handlers).map(([name, fn]) => [name, unary(name, fn, OPEN_METHODS.has(name))]));

  const tree = conclaveHandlers(server);
  const locks = lockHandlers(server);
  const onStream = { ...tree, LockAcquire: locks['Acquire'], LockRelease: locks['Release'], LockDescribe: locks['Describe'], ValidateFence: locks['ValidateFence'] } as Record<string, Handler>;
  const watches = watchSupport(server);
  const health: Record<string, Handler> = {
    Check: async (req) => {
      const service = typeof req['service'] === 'string' ? req['service'] : '';
      if (service !== '' && service !== 'conclave.v1.Conclave') return { status: 'SERVICE_UNKNOWN' };
      return { status: server.isReady() ? 'SERVING' : 'NOT_SERVING' };
    },
  };
  return {
    conclave: {
      ...wrap(tree),
      Session: sessionStreamHandler({ server, handlers: onStream, openWatches: watches.open, streamHandlers: watches.handlers }),
      Watch: watches.watchStream,
    },
    cluster: { ...wrap(clusterHandlers(server)), SnapshotDownload: snapshotDownload(server) },
    locks: wrap(locks),
    access: wrap(accessHandlers(server)),
    health: wrap(health),
  };
}
