/**
 * The `Access` service through the SDK: ACLs and quotas on subtrees, who the server takes this
 * client for, and bearer tokens. Unary calls to the member the session talks to (the leader),
 * carrying the client's token; they are not retried.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SessionCore } from './session-core.js';
import type { AclGrant, AclInfo, AclList, MintedToken, Permission, QuotaInfo, QuotaLimits, QuotaList, WhoAmIResult } from './types.js';

interface WireAcl {
  path: string;
  exists: boolean;
  grants: { identity: string; permissions: string[] }[];
  zxid: number;
}

interface WireQuota {
  path: string;
  exists: boolean;
  maxNodes?: number;
  maxBytes?: number;
  nodes: number;
  bytes: number;
  zxid: number;
}

function toAcl(w: WireAcl): AclInfo {
  return { path: w.path, exists: w.exists, grants: w.grants.map((g) => ({ identity: g.identity, permissions: g.permissions as Permission[] })), zxid: w.zxid };
}

function toQuota(w: WireQuota): QuotaInfo {
  return {
    path: w.path,
    exists: w.exists,
    ...(typeof w.maxNodes === 'number' ? { maxNodes: w.maxNodes } : {}),
    ...(typeof w.maxBytes === 'number' ? { maxBytes: w.maxBytes } : {}),
    nodes: w.nodes,
    bytes: w.bytes,
    zxid: w.zxid,
  };
}

export async function setAcl(core: SessionCore, path: string, grants: readonly AclGrant[]): Promise<AclInfo> {
  const wire = grants.map((g) => ({ identity: g.identity, permissions: [...g.permissions] }));
  return toAcl(await core.unaryCall<WireAcl>('Access', 'SetAcl', { path, grants: wire }));
}

export async function getAcl(core: SessionCore, path: string): Promise<AclInfo> {
  return toAcl(await core.unaryCall<WireAcl>('Access', 'GetAcl', { path }));
}

export async function removeAcl(core: SessionCore, path: string): Promise<{ zxid: number }> {
  const { zxid } = await core.unaryCall<{ zxid: number }>('Access', 'RemoveAcl', { path });
  return { zxid };
}

export async function listAcls(core: SessionCore): Promise<AclList> {
  const res = await core.unaryCall<{ acls: WireAcl[]; zxid: number }>('Access', 'ListAcls', {});
  return { acls: res.acls.map(toAcl), zxid: res.zxid };
}

export async function setQuota(core: SessionCore, path: string, limits: QuotaLimits): Promise<QuotaInfo> {
  if (limits.maxNodes === undefined && limits.maxBytes === undefined) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'a quota needs maxNodes, maxBytes or both');
  const req = { path, ...(limits.maxNodes !== undefined ? { maxNodes: limits.maxNodes } : {}), ...(limits.maxBytes !== undefined ? { maxBytes: limits.maxBytes } : {}) };
  return toQuota(await core.unaryCall<WireQuota>('Access', 'SetQuota', req));
}

export async function getQuota(core: SessionCore, path: string): Promise<QuotaInfo> {
  return toQuota(await core.unaryCall<WireQuota>('Access', 'GetQuota', { path }));
}

export async function removeQuota(core: SessionCore, path: string): Promise<{ zxid: number }> {
  const { zxid } = await core.unaryCall<{ zxid: number }>('Access', 'RemoveQuota', { path });
  return { zxid };
}

export async function listQuotas(core: SessionCore): Promise<QuotaList> {
  const res = await core.unaryCall<{ quotas: WireQuota[]; zxid: number }>('Access', 'ListQuotas', {});
  return { quotas: res.quotas.map(toQuota), zxid: res.zxid };
}

export async function whoAmI(core: SessionCore, path?: string): Promise<WhoAmIResult> {
  const res = await core.unaryCall<{ authEnabled: boolean; identity: string; via: string; permissions: string[] }>('Access', 'WhoAmI', { path: path ?? '' });
  const via = res.via === 'token' || res.via === 'certificate' ? res.via : 'none';
  return { authEnabled: res.authEnabled, identity: res.identity, via, permissions: res.permissions as Permission[] };
}

export async function mintToken(core: SessionCore, identity: string, ttlMs: number): Promise<MintedToken> {
  const res = await core.unaryCall<MintedToken>('Access', 'MintToken', { identity, ttlMs });
  return { token: res.token, expiresAtMs: res.expiresAtMs };
}
