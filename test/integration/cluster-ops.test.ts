/**
 * Operating a cluster of real processes: grow it with a learner that catches up and is promoted,
 * shrink it (a removed member stops itself), download a snapshot for a backup, and discover the
 * API by gRPC server reflection.
 */
import { join } from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, TestClients, rpcError, until } from './harness.js';

let cluster: Cluster | undefined;
const clients = new TestClients();

afterEach(async () => {
  clients.closeAll();
  await cluster?.stop();
  cluster = undefined;
});

describe('membership', () => {
  it('adds a learner that catches up, promotes it, then removes a founding member, which stops itself', async () => {
    // Small snapshots so the learner is brought up by a snapshot plus the log after it.
    cluster = await Cluster.start(3, ['--snapshot-every', '50']);
    const leaderId = await cluster.leader();
    const lc = clients.of(cluster, leaderId);
    for (let i = 0; i < 120; i++) await lc.call('Conclave', 'Create', { path: `/n${i}`, data: Buffer.from(String(i)) });

    const joiner = await cluster.joiner(4);
    const promoteEarly = await rpcError(lc.call('Cluster', 'MemberPromote', { id: 4 }));
    expect(promoteEarly.code).toBe('BAD_MEMBERSHIP_CHANGE'); // not a member yet
    const badAdd = await rpcError(lc.call('Cluster', 'MemberAdd', { id: 4, peerAddress: 'nowhere', clientAddress: '127.0.0.1:1' }));
    expect(badAdd.code).toBe('BAD_ARGUMENTS');
    const added = await lc.call('Cluster', 'MemberAdd', { id: 4, peerAddress: `127.0.0.1:${joiner.member.peerPort}`, clientAddress: `127.0.0.1:${joiner.member.clientPort}` });
    expect((added['members'] as { id: number; learner: boolean }[]).find((m) => m.id === 4)?.learner).toBe(true);
    const again = await rpcError(lc.call('Cluster', 'MemberAdd', { id: 4, peerAddress: '127.0.0.1:9', clientAddress: '127.0.0.1:9' }));
    expect(again.code).toBe('BAD_MEMBERSHIP_CHANGE');

    await joiner.start();
    const jc = clients.of(cluster, 4);
    const leaderStatus = await lc.call('Cluster', 'Status', {});
    await until('the learner to catch up', async () => {
      const st = await jc.call('Cluster', 'Status', {}).catch(() => undefined);
      return st && (st['applied'] as number) >= (leaderStatus['applied'] as number) ? st : undefined;
    });
    const promoted = await until('the promotion', () => lc.call('Cluster', 'MemberPromote', { id: 4 }).catch(() => undefined));
    expect((promoted['members'] as { id: number; learner: boolean }[]).map((m) => [m.id, m.learner])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, false],
    ]);
    // The new voter knows every member's addresses (replicated, not configured) and serves the data.
    const listed = await jc.call('Cluster', 'MemberList', {});
    expect((listed['members'] as { id: number; clientAddress: string }[]).map((m) => m.clientAddress)).toEqual(cluster.servers.map((s) => `127.0.0.1:${s.member.clientPort}`));
    const got = await jc.call('Conclave', 'Get', { path: '/n119', consistency: 'SERIALIZABLE' });
    expect(Buffer.from(got['data'] as Uint8Array).toString()).toBe('119');

    // Remove a founding member that is not the leader: it learns of it and stops.
    const victim = cluster.servers.find((s) => s.member.id !== leaderId && s.member.id !== 4);
    if (!victim?.child) throw new Error('no victim');
    const exited = new Promise<number | null>((resolve) => victim.child?.once('exit', (code) => resolve(code)));
    const removed = await lc.call('Cluster', 'MemberRemove', { id: victim.member.id });
    expect((removed['members'] as { id: number }[]).map((m) => m.id)).not.toContain(victim.member.id);
    expect(await exited).toBe(0);
    expect(victim.log).toContain('removed from the cluster');
    await lc.call('Conclave', 'Create', { path: '/after-removal' });
    const st = await jc.call('Conclave', 'Exists', { path: '/after-removal' });
    expect(st['exists']).toBe(true);
  });
});

describe('snapshot download', () => {
  it('streams a fresh snapshot that holds every acknowledged write, as a SQLite file', async () => {
    cluster = await Cluster.start(1);
    await cluster.leader();
    const c = clients.of(cluster, 1);
    for (let i = 0; i < 20; i++) await c.call('Conclave', 'Create', { path: `/s${i}`, data: Buffer.alloc(1000, i) });
    const last = (await c.call('Conclave', 'Create', { path: '/last' }))['zxid'] as number;
    const chunks = await c.serverStream('Cluster', 'SnapshotDownload', {});
    expect(chunks[0]?.['index'] as number).toBeGreaterThanOrEqual(last);
    const bytes = Buffer.concat(chunks.map((ch) => Buffer.from(ch['data'] as Uint8Array)));
    expect(bytes.length).toBe(chunks[0]?.['totalBytes']);
    const dir = await mkdtemp(join(tmpdir(), 'conclave-backup-'));
    try {
      const file = join(dir, 'backup.db');
      await writeFile(file, bytes);
      const db = new Database(file, { readonly: true });
      const paths = (db.prepare('SELECT path FROM znodes ORDER BY path').all() as { path: string }[]).map((r) => r.path);
      db.close();
      expect(paths).toContain('/last');
      expect(paths.filter((p) => p.startsWith('/s'))).toHaveLength(20);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('server reflection', () => {
  it('lists the public services to tools such as grpcurl', async () => {
    cluster = await Cluster.start(1);
    const protoPath = join(import.meta.dirname, '../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const def = protoLoader.loadSync(protoPath, { keepCase: true, defaults: true, oneofs: true });
    const Reflection = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } }).grpc.reflection.v1.ServerReflection;
    const client = new Reflection(`127.0.0.1:${cluster.servers[0]?.member.clientPort}`, grpc.credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const call = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: { name: string }[] } }> }).ServerReflectionInfo();
        call.on('data', (res) => {
          resolve((res.list_services_response?.service ?? []).map((s: { name: string }) => s.name));
          call.end();
        });
        call.on('error', reject);
        call.write({ list_services: '' });
      });
      expect(names).toEqual(expect.arrayContaining(['conclave.v1.Conclave', 'conclave.v1.Cluster', 'grpc.health.v1.Health']));
    } finally {
      client.close();
    }
  });
});
