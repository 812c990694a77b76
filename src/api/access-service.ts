/**
 * The handlers of the `Access` service: ACLs and quotas (replicated, changed through the log like
 * any write), who the caller is, and bearer tokens. Reads of ACLs and quotas are linearizable.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { mintToken } from '../security/tokens.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { ANY_IDENTITY, type AclGrant, type Permission, PERMISSIONS, type QuotaLimits, isPermission, validateIdentity, validatePath } from '../state/index.js';
import { authorize } from './access-control.js';
import type { Handler } from './conclave-service.js';
import { NO_REQUEST, type Req, bad, num, path, str } from './request-parsing.js';

function grantsOf(req: Req): AclGrant[] {
  const raw = req['grants'];
  if (!Array.isArray(raw)) throw bad('grants must be a list');
  return raw.map((g: Req) => {
    const identity = g['identity'];
    if (identity !== ANY_IDENTITY) validateIdentity(identity);
    if (typeof identity !== 'string') throw bad('a grant needs an identity');
    const perms = Array.isArray(g['permissions']) ? (g['permissions'] as unknown[]) : [];
    for (const p of perms) if (!isPermission(p)) throw bad(`unknown permission "${String(p)}"; known: ${PERMISSIONS.join(', ')}`);
    return { identity, perms: perms as Permission[] };
  });
}

function aclMessage(p: string, grants: readonly AclGrant[] | undefined, zxid: number): object {
  return { path: p, exists: grants !== undefined, grants: (grants ?? []).map((g) => ({ identity: g.identity, permissions: [...g.perms] })), zxid };
}

function quotaLimitsOf(req: Req): QuotaLimits {
  const limits: { maxNodes?: number; maxBytes?: number } = {};
  if (req['maxNodes'] !== undefined) limits.maxNodes = num(req, 'maxNodes');
  if (req['maxBytes'] !== undefined) limits.maxBytes = num(req, 'maxBytes');
  if (limits.maxNodes === undefined && limits.maxBytes === undefined) throw bad('a quota needs max_nodes, max_bytes or both');
  return limits;
}

function quotaMessage(server: ConclaveServer, p: string): object {
  const q = server.sm.quotas.get(p);
  const zxid = server.sm.lastApplied;
  if (!q) return { path: p, exists: false, nodes: 0, bytes: 0, zxid };
  return { path: p, exists: true, ...q.limits, nodes: q.usage.nodes, bytes: q.usage.bytes, zxid };
}

/** A path for ACLs: like a znode's, and the reserved subtree too (lock permissions live under /conclave/locks). */
function accessPath(req: Req): string {
  const p = str(req, 'path');
  validatePath(p);
  return p;
}

export function accessHandlers(server: ConclaveServer): Record<string, Handler> {
  return {
    SetAcl: async (req, ctx) => {
      const p = accessPath(req);
      const grants = grantsOf(req);
      authorize(server, ctx, 'admin', p);
      const { zxid } = await server.write({ type: 'setAcl', path: p, grants }, NO_REQUEST, ctx.caller.identity);
      return aclMessage(p, server.sm.acls.get(p), zxid);
    },
    GetAcl: async (req, ctx) => {
      const p = accessPath(req);
      authorize(server, ctx, 'admin', p);
      await server.readBarrier(true);
      return aclMessage(p, server.sm.acls.get(p), server.sm.lastApplied);
    },
    RemoveAcl: async (req, ctx) => {
      const p = accessPath(req);
      authorize(server, ctx, 'admin', p);
      const { zxid } = await server.write({ type: 'removeAcl', path: p }, NO_REQUEST, ctx.caller.identity);
      return { zxid };
    },
    ListAcls: async (_req, ctx) => {
      await server.readBarrier(true);
      const identity = ctx.caller.identity;
      const visible = server.sm.acls.list().filter((a) => identity === undefined || server.sm.acls.allowed(identity, 'admin', a.path));
      return { acls: visible.map((a) => aclMessage(a.path, a.grants, server.sm.lastApplied)), zxid: server.sm.lastApplied };
    },
    SetQuota: async (req, ctx) => {
      const p = path(req);
      const limits = quotaLimitsOf(req);
      authorize(server, ctx, 'admin', p);
      await server.write({ type: 'setQuota', path: p, ...limits }, NO_REQUEST, ctx.caller.identity);
      return quotaMessage(server, p);
    },
    GetQuota: async (req, ctx) => {
      const p = path(req);
      authorize(server, ctx, 'read', p);
      await server.readBarrier(true);
      return quotaMessage(server, p);
    },
    RemoveQuota: async (req, ctx) => {
      const p = path(req);
      authorize(server, ctx, 'admin', p);
      const { zxid } = await server.write({ type: 'removeQuota', path: p }, NO_REQUEST, ctx.caller.identity);
      return { zxid };
    },
    ListQuotas: async (_req, ctx) => {
      await server.readBarrier(true);
      const identity = ctx.caller.identity;
      const visible = server.sm.quotas.list().filter((q) => identity === undefined || server.sm.acls.allowed(identity, 'read', q.path));
      return { quotas: visible.map((q) => quotaMessage(server, q.path)), zxid: server.sm.lastApplied };
    },
    WhoAmI: async (req, ctx) => {
      const p = typeof req['path'] === 'string' && req['path'] !== '' ? accessPath(req) : undefined;
      const identity = ctx.caller.identity;
      const permissions = p === undefined ? [] : identity === undefined ? [...PERMISSIONS] : server.sm.acls.effective(identity, p);
      return { authEnabled: server.auth.enabled, identity: identity ?? '', via: ctx.caller.via, permissions };
    },
    MintToken: async (req, ctx) => {
      authorize(server, ctx, 'admin', '/');
      const secret = server.tokenSecret;
      if (!secret) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'this server has no --auth-token-secret-file: it cannot sign tokens');
      const identity = str(req, 'identity');
      const ttlMs = num(req, 'ttlMs') || 3_600_000;
      const now = Date.now();
      return { token: mintToken(secret, identity, ttlMs, now), expiresAtMs: now + ttlMs };
    },
  };
}
