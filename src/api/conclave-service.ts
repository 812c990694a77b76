/**
 * The gRPC handlers of the public API (proto/conclave.proto): validate, route (writes to the
 * leader, reads after a ReadIndex barrier unless SERIALIZABLE), map results and typed errors.
 * Bad input is refused here, before it reaches the log, and changes nothing.
 */
import type * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { type Stat, type TreeOp, type TxnResult, type ZnodeKind, stateLimits, validatePath } from '../state/index.js';
import { toServiceError } from './error-status.js';

type Req = Record<string, unknown>;
type Handler = (req: Req) => Promise<object>;

const KINDS: Readonly<Record<string, ZnodeKind>> = { PERSISTENT: 'persistent', EPHEMERAL: 'ephemeral', CONTAINER: 'container', TTL: 'ttl' };

function bad(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.BAD_ARGUMENTS, message);
}

function str(req: Req, field: string): string {
  const v = req[field];
  if (typeof v !== 'string') throw bad(`${field} must be a string`);
  return v;
}

function num(req: Req, field: string): number {
  const v = req[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(`${field} must be an integer`);
  return v;
}

function bytes(req: Req, field: string): Uint8Array {
  const v = req[field];
  if (!(v instanceof Uint8Array)) throw bad(`${field} must be bytes`);
  if (v.length > stateLimits.znodeDataBytesMax) {
    throw new ConclaveError(ErrorCode.DATA_TOO_LARGE, `data of ${v.length} bytes exceeds ${stateLimits.znodeDataBytesMax}`);
  }
  return v;
}

function path(req: Req, opts: { sequential?: boolean } = {}): string {
  const p = str(req, 'path');
  validatePath(p, opts.sequential ? { allowSequentialPrefix: true } : {});
  return p;
}

function version(req: Req): number {
  const v = num(req, 'expectedVersion');
  if (v < -1) throw bad('expected_version must be -1 (any) or a version');
  return v;
}

function header(req: Req): { sessionId: number; seq: number } {
  const h = (req['header'] ?? {}) as Req;
  return { sessionId: typeof h['sessionId'] === 'number' ? h['sessionId'] : 0, seq: typeof h['seq'] === 'number' ? h['seq'] : 0 };
}

function linearizable(req: Req): boolean {
  return req['consistency'] !== 'SERIALIZABLE';
}

function stat(s: Stat): object {
  return { ...s };
}

function createOp(req: Req): TreeOp {
  const kindName = typeof req['kind'] === 'string' ? req['kind'] : 'PERSISTENT';
  const kind = KINDS[kindName];
  if (!kind) throw bad(`unknown node kind ${kindName}`);
  const sequential = req['sequential'] === true;
  const ttlMs = num(req, 'ttlMs');
  return { type: 'create', path: path(req, { sequential }), data: bytes(req, 'data'), kind, sequential, ...(ttlMs > 0 ? { ttlMs } : {}) };
}

function treeOp(op: Req): TreeOp {
  if (op['create']) return createOp(op['create'] as Req);
  if (op['set']) {
    const r = op['set'] as Req;
    return { type: 'set', path: path(r), data: bytes(r, 'data'), version: version(r) };
  }
  if (op['delete']) {
    const r = op['delete'] as Req;
    return { type: 'delete', path: path(r), version: version(r) };
  }
  if (op['check']) {
    const r = op['check'] as Req;
    return { type: 'check', path: path(r), version: version(r) };
  }
  throw bad('a multi op must be one of create, set, delete, check');
}

function opResult(r: TxnResult | { type: 'error'; error: { code: string } }): object {
  switch (r.type) {
    case 'create':
      return { code: '', path: r.path, stat: stat(r.stat) };
    case 'set':
      return { code: '', stat: stat(r.stat) };
    case 'error':
      return { code: r.error.code };
    default:
      return { code: '' };
  }
}

const TRANSFER_TIMEOUT_MS = 10_000;

export function createServiceHandlers(server: ConclaveServer): {
  conclave: grpc.UntypedServiceImplementation;
  cluster: grpc.UntypedServiceImplementation;
  health: grpc.UntypedServiceImplementation;
} {
  const unary =
    (method: string, fn: Handler) =>
    (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>): void => {
      const started = performance.now();
      const observe = (code: string): void => server.metrics?.requests.observe({ method, code }, (performance.now() - started) / 1000);
      fn(call.request ?? {}).then(
        (res) => {
          observe('OK');
          callback(null, res);
        },
        (err: unknown) => {
          observe(isConclaveError(err) ? err.code : 'INTERNAL');
          callback(toServiceError(err, server.leaderAddress()));
        },
      );
    };

  const conclave: Record<string, Handler> = {
    Create: async (req) => {
      const h = header(req);
      const { result, zxid } = await server.write(createOp(req), h.sessionId, h.seq);
      if (result.type !== 'create') throw new ConclaveError(ErrorCode.RUNTIME_INCONSISTENCY, 'unexpected result');
      return { path: result.path, stat: stat(result.stat), zxid };
    },
    Set: async (req) => {
      const h = header(req);
      const { result, zxid } = await server.write({ type: 'set', path: path(req), data: bytes(req, 'data'), version: version(req) }, h.sessionId, h.seq);
      if (result.type !== 'set') throw new ConclaveError(ErrorCode.RUNTIME_INCONSISTENCY, 'unexpected result');
      return { stat: stat(result.stat), zxid };
    },
    Delete: async (req) => {
      const h = header(req);
      const { zxid } = await server.write({ type: 'delete', path: path(req), version: version(req) }, h.sessionId, h.seq);
      return { zxid };
    },
    Multi: async (req) => {
      const rawOps = req['ops'];
      if (!Array.isArray(rawOps)) throw bad('ops must be a list');
      if (rawOps.length > stateLimits.multiOpsMax) throw bad(`a multi holds at most ${stateLimits.multiOpsMax} ops, got ${rawOps.length}`);
      const ops = rawOps.map((op) => treeOp(op as Req));
      const h = header(req);
      const { applied, zxid } = await server.writeRaw({ type: 'multi', ops }, h.sessionId, h.seq);
      if (applied.ok) {
        const results = applied.result.type === 'multi' ? applied.result.results : [];
        return { ok: true, failedIndex: -1, results: results.map(opResult), zxid };
      }
      if (applied.error.results === undefined) throw new ConclaveError(applied.error.code, applied.error.message);
      return { ok: false, failedIndex: applied.error.failedIndex ?? -1, results: applied.error.results.map((r) => opResult(r)), zxid: 0 };
    },
    Get: async (req) => {
      const p = path(req);
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      const { data, stat: s } = server.sm.tree.get(p);
      return { data, stat: stat(s), zxid: server.sm.lastApplied };
    },
    Exists: async (req) => {
      const p = path(req);
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      const s = server.sm.tree.exists(p);
      return s ? { exists: true, stat: stat(s), zxid: server.sm.lastApplied } : { exists: false, zxid: server.sm.lastApplied };
    },
    Children: async (req) => {
      const p = path(req);
      const limit = num(req, 'limit');
      const after = str(req, 'after');
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      const r = server.sm.tree.children(p, { ...(after ? { after } : {}), ...(limit > 0 ? { limit } : {}) });
      return { names: r.names, stat: stat(r.stat), more: r.more, zxid: server.sm.lastApplied };
    },
    Sync: async () => {
      await server.readBarrier(true);
      return { zxid: server.sm.lastApplied };
    },
    OpenSession: async (req) => {
      const asked = num(req, 'timeoutMs');
      const { sessionTimeoutMsMin: min, sessionTimeoutMsMax: max } = server.config;
      const timeoutMs = Math.min(max, Math.max(min, asked || min));
      const sessionId = server.newSessionId();
      await server.write({ type: 'createSession', sessionId, timeoutMs });
      server.sessions.touch(sessionId, timeoutMs);
      return { sessionId, timeoutMs };
    },
    KeepAlive: async (req) => {
      const sessionId = num(req, 'sessionId');
      if (!server.isLeader()) throw server.notLeader();
      const session = server.sm.sessions.get(sessionId);
      if (!session) throw new ConclaveError(ErrorCode.SESSION_EXPIRED, `session ${sessionId} is expired or unknown`);
      server.sessions.touch(sessionId, session.timeoutMs);
      return { timeoutMs: session.timeoutMs };
    },
    CloseSession: async (req) => {
      const sessionId = num(req, 'sessionId');
      const { result } = await server.write({ type: 'closeSession', sessionId });
      return { deleted: result.type === 'closeSession' ? result.deleted : [] };
    },
  };

  const cluster: Record<string, Handler> = {
    TransferLeadership: async (req) => {
      const to = num(req, 'to');
      const s = server.driver.status();
      if (!s.conf.voters.includes(to)) throw bad(`member ${to} is not a voter`);
      if (s.role !== 'leader') throw server.notLeader();
      if (to === s.id) return { leader: s.id };
      server.driver.transferLeadership(to);
      // The core abandons a transfer that takes longer than an election timeout; so do we.
      const deadline = Date.now() + TRANSFER_TIMEOUT_MS;
      while (Date.now() < deadline) {
        const lead = server.driver.status().lead;
        if (lead === to) return { leader: to };
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new ConclaveError(ErrorCode.UNAVAILABLE, `leadership did not move to ${to} within ${TRANSFER_TIMEOUT_MS} ms`);
    },
    Status: async () => {
      const s = server.driver.status();
      return {
        id: s.id,
        role: s.role,
        term: s.term,
        leader: s.lead,
        commit: s.commit,
        applied: s.applied,
        zxid: server.sm.lastApplied,
        voters: s.conf.voters,
        learners: s.conf.learners,
        digest: server.sm.digest(),
      };
    },
  };

  const wrap = (handlers: Record<string, Handler>): grpc.UntypedServiceImplementation =>
    Object.fromEntries(Object.entries(handlers).map(([name, fn]) => [name, unary(name, fn)]));
  const health: Record<string, Handler> = {
    Check: async (req) => {
      const service = typeof req['service'] === 'string' ? req['service'] : '';
      if (service !== '' && service !== 'conclave.v1.Conclave') return { status: 'SERVICE_UNKNOWN' };
      return { status: server.isReady() ? 'SERVING' : 'NOT_SERVING' };
    },
  };
  return { conclave: wrap(conclave), cluster: wrap(cluster), health: wrap(health) };
}
