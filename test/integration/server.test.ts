/**
 * Real `conclave server` processes on 127.0.0.1: the tree operations round trip with ZooKeeper's
 * semantics and typed errors, sessions own ephemerals that vanish on close and on expiry (and not
 * before), data survives SIGKILL, and a 3-member cluster keeps every acknowledged write when its
 * leader is killed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, Cluster, TestClients, rpcError, until } from './harness.js';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');
let cluster: Cluster | undefined;
const clients = new TestClients();

afterEach(async () => {
  clients.closeAll();
  await cluster?.stop();
  cluster = undefined;
});

function client(c: Cluster, id: number): Client {
  return clients.of(c, id);
}


describe('a single-node server', () => {
  it('creates, reads, updates, lists and deletes znodes with exact stats', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    const created = await c.call('Conclave', 'Create', { path: '/app', data: enc('v1') });
    expect(created['path']).toBe('/app');
    const zxid = created['zxid'] as number;
    expect(created['stat']).toMatchObject({ czxid: zxid, mzxid: zxid, version: 0, dataLength: 2, numChildren: 0 });
    const got = await c.call('Conclave', 'Get', { path: '/app' });
    expect(Buffer.from(got['data'] as Uint8Array).toString()).toBe('v1');
    const set = await c.call('Conclave', 'Set', { path: '/app', data: enc('v2'), expectedVersion: 0 });
    expect(set['stat']).toMatchObject({ version: 1, czxid: zxid });
    const s1 = await c.call('Conclave', 'Create', { path: '/app/job-', data: enc(''), sequential: true });
    const s2 = await c.call('Conclave', 'Create', { path: '/app/job-', data: enc(''), sequential: true });
    expect(s1['path']).toBe('/app/job-0000000000');
    expect(s2['path']).toBe('/app/job-0000000001');
    const kids = await c.call('Conclave', 'Children', { path: '/app', consistency: 'SERIALIZABLE' });
    expect(kids['names']).toEqual(['job-0000000000', 'job-0000000001']);
    expect(kids['stat']).toMatchObject({ cversion: 2, numChildren: 2 });
    await c.call('Conclave', 'Delete', { path: '/app/job-0000000000', expectedVersion: -1 });
    expect((await c.call('Conclave', 'Exists', { path: '/app/job-0000000000' }))['exists']).toBe(false);
    const sync = await c.call('Conclave', 'Sync', {});
    expect(sync['zxid']).toBeGreaterThan(zxid);
  });

  it('refuses bad input with typed errors and changes nothing', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    await c.call('Conclave', 'Create', { path: '/a', data: enc('x') });
    const before = await c.call('Cluster', 'Status', {});
    const cases: Array<[string, string, object, string]> = [
      ['Create', 'relative path', { path: 'a' }, 'BAD_PATH'],
      ['Create', 'trailing slash', { path: '/a/' }, 'BAD_PATH'],
      ['Create', 'dot segment', { path: '/a/../b' }, 'BAD_PATH'],
      ['Create', 'empty segment', { path: '/a//b' }, 'BAD_PATH'],
      ['Create', 'control character', { path: '/a\u0001' }, 'BAD_PATH'],
      ['Create', 'no parent', { path: '/missing/child' }, 'NO_NODE'],
      ['Create', 'exists', { path: '/a' }, 'NODE_EXISTS'],
      ['Create', 'ephemeral without session', { path: '/e', kind: 'EPHEMERAL' }, 'BAD_ARGUMENTS'],
      ['Create', 'data too large', { path: '/big', data: Buffer.alloc(1024 * 1024 + 1) }, 'DATA_TOO_LARGE'],
      ['Set', 'wrong version', { path: '/a', data: enc('y'), expectedVersion: 7 }, 'BAD_VERSION'],
      ['Set', 'missing node', { path: '/nope', data: enc('y'), expectedVersion: -1 }, 'NO_NODE'],
      ['Delete', 'root', { path: '/', expectedVersion: -1 }, 'BAD_ARGUMENTS'],
      ['Get', 'missing node', { path: '/nope' }, 'NO_NODE'],
      ['KeepAlive', 'unknown session', { sessionId: 12345 }, 'SESSION_EXPIRED'],
    ];
    for (const [method, what, req, code] of cases) {
      const err = await rpcError(c.call('Conclave', method, req));
      expect(err.code, `${method} ${what}`).toBe(code);
    }
    const a = await c.call('Conclave', 'Get', { path: '/a' });
    expect(Buffer.from(a['data'] as Uint8Array).toString()).toBe('x');
    expect((a['stat'] as { version: number }).version).toBe(0);
    // Refused requests never reached the log; the state-machine refusals applied nothing.
    const after = await c.call('Cluster', 'Status', {});
    expect((after['zxid'] as number) - (before['zxid'] as number)).toBeLessThanOrEqual(6);
  });

  it('ephemerals vanish when their session closes, and when it expires — not before', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    const s = await c.call('Conclave', 'OpenSession', { timeoutMs: 1000 });
    const sessionId = s['sessionId'] as number;
    await c.call('Conclave', 'Create', { path: '/e1', kind: 'EPHEMERAL', header: { sessionId, seq: 1 } });
    const closed = await c.call('Conclave', 'CloseSession', { sessionId });
    expect(closed['deleted']).toEqual(['/e1']);
    expect((await c.call('Conclave', 'Exists', { path: '/e1' }))['exists']).toBe(false);

    const s2 = await c.call('Conclave', 'OpenSession', { timeoutMs: 1000 });
    const id2 = s2['sessionId'] as number;
    await c.call('Conclave', 'Create', { path: '/e2', kind: 'EPHEMERAL', header: { sessionId: id2, seq: 1 } });
    // Kept alive for well past its timeout: still there.
    const keepUntil = Date.now() + 2500;
    while (Date.now() < keepUntil) {
      await c.call('Conclave', 'KeepAlive', { sessionId: id2 });
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await c.call('Conclave', 'Exists', { path: '/e2' }))['exists']).toBe(true);
    // Abandoned: it expires and its ephemeral goes with it.
    await until('the ephemeral of the expired session to vanish', async () => !(await c.call('Conclave', 'Exists', { path: '/e2' }))['exists']);
    expect((await rpcError(c.call('Conclave', 'KeepAlive', { sessionId: id2 }))).code).toBe('SESSION_EXPIRED');
  });

  it('removes a container once its last child goes, and a TTL node left unchanged for its TTL', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    await c.call('Conclave', 'Create', { path: '/jobs', kind: 'CONTAINER' });
    await c.call('Conclave', 'Create', { path: '/jobs/j1' });
    await c.call('Conclave', 'Create', { path: '/lease', kind: 'TTL', ttlMs: 500 });
    await c.call('Conclave', 'Delete', { path: '/jobs/j1', expectedVersion: -1 });
    await until('the empty container to go', async () => !(await c.call('Conclave', 'Exists', { path: '/jobs' }))['exists']);
    await until('the TTL node to expire', async () => !(await c.call('Conclave', 'Exists', { path: '/lease' }))['exists']);
  });

  it('reports health over the standard gRPC health protocol', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    await until('SERVING', async () => (await c.call('Health', 'Check', { service: '' }))['status'] === 'SERVING');
    expect((await c.call('Health', 'Check', { service: 'nope' }))['status']).toBe('SERVICE_UNKNOWN');
  });

  it('a retried write with the same request id is applied once', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    const s = await c.call('Conclave', 'OpenSession', { timeoutMs: 5000 });
    const header = { sessionId: s['sessionId'] as number, seq: 1 };
    const first = await c.call('Conclave', 'Create', { path: '/q-', sequential: true, header });
    const retry = await c.call('Conclave', 'Create', { path: '/q-', sequential: true, header });
    expect(retry['path']).toBe(first['path']);
    expect((await c.call('Conclave', 'Children', { path: '/' }))['names']).toEqual(['q-0000000000']);
  });

  it('serves Prometheus metrics, liveness and readiness over HTTP', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    await c.call('Conclave', 'Create', { path: '/m', data: enc('12345') });
    const server = cluster.servers[0];
    if (!server) throw new Error('no server');
    const base = `http://127.0.0.1:${server.metricsPort()}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^conclave_is_leader 1$/m);
    expect(metrics).toMatch(/^conclave_has_leader 1$/m);
    expect(metrics).toMatch(/^conclave_znodes 2$/m);
    expect(metrics).toMatch(/^conclave_data_bytes 5$/m);
    expect(metrics).toMatch(/^conclave_request_seconds_count\{method="Create",code="OK"\} 1$/m);
    expect(metrics).toContain('conclave_wal_fsync_seconds_bucket');
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    await until('ready', async () => (await fetch(`${base}/readyz`)).status === 200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('keeps acknowledged data across SIGKILL and restart', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    for (let i = 0; i < 20; i++) await c.call('Conclave', 'Create', { path: `/k${i}`, data: enc(`v${i}`) });
    const server = cluster.servers[0];
    if (!server) throw new Error('no server');
    await server.kill('SIGKILL');
    await server.start();
    await cluster.leader();
    const kids = await c.call('Conclave', 'Children', { path: '/' });
    expect((kids['names'] as string[]).length).toBe(20);
    const v = await c.call('Conclave', 'Get', { path: '/k19' });
    expect(Buffer.from(v['data'] as Uint8Array).toString()).toBe('v19');
  });
});

describe('a three-member cluster', () => {
  it('a serializable read on a follower never goes behind the zxid the client has seen', async () => {
    cluster = await Cluster.start(3);
    const leaderId = await cluster.leader();
    const lc = client(cluster, leaderId);
    const follower = cluster.servers.find((s) => s.member.id !== leaderId);
    if (!follower) throw new Error('no follower');
    const fc = client(cluster, follower.member.id);
    for (let i = 0; i < 20; i++) {
      const w = await lc.call('Conclave', 'Create', { path: `/seen-${i}`, data: enc(String(i)) });
      const zxid = w['zxid'] as number;
      const r = await fc.call('Conclave', 'Get', { path: `/seen-${i}`, consistency: 'SERIALIZABLE', minZxid: zxid });
      expect(Buffer.from(r['data'] as Uint8Array).toString()).toBe(String(i));
      expect(r['zxid'] as number).toBeGreaterThanOrEqual(zxid);
    }
    // A zxid this replica will not reach in time: a clear UNAVAILABLE, never a stale answer.
    const err = await rpcError(fc.call('Conclave', 'Exists', { path: '/seen-0', consistency: 'SERIALIZABLE', minZxid: 10 ** 9 }));
    expect(err.code).toBe('UNAVAILABLE');
  });

  it('hands leadership to a chosen member on request (for rolling restarts)', async () => {
    cluster = await Cluster.start(3);
    const leaderId = await cluster.leader();
    const target = cluster.servers.find((s) => s.member.id !== leaderId)?.member.id ?? 0;
    const lc = client(cluster, leaderId);
    const before = (await lc.call('Cluster', 'Status', {}))['term'] as number;
    const res = await lc.call('Cluster', 'TransferLeadership', { to: target });
    expect(res['leader']).toBe(target);
    expect(await cluster.leader()).toBe(target);
    const after = await client(cluster, target).call('Cluster', 'Status', {});
    expect(after['term'] as number).toBeGreaterThan(before);
    await client(cluster, target).call('Conclave', 'Create', { path: '/after-transfer' });
  });

  it('answers NOT_LEADER with the leader address on followers, and keeps every acknowledged write when the leader is killed', async () => {
    cluster = await Cluster.start(3);
    const leaderId = await cluster.leader();
    const follower = cluster.servers.find((s) => s.member.id !== leaderId);
    if (!follower) throw new Error('no follower');
    const fc = client(cluster, follower.member.id);
    const err = await rpcError(fc.call('Conclave', 'Create', { path: '/x' }));
    expect(err.code).toBe('NOT_LEADER');
    const acked: string[] = [];
    const lc = client(cluster, leaderId);
    for (let i = 0; i < 30; i++) {
      await lc.call('Conclave', 'Create', { path: `/before-${i}`, data: enc(String(i)) });
      acked.push(`before-${i}`);
    }
    await cluster.servers.find((s) => s.member.id === leaderId)?.kill('SIGKILL');
    const next = await until('a new leader', async () => {
      const id = await cluster?.leader();
      return id !== leaderId ? id : undefined;
    });
    const nc = client(cluster, next);
    for (let i = 0; i < 10; i++) {
      await nc.call('Conclave', 'Create', { path: `/after-${i}` });
      acked.push(`after-${i}`);
    }
    // Linearizable read on the surviving follower, too.
    const other = cluster.servers.find((s) => s.member.id !== leaderId && s.member.id !== next);
    if (!other) throw new Error('no other');
    const names = (await client(cluster, other.member.id).call('Conclave', 'Children', { path: '/' }))['names'] as string[];
    expect([...names].sort()).toEqual([...acked].sort());
  });
});
