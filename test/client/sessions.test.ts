/**
 * Sessions through the SDK: a session the server expires is `lost` for good (pending operations
 * and watches fail with SESSION_EXPIRED, nothing reopens silently), GroupMember lives and dies with
 * its session, and operations wait for a reconnect within requestTimeoutMs, else fail UNAVAILABLE.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConclaveError } from '../../src/common/errors.js';
import { clientInternals } from '../../src/client/internals.js';
import { GroupMember } from '../../src/client/recipes/group-member.js';
import type { WatchEvent } from '../../src/client/types.js';
import { until } from '../support/until.js';
import { Fixture, codeOf, failure, kill } from './support.js';

const fx = new Fixture();
beforeAll(() => fx.startShared(1, ['--session-timeout-min-ms', '500']), 60_000);
afterEach(async () => {
  await fx.cleanUp();
  await fx.heal();
});
afterAll(() => fx.stopShared());

describe('a session the server expires', () => {
  it('is lost: everything pending fails with SESSION_EXPIRED and the member is gone', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster, { sessionTimeoutMs: 500 });
    const observer = await fx.client(cluster);
    expect(c.sessionTimeoutMs).toBe(500);
    const member = new GroupMember(c, '/services/api', 'm1', 'host:1');
    await member.join();
    await member.join(); // joining twice is harmless
    expect(await new GroupMember(observer, '/services/api', 'm2').members()).toEqual(['m1']);
    expect(await codeOf(new GroupMember(observer, '/services/api', 'm1').join())).toBe('NODE_EXISTS');

    const lost: ConclaveError[] = [];
    c.on('lost', (err) => lost.push(err));
    const memberLost: ConclaveError[] = [];
    member.on('lost', (err) => memberLost.push(err));
    const fired = (await c.get(member.path, { watch: true })).watch as Promise<WatchEvent>;
    const pending = (await c.exists('/never', { watch: true })).watch as Promise<WatchEvent>;
    const watch = c.watch('/services', { recursive: true });
    await watch.started;

    // As if this process stalled: no keep-alives until the server has expired the session.
    c[clientInternals].pauseKeepAlives(true);
    await until('the server to expire the session', async () => (await observer.exists(member.path)).stat === undefined);
    expect(c.state).toBe('connected'); // the client cannot know yet
    expect(await fired).toMatchObject({ type: 'deleted', path: member.path });
    c[clientInternals].pauseKeepAlives(false);
    await until('the client to learn it', () => c.state === 'lost');

    expect(lost.map((e) => e.code)).toEqual(['SESSION_EXPIRED']);
    expect(memberLost).toHaveLength(1);
    expect(await codeOf(pending)).toBe('SESSION_EXPIRED');
    // The watch delivers what it had, then fails.
    expect((await watch.next()).value).toMatchObject({ type: 'deleted', path: member.path });
    expect(await codeOf(watch.next())).toBe('SESSION_EXPIRED');
    expect(await codeOf(c.get('/'))).toBe('SESSION_EXPIRED');
    expect(await codeOf(c.create('/after'))).toBe('SESSION_EXPIRED');
    expect((await observer.exists('/after')).stat).toBeUndefined();
    await c.close();
    expect(c.state).toBe('closed');
  });
});

describe('GroupMember', () => {
  it('appears with its session and disappears when the client closes', async () => {
    const cluster = fx.shared;
    const a = await fx.client(cluster);
    const b = await fx.client(cluster);
    const ma = new GroupMember(a, '/g/workers', 'a', 'A');
    const mb = new GroupMember(b, '/g/workers', 'b', 'B');
    await Promise.all([ma.join(), mb.join()]);
    expect(await ma.members()).toEqual(['a', 'b']);
    expect((await b.get('/g/workers/a')).stat.ephemeralOwner).toBe(a.sessionId);
    await a.close();
    expect(await mb.members()).toEqual(['b']);
    await mb.leave();
    expect(await mb.members()).toEqual([]);
  });
});

describe('while no member is reachable', () => {
  it('fails operations with UNAVAILABLE after requestTimeoutMs, then recovers with the same session', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster, { sessionTimeoutMs: 10_000, requestTimeoutMs: 700 });
    const patient = await fx.client(cluster, { sessionTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
    await c.create('/eph', 'x', { ephemeral: true });
    const session = c.sessionId;
    const states: string[] = [];
    c.on('suspended', () => states.push('suspended'));
    c.on('reconnected', () => states.push('reconnected'));
    await kill(cluster, 1);
    await until('suspended', () => c.state === 'suspended');
    const started = performance.now();
    const err = await failure(c.get('/eph'));
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect((err as Error).message).toMatch(/requestTimeoutMs/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(650);
    expect(c.safeUntil).toBeGreaterThan(started); // keep-alives stopped less than a timeout ago

    // With time left, an operation issued while disconnected waits for the reconnect instead.
    await until('the other client suspended', () => patient.state === 'suspended');
    const waiting = patient.create('/made-while-down');
    await fx.heal();
    expect((await waiting).path).toBe('/made-while-down');
    await until('reconnected', () => c.state === 'connected');
    expect(states).toEqual(['suspended', 'reconnected']);
    expect(c.sessionId).toBe(session);
    expect((await c.get('/eph')).stat.ephemeralOwner).toBe(session);
  });
});
