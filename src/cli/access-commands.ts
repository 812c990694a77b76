/**
 * `conclave acl set|get|rm|list`, `conclave quota set|get|rm|list` and `conclave auth
 * whoami|token`: access control of a cluster with auth on, through the `Access` service.
 * `auth token --secret-file` mints a token offline with the cluster's token secret.
 */
import { readFile } from 'node:fs/promises';
import type { AclGrant, AclInfo, QuotaInfo, WhoAmIResult } from '../client/types.js';
import { TOKEN_TTL_MS_MAX, mintToken } from '../security/tokens.js';
import { ANY_IDENTITY, PERMISSIONS, isPermission, validateIdentity } from '../state/acl.js';
import { type CommandContext, type CommandSpec, bad, intArg } from './command.js';
import { EXIT, table } from './output.js';

/** Grants at most one `acl set` takes (an ACL with more identities is better split into subtrees or groups of `*`). */
const GRANTS_MAX = 64;
const TOKEN_TTL_MS_DEFAULT = 3_600_000;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `IDENTITY=PERM[,PERM...]` words into grants; BAD_ARGUMENTS naming the word at fault. */
export function parseGrants(words: readonly string[]): AclGrant[] {
  const seen = new Set<string>();
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw bad(`grant "${word}" must be IDENTITY=PERM[,PERM...], e.g. svc-a=read,write or '*'=read`);
    const identity = word.slice(0, eq);
    if (identity !== ANY_IDENTITY) validateIdentity(identity);
    if (seen.has(identity)) throw bad(`identity "${identity}" is given twice: list all its permissions in one grant`);
    seen.add(identity);
    const perms = word.slice(eq + 1).split(',').map((p) => p.trim()).filter((p) => p !== '');
    if (perms.length === 0) throw bad(`grant "${word}" names no permission (known: ${PERMISSIONS.join(', ')}); to take an ACL away use \`conclave acl rm\``);
    for (const p of perms) if (!isPermission(p)) throw bad(`unknown permission "${p}" in "${word}"; known: ${PERMISSIONS.join(', ')}`);
    return { identity, permissions: PERMISSIONS.filter((p) => perms.includes(p)) };
  });
}

/** `90s`, `15m`, `1h`, `7d`, `500ms` or plain milliseconds. */
export function parseDurationMs(value: string, what: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1) : NaN;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw bad(`${what} must be a duration like 90s, 15m, 1h, 7d or milliseconds, got "${value}"`);
  return ms;
}

function aclRows(acl: AclInfo): (string | number)[][] {
  return acl.grants.map((g) => [acl.path, g.identity, g.permissions.join(',')]);
}

function printAcl(ctx: CommandContext, acl: AclInfo): number {
  if (ctx.out.json) ctx.out.emit(acl);
  else if (!acl.exists) ctx.out.write(`no ACL is set on ${acl.path} (those of its ancestors apply: conclave acl list)\n`);
  else ctx.out.write(table(ctx.out, ['PATH', 'IDENTITY', 'PERMISSIONS'], aclRows(acl)));
  return EXIT.OK;
}

function quotaRow(q: QuotaInfo): (string | number)[] {
  return [q.path, q.nodes, q.maxNodes ?? '-', q.bytes, q.maxBytes ?? '-'];
}

const QUOTA_HEADERS = ['PATH', 'NODES', 'MAX_NODES', 'BYTES', 'MAX_BYTES'];

function printQuota(ctx: CommandContext, q: QuotaInfo): number {
  if (ctx.out.json) ctx.out.emit(q);
  else if (!q.exists) ctx.out.write(`no quota is set on ${q.path}\n`);
  else ctx.out.write(table(ctx.out, QUOTA_HEADERS, [quotaRow(q)]));
  return EXIT.OK;
}

function printRemoved(ctx: CommandContext, what: string, path: string, res: Record<string, unknown>): number {
  if (ctx.out.json) ctx.out.emit({ path, zxid: res['zxid'] });
  else ctx.out.write(`removed the ${what} on ${path}\n`);
  return EXIT.OK;
}

