/**
 * The `conclave acl`, `quota` and `auth` commands and `--token`, with the real binary against a
 * server with auth on (bearer tokens): tokens minted offline and by the server, ACLs and quotas
 * set, read, listed and removed, refusals with their typed code and exit code 6 that change
 * nothing, and bad usage refused with exit code 2 before anything is sent.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, verifyToken } from '../../src/security/tokens.js';
import { Cluster } from '../integration/harness.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const SECRET = Buffer.alloc(40, 0x4b);
let cluster: Cluster;
let dir: string;
let secretFile: string;
let env: NodeJS.ProcessEnv;
let rootToken: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end();
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** As root (its token in CONCLAVE_TOKEN), `--json`: the one document printed. */
async function asRoot(args: readonly string[]): Promise<Record<string, any>> {
  const r = await run([...args, '--json'], { CONCLAVE_TOKEN: rootToken });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, any>;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conclave-cli-access-'));
  secretFile = join(dir, 'token-secret');
  await writeFile(secretFile, SECRET);
  cluster = await Cluster.start(1, ['--auth', 'on', '--auth-token-secret-file', secretFile]);
  await cluster.leader();
  env = { ...process.env, CONCLAVE_ENDPOINTS: `127.0.0.1:${cluster.servers[0]?.member.clientPort}` };
  for (const k of ['CONCLAVE_TOKEN', 'CONCLAVE_TLS_CA', 'CONCLAVE_TLS_CERT', 'CONCLAVE_TLS_KEY', 'CONCLAVE_TLS_SERVER_NAME']) delete env[k];
  rootToken = mintToken(SECRET, 'root', 600_000, Date.now());
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('conclave auth', () => {
  it('mints a token offline with --secret-file that the cluster accepts, with --token or CONCLAVE_TOKEN', async () => {
    const r = await run(['auth', 'token', 'root', '--secret-file', secretFile, '--ttl', '15m']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cv1\.[\w-]+\.[\w-]+\n$/);
    const token = r.stdout.trim();
    const claims = verifyToken(SECRET, token, Date.now());
    expect(claims.identity).toBe('root');
    expect(Math.abs(claims.expiresAtMs - (Date.now() + 15 * 60_000))).toBeLessThan(60_000);
    const who = await run(['auth', 'whoami', '/', '--token', token, '--json']);
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ authEnabled: true, identity: 'root', via: 'token', path: '/', permissions: ['read', 'write', 'create', 'delete', 'admin', 'lock'] });
    const human = await run(['auth', 'whoami'], { CONCLAVE_TOKEN: token });
    expect(human.stdout).toMatch(/^FIELD\s+VALUE\nauth\s+on\nidentity\s+root\nvia\s+token\n$/);
  });

  it('asks the cluster for a token without --secret-file (root may), and refuses others', async () => {
    const minted = await asRoot(['auth', 'token', 'svc-a', '--ttl', '90s']);
    expect(minted).toMatchObject({ identity: 'svc-a' });
    expect(verifyToken(SECRET, minted['token'] as string, Date.now()).identity).toBe('svc-a');
    expect(Math.abs((minted['expiresAtMs'] as number) - (Date.now() + 90_000))).toBeLessThan(30_000);
    const byOther = await run(['auth', 'token', 'root'], { CONCLAVE_TOKEN: minted['token'] as string });
    expect(byOther.code).toBe(6);
    expect(byOther.stderr).toMatch(/^conclave: PERMISSION_DENIED: /);
    expect(byOther.stdout).toBe('');
  });
});

describe('conclave acl and quota', () => {
  it('sets, gets, lists and removes ACLs', async () => {
    const set = await run(['acl', 'set', '/app', 'svc-a=write,read', '*=read'], { CONCLAVE_TOKEN: rootToken });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^PATH\s+IDENTITY\s+PERMISSIONS\n\/app\s+\*\s+read\n\/app\s+svc-a\s+read,write\n$/);
    expect(await asRoot(['acl', 'get', '/app'])).toMatchObject({
      path: '/app',
      exists: true,
      grants: expect.arrayContaining([{ identity: 'svc-a', permissions: ['read', 'write'] }, { identity: '*', permissions: ['read'] }]),
    });
    await asRoot(['acl', 'set', '/conclave/locks/jobs', 'svc-b=lock']);
    const list = await asRoot(['acl', 'list']);
    expect(list['acls'].map((a: { path: string }) => a.path).sort()).toEqual(['/app', '/conclave/locks/jobs']);
    // What svc-a may do under /app now: inherited by the subtree.
    const svcA = mintToken(SECRET, 'svc-a', 60_000, Date.now());
    const who = await run(['auth', 'whoami', '/app/deep/node', '--json', '--token', svcA]);
    expect(JSON.parse(who.stdout)).toMatchObject({ identity: 'svc-a', permissions: ['read', 'write'] });
    expect(await asRoot(['acl', 'rm', '/conclave/locks/jobs'])).toMatchObject({ path: '/conclave/locks/jobs', zxid: expect.any(Number) });
    expect(await asRoot(['acl', 'get', '/conclave/locks/jobs'])).toMatchObject({ exists: false, grants: [] });
    const again = await run(['acl', 'rm', '/conclave/locks/jobs'], { CONCLAVE_TOKEN: rootToken });
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/^conclave: NO_NODE: /);
    expect((await run(['acl', 'get', '/nowhere'], { CONCLAVE_TOKEN: rootToken })).stdout).toContain('no ACL is set on /nowhere');
  });

  it('sets, gets, lists and removes quotas, and a write past one is refused', async () => {
    const set = await run(['quota', 'set', '/q', '--nodes', '2', '--bytes', '100'], { CONCLAVE_TOKEN: rootToken });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^PATH\s+NODES\s+MAX_NODES\s+BYTES\s+MAX_BYTES\n\/q\s+0\s+2\s+0\s+100\n$/);
    expect((await run(['create', '/q', 'abc'], { CONCLAVE_TOKEN: rootToken })).code).toBe(0);
    expect(await asRoot(['quota', 'get', '/q'])).toMatchObject({ path: '/q', exists: true, maxNodes: 2, maxBytes: 100, nodes: 1, bytes: 3 });
    await asRoot(['create', '/q/a']);
    const over = await run(['create', '/q/b'], { CONCLAVE_TOKEN: rootToken });
    expect(over.code).toBe(6);
    expect(over.stderr).toMatch(/^conclave: QUOTA_EXCEEDED: /);
    expect((await run(['get', '/q/b'], { CONCLAVE_TOKEN: rootToken })).code).toBe(3);
    expect((await asRoot(['quota', 'list']))['quotas']).toEqual([expect.objectContaining({ path: '/q', nodes: 2 })]);
    await asRoot(['quota', 'set', '/q', '--nodes', '10']);
    const only = await asRoot(['quota', 'get', '/q']);
    expect(only['maxNodes']).toBe(10);
    expect(only['maxBytes']).toBeUndefined();
    expect(await asRoot(['quota', 'rm', '/q'])).toMatchObject({ path: '/q' });
    expect(await asRoot(['quota', 'list'])).toMatchObject({ quotas: [] });
    expect((await run(['quota', 'get', '/q'], { CONCLAVE_TOKEN: rootToken })).stdout).toBe('no quota is set on /q\n');
  });
});

