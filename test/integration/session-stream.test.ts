/**
 * The multiplexed session stream against a real server: many requests in flight on one call, each
 * answered by id with the same results and typed errors as the unary calls; bounded in-flight
 * requests per stream and sessions per client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, TestClients, rpcError, until } from './harness.js';

let cluster: Cluster | undefined;
const clients = new TestClients();

afterEach(async () => {
  clients.closeAll();
  await cluster?.stop();
  cluster = undefined;
});

async function single(extra: readonly string[] = []): Promise<Cluster> {
  const c = await Cluster.start(1, extra);
  await c.leader();
  return c;
}

describe('the session stream', () => {
  it('answers many pipelined requests by id, with results and typed errors', async () => {
    cluster = await single();
    const s = clients.of(cluster, 1).stream();
    const opened = await s.request('openSession', { timeoutMs: 5000 });
    const sessionId = (opened['openSession'] as { sessionId: number }).sessionId;
    expect(sessionId).toBeGreaterThan(0);

    const creates = Array.from({ length: 200 }, (_, i) => s.request('create', { path: `/p${i}`, data: Buffer.from(String(i)), header: { sessionId, seq: i + 1 } }));
    const answers = await Promise.all(creates);
    const zxids = answers.map((a) => (a['create'] as { zxid: number }).zxid);
    expect(answers.map((a) => (a['create'] as { path: string }).path)).toEqual(Array.from({ length: 200 }, (_, i) => `/p${i}`));
    expect(new Set(zxids).size).toBe(200);

    const [got, missing, badPath, children] = await Promise.all([
      s.request('get', { path: '/p7' }),
      s.request('get', { path: '/nope' }),
      s.request('set', { path: 'relative', data: Buffer.alloc(0), expectedVersion: -1 }),
      s.request('children', { path: '/', limit: 5 }),
    ]);
    expect(Buffer.from((got['get'] as { data: Uint8Array }).data).toString()).toBe('7');
    expect(missing['error']).toMatchObject({ code: 'NO_NODE' });
    expect(badPath['error']).toMatchObject({ code: 'BAD_PATH' });
    expect(children['children']).toMatchObject({ names: ['p0', 'p1', 'p10', 'p100', 'p101'], more: true });

    // A retry of a request id already applied is answered from memory, not applied again.
    const retry = await s.request('create', { path: '/p199', header: { sessionId, seq: 200 } });
    expect(retry['create']).toMatchObject({ path: '/p199', stat: { czxid: zxids[199] } });

    // A frame with no operation is refused by id and the stream goes on.
    const empty = await s.request('', {});
    expect(empty['error']).toMatchObject({ code: 'BAD_ARGUMENTS' });
    const closed = await s.request('closeSession', { sessionId });
    expect(closed['closeSession']).toEqual({ deleted: [] });
  });

  it('answers every pipelined write resent on a new stream from memory, from the lowest unanswered up', async () => {
    cluster = await single();
    const c = clients.of(cluster, 1);
    const first = c.stream();
    const sessionId = ((await first.request('openSession', { timeoutMs: 10_000 }))['openSession'] as { sessionId: number }).sessionId;
    // Twenty sequential creates in flight at once; the client has had no answer yet, so each says 1.
    const write = (s: typeof first, seq: number, lowest: number) => s.request('create', { path: '/job-', sequential: true, data: Buffer.from(String(seq)), header: { sessionId, seq, lowestUnansweredSeq: lowest } });
    const original = await Promise.all(Array.from({ length: 20 }, (_, i) => write(first, i + 1, 1)));
    const paths = original.map((a) => (a['create'] as { path: string }).path);
    expect(new Set(paths).size).toBe(20);
    // The answers were "lost": the client resends all twenty on another stream. Before the server
    // remembered more than the latest outcome, all but the last came back STALE_REQUEST.
    first.cancel();
    const second = c.stream();
    const resent = await Promise.all(Array.from({ length: 20 }, (_, i) => write(second, i + 1, 1)));
    expect(resent.map((a) => (a['create'] as { path: string } | undefined)?.path ?? a['error'])).toEqual(paths);
    expect((await c.call('Conclave', 'Children', { path: '/' }))['names']).toHaveLength(20);
    // Once the client says it has had answers up to 10, those are forgotten.
    const later = await write(second, 21, 11);
    expect(later['create']).toBeDefined();
    expect((await write(second, 5, 11))['error']).toMatchObject({ code: 'STALE_REQUEST' });
    expect((await write(second, 15, 11))['create']).toMatchObject({ path: paths[14] });
    second.end();
  });

  it('answers everything in flight before ending a half-closed stream', async () => {
    cluster = await single();
    const s = clients.of(cluster, 1).stream();
    const pending = Array.from({ length: 20 }, (_, i) => s.request('create', { path: `/h${i}` }));
    s.end();
    const answers = await Promise.all(pending);
    expect(answers.every((a) => a['result'] === 'create')).toBe(true);
  });

  it('refuses requests beyond the in-flight bound with TOO_MANY_REQUESTS and applies only the others', async () => {
    cluster = await single(['--max-outstanding-per-stream', '4']);
    const c = clients.of(cluster, 1);
    const s = c.stream();
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => s.request('create', { path: `/o${i}` })));
    const refused = answers.filter((a) => (a['error'] as { code?: string } | undefined)?.code === 'TOO_MANY_REQUESTS');
    const applied = answers.filter((a) => a['result'] === 'create');
    expect(refused.length).toBeGreaterThan(0);
    expect(applied.length + refused.length).toBe(60);
    const names = (await c.call('Conclave', 'Children', { path: '/' }))['names'] as string[];
    expect(names.length).toBe(applied.length);
  });

  it('bounds the sessions one client host may hold open', async () => {
    cluster = await single(['--max-sessions-per-client', '2']);
    const c = clients.of(cluster, 1);
    const a = (await c.call('Conclave', 'OpenSession', { timeoutMs: 5000 }))['sessionId'] as number;
    await c.call('Conclave', 'OpenSession', { timeoutMs: 5000 });
    const err = await rpcError(c.call('Conclave', 'OpenSession', { timeoutMs: 5000 }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    await c.call('Conclave', 'CloseSession', { sessionId: a });
    expect((await c.call('Conclave', 'OpenSession', { timeoutMs: 5000 }))['sessionId']).toBeGreaterThan(0);
  });

  it('keeps the session of a client that reads its answers slowly: its keep-alives are still read', async () => {
    // Found by the watch1000 bench: the server stopped reading a stream whose answers went unread,
    // so the keep-alives queued behind them never reached the session tracker and live sessions expired.
    cluster = await single(['--session-timeout-min-ms', '500', '--watch-buffer-bytes', String(4 * 1024 * 1024)]);
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/big', data: Buffer.alloc(60_000, 1) });
    const s = c.stream();
    const opened = await s.request('openSession', { timeoutMs: 1000 });
    const sessionId = (opened['openSession'] as { sessionId: number }).sessionId;
    await c.call('Conclave', 'Create', { path: '/eph', kind: 'EPHEMERAL', header: { sessionId } });
    s.pause();
    // 1.8 MB of answers left unread: far past what HTTP/2 buffers, under the stream's 8 MiB bound.
    const answers = Array.from({ length: 30 }, () => s.request('get', { path: '/big' }));
    // Keep-alives go on being sent (the client is alive), for three session timeouts: the fault is
    // the client reading nothing for that long.
    for (let i = 0; i < 15; i++) {
      s.write({ id: 10_000 + i, keepAlive: { sessionId } });
      await sleep(200);
    }
    expect(cluster.servers[0]?.log).not.toContain('session expired');
    const stat = (await c.call('Conclave', 'Exists', { path: '/eph' }))['stat'] as { ephemeralOwner?: unknown } | null;
    expect(Number(stat?.ephemeralOwner)).toBe(Number(sessionId));
    s.resume();
    const got = await Promise.all(answers);
    expect(got.every((a) => a['result'] === 'get')).toBe(true);
    expect(s.error).toBeUndefined();
  });

  it('ends a stream whose unread answers pass its bound with LIMIT_EXCEEDED', async () => {
    cluster = await single(['--watch-buffer-bytes', '65536']);
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/big', data: Buffer.alloc(60_000, 1) });
    const s = c.stream();
    s.pause();
    for (let i = 0; i < 30; i++) s.write({ id: i + 1, get: { path: '/big' } });
    const metricsPort = cluster.servers[0]?.metricsPort();
    await until('the stream to be cut', async () => /conclave_session_streams 0/.test(await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text())));
    s.resume();
    await until('the stream to fail', () => s.error);
    expect(s.error?.code).toBe('LIMIT_EXCEEDED');
  });
});
