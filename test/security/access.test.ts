/**
 * Identities × permissions × operations against a real server with auth on (bearer tokens): every
 * allowed operation works; every denied one gets PERMISSION_DENIED and changes nothing (the state
 * digest is unchanged); nothing leaks through children listings, watches or errors; a caller
 * without valid credentials gets UNAUTHENTICATED on every kind of call.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/security/tokens.js';
import { Client, Cluster, RpcError, rpcError, until } from '../integration/harness.js';

const SECRET = Buffer.alloc(48, 0x5a);
const token = (identity: string, ttlMs = 600_000): string => mintToken(SECRET, identity, ttlMs, Date.now());

let cluster: Cluster;
let dir: string;
const opened: Client[] = [];
function as(identity: string | undefined, t = identity === undefined ? undefined : token(identity)): Client {
  const s = cluster.servers[0];
  if (!s) throw new Error('no server');
  const c = new Client(`127.0.0.1:${s.member.clientPort}`, t === undefined ? {} : { token: t });
  opened.push(c);
  return c;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conclave-access-'));
  await writeFile(join(dir, 'secret'), SECRET);
  cluster = await Cluster.start(1, ['--auth', 'on', '--auth-token-secret-file', join(dir, 'secret')]);
  await cluster.leader();
  const root = as('root');
  for (const p of ['/app', '/app/data', '/app/pub', '/app/secret', '/other']) await root.call('Conclave', 'Create', { path: p, data: Buffer.from('seed') });
  // The grants under test: inherited down each subtree, additive across ACLs.
  const acl = (path: string, grants: [string, string[]][]): Promise<unknown> => root.call('Access', 'SetAcl', { path, grants: grants.map(([identity, permissions]) => ({ identity, permissions })) });
  await acl('/app', [['reader', ['read']], ['writer', ['read', 'write', 'create', 'delete']], ['appadmin', ['admin']]]);
  await acl('/app/pub', [['pubreader', ['read']]]);
  await acl('/other', [['pubreader', ['read']]]);
  await acl('/conclave/locks/jobs', [['locker', ['lock', 'read']]]);
}, 60_000);

afterAll(async () => {
  for (const c of opened) c.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function digest(): Promise<number> {
  return Number((await as('root').call('Cluster', 'Status', {}))['digest']);
}

/** The operations of the matrix: each against its path, and the permission it needs there. */
interface Op {
  readonly name: string;
  readonly perm: string;
  readonly path: string;
  /** Done by root before the state is compared. */
  setup?(i: number): Promise<unknown>;
  run(c: Client, i: number): Promise<unknown>;
}

const OPS: readonly Op[] = [
  { name: 'create', perm: 'create', path: '/app/data', run: (c, i) => c.call('Conclave', 'Create', { path: `/app/data/n${i}`, data: Buffer.from('x') }) },
  { name: 'get', perm: 'read', path: '/app/data', run: (c) => c.call('Conclave', 'Get', { path: '/app/data' }) },
  { name: 'exists', perm: 'read', path: '/app/data', run: (c) => c.call('Conclave', 'Exists', { path: '/app/data' }) },
  { name: 'children', perm: 'read', path: '/app', run: (c) => c.call('Conclave', 'Children', { path: '/app' }) },
  { name: 'set', perm: 'write', path: '/app/data', run: (c) => c.call('Conclave', 'Set', { path: '/app/data', data: Buffer.from('changed') }) },
  { name: 'multi', perm: 'create', path: '/app/data', run: (c, i) => c.call('Conclave', 'Multi', { ops: [{ create: { path: `/app/data/m${i}`, data: Buffer.from('m') } }, { check: { path: '/app/data' } }] }) },
  {
    name: 'delete',
    perm: 'delete',
    path: '/app/data',
    setup: (i) => as('root').call('Conclave', 'Create', { path: `/app/data/d${i}`, data: Buffer.alloc(0) }),
    run: (c, i) => c.call('Conclave', 'Delete', { path: `/app/data/d${i}` }),
  },
  { name: 'setAcl', perm: 'admin', path: '/app/data', run: (c) => c.call('Access', 'SetAcl', { path: '/app/data', grants: [{ identity: 'x', permissions: ['read'] }] }) },
  { name: 'getQuota', perm: 'read', path: '/app', run: (c) => c.call('Access', 'GetQuota', { path: '/app' }) },
  {
    name: 'lock',
    perm: 'lock',
    path: '/conclave/locks/jobs',
    run: async (c) => {
      const s = (await c.call('Conclave', 'OpenSession', { timeoutMs: 5000 }))['sessionId'] as number;
      try {
        return await c.call('Locks', 'Acquire', { name: 'jobs', header: { sessionId: s } });
      } finally {
        await c.call('Conclave', 'CloseSession', { sessionId: s });
      }
    },
  },
  { name: 'describeLock', perm: 'read', path: '/conclave/locks/jobs', run: (c) => c.call('Locks', 'Describe', { name: 'jobs' }) },
  { name: 'memberRemove', perm: 'admin', path: '/', run: (c) => c.call('Cluster', 'MemberRemove', { id: 99 }) },
];