describe('refusals', () => {
  it('refuses a create without the permission with PERMISSION_DENIED and exit 6, and creates nothing', async () => {
    await asRoot(['create', '/locked']);
    const bob = mintToken(SECRET, 'bob', 60_000, Date.now());
    const r = await run(['create', '/locked/by-bob', 'x', '--token', bob]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^conclave: PERMISSION_DENIED: bob may not create \/locked\/by-bob/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const gone = await run(['get', '/locked/by-bob'], { CONCLAVE_TOKEN: rootToken });
    expect(gone.code).toBe(3);
    const acl = await run(['acl', 'set', '/locked', 'bob=admin', '--token', bob]);
    expect(acl.code).toBe(6);
    expect(acl.stderr).toMatch(/^conclave: PERMISSION_DENIED: /);
    expect(await asRoot(['acl', 'get', '/locked'])).toMatchObject({ exists: false });
  });

  it('refuses a caller without a token, or with a bad one, with UNAUTHENTICATED and exit 6', async () => {
    const cases = [
      [['ls', '/'], {}],
      [['create', '/anon'], {}],
      [['acl', 'list'], {}],
      [['auth', 'whoami'], {}],
      [['ls', '/'], { CONCLAVE_TOKEN: mintToken(Buffer.alloc(40, 1), 'root', 60_000, Date.now()) }],
    ] as const;
    const runs = await Promise.all(cases.map(([args, extra]) => run(args, extra)));
    runs.forEach((r, i) => {
      expect(r.code, `${cases[i]?.[0].join(' ')}: ${r.stderr}`).toBe(6);
      expect(r.stderr).toMatch(/^conclave: UNAUTHENTICATED: /);
    });
    expect((await run(['get', '/anon'], { CONCLAVE_TOKEN: rootToken })).code).toBe(3);
  });

  it('refuses bad usage with exit 2 and a clear message, sending nothing', async () => {
    const cases = [
      [['acl', 'set', '/x', 'bob=fly'], 'unknown permission "fly" in "bob=fly"; known: read, write, create, delete, admin, lock'],
      [['acl', 'set', '/x', 'bob'], 'grant "bob" must be IDENTITY=PERM[,PERM...]'],
      [['acl', 'set', '/x', 'bob='], 'names no permission'],
      [['acl', 'set', '/x', 'bob=read', 'bob=write'], 'identity "bob" is given twice'],
      [['acl', 'set', '/x'], 'acl set takes 2 to'],
      [['acl', 'get'], 'acl get takes 1 argument'],
      [['quota', 'set', '/x'], 'quota set needs --nodes N, --bytes N or both'],
      [['quota', 'set', '/x', '--nodes', 'many'], '--nodes must be an integer'],
      [['auth', 'token', 'bob', '--ttl', '10y', '--secret-file', 'unused'], '--ttl must be a duration like 90s, 15m, 1h, 7d'],
      [['auth', 'token', 'bob', '--ttl', '400d'], '--ttl must be at most 366 days'],
      [['auth', 'token', 'bob', '--secret-file', '/nonexistent/secret'], 'cannot read --secret-file /nonexistent/secret'],
      [['auth', 'token', 'bad identity', '--secret-file', secretFile], 'identity "bad identity" may hold only'],
      [['ls', '/', '--token', 'two words'], '--token (or CONCLAVE_TOKEN) must be one word'],
    ] as const;
    const runs = await Promise.all(cases.map(([args]) => run(args, { CONCLAVE_TOKEN: rootToken })));
    runs.forEach((r, i) => {
      const [args, message] = cases[i] as (typeof cases)[number];
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/^conclave: BAD_ARGUMENTS: /);
      expect(r.stderr).toContain(message);
    });
    expect(await asRoot(['acl', 'get', '/x'])).toMatchObject({ exists: false });
    expect(await asRoot(['quota', 'get', '/x'])).toMatchObject({ exists: false });
  });
});
