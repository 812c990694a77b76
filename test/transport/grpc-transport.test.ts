/**
 * The gRPC peer transport on 127.0.0.1: messages arrive intact, an unreachable peer is reported,
 * garbage from a peer is refused without reaching Raft, and three replicas form a working cluster.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { EntryType, type Message, MessageType as MT, type NodeId, Role } from '../../src/raft/index.js';
import { RaftDriver } from '../../src/server/raft-driver.js';
import { DiskStorage } from '../../src/storage/disk-storage.js';
import { GrpcPeerTransport } from '../../src/transport/grpc-transport.js';
import { until } from '../support/until.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function transport(id: NodeId): Promise<GrpcPeerTransport> {
  const t = await GrpcPeerTransport.start({ id, listen: '127.0.0.1:0' });
  cleanups.push(() => t.close());
  return t;
}


describe('gRPC peer transport', () => {
  it('delivers batches of messages intact and in order', async () => {
    const a = await transport(1);
    const b = await transport(2);
    a.setPeers(new Map([[2, `127.0.0.1:${b.port}`]]));
    const got: Message[] = [];
    b.onMessage((m) => got.push(m));
    const sent: Message[] = [];
    for (let i = 1; i <= 50; i++) {
      sent.push({ type: MT.Append, from: 1, to: 2, term: 3, index: i - 1, logTerm: 3, commit: i, entries: [{ term: 3, index: i, type: EntryType.Normal, data: new Uint8Array([i]) }] });
    }
    a.send(sent.slice(0, 25));
    a.send(sent.slice(25));
    await until('all 50 messages', () => got.length === 50);
    expect(got).toEqual(sent);
  });

  it('reports a peer that cannot be reached', async () => {
    const a = await transport(1);
    a.setPeers(new Map([[9, '127.0.0.1:1']]));
    const unreachable: NodeId[] = [];
    a.onUnreachable((p) => unreachable.push(p));
    a.send([{ type: MT.Heartbeat, from: 1, to: 9, term: 1 }]);
    await until('an unreachable report', () => unreachable.includes(9));
    // A message for a peer with no address is reported at once.
    a.send([{ type: MT.Heartbeat, from: 1, to: 42, term: 1 }]);
    expect(unreachable).toContain(42);
  });

  it('refuses garbage from a peer without stepping anything', async () => {
    const b = await transport(2);
    const got: Message[] = [];
    b.onMessage((m) => got.push(m));
    const client = new grpc.Client(`127.0.0.1:${b.port}`, grpc.credentials.createInsecure());
    cleanups.push(async () => client.close());
    const done = new Promise<grpc.ServiceError | null>((resolve) => {
      const stream = client.makeClientStreamRequest<Buffer, object>('/conclave.peer.v1.Peer/Send', (x) => x, () => ({}), (err) => resolve(err));
      stream.on('error', () => undefined);
      stream.write(Buffer.from([0x0a, 0xff, 0xff]));
      stream.end();
    });
    const err = await done;
    expect(err).not.toBeNull();
    expect(b.stats.badBatches).toBe(1);
    expect(got).toEqual([]);
  });

  it('three replicas over gRPC elect a leader and replicate writes', async () => {
    const ids = [1, 2, 3];
    const transports = await Promise.all(ids.map((id) => transport(id)));
    const book = new Map(ids.map((id, i) => [id, `127.0.0.1:${(transports[i] as GrpcPeerTransport).port}`]));
    const applied = new Map<NodeId, string[]>(ids.map((id) => [id, []]));
    const drivers: RaftDriver[] = [];
    for (const [i, id] of ids.entries()) {
      const t = transports[i] as GrpcPeerTransport;
      t.setPeers(book);
      const dir = await mkdtemp(join(tmpdir(), `conclave-grpc-${id}-`));
      const storage = await DiskStorage.open(dir);
      const driver = await RaftDriver.start({
        id,
        storage,
        transport: t,
        bootstrapVoters: ids,
        tickMs: 10,
        seed: id,
        hooks: {
          apply: (e) => {
            if (e.type === EntryType.Normal && e.data.length > 0) applied.get(id)?.push(new TextDecoder().decode(e.data));
            return undefined;
          },
          restore: async () => undefined,
        },
      });
      drivers.push(driver);
      cleanups.push(async () => {
        await driver.stop();
        await storage.close();
        await rm(dir, { recursive: true, force: true });
      });
    }
    const expected: string[] = [];
    for (let i = 1; i <= 30; i++) {
      const value = `w${i}`;
      for (;;) {
        const leader = await until('a leader', () => drivers.find((d) => d.status().role === Role.Leader));
        try {
          await leader.propose(new TextEncoder().encode(value));
          break;
        } catch (err: unknown) {
          if (!isConclaveError(err, ErrorCode.NOT_LEADER)) throw err;
        }
      }
      expected.push(value);
    }
    for (const id of ids) await until(`replica ${id} applied all`, () => applied.get(id)?.length === 30);
    for (const id of ids) expect(applied.get(id)).toEqual(expected);
    expect(transports.every((t) => t.stats.badBatches === 0)).toBe(true);
  });
});
