/**
 * Nothing a client sends can crash a replica or change state when refused: a table of bad requests,
 * raw garbage bytes, and a fuzz run of 10,000 random requests against a live 3-member cluster, after
 * which every replica answers and all hold identical trees. Also: a session outlives the death of
 * the leader it talked to, and a replica restarted from snapshot + log rejoins.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/common/rng.js';
import { type Client, Cluster, RpcError, TestClients, until } from './harness.js';

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

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err: unknown) {
    if (err instanceof RpcError) return err.code || `grpc-${err.grpcCode}`;
    throw err;
  }
}

async function status(c: Client): Promise<{ applied: number; digest: number; role: string; id: number }> {
  return (await c.call('Cluster', 'Status', {})) as { applied: number; digest: number; role: string; id: number };
}

const BAD_PATHS: ReadonlyArray<[string, string]> = [
  ['empty', ''],
  ['relative', 'a/b'],
  ['trailing slash', '/a/'],
  ['double slash', '/a//b'],
  ['dot', '/a/.'],
  ['dot-dot', '/a/../b'],
  ['NUL', '/a\u0000b'],
  ['control char', '/a\u0007'],
  ['DEL', '/a\u007f'],
  ['C1 control', '/a\u0085'],
  ['too long', `/${'x'.repeat(5000)}`],
  ['only slashes', '//'],
];

describe('bad input is refused and changes nothing', () => {
  it('refuses 60+ malformed requests with typed reasons; the tree digest is unchanged', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    await c.call('Conclave', 'Create', { path: '/a', data: enc('x') });
    await c.call('Conclave', 'Create', { path: '/a/b', data: enc('y') });
    const before = await status(c);
    const cases: Array<[string, string, object, string]> = [];
    for (const [what, path] of BAD_PATHS) {
      cases.push(['Create', what, { path }, 'BAD_PATH']);
      cases.push(['Set', what, { path, expectedVersion: -1 }, 'BAD_PATH']);
      cases.push(['Delete', what, { path, expectedVersion: -1 }, 'BAD_PATH']);
      cases.push(['Get', what, { path }, 'BAD_PATH']);
      cases.push(['Exists', what, { path }, 'BAD_PATH']);
    }
    cases.push(
      ['Create', 'exists', { path: '/a' }, 'NODE_EXISTS'],
      ['Create', 'no parent', { path: '/x/y' }, 'NO_NODE'],
      ['Create', 'ephemeral, no session', { path: '/e', kind: 'EPHEMERAL' }, 'BAD_ARGUMENTS'],
      ['Create', 'ephemeral, unknown session', { path: '/e', kind: 'EPHEMERAL', header: { sessionId: 999, seq: 1 } }, 'SESSION_EXPIRED'],
      ['Create', 'ttl without ttl', { path: '/t', kind: 'TTL' }, 'BAD_ARGUMENTS'],
      ['Create', 'sequential container', { path: '/c', kind: 'CONTAINER', sequential: true }, 'BAD_ARGUMENTS'],
      ['Create', 'data too large', { path: '/big', data: Buffer.alloc(1024 * 1024 + 1) }, 'DATA_TOO_LARGE'],
      ['Create', 'root', { path: '/' }, 'NODE_EXISTS'],
      ['Set', 'bad version', { path: '/a', data: enc('z'), expectedVersion: 5 }, 'BAD_VERSION'],
      ['Set', 'version below -1', { path: '/a', data: enc('z'), expectedVersion: -2 }, 'BAD_ARGUMENTS'],
      ['Set', 'missing', { path: '/zz', expectedVersion: -1 }, 'NO_NODE'],
      ['Delete', 'not empty', { path: '/a', expectedVersion: -1 }, 'NOT_EMPTY'],
      ['Delete', 'bad version', { path: '/a/b', expectedVersion: 3 }, 'BAD_VERSION'],
      ['Delete', 'root', { path: '/', expectedVersion: -1 }, 'BAD_ARGUMENTS'],
      ['Get', 'missing', { path: '/zz' }, 'NO_NODE'],
      ['Children', 'missing', { path: '/zz' }, 'NO_NODE'],
      ['Multi', 'too many ops', { ops: Array.from({ length: 129 }, () => ({ check: { path: '/a', expectedVersion: -1 } })) }, 'BAD_ARGUMENTS'],
      ['Multi', 'empty op', { ops: [{}] }, 'BAD_ARGUMENTS'],
      ['Multi', 'bad path inside', { ops: [{ create: { path: 'nope' } }] }, 'BAD_PATH'],
      ['KeepAlive', 'unknown session', { sessionId: 424242 }, 'SESSION_EXPIRED'],
      ['CloseSession', 'unknown session', { sessionId: 424242 }, 'SESSION_EXPIRED'],
    );
    expect(cases.length).toBeGreaterThanOrEqual(60);
    // (A lone surrogate cannot be sent at all: protobuf strings are UTF-8; path.test.ts covers it.)
    for (const [method, what, req, expected] of cases) {
      expect(await code(c.call('Conclave', method, req)), `${method}: ${what}`).toBe(expected);
    }
    // A multi whose last op fails is refused whole, with per-op results.
    const multi = await c.call('Conclave', 'Multi', { ops: [{ create: { path: '/m1' } }, { delete: { path: '/nothing', expectedVersion: -1 } }] });
    expect(multi['ok']).toBe(false);
    expect(multi['failedIndex']).toBe(1);
    expect((multi['results'] as Array<{ code: string }>).map((r) => r.code)).toEqual(['RUNTIME_INCONSISTENCY', 'NO_NODE']);
    const after = await status(c);
    expect(after.digest).toBe(before.digest);
    expect((await c.call('Conclave', 'Exists', { path: '/m1' }))['exists']).toBe(false);
  });

  it('survives raw garbage bytes on every method', async () => {
    cluster = await Cluster.start(1);
    const c = client(cluster, 1);
    await cluster.leader();
    const server = cluster.servers[0];
    if (!server) throw new Error('no server');
    const raw = new grpc.Client(`127.0.0.1:${server.member.clientPort}`, grpc.credentials.createInsecure());
    const rng = new SeededRng(5);
    for (const method of ['Create', 'Get', 'Set', 'Delete', 'Exists', 'Children', 'Multi', 'OpenSession', 'KeepAlive', 'CloseSession']) {
      for (let i = 0; i < 5; i++) {
        const junk = Buffer.from(Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255)));
        await new Promise<void>((resolve) => {
          raw.makeUnaryRequest(`/conclave.v1.Conclave/${method}`, (b: Buffer) => b, (b: Buffer) => b, junk, () => resolve());
        });
      }
    }
    raw.close();
    const st = await status(c);
    expect(st.role).toBe('leader');
  });
});

describe('fuzz: 10,000 random requests at a live 3-member cluster', () => {
  it('leaves every replica alive with identical trees', async () => {
    cluster = await Cluster.start(3);
    await cluster.leader();
    const cs = [1, 2, 3].map((id) => client(cluster as Cluster, id));
    const rng = new SeededRng(20261125);
    const paths = ['/', '/f', '/f/a', '/f/b', '/f/a/x', '/g', 'bad', '/f/', '/f//a', '/f/a/../b', '/\u0001'];
    const methods = ['Create', 'Set', 'Delete', 'Get', 'Exists', 'Children', 'Multi', 'Sync', 'OpenSession', 'KeepAlive', 'CloseSession'];
    const request = (): [string, object] => {
      const method = rng.pick(methods);
      const path = rng.pick(paths);
      const version = rng.pick([-2, -1, 0, 1, 2]);
      const data = Buffer.alloc(rng.pick([0, 1, 10, 300]), rng.int(0, 255));
      switch (method) {
        case 'Create':
          return [method, { path, data, kind: rng.pick(['PERSISTENT', 'EPHEMERAL', 'CONTAINER', 'TTL']), sequential: rng.chance(0.3), ttlMs: rng.pick([0, 1000]), header: { sessionId: rng.pick([0, 1, 2 ** 40]), seq: rng.int(0, 3) } }];
        case 'Set':
          return [method, { path, data, expectedVersion: version }];
        case 'Delete':
          return [method, { path, expectedVersion: version }];
        case 'Multi':
          return [method, { ops: Array.from({ length: rng.int(0, 4) }, () => rng.pick([{ create: { path, data } }, { delete: { path, expectedVersion: version } }, { check: { path, expectedVersion: version } }, { set: { path, data, expectedVersion: version } }, {}])) }];
        case 'OpenSession':
          return [method, { timeoutMs: rng.pick([0, 1, 1000, 10 ** 9]) }];
        case 'KeepAlive':
        case 'CloseSession':
          return [method, { sessionId: rng.pick([0, 1, 2 ** 40]) }];
        default:
          return [method, { path, consistency: rng.pick(['LINEARIZABLE', 'SERIALIZABLE']), limit: rng.int(0, 3), after: rng.pick(['', 'a']) }];
      }
    };
    const TOTAL = 10_000;
    const IN_FLIGHT = 64;
    let sent = 0;
    const counts = new Map<string, number>();
    const worker = async (): Promise<void> => {
      while (sent < TOTAL) {
        sent++;
        const [method, req] = request();
        const result = await code(rng.pick(cs).call('Conclave', method, req));
        counts.set(result, (counts.get(result) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker()));
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(TOTAL);
    expect(counts.get('OK') ?? 0).toBeGreaterThan(500);
    // Every replica answers, and once all have applied the same index their states are identical.
    const leaderId = await cluster.leader();
    await client(cluster, leaderId).call('Conclave', 'Create', { path: '/fuzz-done' });
    const statuses = await until('all replicas at the same applied index', async () => {
      const all = await Promise.all(cs.map((c) => status(c)));
      return all.every((s) => s.applied === all[0]?.applied) ? all : undefined;
    });
    expect(new Set(statuses.map((s) => s.digest)).size).toBe(1);
    console.log(`fuzz: ${TOTAL} requests, outcomes ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
  }, 180_000);
});

describe('replica failures', () => {
  it('a session survives the death of the leader it talked to', async () => {
    cluster = await Cluster.start(3);
    const first = await cluster.leader();
    const lc = client(cluster, first);
    const s = await lc.call('Conclave', 'OpenSession', { timeoutMs: 3000 });
    const sessionId = s['sessionId'] as number;
    await lc.call('Conclave', 'Create', { path: '/svc', kind: 'EPHEMERAL', header: { sessionId, seq: 1 } });
    await cluster.servers.find((x) => x.member.id === first)?.kill('SIGKILL');
    const next = await until('a new leader', async () => {
      const id = await cluster?.leader();
      return id !== first ? id : undefined;
    });
    const nc = client(cluster, next);
    // Keep the session alive through the new leader for longer than its timeout.
    const keepUntil = Date.now() + 4000;
    while (Date.now() < keepUntil) {
      await nc.call('Conclave', 'KeepAlive', { sessionId });
      await new Promise((r) => setTimeout(r, 300));
    }
    expect((await nc.call('Conclave', 'Exists', { path: '/svc' }))['exists']).toBe(true);
  });

  it('a replica restarted from snapshot + log rejoins with an identical tree', async () => {
    cluster = await Cluster.start(3, ['--snapshot-every', '20']);
    const leaderId = await cluster.leader();
    const lc = client(cluster, leaderId);
    for (let i = 0; i < 60; i++) await lc.call('Conclave', 'Create', { path: `/n${i}`, data: enc(String(i)) });
    const follower = cluster.servers.find((x) => x.member.id !== leaderId);
    if (!follower) throw new Error('no follower');
    await follower.kill('SIGKILL');
    for (let i = 60; i < 120; i++) await lc.call('Conclave', 'Create', { path: `/n${i}`, data: enc(String(i)) });
    await follower.start();
    const fc = client(cluster, follower.member.id);
    const [l, f] = await until('the follower to catch up', async () => {
      const pair = await Promise.all([status(lc), status(fc)]);
      return pair[0].applied === pair[1].applied ? pair : undefined;
    });
    expect(f.digest).toBe(l.digest);
    expect(((await fc.call('Conclave', 'Children', { path: '/', consistency: 'SERIALIZABLE' }))['names'] as string[]).length).toBe(120);
  });
});
