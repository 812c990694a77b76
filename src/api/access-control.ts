/**
 * Access control in the API layer: every request runs through `guardedCall` (rate limit, then the
 * handler, then the audit log and refusal metrics), and handlers call `authorize` for the
 * permission their operation needs on its path. The ACLs live in the replicated state
 * (src/state/acl.ts), so every member decides alike; writes are checked again when applied, with
 * the identity carried in the txn, which settles a race with an ACL change.
 *
 * Refusals never reveal more than the caller may know: permissions are checked before a node is
 * looked up, so a denied caller cannot tell an existing path from a missing one.
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import type { Permission } from '../state/index.js';
import type { CallContext, Handler } from './conclave-service.js';
import type { Req } from './request-parsing.js';

/**
 * Requests never throttled: a throttled session must still be able to stay alive and to leave, and
 * health probes and status polls (cheap, answered from memory) must not fail because the same host
 * is busy: a throttled readiness probe would take a healthy member out of service.
 */
const UNTHROTTLED: ReadonlySet<string> = new Set(['KeepAlive', 'CloseSession', 'Unwatch', 'Check', 'Status', 'MemberList']);

/** Requests that change nothing: audited only when refused. */
const READS: ReadonlySet<string> = new Set(['Get', 'Exists', 'Children', 'Sync', 'KeepAlive', 'Watch', 'Unwatch', 'Describe', 'LockDescribe', 'ValidateFence', 'Status', 'MemberList', 'GetAcl', 'ListAcls', 'GetQuota', 'ListQuotas', 'WhoAmI']);

/** Refusals worth an audit line (a throttled flood would drown the log). */
const AUDITED_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.UNAUTHENTICATED, ErrorCode.PERMISSION_DENIED, ErrorCode.QUOTA_EXCEEDED]);

/** Throws PERMISSION_DENIED unless the caller has `perm` on `path` (always, with auth off). */
export function authorize(server: ConclaveServer, ctx: CallContext, perm: Permission, path: string): void {
  const identity = ctx.caller.identity;
  if (identity === undefined || server.sm.acls.allowed(identity, perm, path)) return;
  throw new ConclaveError(ErrorCode.PERMISSION_DENIED, `${identity} may not ${perm} ${path}`, { identity, permission: perm, path });
}

/** Whether the caller may read `path` (for filtering what it is shown, rather than refusing). */
export function mayRead(server: ConclaveServer, ctx: Pick<CallContext, 'caller'>, path: string): boolean {
  const identity = ctx.caller.identity;
  return identity === undefined || server.sm.acls.allowed(identity, 'read', path);
}

/** About how many bytes a request carries: its data (and a multi's) dominate. */
export function requestBytes(req: Req): number {
  let n = 64;
  const data = req['data'];
  if (data instanceof Uint8Array) n += data.byteLength;
  const value = req['value'];
  if (value instanceof Uint8Array) n += value.byteLength;
  const ops = req['ops'];
  if (Array.isArray(ops)) {
    for (const op of ops as Req[]) {
      for (const body of Object.values(op ?? {})) {
        const d = (body as Req | undefined)?.['data'];
        if (d instanceof Uint8Array) n += d.byteLength + 16;
      }
    }
  }
  return n;
}

function pathsOf(req: Req): { path?: string; paths?: string[] } {
  if (typeof req['path'] === 'string') return { path: req['path'] };
  if (typeof req['name'] === 'string') return { path: `/conclave/locks/${req['name']}` };
  const ops = req['ops'];
  if (Array.isArray(ops)) {
    const paths: string[] = [];
    for (const op of ops as Req[]) for (const body of Object.values(op ?? {})) if (typeof (body as Req | undefined)?.['path'] === 'string') paths.push((body as Req)['path'] as string);
    return { paths };
  }
  return {};
}

/** The session a request (or an OpenSession answer) names: a write's header, else its `sessionId` field; 0 for none. */
export function sessionOf(req: Req): number {
  const h = req['header'] as Req | undefined;
  const fromHeader = typeof h?.['sessionId'] === 'number' ? h['sessionId'] : 0;
  if (fromHeader > 0) return fromHeader;
  return typeof req['sessionId'] === 'number' ? req['sessionId'] : 0;
}

/**
 * Run `handler` for `method` under the server's rate limits, then audit it. The rate limit is per
 * session: the one the request names, else the one its session stream serves; a unary request
 * that names none is charged to its client host.
 */
export async function guardedCall(server: ConclaveServer, method: string, handler: Handler, req: Req, ctx: CallContext): Promise<object> {
  const sessionId = sessionOf(req) || (ctx.streamSessionId ?? 0);
  if (server.rateLimiter.enabled && !UNTHROTTLED.has(method)) {
    // Keyed by identity too: naming another identity's session id must not spend its budget.
    const key = sessionId > 0 ? `${ctx.caller.identity ?? ''}#${sessionId}` : `host:${ctx.clientHost}`;
    const t = server.rateLimiter.admit(key, requestBytes(req));
    if (!t.admitted) {
      server.metrics?.throttled.inc({ reason: t.reason });
      const limit = t.reason === 'ops' ? `${server.rateLimiter.limits.opsPerSecond} operations` : `${server.rateLimiter.limits.bytesPerSecond} bytes`;
      throw new ConclaveError(ErrorCode.RATE_LIMITED, `this session is over its rate limit of ${limit} per second; retry in ${t.retryAfterMs} ms`, { retryAfterMs: t.retryAfterMs, limit: t.reason });
    }
  }
  const audit = server.audit;
  try {
    const res = await handler(req, ctx);
    if (audit && !READS.has(method)) {
      const zxid = (res as { zxid?: unknown }).zxid;
      audit.record({ identity: ctx.caller.identity, via: ctx.caller.via, client: ctx.clientHost, op: method, ...pathsOf(req), sessionId, result: 'OK', ...(typeof zxid === 'number' ? { zxid } : {}) });
    }
    return res;
  } catch (err: unknown) {
    const code = isConclaveError(err) ? err.code : ErrorCode.INTERNAL;
    if (code === ErrorCode.PERMISSION_DENIED || code === ErrorCode.UNAUTHENTICATED) server.metrics?.authRefusals.inc({ code });
    if (audit && (AUDITED_REFUSALS.has(code) || !READS.has(method))) {
      audit.record({ identity: ctx.caller.identity, via: ctx.caller.via, client: ctx.clientHost, op: method, ...pathsOf(req), sessionId, result: code });
    }
    throw err;
  }
}

/** A refusal at the door of a stream (no identity, or none allowed in), counted and audited like the rest. */
export function refusedAtTheDoor(server: ConclaveServer, method: string, clientHost: string, err: unknown): void {
  const code = isConclaveError(err) ? err.code : ErrorCode.INTERNAL;
  if (code === ErrorCode.UNAUTHENTICATED || code === ErrorCode.PERMISSION_DENIED) server.metrics?.authRefusals.inc({ code });
  server.audit?.record({ identity: undefined, via: 'none', client: clientHost, op: method, result: code });
}