/** What each identity was granted above (root: everything). */
const GRANTS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  reader: { '/app': ['read'] },
  writer: { '/app': ['read', 'write', 'create', 'delete'] },
  appadmin: { '/app': ['admin'] },
  pubreader: { '/app/pub': ['read'], '/other': ['read'] },
  locker: { '/conclave/locks/jobs': ['lock', 'read'] },
  nobody: {},
};

function allowed(identity: string, perm: string, path: string): boolean {
  if (identity === 'root') return true;
  return Object.entries(GRANTS[identity] ?? {}).some(([root, perms]) => (path === root || path.startsWith(`${root}/`) || root === '/') && perms.includes(perm));
}

describe('access control', () => {
  it('allows exactly what the ACLs grant, and a denied operation changes nothing', async () => {
    let i = 0;
    const outcomes: string[] = [];
    for (const identity of ['root', ...Object.keys(GRANTS)]) {
      const c = as(identity);
      for (const op of OPS) {
        i++;
        const expected = allowed(identity, op.perm, op.path);
        await op.setup?.(i);
        const before = await digest();
        const err = await op.run(c, i).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (expected) {
          // Allowed: it may still fail for its own reasons (removing a member that does not exist), never for permissions.
          const code = err instanceof RpcError ? err.code : err === undefined ? 'OK' : String(err);
          outcomes.push(`${identity} ${op.name}: ${code}`);
          expect(code, `${identity} ${op.name}`).not.toBe('PERMISSION_DENIED');
          if (op.name !== 'memberRemove') expect(code, `${identity} ${op.name}`).toBe('OK');
        } else {
          expect(err, `${identity} ${op.name} should be denied`).toBeInstanceOf(RpcError);
          expect((err as RpcError).code, `${identity} ${op.name}`).toBe('PERMISSION_DENIED');
          expect((err as RpcError).grpcCode).toBe(7);
          expect(await digest(), `${identity} ${op.name} changed the state`).toBe(before);
        }
      }
    }
    expect(outcomes.length).toBeGreaterThan(20);
  });

  it('a denied caller cannot tell an existing node from a missing one', async () => {
    const c = as('pubreader');
    const existing = await rpcError(c.call('Conclave', 'Get', { path: '/app/secret' }));
    const missing = await rpcError(c.call('Conclave', 'Get', { path: '/app/nothing-here' }));
    expect([existing.code, missing.code]).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    expect(existing.message.replace('/app/secret', 'P')).toBe(missing.message.replace('/app/nothing-here', 'P'));
    const createExisting = await rpcError(c.call('Conclave', 'Create', { path: '/app/secret', data: Buffer.alloc(0) }));
    const createMissing = await rpcError(c.call('Conclave', 'Create', { path: '/app/nothing-here/x', data: Buffer.alloc(0) }));
    expect([createExisting.code, createMissing.code]).toEqual(['PERMISSION_DENIED', 'PERMISSION_DENIED']);
    // A listing of a parent it may not read is refused as a whole, not filtered to what it may see.
    expect((await rpcError(c.call('Conclave', 'Children', { path: '/app' }))).code).toBe('PERMISSION_DENIED');
    expect((await c.call('Conclave', 'Children', { path: '/app/pub' }))['names']).toEqual([]);
  });

  it('watches deliver no event for a path the watcher may not read, including after a revoke', async () => {
    const root = as('root');
    const refused = as('pubreader').stream();
    const denied = await refused.request('watch', { path: '/app', mode: 'PERSISTENT_RECURSIVE' });
    expect((denied['error'] as { code: string }).code).toBe('PERMISSION_DENIED');

    const s = as('pubreader').stream();
    const started = await s.request('watch', { path: '/app/pub', mode: 'PERSISTENT_RECURSIVE' });
    expect(started['watchStarted']).toBeDefined();
    await root.call('Conclave', 'Create', { path: '/app/secret/hidden', data: Buffer.from('s') });
    await root.call('Conclave', 'Create', { path: '/app/pub/seen', data: Buffer.from('p') });
    await until('the visible event', () => s.pushed.some((f) => (f['event'] as { path?: string } | undefined)?.path === '/app/pub/seen'));
    // Revoked: later events under /app/pub are no longer delivered to it.
    await root.call('Access', 'SetAcl', { path: '/app/pub', grants: [] });
    await root.call('Conclave', 'Create', { path: '/app/pub/after-revoke', data: Buffer.from('p') });
    // A later event it may still see: events arrive in zxid order, so once it has this one, the revoked one is not coming.
    expect((await s.request('watch', { path: '/other', mode: 'PERSISTENT_RECURSIVE' }))['watchStarted']).toBeDefined();
    await root.call('Conclave', 'Create', { path: '/other/marker', data: Buffer.from('m') });
    await until('the marker event', () => s.pushed.some((f) => (f['event'] as { path?: string } | undefined)?.path === '/other/marker'));
    const paths = s.pushed.map((f) => (f['event'] as { path?: string } | undefined)?.path).filter((p) => p !== undefined);
    expect(paths).toContain('/app/pub/seen');
    expect(paths.some((p) => p.startsWith('/app/secret'))).toBe(false);
    expect(paths).not.toContain('/app/pub/after-revoke');
    await root.call('Access', 'SetAcl', { path: '/app/pub', grants: [{ identity: 'pubreader', permissions: ['read'] }] });
  });

  it('refuses a caller without valid credentials on unary calls, streams and watches', async () => {
    const none = as(undefined);
    expect((await rpcError(none.call('Conclave', 'Get', { path: '/app' }))).code).toBe('UNAUTHENTICATED');
    expect((await rpcError(none.call('Conclave', 'Get', { path: '/app' }))).grpcCode).toBe(16);
    const expired = as('root', mintToken(SECRET, 'root', 1, Date.now() - 10_000));
    expect((await rpcError(expired.call('Conclave', 'Get', { path: '/app' }))).code).toBe('UNAUTHENTICATED');
    const forged = as('root', mintToken(Buffer.alloc(48, 1), 'root', 600_000, Date.now()));
    expect((await rpcError(forged.call('Conclave', 'Create', { path: '/forged', data: Buffer.alloc(0) }))).code).toBe('UNAUTHENTICATED');
    const stream = none.stream();
    await until('the stream to be refused', () => stream.error !== undefined);
    expect(stream.error?.code).toBe('UNAUTHENTICATED');
    expect((await rpcError(none.serverStream('Conclave', 'Watch', { path: '/app' }))).code).toBe('UNAUTHENTICATED');
    // Status stays open for probes and tools, and shows no znode data.
    expect((await none.call('Cluster', 'Status', {}))['role']).toBe('leader');
    expect((await as('root').call('Conclave', 'Exists', { path: '/forged' }))['exists']).toBe(false);
  });

  it('a session is usable only by the identity that opened it (its id is no secret)', async () => {
    const reader = as('reader');
    const sessionId = (await reader.call('Conclave', 'OpenSession', { timeoutMs: 10_000 }))['sessionId'] as number;
    const writer = as('writer');
    const before = await digest();
    // The writer may create under /app/data, but not an ephemeral owned by the reader's session.
    const steal = await rpcError(writer.call('Conclave', 'Create', { path: '/app/data/stolen', data: Buffer.alloc(0), kind: 'EPHEMERAL', header: { sessionId, seq: 1 } }));
    expect(steal.code).toBe('PERMISSION_DENIED');
    expect((await rpcError(writer.call('Conclave', 'KeepAlive', { sessionId }))).code).toBe('PERMISSION_DENIED');
    expect((await rpcError(writer.call('Conclave', 'CloseSession', { sessionId }))).code).toBe('PERMISSION_DENIED');
    expect(await digest()).toBe(before);
    await reader.call('Conclave', 'KeepAlive', { sessionId });
    await reader.call('Conclave', 'CloseSession', { sessionId });
  });

  it('tells a caller who it is and what it may do, and mints tokens for root only', async () => {
    const me = await as('writer').call('Access', 'WhoAmI', { path: '/app/data' });
    expect(me).toMatchObject({ authEnabled: true, identity: 'writer', via: 'token' });
    expect([...(me['permissions'] as string[])].sort()).toEqual(['create', 'delete', 'read', 'write']);
    expect((await rpcError(as('writer').call('Access', 'MintToken', { identity: 'root', ttlMs: 60_000 }))).code).toBe('PERMISSION_DENIED');
    const minted = (await as('root').call('Access', 'MintToken', { identity: 'reader', ttlMs: 60_000 }))['token'] as string;
    expect((await as('reader', minted).call('Access', 'WhoAmI', {}))['identity']).toBe('reader');
  });
});