/** The Access service through the leader (writes must reach it; reads are linearizable there anyway). */
function access(ctx: CommandContext, method: string, req: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return ctx.admin().onLeader(method, req, 'access');
}

const PATH_ARG = (ctx: CommandContext): string => ctx.args[0] as string;

async function mintedToken(ctx: CommandContext): Promise<{ token: string; expiresAtMs: number }> {
  const identity = ctx.args[0] as string;
  const rawTtl = ctx.values['ttl'];
  const ttlMs = typeof rawTtl === 'string' ? parseDurationMs(rawTtl, '--ttl') : TOKEN_TTL_MS_DEFAULT;
  if (ttlMs > TOKEN_TTL_MS_MAX) throw bad(`--ttl must be at most ${TOKEN_TTL_MS_MAX / 86_400_000} days (longer-lived credentials belong in client certificates)`);
  const secretFile = ctx.values['secret-file'];
  if (typeof secretFile !== 'string') {
    const res = await access(ctx, 'MintToken', { identity, ttlMs });
    return { token: res['token'] as string, expiresAtMs: res['expiresAtMs'] as number };
  }
  let secret: Uint8Array;
  try {
    secret = await readFile(secretFile);
  } catch (err: unknown) {
    throw bad(`cannot read --secret-file ${secretFile}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const now = Date.now();
  return { token: mintToken(secret, identity, ttlMs, now), expiresAtMs: now + ttlMs };
}

function whoAmIRows(w: WhoAmIResult, path: string | undefined): [string, string][] {
  const rows: [string, string][] = [
    ['auth', w.authEnabled ? 'on' : 'off'],
    ['identity', w.authEnabled ? w.identity : '(none: auth is off, every caller may do everything)'],
    ['via', w.via],
  ];
  if (path !== undefined) rows.push([`permissions on ${path}`, w.permissions.join(',') || '(none)']);
  return rows;
}

export const accessCommands: readonly CommandSpec[] = [
  {
    name: 'acl set',
    args: 'PATH IDENTITY=PERM[,PERM...] ...',
    summary: `Set the ACL on a subtree, replacing the one there (as in: acl set /app svc-a=read,write '*'=read). Permissions: ${PERMISSIONS.join(', ')}; '*' is every authenticated caller; a lock's permissions go on /conclave/locks/NAME. Needs admin on PATH.`,
    positionals: [2, 1 + GRANTS_MAX],
    run: async (ctx) => {
      const grants = parseGrants(ctx.args.slice(1));
      const res = await access(ctx, 'SetAcl', { path: PATH_ARG(ctx), grants: grants.map((g) => ({ identity: g.identity, permissions: [...g.permissions] })) });
      return printAcl(ctx, res as unknown as AclInfo);
    },
  },
  {
    name: 'acl get',
    args: 'PATH',
    summary: 'The ACL set exactly on PATH (inherited ones: acl list). Needs admin on PATH.',
    positionals: [1, 1],
    run: async (ctx) => printAcl(ctx, (await access(ctx, 'GetAcl', { path: PATH_ARG(ctx) })) as unknown as AclInfo),
  },
  {
    name: 'acl rm',
    args: 'PATH',
    summary: 'Remove the ACL set on PATH (NO_NODE if none). Needs admin on PATH.',
    positionals: [1, 1],
    run: async (ctx) => printRemoved(ctx, 'ACL', PATH_ARG(ctx), await access(ctx, 'RemoveAcl', { path: PATH_ARG(ctx) })),
  },
  {
    name: 'acl list',
    args: '',
    summary: 'Every ACL on a path you may administer: one row per grant.',
    positionals: [0, 0],
    run: async (ctx) => {
      const res = (await access(ctx, 'ListAcls')) as unknown as { acls: AclInfo[]; zxid: number };
      if (ctx.out.json) ctx.out.emit(res);
      else ctx.out.write(table(ctx.out, ['PATH', 'IDENTITY', 'PERMISSIONS'], res.acls.flatMap(aclRows)));
      return EXIT.OK;
    },
  },
  {
    name: 'quota set',
    args: 'PATH',
    summary: 'Limit the nodes (--nodes) and/or data bytes (--bytes) of the subtree at PATH, its root included; a create or set past it gets QUOTA_EXCEEDED. Needs admin on PATH.',
    options: {
      nodes: { type: 'string', description: 'most znodes in the subtree' },
      bytes: { type: 'string', description: 'most data bytes in the subtree' },
    },
    positionals: [1, 1],
    run: async (ctx) => {
      const nodes = ctx.values['nodes'];
      const bytes = ctx.values['bytes'];
      if (nodes === undefined && bytes === undefined) throw bad('quota set needs --nodes N, --bytes N or both');
      const req = {
        path: PATH_ARG(ctx),
        ...(typeof nodes === 'string' ? { maxNodes: intArg(nodes, '--nodes', 1) } : {}),
        ...(typeof bytes === 'string' ? { maxBytes: intArg(bytes, '--bytes', 0) } : {}),
      };
      return printQuota(ctx, (await access(ctx, 'SetQuota', req)) as unknown as QuotaInfo);
    },
  },
  {
    name: 'quota get',
    args: 'PATH',
    summary: 'The quota on PATH with the subtree\'s usage now. Needs read on PATH.',
    positionals: [1, 1],
    run: async (ctx) => printQuota(ctx, (await access(ctx, 'GetQuota', { path: PATH_ARG(ctx) })) as unknown as QuotaInfo),
  },
  {
    name: 'quota rm',
    args: 'PATH',
    summary: 'Remove the quota on PATH (NO_NODE if none). Needs admin on PATH.',
    positionals: [1, 1],
    run: async (ctx) => printRemoved(ctx, 'quota', PATH_ARG(ctx), await access(ctx, 'RemoveQuota', { path: PATH_ARG(ctx) })),
  },
  {
    name: 'quota list',
    args: '',
    summary: 'Every quota on a path you may read, with its usage.',
    positionals: [0, 0],
    run: async (ctx) => {
      const res = (await access(ctx, 'ListQuotas')) as unknown as { quotas: QuotaInfo[]; zxid: number };
      if (ctx.out.json) ctx.out.emit(res);
      else ctx.out.write(table(ctx.out, QUOTA_HEADERS, res.quotas.map(quotaRow)));
      return EXIT.OK;
    },
  },
  {
    name: 'auth whoami',
    args: '[PATH]',
    summary: 'Who the cluster takes you for (from --token or your client certificate) and, given PATH, your permissions there.',
    positionals: [0, 1],
    run: async (ctx) => {
      const path = ctx.args[0];
      const w = (await access(ctx, 'WhoAmI', { path: path ?? '' })) as unknown as WhoAmIResult;
      if (ctx.out.json) ctx.out.emit({ ...w, ...(path !== undefined ? { path } : {}) });
      else ctx.out.write(table(ctx.out, ['FIELD', 'VALUE'], whoAmIRows(w, path)));
      return EXIT.OK;
    },
  },
  {
    name: 'auth token',
    args: 'IDENTITY',
    summary: 'Print a bearer token for IDENTITY (use it as --token or CONCLAVE_TOKEN). With --secret-file, minted here with the cluster\'s token secret; else the cluster mints it (needs admin on /, e.g. root).',
    options: {
      ttl: { type: 'string', description: 'lifetime: 90s, 15m, 1h (default), 7d, or milliseconds' },
      'secret-file': { type: 'string', description: 'the cluster\'s --auth-token-secret-file: mint offline, without asking the cluster' },
    },
    positionals: [1, 1],
    run: async (ctx) => {
      const identity = ctx.args[0] as string;
      const { token, expiresAtMs } = await mintedToken(ctx);
      if (ctx.out.json) ctx.out.emit({ identity, token, expiresAtMs, expiresAt: new Date(expiresAtMs).toISOString() });
      else {
        ctx.out.write(`${token}\n`);
        if (process.stderr.isTTY) process.stderr.write(`token for ${identity}, valid until ${new Date(expiresAtMs).toISOString()}\n`);
      }
      return EXIT.OK;
    },
  },
];
