/**
 * Quotas, rate limits and the audit log against a real server: concurrent creates from several
 * sessions never take a subtree past its quota (nor does a Multi); a flooding session is
 * throttled with RATE_LIMITED while another session's requests go through; the audit log names
 * who did what to which path, and who was refused.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/security/tokens.js';
import { Client, Cluster, RpcError, rpcError, until } from '../integration/harness.js';

let cluster: Cluster | undefined;
let dir: string | undefined;
const opened: Client[] = [];

afterEach(async () => {
  for (const c of opened.splice(0)) c.close();
  await cluster?.stop();
  cluster = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

function client(token?: string): Client {
  const s = cluster?.servers[0];
  if (!s) throw new Error('no server');
  const c = new Client(`127.0.0.1:${s.member.clientPort}`, token === undefined ? {} : { token });
  opened.push(c);
  return c;
}

async function openSession(c: Client): Promise<number> {
  return (await c.call('Conclave', 'OpenSession', { timeoutMs: 10_000 }))['sessionId'] as number;
}

describe('quotas', () => {
  it('concurrent creates from several sessions never exceed a node quota, and a Multi is refused whole', async () => {
    cluster = await Cluster.start(1);
    await cluster.leader();
    const c = client();
    await c.call('Conclave', 'Create', { path: '/q', data: Buffer.alloc(0) });
    // 10 nodes in all, /q itself included: room for 9 children.
    const set = await c.call('Access', 'SetQuota', { path: '/q', maxNodes: 10, maxBytes: 1000 });
    expect(set).toMatchObject({ path: '/q', exists: true, maxNodes: 10, nodes: 1 });
    const sessions = await Promise.all([1, 2, 3].map(() => openSession(c)));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        c.call('Conclave', 'Create', { path: `/q/n${i}`, data: Buffer.from('x'), header: { sessionId: sessions[i % 3], seq: Math.floor(i / 3) + 1 } }).then(
          () => 'OK',
          (e: unknown) => (e instanceof RpcError ? e.code : String(e)),
        ),
      ),
    );
    expect(results.filter((r) => r === 'OK')).toHaveLength(9);
    expect(results.filter((r) => r !== 'OK').every((r) => r === 'QUOTA_EXCEEDED')).toBe(true);
    const names = (await c.call('Conclave', 'Children', { path: '/q' }))['names'] as string[];
    expect(names).toHaveLength(9);
    expect(await c.call('Access', 'GetQuota', { path: '/q' })).toMatchObject({ nodes: 10, bytes: 9 });

    // Delete one and create two in one multi: over by one, so nothing happens.
    const victim = `/q/${names[0]}`;
    const multi = await c.call('Conclave', 'Multi', { ops: [{ delete: { path: victim } }, { create: { path: '/q/a', data: Buffer.alloc(0) } }, { create: { path: '/q/b', data: Buffer.alloc(0) } }] });
    expect(multi['ok']).toBe(false);
    expect((multi['results'] as { code: string }[]).map((r) => r.code)).toContain('QUOTA_EXCEEDED');
    expect((await c.call('Conclave', 'Children', { path: '/q' }))['names']).toEqual(names);
    // Delete one and create one: fits.
    const fits = await c.call('Conclave', 'Multi', { ops: [{ delete: { path: victim } }, { create: { path: '/q/a', data: Buffer.alloc(0) } }] });
    expect(fits['ok']).toBe(true);
    // A byte quota: data past it is refused, a smaller set goes through.
    const big = await rpcError(c.call('Conclave', 'Set', { path: '/q', data: Buffer.alloc(2000) }));
    expect(big.code).toBe('QUOTA_EXCEEDED');
    expect(big.grpcCode).toBe(8);
    await c.call('Conclave', 'Set', { path: '/q', data: Buffer.alloc(100) });
  });
});

describe('rate limits', () => {
  it('throttles a flooding session with RATE_LIMITED while another session goes on', async () => {
    cluster = await Cluster.start(1, ['--session-rate-ops', '50']);
    await cluster.leader();
    const c = client();
    const noisy = await openSession(c);
    const quiet = await openSession(c);
    const outcome = (p: Promise<unknown>): Promise<string> => p.then(
      () => 'OK',
      (e: unknown) => (e instanceof RpcError ? e.code : String(e)),
    );
    // Writes name their session in the header: the flood is charged to the noisy session alone.
    const flood = await Promise.all(
      Array.from({ length: 300 }, (_, i) => outcome(c.call('Conclave', 'Create', { path: `/noisy-${i}`, header: { sessionId: noisy, seq: 0 } }))),
    );
    const throttled = flood.filter((r) => r === 'RATE_LIMITED').length;
    expect(throttled).toBeGreaterThan(150);
    expect(flood.filter((r) => r !== 'RATE_LIMITED' && r !== 'OK')).toEqual([]);
    // The other session is not throttled by its neighbour's flood, and keep-alives are never throttled.
    const quietWrites = await Promise.all(
      Array.from({ length: 40 }, (_, i) => outcome(c.call('Conclave', 'Create', { path: `/quiet-${i}`, header: { sessionId: quiet, seq: 0 } }))),
    );
    expect(quietWrites.filter((r) => r !== 'OK')).toEqual([]);
    for (let i = 0; i < 100; i++) await c.call('Conclave', 'KeepAlive', { sessionId: noisy });
    const err = await rpcError(Promise.all(Array.from({ length: 100 }, (_, i) => c.call('Conclave', 'Create', { path: `/again-${i}`, header: { sessionId: noisy, seq: 0 } }))));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.message).toMatch(/retry in \d+ ms/);
    const metrics = await fetch(`http://127.0.0.1:${cluster.servers[0]?.metricsPort()}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/conclave_throttled_requests_total\{reason="ops"\} [1-9]/);
    // Status polls and health probes from a busy host are never throttled (a CI run once failed
    // because the harness's leader poll, every 5 ms, had spent the host's budget).
    const polls = await Promise.all(Array.from({ length: 200 }, () => outcome(c.call('Cluster', 'Status', {}))));
    expect(polls.filter((r) => r !== 'OK')).toEqual([]);
  });

  it('charges reads on a session stream to the session it serves, not to the client host', async () => {
    cluster = await Cluster.start(1, ['--session-rate-ops', '50']);
    await cluster.leader();
    const c = client();
    const noisy = c.stream();
    const quiet = c.stream();
    for (const s of [noisy, quiet]) expect((await s.request('openSession', { timeoutMs: 10_000 }))['openSession']).toMatchObject({ sessionId: expect.any(Number) });
    const codes = (frames: Record<string, unknown>[]): string[] => frames.map((f) => (f['error'] as { code?: string } | undefined)?.code ?? 'OK');
    // Reads name no session; on a stream they are charged to the session the stream opened.
    const flood = codes(await Promise.all(Array.from({ length: 300 }, () => noisy.request('get', { path: '/' }))));
    expect(flood.filter((r) => r === 'RATE_LIMITED').length).toBeGreaterThan(150);
    expect(flood.filter((r) => r !== 'RATE_LIMITED' && r !== 'OK')).toEqual([]);
    // Before the reads were charged per session, the neighbour's flood throttled these too.
    const quietReads = codes(await Promise.all(Array.from({ length: 40 }, () => quiet.request('get', { path: '/' }))));
    expect(quietReads.filter((r) => r !== 'OK')).toEqual([]);
    noisy.end();
    quiet.end();
  });
});

describe('audit log', () => {
  it('records who changed what, and who was refused, as JSON lines', async () => {
    dir = await mkdtemp(join(tmpdir(), 'conclave-audit-'));
    const secret = Buffer.alloc(32, 3);
    await writeFile(join(dir, 'secret'), secret);
    const auditFile = join(dir, 'audit.log');
    cluster = await Cluster.start(1, ['--auth', 'on', '--auth-token-secret-file', join(dir, 'secret'), '--audit-log', auditFile]);
    await cluster.leader();
    const root = client(mintToken(secret, 'root', 60_000, Date.now()));
    const app = client(mintToken(secret, 'app', 60_000, Date.now()));
    await root.call('Conclave', 'Create', { path: '/audited', data: Buffer.from('x') });
    await root.call('Conclave', 'Get', { path: '/audited' });
    expect((await rpcError(app.call('Conclave', 'Set', { path: '/audited', data: Buffer.from('y') }))).code).toBe('PERMISSION_DENIED');
    expect((await rpcError(client().call('Conclave', 'Get', { path: '/audited' }))).code).toBe('UNAUTHENTICATED');
    const lines = await until('the audit lines', async () => {
      const text = await readFile(auditFile, 'utf8').catch(() => '');
      const parsed = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      return parsed.length >= 3 ? parsed : undefined;
    });
    expect(lines).toContainEqual(expect.objectContaining({ identity: 'root', via: 'token', op: 'Create', path: '/audited', result: 'OK' }));
    expect(lines).toContainEqual(expect.objectContaining({ identity: 'app', op: 'Set', path: '/audited', result: 'PERMISSION_DENIED' }));
    expect(lines).toContainEqual(expect.objectContaining({ identity: null, op: 'Get', result: 'UNAUTHENTICATED' }));
    // Successful reads are not audited.
    expect(lines.filter((l) => l['op'] === 'Get' && l['result'] === 'OK')).toEqual([]);
  });
});
