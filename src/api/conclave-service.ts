/**
 * The handlers of the `Conclave` service (proto/conclave.proto): validate, route (writes to the
 * leader, reads after a ReadIndex barrier unless SERIALIZABLE), map results and typed errors. The
 * same handlers serve unary calls and the frames of a session stream (`session-stream.ts`).
 * Bad input is refused here, before it reaches the log, and changes nothing.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { Caller } from '../security/authenticator.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { stateLimits } from '../state/index.js';
import { ROOT_IDENTITY, type TreeOp } from '../state/index.js';
import { authorize } from './access-control.js';
import { NO_REQUEST, type Req, bad, bytes, createOp, header, linearizable, num, opResult, path, stat, str, treeOp, version } from './request-parsing.js';

/** What a one-shot watch waits for (ZooKeeper's data, exists and child watches). */
export type OneShotKind = 'data' | 'exists' | 'children';

/** Where a request came from. */
export interface CallContext {
  /** The client's host, for per-client limits. */
  readonly clientHost: string;
  /** Who is calling (identity undefined: auth is off, every caller is trusted). */
  readonly caller: Caller;
  /** Aborted when the caller goes away (call cancelled, stream closed): a blocked request stops waiting. */
  readonly signal?: AbortSignal;
  /**
   * On a session stream, the session it last opened, kept alive or wrote for (0 before any): its
   * requests that name no session (reads) are charged to that session's rate limit.
   */
  readonly streamSessionId?: number;
  /** Set for requests on a session stream: one-shot watches are delivered there. */
  readonly stream?: {
    readonly requestId: number;
    watchOnce(kind: OneShotKind, path: string): void;
  };
}

export type Handler = (req: Req, ctx: CallContext) => Promise<object>;

/** Returned by a stream handler that has written its answer itself (a watch: started, then its backlog). */
export const ANSWERED: object = Object.freeze({});

function oneShot(req: Req, ctx: CallContext, kind: OneShotKind, p: string): void {
  if (req['watch'] !== true) return;
  if (!ctx.stream) throw bad('a one-shot watch needs a session stream (the Session call), not a unary call');
  ctx.stream.watchOnce(kind, p);
}

/** The permission each op of a multi needs on its path. */
const PERMISSION_OF_OP = { create: 'create', set: 'write', delete: 'delete', check: 'read' } as const satisfies Record<TreeOp['type'], string>;

export function conclaveHandlers(server: ConclaveServer): Record<string, Handler> {
  return {
    Create: async (req, ctx) => {
      const h = header(req);
      const op = createOp(req);
      authorize(server, ctx, 'create', op.path);
      const { result, zxid } = await server.write(op, h, ctx.caller.identity);
      if (result.type !== 'create') throw new ConclaveError(ErrorCode.RUNTIME_INCONSISTENCY, 'unexpected result');
      return { path: result.path, stat: stat(result.stat), zxid };
    },
    Set: async (req, ctx) => {
      const h = header(req);
      const p = path(req);
      authorize(server, ctx, 'write', p);
      const { result, zxid } = await server.write({ type: 'set', path: p, data: bytes(req, 'data'), version: version(req) }, h, ctx.caller.identity);
      if (result.type !== 'set') throw new ConclaveError(ErrorCode.RUNTIME_INCONSISTENCY, 'unexpected result');
      return { stat: stat(result.stat), zxid };
    },
    Delete: async (req, ctx) => {
      const h = header(req);
      const p = path(req);
      authorize(server, ctx, 'delete', p);
      const { zxid } = await server.write({ type: 'delete', path: p, version: version(req) }, h, ctx.caller.identity);
      return { zxid };
    },
    Multi: async (req, ctx) => {
      const rawOps = req['ops'];
      if (!Array.isArray(rawOps)) throw bad('ops must be a list');
      if (rawOps.length > stateLimits.multiOpsMax) throw bad(`a multi holds at most ${stateLimits.multiOpsMax} ops, got ${rawOps.length}`);
      const ops = rawOps.map((op) => treeOp(op as Req));
      // Every op is checked before any is proposed (and again when applied): a denied op refuses the whole multi.
      for (const op of ops) authorize(server, ctx, PERMISSION_OF_OP[op.type], op.path);
      const h = header(req);
      const { applied, zxid } = await server.writeRaw({ type: 'multi', ops }, h, ctx.caller.identity);
      if (applied.ok) {
        const results = applied.result.type === 'multi' ? applied.result.results : [];
        return { ok: true, failedIndex: -1, results: results.map(opResult), zxid };
      }
      if (applied.error.results === undefined) throw new ConclaveError(applied.error.code, applied.error.message);
      return { ok: false, failedIndex: applied.error.failedIndex ?? -1, results: applied.error.results.map((r) => opResult(r)), zxid: 0 };
    },
    Get: async (req, ctx) => {
      const p = path(req);
      authorize(server, ctx, 'read', p);
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      // Read and arm the watch in the same turn: no change can slip between them.
      const { data, stat: s } = server.sm.tree.get(p);
      oneShot(req, ctx, 'data', p);
      return { data, stat: stat(s), zxid: server.sm.lastApplied };
    },
    Exists: async (req, ctx) => {
      const p = path(req);
      authorize(server, ctx, 'read', p);
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      const s = server.sm.tree.exists(p);
      oneShot(req, ctx, s ? 'data' : 'exists', p);
      return s ? { exists: true, stat: stat(s), zxid: server.sm.lastApplied } : { exists: false, zxid: server.sm.lastApplied };
    },
    Children: async (req, ctx) => {
      const p = path(req);
      authorize(server, ctx, 'read', p);
      const limit = num(req, 'limit');
      const after = str(req, 'after');
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      const r = server.sm.tree.children(p, { ...(after ? { after } : {}), ...(limit > 0 ? { limit } : {}) });
      oneShot(req, ctx, 'children', p);
      return { names: r.names, stat: stat(r.stat), more: r.more, zxid: server.sm.lastApplied };
    },
    Sync: async () => {
      await server.readBarrier(true);
      return { zxid: server.sm.lastApplied };
    },
    OpenSession: async (req, ctx) => {
      const asked = num(req, 'timeoutMs');
      const { sessionTimeoutMsMin: min, sessionTimeoutMsMax: max } = server.config;
      const timeoutMs = Math.min(max, Math.max(min, asked || min));
      const sessionId = await server.openSession(timeoutMs, ctx.clientHost, ctx.caller.identity);
      return { sessionId, timeoutMs };
    },
    KeepAlive: async (req, ctx) => {
      const sessionId = num(req, 'sessionId');
      if (!server.isLeader()) throw server.notLeader();
      const session = server.sm.sessions.get(sessionId);
      if (!session) throw new ConclaveError(ErrorCode.SESSION_EXPIRED, `session ${sessionId} is expired or unknown`);
      const identity = ctx.caller.identity;
      if (identity !== undefined && identity !== ROOT_IDENTITY && session.owner !== '' && session.owner !== identity) {
        throw new ConclaveError(ErrorCode.PERMISSION_DENIED, `${identity} may not use session ${sessionId}, which another identity opened`);
      }
      server.sessions.touch(sessionId, session.timeoutMs);
      return { timeoutMs: session.timeoutMs };
    },
    CloseSession: async (req, ctx) => {
      const sessionId = num(req, 'sessionId');
      const { result } = await server.write({ type: 'closeSession', sessionId }, NO_REQUEST, ctx.caller.identity);
      return { deleted: result.type === 'closeSession' ? result.deleted : [] };
    },
  };
}
